"""Every word a reader sees (map, report, QGIS styles), in the region's language.

One table, :data:`TEXT`, for every page (map, report, planning sections, QGIS): a message id,
then its English and Russian text. The region file picks the language (``language = "ru" |
"en"``); place names come from ``name_<language>`` when OSM has one, else from ``name``.
Texts that depend on a number hold its plural forms separated by ``|`` (English: one, other;
Russian: 1 пункт, 2 пункта, 5 пунктов) and are picked by :func:`trn`; a system message (a
failed download, in English) becomes a short phrase in the reader's language with
:func:`system_phrase`.

>>> trn("ru", "settlements_n", 2)
'2 населённых пункта'

>>> tr("ru", "unreachable")
'недоступен'
>>> tr("en", "gap_over", minutes=60)
'gap (> 60 min)'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import RegionConfig

__all__ = [
    "ACCESS_CLASSES",
    "TEXT",
    "Language",
    "anchor_labels",
    "anchor_local_names",
    "approximate_text",
    "local_name",
    "plural_form",
    "run_text",
    "scenario_text",
    "season_label",
    "service_label",
    "system_phrase",
    "tr",
    "trn",
]

Language = Literal["ru", "en"]

# access_class values in the order the README lists them
ACCESS_CLASSES = ("core_zone", "anchor_zone", "gap", "unreachable")

TEXT: dict[str, dict[str, str]] = {
    # layers and groups
    "layer_settlements": {"en": "Settlements", "ru": "Населённые пункты"},
    "layer_anchors": {"en": "Anchors and cores", "ru": "Опорные пункты и центры агломераций"},
    "layer_catchments": {"en": "Catchments (nearest anchor)", "ru": "Зоны тяготения (ближайший опорный пункт)"},
    "layer_isochrones": {"en": "Travel time to the nearest anchor", "ru": "Время до ближайшего опорного пункта"},
    "layer_gaps": {"en": "Coverage gaps (> {minutes:g} min)", "ru": "Зоны недоступности (> {minutes:g} мин)"},
    "layer_agglomeration_zones": {"en": "Agglomeration zones", "ru": "Зоны агломераций"},
    "layer_districts": {"en": "Districts", "ru": "Районы"},
    "layer_roads": {"en": "Roads", "ru": "Дороги"},
    "layer_services": {"en": "Services", "ru": "Учреждения"},
    "layer_travel_time": {"en": "Travel time raster (min)", "ru": "Растр времени в пути (мин)"},
    "group_points": {"en": "Settlements and anchors", "ru": "Населённые пункты и опорные пункты"},
    "group_access": {"en": "Accessibility", "ru": "Доступность"},
    "group_base": {"en": "Districts and roads", "ru": "Районы и дороги"},
    "group_raster": {"en": "Travel-time raster", "ru": "Растр времени в пути"},
    "group_other": {"en": "Other layers", "ru": "Прочие слои"},
    # legend entries
    "band": {"en": "{lo:g}–{hi:g} min", "ru": "{lo:g}–{hi:g} мин"},
    "band_over": {"en": "> {minutes:g} min", "ru": "> {minutes:g} мин"},
    "gap_over": {"en": "gap (> {minutes:g} min)", "ru": "вне зоны (> {minutes:g} мин)"},
    "unreachable": {"en": "unreachable", "ru": "недоступен"},
    "no_access": {"en": "no road access", "ru": "нет дорожного доступа"},
    "beyond_threshold": {"en": "over {minutes:g} min from every anchor", "ru": "дальше {minutes:g} мин от любого опорного пункта"},
    "anchor": {"en": "anchor settlement", "ru": "опорный населённый пункт"},
    "core": {"en": "agglomeration core", "ru": "центр агломерации"},
    "district_outline": {"en": "district boundary", "ru": "граница района"},
    "road_major": {"en": "motorway, trunk, primary", "ru": "магистрали и основные дороги"},
    "road_secondary": {"en": "secondary, tertiary", "ru": "региональные и местные дороги"},
    "road_minor": {"en": "other roads and tracks", "ru": "прочие дороги и грунтовки"},
    "road_ferry": {"en": "ferry", "ru": "паром"},
    "zone_inner": {"en": "inner zone", "ru": "ближняя зона"},
    "zone_outer": {"en": "outer zone", "ru": "дальняя зона"},
    "legend_settlements": {"en": "Settlements: time to the nearest anchor", "ru": "Населённые пункты: время до ближайшего опорного пункта"},
    # access classes
    "class_core_zone": {"en": "agglomeration zone", "ru": "зона агломерации"},
    "class_anchor_zone": {"en": "anchor zone", "ru": "зона опорного пункта"},
    "class_gap": {"en": "gap", "ru": "вне зоны"},
    "class_unreachable": {"en": "unreachable", "ru": "недоступен"},
    # popups and tables
    "settlement": {"en": "Settlement", "ru": "Населённый пункт"},
    "population": {"en": "Population", "ru": "Население"},
    "district": {"en": "District", "ru": "Район"},
    "anchor_col": {"en": "Anchor", "ru": "Опорный пункт"},
    "anchor_time": {"en": "To the anchor, min", "ru": "До опорного пункта, мин"},
    "core_col": {"en": "Core", "ru": "Центр агломерации"},
    "core_time": {"en": "To the core, min", "ru": "До центра агломерации, мин"},
    "access_class": {"en": "Class", "ru": "Класс"},
    "area_km2": {"en": "Area, km²", "ru": "Площадь, км²"},
    "served": {"en": "serves {settlements}, {people} people", "ru": "обслуживает {settlements}, {people} чел."},
    "unknown": {"en": "unknown", "ru": "нет данных"},
    "zone": {"en": "Drive", "ru": "Время"},
    # map interface
    "search": {"en": "Find a settlement…", "ru": "Найти населённый пункт…"},
    "not_found": {"en": "not found", "ru": "не найдено"},
    "basemap": {"en": "OpenStreetMap (online only)", "ru": "OpenStreetMap (только онлайн)"},
    "basemap_offline": {"en": "Offline: no basemap; roads, water and boundaries are drawn from the data.", "ru": "Без интернета подложки нет: дороги, вода и границы нарисованы по данным."},
    "approximate": {"en": "APPROXIMATE results", "ru": "ПРИБЛИЖЁННЫЕ результаты"},
    "approximate_short": {"en": "APPROXIMATE: straight-line model (distance × {detour:g} at {speed:g} km/h) without an OpenStreetMap road network. Hover for details.", "ru": "ПРИБЛИЖЁННЫЕ результаты: расчёт по прямой (расстояние × {detour:g} при {speed:g} км/ч), без дорожной сети OpenStreetMap. Подробнее — при наведении."},
    "approximate_long": {"en": "APPROXIMATE: no OpenStreetMap road network was available, so times use a straight-line model (distance × {detour:g} at {speed:g} km/h) on bundled reference data (the settlements, their people and the anchors are real). For road-based results put the region's .osm.pbf in data_raw/{region}/extract.osm.pbf and run `make region={region}` again.", "ru": "ПРИБЛИЖЁННЫЕ результаты: дорожная сеть OpenStreetMap была недоступна, поэтому время рассчитано по прямой (расстояние × {detour:g} при {speed:g} км/ч) по прилагаемым справочным данным (населённые пункты, их население и опорные пункты — настоящие). Для расчёта по дорогам положите выгрузку .osm.pbf региона в data_raw/{region}/extract.osm.pbf и снова выполните `make region={region}`."},
    "attribution": {"en": "© OpenStreetMap contributors", "ru": "© участники OpenStreetMap"},
    "report_link": {"en": "Report", "ru": "Отчёт"},
    # report
    "report_title": {"en": "{region}: who reaches an anchor settlement, how fast, and where nobody can", "ru": "{region}: кто и как быстро добирается до опорного населённого пункта, и где никто не может"},
    "headline": {"en": "Headline figures", "ru": "Главные цифры"},
    "within": {"en": "within {minutes:g} min of an anchor", "ru": "в пределах {minutes:g} мин от опорного пункта"},
    "in_gaps": {"en": "in coverage gaps (> {minutes:g} min or unreachable)", "ru": "в зонах недоступности (> {minutes:g} мин или нет доступа)"},
    "unreachable_long": {"en": "unreachable (no road route to any anchor)", "ru": "недоступны (нет дорожного пути ни к одному опорному пункту)"},
    "people": {"en": "people", "ru": "чел."},
    "people_unknown": {"en": "population unknown", "ru": "население неизвестно"},
    "unknown_in": {"en": "{n} settlement of unknown population|{n} settlements of unknown population", "ru": "{n} населённый пункт без данных о населении|{n} населённых пункта без данных о населении|{n} населённых пунктов без данных о населении"},
    "abandoned_too": {"en": "and {n} abandoned (0 people)", "ru": "и {n} покинутых (0 жителей)"},
    "settlements_n": {"en": "{n} settlement|{n} settlements", "ru": "{n} населённый пункт|{n} населённых пункта|{n} населённых пунктов"},
    "share": {"en": "share of population", "ru": "доля населения"},
    "of_total": {"en": "of {population} people in {settlements} ({unknown} without a population figure)", "ru": "из {population} чел. в {settlements} (у {unknown} нет данных о населении)"},
    "by_district": {"en": "Districts, by population in gaps", "ru": "Районы по населению в зонах недоступности"},
    "largest_gaps": {"en": "The largest gap settlement|The {n} largest gap settlements", "ru": "{n} крупнейший населённый пункт вне зоны|{n} крупнейших населённых пункта вне зоны|{n} крупнейших населённых пунктов вне зоны"},
    "no_gaps": {"en": "No settlement is in a gap.", "ru": "Ни один населённый пункт не находится вне зоны."},
    "cumulative": {"en": "Population by travel time to the nearest anchor", "ru": "Население по времени в пути до ближайшего опорного пункта"},
    "cumulative_x": {"en": "travel time to the nearest anchor, min", "ru": "время в пути до ближайшего опорного пункта, мин"},
    "cumulative_y": {"en": "population reached, % of the region", "ru": "охваченное население, % от региона"},
    "cumulative_core": {"en": "to the nearest agglomeration core", "ru": "до ближайшего центра агломерации"},
    "cumulative_anchor": {"en": "to the nearest anchor", "ru": "до ближайшего опорного пункта"},
    "method": {"en": "Method", "ru": "Методика"},
    "method_road": {"en": "Times are drives along the OpenStreetMap road network from each settlement to its nearest anchor (one multi-source shortest-path search), with class speeds capped by tagged limits and slowed on unpaved roads and tracks; settlements more than {snap:g} m from any road are unreachable. A settlement is in a gap when its nearest anchor is more than {gap:g} min away or no road leads to one.", "ru": "Время — поездка по дорожной сети OpenStreetMap от каждого населённого пункта до ближайшего опорного пункта (один многоисточниковый поиск кратчайших путей); скорость по классу дороги, ограничена знаками и снижена на грунтовых дорогах. Населённые пункты дальше {snap:g} м от дороги считаются недоступными. Населённый пункт вне зоны, если ближайший опорный пункт дальше {gap:g} мин или к нему нет дороги."},
    "method_straight": {"en": "Times use a straight-line model: distance × {detour:g} at {speed:g} km/h, from bundled reference data. A settlement is in a gap when its nearest anchor is more than {gap:g} min away.", "ru": "Время рассчитано по прямой: расстояние × {detour:g} при {speed:g} км/ч, по прилагаемым справочным данным. Населённый пункт вне зоны, если ближайший опорный пункт дальше {gap:g} мин."},
    "anchors_used": {"en": "Anchors ({n})", "ru": "Опорные пункты ({n})"},
    "cores_used": {"en": "agglomeration cores", "ru": "центры агломераций"},
    "sources": {"en": "Data sources", "ru": "Источники данных"},
    "source_osm": {"en": "Roads, settlements and boundaries: OpenStreetMap extract {file}, sha256 {sha}, recorded {date}. © OpenStreetMap contributors, ODbL 1.0.", "ru": "Дороги, населённые пункты и границы: выгрузка OpenStreetMap {file}, sha256 {sha}, получена {date}. © участники OpenStreetMap, ODbL 1.0."},
    "source_fallback": {"en": "No OpenStreetMap extract was available ({reason}); bundled reference data were used instead.", "ru": "Выгрузка OpenStreetMap была недоступна ({reason}); использованы прилагаемые справочные данные."},
    "attribution_file": {"en": "Attribution and licences of the bundled data", "ru": "Атрибуция и лицензии прилагаемых данных"},
    "generated": {"en": "Generated {date} by the anchor-access pipeline from {gpkg}.", "ru": "Сформировано {date} конвейером anchor-access из {gpkg}."},
    "total": {"en": "total", "ru": "всего"},
    "col_settlements": {"en": "Settlements", "ru": "Н. п."},
    "col_population": {"en": "Population", "ru": "Население"},
    "col_gap_pop": {"en": "Population in gaps", "ru": "Население вне зоны"},
    "col_gap_n": {"en": "Settlements in gaps", "ru": "Н. п. вне зоны"},
    "col_unreachable": {"en": "Unreachable", "ru": "Недоступны"},
    "col_within": {"en": "Population ≤ {minutes:g} min", "ru": "Население ≤ {minutes:g} мин"},
    "open_map": {"en": "Open the interactive map", "ru": "Открыть интерактивную карту"},
    # services
    "service_type": {"en": "Service", "ru": "Учреждение"},
    "core_missing": {"en": "Core services missing", "ru": "Нет базовых услуг"},
    "none": {"en": "none", "ru": "нет"},
    "layer_desert": {"en": "No {service} within {minutes:g} min", "ru": "Нет «{service}» в пределах {minutes:g} мин"},
    "desert_legend": {"en": "settlement beyond {minutes:g} min", "ru": "н. п. дальше {minutes:g} мин"},
    "time_to": {"en": "To the nearest {service}, min", "ru": "До ближайшего «{service}», мин"},
    "svc_hospital": {"en": "hospital", "ru": "больница"},
    "svc_clinic": {"en": "clinic", "ru": "поликлиника"},
    "svc_fap": {"en": "feldsher post (FAP)", "ru": "ФАП"},
    "svc_pharmacy": {"en": "pharmacy", "ru": "аптека"},
    "svc_school": {"en": "school", "ru": "школа"},
    "svc_kindergarten": {"en": "kindergarten", "ru": "детский сад"},
    "svc_post_office": {"en": "post office", "ru": "почта"},
    "svc_bank": {"en": "bank or ATM", "ru": "банк или банкомат"},
    "svc_shop": {"en": "food shop", "ru": "продуктовый магазин"},
    "svc_fuel": {"en": "fuel station", "ru": "АЗС"},
    "svc_police": {"en": "police", "ru": "полиция"},
    "svc_fire_station": {"en": "fire station", "ru": "пожарная часть"},
    "svc_culture": {"en": "library or culture house", "ru": "библиотека или дом культуры"},
    # seasons, scenarios
    "layer_season": {"en": "Season: {season}", "ru": "Сезон: {season}"},
    "layer_worst": {"en": "Worst season", "ru": "Худший сезон"},
    "worst_season": {"en": "Worst season", "ru": "Худший сезон"},
    "seasons_served": {"en": "Served in", "ru": "Обслуживается"},
    "crossings_col": {"en": "Depends on", "ru": "Зависит от"},
    "layer_changes": {"en": "Changes", "ru": "Изменения"},
    "change": {"en": "Change", "ru": "Изменение"},
    "change_gained": {"en": "gained access", "ru": "получили доступ"},
    "change_lost": {"en": "lost access", "ru": "потеряли доступ"},
    "change_faster": {"en": "faster", "ru": "быстрее"},
    "change_slower": {"en": "slower", "ru": "медленнее"},
    "change_anchor changed": {"en": "other anchor", "ru": "другой опорный пункт"},
    "time_a": {"en": "Before, min", "ru": "До, мин"},
    "time_b": {"en": "After, min", "ru": "После, мин"},
    "services_title": {"en": "Services: what the anchors offer", "ru": "Услуги: что есть в опорных пунктах"},
    "services_lacking": {"en": "{n} anchor lacks a core service ({core}).|{n} anchors lack a core service ({core}).", "ru": "В {n} опорном пункте нет базовой услуги ({core}).|В {n} опорных пунктах нет базовой услуги ({core}).|В {n} опорных пунктах нет базовой услуги ({core})."},
    "seasons_section": {"en": "Access by season", "ru": "Доступность по сезонам"},
    "season": {"en": "Season", "ru": "Сезон"},
    "dates": {"en": "Dates (MM-DD)", "ru": "Даты (ММ-ДД)"},
    "season_dependent_n": {"en": "{n} settlement ({people} people) is within reach in some seasons only.|{n} settlements ({people} people) are within reach in some seasons only.", "ru": "{n} населённый пункт ({people} чел.) доступен лишь в некоторые сезоны.|{n} населённых пункта ({people} чел.) доступны лишь в некоторые сезоны.|{n} населённых пунктов ({people} чел.) доступны лишь в некоторые сезоны."},
    "season_summer": {"en": "summer", "ru": "лето"},
    "season_winter": {"en": "winter", "ru": "зима"},
    "season_thaw": {"en": "spring thaw", "ru": "распутица"},
    "layer_proposals": {"en": "Proposed anchors (plan)", "ru": "Предлагаемые опорные пункты (план)"},
    "proposal": {"en": "proposed anchor: rank (+ people newly covered)", "ru": "предлагаемый опорный пункт: № (+ новых жителей в зоне)"},
    "newly_covered": {"en": "People newly covered", "ru": "Новых жителей в зоне"},
    "layer_cross_border": {"en": "Nearest anchor in another district", "ru": "Ближайший опорный пункт в другом районе"},
    "layer_monotown_reach": {"en": "Single-industry towns: employment centres in reach", "ru": "Моногорода: доступные центры занятости"},
    "layer_crossings": {"en": "River crossings and winter roads", "ru": "Переправы и зимники"},
    "winter_road": {"en": "winter road or ice crossing", "ru": "зимник или ледовая переправа"},
    "lost_without": {"en": "Cut off without it ({season})", "ru": "Без неё теряют доступ ({season})"},
    "season_dependent_title": {"en": "Settlements whose access depends on the season", "ru": "Населённые пункты, доступность которых зависит от сезона"},
    # map pages: what the page shows
    "page_map": {"en": "access to anchor settlements", "ru": "доступность опорных населённых пунктов"},
    "page_seasons": {"en": "access by season", "ru": "доступность по сезонам"},
    "page_plan": {"en": "planning answers (k = {k})", "ru": "варианты решений (k = {k})"},
    "page_diff": {"en": "what changes: {a} → {b}", "ru": "что меняется: {a} → {b}"},
    "page_report": {"en": "report", "ru": "отчёт"},
    "title_full": {"en": "{region}: {what} — {season}, {scenario}", "ru": "{region}: {what} — {season}, {scenario}"},
    "season_is": {"en": "season: {season}", "ru": "сезон: {season}"},
    "season_dates": {"en": "{season} ({start} – {end})", "ru": "{season} ({start} – {end})"},
    "every_season": {"en": "every season ({seasons})", "ru": "все сезоны ({seasons})"},
    "baseline": {"en": "baseline (no scenario)", "ru": "базовый вариант (без сценария)"},
    "baseline_short": {"en": "baseline", "ru": "базовый вариант"},
    "scenario_is": {"en": "scenario: {description}", "ru": "сценарий: {description}"},
    "page_link_map": {"en": "Map", "ru": "Карта"},
    "page_link_seasons": {"en": "Seasons", "ru": "Сезоны"},
    "page_link_plan": {"en": "Plan", "ru": "План"},
    "layers": {"en": "Layers", "ru": "Слои"},
    "legend": {"en": "Legend", "ru": "Легенда"},
    "layer_roads_main": {"en": "Roads (trunk to tertiary)", "ru": "Дороги (магистральные — местные)"},
    "layer_roads_minor": {"en": "Minor roads and tracks (from zoom {zoom})", "ru": "Прочие дороги и грунтовки (с масштаба {zoom})"},
    "layer_roads_special": {"en": "Winter roads and ferries", "ru": "Зимники и паромы"},
    "layer_water": {"en": "Water", "ru": "Водные объекты"},
    "layer_abandoned": {"en": "Abandoned villages (0 people)", "ru": "Покинутые населённые пункты (0 жителей)"},
    "layer_scenario_roads": {"en": "Roads the scenario changes", "ru": "Дороги, изменённые сценарием"},
    "abandoned": {"en": "abandoned (0 people)", "ru": "покинутый (0 жителей)"},
    "road_trunk": {"en": "motorway, trunk, primary", "ru": "магистрали и основные дороги"},
    "road_secondary_class": {"en": "secondary", "ru": "региональные дороги"},
    "road_tertiary": {"en": "tertiary", "ru": "местные дороги"},
    "road_track": {"en": "track", "ru": "грунтовка"},
    "road_closed": {"en": "closed by the scenario", "ru": "закрыта по сценарию"},
    "road_added": {"en": "added by the scenario", "ru": "добавлена по сценарию"},
    "road_winter": {"en": "winter road or ice crossing (winter only)", "ru": "зимник или ледовая переправа (только зимой)"},
    "water_area": {"en": "lake, reservoir, river", "ru": "озеро, водохранилище, река"},
    "catchment_outline": {"en": "catchment boundary, labelled with its anchor", "ru": "граница зоны тяготения с названием опорного пункта"},
    "highway_col": {"en": "Class", "ru": "Класс"},
    "surface_col": {"en": "Surface", "ru": "Покрытие"},
    "speed_col": {"en": "Speed, km/h", "ru": "Скорость, км/ч"},
    "change_legend_lost": {"en": "lost access (now in a gap)", "ru": "потеряли доступ (теперь вне зоны)"},
    "change_legend_gained": {"en": "gained access (out of a gap)", "ru": "получили доступ (вышли из зоны недоступности)"},
    "qgis_approximate": {"en": "APPROXIMATE results: straight-line model, not roads (Project → Properties → Metadata)", "ru": "ПРИБЛИЖЁННЫЕ результаты: расчёт по прямой, не по дорогам (Проект → Свойства → Метаданные)"},
    "approximate_title": {"en": "APPROXIMATE", "ru": "ПРИБЛИЖЁННО"},
    # system errors: a short phrase, the original text in a tooltip
    "err_no_source": {"en": "the region file names no OpenStreetMap source", "ru": "в файле региона не указан источник OpenStreetMap"},
    "err_no_network": {"en": "no network connection", "ru": "нет подключения к сети"},
    "err_timeout": {"en": "the server did not answer in time", "ru": "сервер не ответил вовремя"},
    "err_http": {"en": "the server refused the download", "ru": "сервер отказал в загрузке"},
    "err_other": {"en": "the download failed", "ru": "загрузка не удалась"},
    # planning (the report's sections)
    "plan_title_proposals": {"en": "Closing gaps: settlements to promote to anchors", "ru": "Закрытие зон недоступности: какие пункты сделать опорными"},
    "plan_title_cross_border": {"en": "Inter-municipal ties: anchors serving other districts", "ru": "Межмуниципальное взаимодействие: опорные пункты соседних районов"},
    "plan_title_monotowns": {"en": "Reach of single-industry towns", "ru": "Доступность центров занятости из моногородов"},
    "plan_approximate": {"en": "APPROXIMATE: straight-line travel model, bundled settlements only.", "ru": "ПРИБЛИЖЁННО: модель по прямой, только населённые пункты из комплекта данных."},
    "plan_proposals_lead": {"en": "{gap_settlements} ({gap_population} people) are over {gap_min:g} min from every anchor. {proposed} (k = {k}, from {candidates}) bring {population} people {in_settlements} within {gap_min:g} min (checked with the full model: {verified} people). {gap}.", "ru": "Дальше {gap_min:g} мин от любого опорного пункта: {gap_settlements}, {gap_population} чел. Предложено опорных пунктов: {proposed_n} (k = {k}, кандидатов: {candidates_n}); с ними в пределах {gap_min:g} мин окажутся {population} чел. {in_settlements} (проверка полной моделью: {verified} чел.). {gap}."},
    "n_in_settlements": {"en": "in {n} settlement|in {n} settlements", "ru": "в {n} населённом пункте|в {n} населённых пунктах|в {n} населённых пунктах"},
    "n_proposed": {"en": "{n} proposed anchor|{n} proposed anchors", "ru": "{n} предложенный опорный пункт|{n} предложенных опорных пункта|{n} предложенных опорных пунктов"},
    "n_candidates": {"en": "{n} candidate|{n} candidates", "ru": "{n} кандидата|{n} кандидатов|{n} кандидатов"},
    "plan_cross_border_lead": {"en": "{settlements} ({population} people): the nearest anchor is in another district.", "ru": "{settlements} ({population} чел.): ближайший опорный пункт находится в другом районе."},
    "plan_monotowns_lead": {"en": "Employment centres: settlements of at least {min_population} people{named}.", "ru": "Центры занятости: населённые пункты от {min_population} жителей{named}."},
    "plan_greedy_gap": {"en": "The greedy choice covers {population} fewer people ({percent:g} %) than the exact optimum (solver: {status})", "ru": "Жадный выбор охватывает на {population} чел. меньше ({percent:g} %), чем точное решение (решатель: {status})"},
    "plan_exact_not_run": {"en": "Exact solution not computed ({why})", "ru": "Точное решение не считалось ({why})"},
    "plan_none": {"en": "None.", "ru": "Нет."},
    "plan_more_rows": {"en": "{n} more row in {file}.|{n} more rows in {file}.", "ru": "Ещё {n} строка в файле {file}.|Ещё {n} строки в файле {file}.|Ещё {n} строк в файле {file}."},
    "plan_centres_within": {"en": "centres ≤ {band:g} min", "ru": "центров ≤ {band:g} мин"},
    "plan_centre_population_within": {"en": "people in centres ≤ {band:g} min", "ru": "жителей центров ≤ {band:g} мин"},
    "plan_col_rank": {"en": "#", "ru": "№"},
    "plan_col_name": {"en": "settlement", "ru": "населённый пункт"},
    "plan_col_district": {"en": "district", "ru": "район"},
    "plan_col_population": {"en": "population", "ru": "население"},
    "plan_col_new_population": {"en": "people newly covered", "ru": "новых жителей в зоне"},
    "plan_col_new_settlements": {"en": "settlements newly covered", "ru": "новых пунктов в зоне"},
    "plan_col_cumulative_population": {"en": "cumulative people", "ru": "нарастающим итогом, чел."},
    "plan_col_cumulative_share_pct": {"en": "% of gap population", "ru": "% населения зон"},
    "plan_col_anchor_district": {"en": "anchor's district", "ru": "район опорного пункта"},
    "plan_col_settlements": {"en": "settlements", "ru": "пунктов"},
    "plan_col_median_time_min": {"en": "median time, min", "ru": "медиана времени, мин"},
    "plan_col_median_time_saved_min": {"en": "median time saved, min", "ru": "медиана экономии, мин"},
    "plan_col_settlements_gap_without_crossing": {"en": "in a gap without crossing", "ru": "вне зоны без соседнего района"},
    "plan_col_anchors": {"en": "anchors", "ru": "опорные пункты"},
    "plan_col_monotown": {"en": "single-industry town", "ru": "моногород"},
    "plan_col_category": {"en": "category (1: most difficult … 3: stable)", "ru": "категория (1 — наиболее сложное … 3 — стабильное)"},
    "plan_col_nearest_centre": {"en": "nearest centre", "ru": "ближайший центр"},
    "plan_col_nearest_centre_time_min": {"en": "time, min", "ru": "время, мин"},
}  # fmt: skip


def tr(language: str, key: str, **values) -> str:
    """The text `key` in `language`, with `values` formatted in (``str.format``)."""
    text = TEXT[key][language]
    return text.format(**values) if values else text


def plural_form(language: str, n: float) -> int:
    """Which plural form `n` takes: English 1 / other; Russian 1, 21 / 2–4, 22–24 / 5–20, 0."""
    n = abs(int(n)) if float(n).is_integer() else None
    if language == "ru":
        if n is None:
            return 1  # fractions take the genitive singular: 1,5 пункта
        if n % 10 == 1 and n % 100 != 11:
            return 0
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return 1
        return 2
    return 0 if n == 1 else 1


def trn(language: str, key: str, n: float, **values) -> str:
    """The text `key` in the plural form for `n` (forms separated by ``|`` in :data:`TEXT`),
    with ``{n}`` and `values` formatted in. `n` is shown as given in ``values['shown']`` if
    set (e.g. with thousands separators)."""
    forms = TEXT[key][language].split("|")
    form = forms[min(plural_form(language, n), len(forms) - 1)]
    shown = values.pop("shown", None)
    return form.format(n=n if shown is None else shown, **values)


def system_phrase(language: str, message: str) -> str:
    """A short phrase in `language` for a system error message (a failed download, a missing
    source): what the reader sees; the original goes into a tooltip."""
    text = str(message)
    low = text.lower()
    if "names no osm source" in low or "no osm source" in low:
        key = "err_no_source"
    elif "timed out" in low or "timeout" in low:
        key = "err_timeout"
    elif "http " in low and any(
        code in low for code in ("403", "404", "410", "429", "500", "502", "503")
    ):
        key = "err_http"
    elif low.startswith("no network") or any(
        word in low
        for word in ("connectionerror", "name resolution", "failed to resolve", "max retries",
                     "network is unreachable", "connection refused", "nodename nor servname")
    ):  # fmt: skip
        key = "err_no_network"
    else:
        key = "err_other"
    return tr(language, key)


def service_label(language: str, service: str) -> str:
    """A service type's name in `language` (a region's own types keep their key)."""
    key = f"svc_{service}"
    return tr(language, key) if key in TEXT else service


def season_label(language: str, season: str) -> str:
    """A season's name in `language` (a region's own seasons keep their key)."""
    key = f"season_{season}"
    return tr(language, key) if key in TEXT else season


def local_name(frame: pd.DataFrame, language: str, column: str = "name") -> pd.Series:
    """Each row's name in `language` (``name_<language>``) where OSM has one, else `column`."""
    own = f"{column}_{language}"
    names = frame[column].astype(object)
    if own in frame.columns:
        names = frame[own].astype(object).where(frame[own].notna() & (frame[own] != ""), names)
    return names


# --- words about a run: its season, scenario and model; anchors' labels ---------------------


def approximate_text(cfg: RegionConfig, short: bool = False) -> str:
    """The warning shown on every deliverable of a straight-line (offline) run."""
    off = cfg.offline
    detour, speed = (off.detour_factor, off.speed_kph) if off else (float("nan"), float("nan"))
    key = "approximate_short" if short else "approximate_long"
    return tr(cfg.language, key, detour=detour, speed=speed, region=cfg.name)


def run_text(cfg: RegionConfig, meta: dict[str, str]) -> dict[str, str]:
    """What a run is, in words: its season (with dates) and its scenario (its description,
    not its file name), from the result GeoPackage's metadata."""
    lang = cfg.language
    season = meta.get("season") or cfg.default_season
    rules = cfg.seasons.get(season) if hasattr(cfg.seasons, "get") else None
    label = season_label(lang, season)
    if rules is not None and getattr(rules, "start", None) and getattr(rules, "end", None):
        label = tr(
            lang,
            "season_dates",
            season=label,
            start=_day(lang, rules.start),
            end=_day(lang, rules.end),
        )
    return {
        "season": tr(lang, "season_is", season=label),
        "scenario": scenario_text(cfg, meta.get("scenario") or "baseline"),
    }


_MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "ru": (
        "янв.",
        "февр.",
        "марта",
        "апр.",
        "мая",
        "июня",
        "июля",
        "авг.",
        "сент.",
        "окт.",
        "нояб.",
        "дек.",
    ),
}


def _day(lang: str, month_day: str) -> str:
    """'05-15' as '15 May' / '15 мая'."""
    try:
        month, day = (int(x) for x in str(month_day).split("-"))
        return f"{day} {_MONTHS[lang][month - 1]}"
    except (ValueError, IndexError, KeyError):
        return str(month_day)


def scenario_text(cfg: RegionConfig, name: str, short: bool = False) -> str:
    """'baseline (no scenario)' or 'scenario: <its description>'."""
    lang = cfg.language
    if name == "baseline":
        return tr(lang, "baseline_short" if short else "baseline")
    description = _scenario(cfg, name)
    text = description.description if description is not None and description.description else name
    return text if short else tr(lang, "scenario_is", description=text)


def _scenario(cfg: RegionConfig, name: str):
    from pipeline.errors import PipelineError
    from pipeline.network.scenarios import load_scenario

    try:
        return load_scenario(cfg, name)
    except PipelineError:
        return None


def anchor_local_names(settlements: pd.DataFrame, lang: str) -> dict[str, str]:
    """Anchor name (as in ``anchor_name``) -> its name in the region's language."""
    anchors = settlements[settlements["is_anchor"].astype(bool)]
    return dict(
        zip(anchors["name"].astype(str), local_name(anchors, lang).astype(str), strict=True)
    )


def anchor_labels(layers, lang: str, anchor_names: dict[str, str]) -> dict[int, str]:
    """anchor_id -> its label in the region's language: the name, with the district where two
    anchors share it (the anchors layer's ``label``)."""
    anchors = layers["anchors"]
    labels = anchors["label"] if "label" in anchors else anchors["name"]
    out = {}
    for i, name, label in zip(anchors["anchor_id"], anchors["name"], labels, strict=True):
        name, label = str(name), str(label)
        local = anchor_names.get(name, name)
        out[int(i)] = local if label == name else label.replace(name, local, 1)
    return out
