"""Every word a reader sees (map, report, QGIS styles), in the region's language.

One table, :data:`TEXT`: a message id, then its English and Russian text. The region file picks
the language (``language = "ru" | "en"``); place names come from ``name_<language>`` when OSM
has one, else from ``name``.

>>> tr("ru", "unreachable")
'недоступен'
>>> tr("en", "gap_over", minutes=60)
'gap (> 60 min)'
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

__all__ = [
    "ACCESS_CLASSES",
    "TEXT",
    "Language",
    "local_name",
    "season_label",
    "service_label",
    "tr",
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
    "served": {"en": "{settlements} settlements, {people} people served", "ru": "обслуживает {settlements} н. п., {people} чел."},
    "unknown": {"en": "unknown", "ru": "нет данных"},
    "zone": {"en": "Drive", "ru": "Время"},
    # map interface
    "search": {"en": "Find a settlement…", "ru": "Найти населённый пункт…"},
    "not_found": {"en": "not found", "ru": "не найдено"},
    "basemap": {"en": "OpenStreetMap (online only)", "ru": "OpenStreetMap (только онлайн)"},
    "basemap_offline": {"en": "Basemap unavailable offline: data layers only.", "ru": "Подложка недоступна без интернета: показаны только слои данных."},
    "approximate": {"en": "APPROXIMATE results", "ru": "ПРИБЛИЖЁННЫЕ результаты"},
    "approximate_short": {"en": "APPROXIMATE: straight-line model (distance × {detour:g} at {speed:g} km/h) without an OpenStreetMap road network. Hover for details.", "ru": "ПРИБЛИЖЁННЫЕ результаты: расчёт по прямой (расстояние × {detour:g} при {speed:g} км/ч), без дорожной сети OpenStreetMap. Подробнее — при наведении."},
    "approximate_long": {"en": "APPROXIMATE: no OpenStreetMap road network was available, so times use a straight-line model (distance × {detour:g} at {speed:g} km/h) on bundled reference data (settlements of 500 people or more). For road-based results put the region's .osm.pbf in data_raw/{region}/extract.osm.pbf and run `make region={region}` again.", "ru": "ПРИБЛИЖЁННЫЕ результаты: дорожная сеть OpenStreetMap была недоступна, поэтому время рассчитано по прямой (расстояние × {detour:g} при {speed:g} км/ч) по прилагаемым справочным данным (населённые пункты от 500 жителей). Для расчёта по дорогам положите выгрузку .osm.pbf региона в data_raw/{region}/extract.osm.pbf и снова выполните `make region={region}`."},
    "attribution": {"en": "© OpenStreetMap contributors", "ru": "© участники OpenStreetMap"},
    "report_link": {"en": "Report", "ru": "Отчёт"},
    "map_title": {"en": "{region}: access to anchor settlements", "ru": "{region}: доступность опорных населённых пунктов"},
    # report
    "report_title": {"en": "{region}: who reaches an anchor settlement, how fast, and where nobody can", "ru": "{region}: кто и как быстро добирается до опорного населённого пункта, и где никто не может"},
    "headline": {"en": "Headline figures", "ru": "Главные цифры"},
    "within": {"en": "within {minutes:g} min of an anchor", "ru": "в пределах {minutes:g} мин от опорного пункта"},
    "in_gaps": {"en": "in coverage gaps (> {minutes:g} min or unreachable)", "ru": "в зонах недоступности (> {minutes:g} мин или нет доступа)"},
    "unreachable_long": {"en": "unreachable (no road route to any anchor)", "ru": "недоступны (нет дорожного пути ни к одному опорному пункту)"},
    "people": {"en": "people", "ru": "чел."},
    "people_unknown": {"en": "population unknown", "ru": "население неизвестно"},
    "unknown_in": {"en": "{n} settlements of unknown population", "ru": "{n} н. п. без данных о населении"},
    "abandoned_too": {"en": "and {n} abandoned (0 people)", "ru": "и {n} покинутых (0 жителей)"},
    "settlements_n": {"en": "settlements", "ru": "н. п."},
    "share": {"en": "share of population", "ru": "доля населения"},
    "of_total": {"en": "of {population} people in {settlements} settlements ({unknown} without a population figure)", "ru": "из {population} чел. в {settlements} н. п. (у {unknown} нет данных о населении)"},
    "by_district": {"en": "Districts, by population in gaps", "ru": "Районы по населению в зонах недоступности"},
    "largest_gaps": {"en": "The {n} largest gap settlements", "ru": "{n} крупнейших населённых пунктов вне зоны"},
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
    "seasons_title": {"en": "{region}: access by season", "ru": "{region}: доступность по сезонам"},
    "diff_title": {"en": "{region}: {a} → {b}", "ru": "{region}: {a} → {b}"},
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
    "services_lacking": {"en": "{n} anchors lack a core service ({core}).", "ru": "В {n} опорных пунктах нет базовой услуги ({core})."},
    "seasons_section": {"en": "Access by season", "ru": "Доступность по сезонам"},
    "season": {"en": "Season", "ru": "Сезон"},
    "dates": {"en": "Dates (MM-DD)", "ru": "Даты (ММ-ДД)"},
    "season_dependent_n": {"en": "{n} settlements ({people} people) are within reach in some seasons only.", "ru": "{n} н. п. ({people} чел.) доступны лишь в некоторые сезоны."},
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
}  # fmt: skip


def tr(language: str, key: str, **values) -> str:
    """The text `key` in `language`, with `values` formatted in (``str.format``)."""
    text = TEXT[key][language]
    return text.format(**values) if values else text


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
