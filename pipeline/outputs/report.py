"""The reviewer's report (one HTML page, read in five minutes) and the settlement table for
spreadsheet users.

``maps/<region>/report.html``: headline figures (population and settlements within 30 and
60 min of an anchor, in gaps, unreachable), districts sorted by population in gaps, the 20
largest gap settlements, a chart of cumulative population against travel time (inline SVG:
the page is one self-contained file), the method and the data
sources with dates and attribution, and the approximate-model warning when it applies; its
title and first line name the region, the season and the scenario (its description). Rendered
from Jinja2 templates with autoescape (``pipeline/templates/report/``; one table macro,
``templates/tables.html``), every word from :mod:`pipeline.i18n`: nothing is escaped by hand.
The services, seasons and planning sections come from their own templates
(:func:`services_section`, :func:`seasons_section`, :func:`plan_html`).

``data_processed/<region>/settlements.csv``: the settlements layer without geometry, plus
``lon``/``lat`` in WGS 84; UTF-8 with a byte-order mark so that Excel shows Cyrillic names.
Russian-language regions use ``;`` between fields and a decimal comma, as Excel expects with
Russian regional settings; English ones ``,`` and a decimal point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from markupsafe import Markup

from pipeline.config import RegionConfig
from pipeline.outputs import palette
from pipeline.outputs.i18n import (
    ACCESS_CLASSES,
    TEXT,
    anchor_labels,
    anchor_local_names,
    approximate_text,
    local_name,
    run_text,
    season_label,
    service_label,
    system_phrase,
    tr,
    trn,
)
from pipeline.outputs.templates import render

__all__ = [
    "HEADLINE_MINUTES",
    "Headline",
    "build_report",
    "district_table",
    "headline_figures",
    "largest_gaps",
    "plan_html",
    "plan_sections",
    "seasons_section",
    "services_section",
    "settlements_table",
    "write_settlements_csv",
]

HEADLINE_MINUTES = (30.0, 60.0)  # the headline thresholds, whatever the region's bands
LARGEST_GAPS = 20


@dataclass(frozen=True)
class Headline:
    """One headline figure: how many settlements and people (of those with a population tag)."""

    key: str
    settlements: int  # inhabited or of unknown population (abandoned ones are counted apart)
    population: int
    share: float  # of the region's tagged population, 0–1
    unknown: int = 0  # of those settlements, how many have no population figure
    abandoned: int = 0  # abandoned settlements (0 people) in the same class


def _population(s: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(s["population"], errors="coerce")


def headline_figures(s: pd.DataFrame, gap_min: float) -> list[Headline]:
    """Within 30 and 60 min of an anchor, in gaps (over `gap_min` or unreachable), unreachable."""
    pop = _population(s).fillna(0)
    t = pd.to_numeric(s["anchor_time_min"], errors="coerce")
    total = float(pop.sum()) or 1.0
    masks = {f"within_{m:g}": t <= m for m in HEADLINE_MINUTES}
    masks["gap"] = ~(t <= gap_min)
    masks["unreachable"] = t.isna()
    unknown = _population(s).isna()
    abandoned = (_population(s) == 0).fillna(False)
    return [
        Headline(
            key,
            int((mask & ~abandoned).sum()),
            int(pop[mask].sum()),
            float(pop[mask].sum()) / total,
            int((mask & unknown).sum()),
            int((mask & abandoned).sum()),
        )
        for key, mask in masks.items()
    ]


def district_table(s: pd.DataFrame, gap_min: float) -> pd.DataFrame:
    """Per district: settlements, population, population within 30/60 min, gaps, unreachable;
    sorted by population in gaps (largest first), then name."""
    frame = pd.DataFrame(
        {
            "district": s["district"].astype(object).fillna("—"),
            "pop": _population(s).fillna(0),
            "t": pd.to_numeric(s["anchor_time_min"], errors="coerce"),
        }
    )
    frame["gap"] = ~(frame["t"] <= gap_min)
    frame["unreachable"] = frame["t"].isna()
    for m in HEADLINE_MINUTES:
        frame[f"pop_{m:g}"] = frame["pop"].where(frame["t"] <= m, 0)
    frame["gap_pop"] = frame["pop"].where(frame["gap"], 0)
    table = frame.groupby("district", sort=True).agg(
        settlements=("pop", "size"),
        population=("pop", "sum"),
        **{f"pop_{m:g}": (f"pop_{m:g}", "sum") for m in HEADLINE_MINUTES},
        gap_settlements=("gap", "sum"),
        gap_population=("gap_pop", "sum"),
        unreachable=("unreachable", "sum"),
    )
    table = table.reset_index().sort_values(
        ["gap_population", "gap_settlements", "district"], ascending=[False, False, True]
    )
    return table.astype({c: "int64" for c in table.columns if c != "district"}).reset_index(
        drop=True
    )


def largest_gaps(s: pd.DataFrame, gap_min: float, n: int = LARGEST_GAPS) -> pd.DataFrame:
    """The `n` most populous settlements in gaps (untagged population last), largest first."""
    t = pd.to_numeric(s["anchor_time_min"], errors="coerce")
    gaps = s[~(t <= gap_min)].assign(gap_pop=_population(s), gap_t=t)
    gaps = gaps.sort_values(
        ["gap_pop", "gap_t", "name"], ascending=[False, False, True], na_position="last"
    )
    return gaps.head(n)


def cumulative_share(time_min: np.ndarray, people: np.ndarray, limit_min: float):
    """The step curve of the share of all `people` (%) whose time is at most t, for t from 0 to
    `limit_min`: its corners (minutes, %), the share holding from each corner to the next.
    A NaN or infinite time is never reached."""
    time_min, people = np.asarray(time_min, float), np.asarray(people, float)
    total = people.sum() or 1.0
    ok = np.isfinite(time_min) & (time_min <= limit_min)
    order = np.argsort(time_min[ok], kind="stable")
    x = np.concatenate([[0.0], time_min[ok][order], [limit_min]])
    y = np.concatenate([[0.0], np.cumsum(people[ok][order]), [people[ok].sum()]]) / total * 100
    return x, y


_CHART = {"width": 750, "height": 360, "left": 58, "top": 10, "right": 740, "bottom": 316}


def _cumulative_chart(s: pd.DataFrame, cfg: RegionConfig) -> Markup:
    """SVG of the population share reached against time, to the anchor and the core.

    Drawn here rather than by a plotting library: for one step chart, matplotlib's import
    alone took 0.7 s of every report."""
    lang = cfg.language
    pop = _population(s).fillna(0).to_numpy()
    limit = max(cfg.thresholds.bands_min[-1], cfg.thresholds.gap_min) * 1.25
    box = _CHART
    width, height = box["right"] - box["left"], box["bottom"] - box["top"]

    def px(minutes):
        return box["left"] + np.asarray(minutes) / limit * width

    def py(percent):
        return box["bottom"] - np.asarray(percent) / 101 * height

    series = [("anchor", "anchor_time_min", "cumulative_anchor", "#1a9850")]
    if s["core_time_min"].notna().any():
        series.append(("core", "core_time_min", "cumulative_core", palette.CORE_ZONE_COLOUR))
    lines = []
    for key, column, label, colour in series:
        x, y = cumulative_share(pd.to_numeric(s[column], errors="coerce"), pop, limit)
        # a corner per half pixel is all a screen shows: the last share at each position
        at = np.round(px(x) * 2) / 2
        last = np.append(at[1:] != at[:-1], True)
        at, up = at[last], py(y[last])
        path = f"M{box['left']} {box['bottom']}" + "".join(
            f"H{a:g}V{b:.1f}" for a, b in zip(at.tolist(), up.tolist(), strict=True)
        )
        lines.append({"key": key, "path": path, "colour": colour, "label": tr(lang, label)})
    step = next((m for m in (5, 10, 15, 30, 60, 120, 240) if limit / m <= 9), 480)
    x_ticks = [
        {"at": round(float(px(m)), 1), "label": f"{m:g}"} for m in np.arange(0, limit + 1e-9, step)
    ]
    y_ticks = [{"at": round(float(py(p)), 1), "label": p} for p in range(0, 101, 20)]
    gap = cfg.thresholds.gap_min
    return Markup(
        render(
            "report/chart.html",
            **box,
            title=tr(lang, "cumulative"),
            x_label=tr(lang, "cumulative_x"),
            y_label=tr(lang, "cumulative_y"),
            x_ticks=x_ticks,
            y_ticks=y_ticks,
            gap={
                "at": round(float(px(gap)), 1),
                "colour": palette.GAP_COLOUR,
                "label": tr(lang, "gap_over", minutes=gap),
            },
            series=lines,
        )
    )


# --- the page -------------------------------------------------------------------------------


def _n(value: float) -> str:
    """A whole number with thin-space thousands (readable in both languages)."""
    return f"{round(value):,}".replace(",", "\u202f")


def _minutes(value: float) -> str:
    return "—" if value != value else f"{value:.0f}"


def _settlements(lang: str, n: int) -> str:
    return trn(lang, "settlements_n", n, shown=_n(n))


def run_words(cfg: RegionConfig, meta: dict[str, str]) -> dict[str, str]:
    """The run's season and scenario in words (the scenario's description, not its file)."""
    return run_text(cfg, meta)


def build_report(
    settlements: gpd.GeoDataFrame,
    anchors: gpd.GeoDataFrame,
    cfg: RegionConfig,
    meta: dict[str, str],
    sources: dict,
    attribution: str = "",
    generated: datetime | None = None,
    extra_sections: list[Markup] | None = None,
    links: list[tuple[str, str]] | None = None,
) -> str:
    """The report page as HTML text, from ``templates/report/page.html`` (autoescape: every
    value from the data is escaped by Jinja).

    `extra_sections`: sections rendered from their own templates (services, seasons, plan:
    :func:`services_section`, :func:`seasons_section`, :func:`plan_html`), placed before the
    method; `links`: (href, text) to the region's other pages (default: the map).
    """
    lang, gap = cfg.language, cfg.thresholds.gap_min
    s = settlements.assign(name=local_name(settlements, lang))
    generated = generated or datetime.now(UTC)
    words = run_words(cfg, meta)
    what = tr(lang, "page_report")
    title = tr(
        lang,
        "title_full",
        region=cfg.display_name,
        what=what,
        season=words["season"],
        scenario=words["scenario"],
    )
    approximate = approximate_text(cfg) if meta.get("approximate") == "yes" else ""
    if approximate:
        title = f"{tr(lang, 'approximate_title')} · {title}"
    pop = _population(s)
    context = {
        "lang": lang,
        "title": title,
        "heading": tr(lang, "report_title", region=cfg.display_name),
        "what": f"{words['season']} · {words['scenario']}",
        "links": [
            {"href": h, "text": x} for h, x in (links or [("index.html", tr(lang, "open_map"))])
        ],
        "approximate": approximate,
        "t": {
            key: tr(lang, key)
            for key in (
                "headline",
                "cumulative",
                "by_district",
                "no_gaps",
                "method",
                "cores_used",
                "sources",
                "attribution",
                "attribution_file",
            )
        },
        "cards": _cards(s, cfg),
        "total": tr(
            lang,
            "of_total",
            population=_n(pop.fillna(0).sum()),
            settlements=_settlements(lang, len(s)),
            unknown=_n(pop.isna().sum()),
        ),
        "chart": _cumulative_chart(s, cfg),
        "districts": _district_rows(s, cfg),
        "gaps": _gap_rows(s, cfg, gap, _anchor_names(settlements, anchors, lang)),
        "sections": list(extra_sections or []),
        "attribution": attribution,
    }
    context["t"]["largest_gaps"] = trn(lang, "largest_gaps", LARGEST_GAPS)
    context.update(_method(s, cfg, meta, sources, generated))
    return render("report/page.html", css=_CSS, **context)


def _anchor_names(settlements: pd.DataFrame, anchors: gpd.GeoDataFrame, lang: str) -> dict:
    """anchor_id -> the anchor's label in the region's language (the district added where two
    anchors share a name)."""
    if "anchor_id" not in anchors or not len(anchors):
        return {}
    return anchor_labels({"anchors": anchors}, lang, anchor_local_names(settlements, lang))


def _cards(s: pd.DataFrame, cfg: RegionConfig) -> list[dict]:
    lang, gap = cfg.language, cfg.thresholds.gap_min
    labels = {f"within_{m:g}": tr(lang, "within", minutes=m) for m in HEADLINE_MINUTES}
    labels["gap"] = tr(lang, "in_gaps", minutes=gap)
    labels["unreachable"] = tr(lang, "unreachable_long")
    return [
        {
            "key": h.key,
            "alert": h.key in ("gap", "unreachable") and h.settlements > 0,
            "people": _people(h, lang),
            "share": f"{h.share:.0%}",
            "settlements": _settlements(lang, h.settlements),
            "abandoned": tr(lang, "abandoned_too", n=_n(h.abandoned)) if h.abandoned else "",
            "label": labels[h.key],
        }
        for h in headline_figures(s, gap)
    ]


def _people(h: Headline, lang: str) -> str:
    """'1 234 people', never '0 people' for settlements whose people are unknown."""
    if h.unknown and h.unknown == h.settlements:
        return tr(lang, "people_unknown")
    text = f"{_n(h.population)} {tr(lang, 'people')}"
    return text + (
        f" + {trn(lang, 'unknown_in', h.unknown, shown=_n(h.unknown))}" if h.unknown else ""
    )


def _district_rows(s: pd.DataFrame, cfg: RegionConfig) -> dict:
    lang, gap = cfg.language, cfg.thresholds.gap_min
    table = district_table(s, gap)
    headers = [
        tr(lang, "district"),
        tr(lang, "col_settlements"),
        tr(lang, "col_population"),
        *(tr(lang, "col_within", minutes=m) for m in HEADLINE_MINUTES),
        tr(lang, "col_gap_n"),
        tr(lang, "col_gap_pop"),
        tr(lang, "col_unreachable"),
    ]
    rows = [[r.district, *(_n(v) for v in list(r)[2:])] for r in table.itertuples()]
    return {"headers": headers, "rows": rows}


def _gap_rows(s: pd.DataFrame, cfg: RegionConfig, gap: float, anchor_labels: dict) -> dict:
    lang = cfg.language
    top = largest_gaps(s, gap)
    access = {c: tr(lang, f"class_{c}") for c in ACCESS_CLASSES}
    headers = [
        tr(lang, "settlement"),
        tr(lang, "district"),
        tr(lang, "anchor_col"),
        tr(lang, "access_class"),
        tr(lang, "population"),
        tr(lang, "anchor_time"),
    ]

    def anchor(r) -> str | None:
        i = getattr(r, "anchor_id", None)
        if i is not None and i == i and int(i) in anchor_labels:
            return anchor_labels[int(i)]
        return None if r.anchor_name is None or r.anchor_name != r.anchor_name else r.anchor_name

    rows = [
        [
            r.name,
            None if r.district != r.district else r.district,
            anchor(r),
            access.get(str(r.access_class), r.access_class),
            tr(lang, "unknown") if r.gap_pop != r.gap_pop else _n(r.gap_pop),
            tr(lang, "unreachable") if r.gap_t != r.gap_t else _minutes(r.gap_t),
        ]
        for r in top.itertuples()
    ]
    return {"headers": headers, "rows": rows}


def _method(s, cfg, meta, sources: dict, generated) -> dict:
    lang, th = cfg.language, cfg.thresholds
    if meta.get("mode") == "straight_line" and cfg.offline is not None:
        method = tr(
            lang,
            "method_straight",
            detour=cfg.offline.detour_factor,
            speed=cfg.offline.speed_kph,
            gap=th.gap_min,
        )
    else:
        method = tr(lang, "method_road", snap=cfg.network.snap_max_m, gap=th.gap_min)
    names = local_name(s[s["is_anchor"].astype(bool)], lang).astype(str)
    cores = local_name(s[s["is_core"].astype(bool)], lang).astype(str)
    reason = None
    if sources.get("mode") == "osm":
        source = tr(
            lang,
            "source_osm",
            file=Path(str(sources.get("url") or sources.get("file", ""))).name,
            sha=str(sources.get("sha256", ""))[:16],
            date=str(sources.get("recorded_at", ""))[:10],
        )
        before, after = source, ""
    else:
        original = str(sources.get("reason", meta.get("source", "")))
        # a system message (often English) shown as a short phrase; the original on hover
        reason = {"text": system_phrase(lang, original), "title": original} if original else None
        before, _, after = tr(lang, "source_fallback", reason="\0").partition("(\0)")
    return {
        "method": method,
        "anchors_title": tr(lang, "anchors_used", n=len(names)),
        "anchors": ", ".join(sorted(names)),
        "cores": ", ".join(sorted(cores)),
        "source": before.rstrip(),
        "reason": reason,
        "source_after": after,
        "footer": tr(
            lang,
            "generated",
            date=generated.strftime("%Y-%m-%d %H:%M UTC"),
            gpkg=f"data_processed/{cfg.name}/{cfg.name}.gpkg",
        ),
    }


_CSS = """
body { font: 14px/1.45 "DejaVu Sans", Arial, sans-serif; max-width: 980px; margin: 20px auto; padding: 0 16px; color: #222; }
h1 { font-size: 21px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 22px 0 8px; border-bottom: 1px solid #ddd; }
.what { color: #444; margin: 0 0 6px 0; } .links a { margin-right: 12px; }
.approx { background: #fff3cd; color: #7a4b00; border: 2px solid #d39e00; padding: 8px 12px; border-radius: 4px; margin: 10px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { flex: 1 1 200px; border: 1px solid #ccc; border-radius: 6px; padding: 8px 12px; background: #f5f8fc; }
.card.alert { background: #fdf0f7; border-color: #d6007e; }
.card .big { font-size: 20px; font-weight: bold; } .card .what { color: #555; font-size: 12px; margin: 0; }
.note { color: #666; font-size: 12px; }
.reason { border-bottom: 1px dotted #888; cursor: help; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 6px; text-align: left; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.chart { max-width: 100%; height: auto; }
pre { white-space: pre-wrap; font-size: 12px; background: #f7f7f7; padding: 8px; }
"""


# --- the CSV --------------------------------------------------------------------------------


def settlements_table(settlements: gpd.GeoDataFrame) -> pd.DataFrame:
    """The settlements layer as a plain table: every column but geometry, then lon/lat (WGS 84)."""
    points = settlements.geometry.to_crs(4326)
    table = pd.DataFrame(settlements.drop(columns=settlements.geometry.name))
    table["lon"] = points.x.round(6).to_numpy()
    table["lat"] = points.y.round(6).to_numpy()
    if "population" in table:
        table["population"] = pd.to_numeric(table["population"], errors="coerce").astype("Int64")
    for column in table.columns:  # minutes to 0.01, metres to 0.1: what a spreadsheet needs
        if column.endswith("_min"):
            table[column] = pd.to_numeric(table[column], errors="coerce").round(2)
        elif column.endswith("_m"):
            table[column] = pd.to_numeric(table[column], errors="coerce").round(1)
    return table


def write_settlements_csv(path: Path, table: pd.DataFrame, language: str) -> None:
    """UTF-8 with BOM; separator and decimal mark as Excel expects in the region's language
    (the pipeline's one CSV format, pipeline.export.write_table_csv)."""
    from pipeline.outputs.export import spreadsheet_table, write_table_csv

    write_table_csv(path, spreadsheet_table(table), language)


def services_section(figures: dict, cfg: RegionConfig) -> Markup:
    """Anchors lacking core services, and the population within reach of each service type."""
    if not figures or not figures.get("available"):
        return Markup("")
    lang = cfg.language
    lacking = figures.get("anchors_lacking_core", [])
    core = " + ".join(service_label(lang, t) for entry in figures["core"] for t in entry.split("|"))
    region_rows = [r for r in figures.get("coverage", []) if r["area"] == "(region)"]
    missing = [
        ", ".join(
            " | ".join(service_label(lang, t) for t in part.strip().split("|"))
            for part in str(a["core_services_missing"]).split(",")
        )
        for a in lacking
    ]
    return Markup(
        render(
            "report/services.html",
            title=tr(lang, "services_title"),
            lead=trn(lang, "services_lacking", len(lacking), core=core),
            lacking={
                "headers": [tr(lang, "anchor_col"), tr(lang, "district"), tr(lang, "core_missing")],
                "rows": [
                    [a["name"], a["district"] or None, m]
                    for a, m in zip(lacking, missing, strict=True)
                ],
            },
            coverage={
                "headers": [tr(lang, "service_type")]
                + [tr(lang, "col_within", minutes=m) for m in (15, 30, 60)],
                "rows": [
                    [service_label(lang, r["service"])]
                    + [_n(r[f"population_within_{m}min"]) for m in (15, 30, 60)]
                    for r in region_rows
                ],
            },
        )
    )


def seasons_section(figures: dict, cfg: RegionConfig) -> Markup:
    """Population served in each season, and the settlements whose access depends on it."""
    if not figures:
        return Markup("")
    lang = cfg.language
    dependent = figures["season_dependent"]

    def seasons(text) -> str | None:
        if not text:
            return None
        return ", ".join(season_label(lang, x.strip()) for x in str(text).split(","))

    return Markup(
        render(
            "report/seasons.html",
            title=tr(lang, "seasons_section"),
            seasons={
                "headers": [
                    tr(lang, "season"),
                    tr(lang, "dates"),
                    tr(lang, "col_within", minutes=figures["gap_threshold_min"]),
                    tr(lang, "col_unreachable"),
                ],
                "rows": [
                    [
                        season_label(lang, name),
                        f["dates"],
                        _n(f["population_served"]),
                        _n(f["settlements_unreachable"]),
                    ]
                    for name, f in figures["seasons"].items()
                ],
            },
            dependent_title=tr(lang, "season_dependent_title"),
            dependent_lead=trn(
                lang,
                "season_dependent_n",
                dependent["settlements"],
                people=_n(dependent["population"]),
                shown=_n(dependent["settlements"]),
            ),
            dependent={
                "headers": [
                    tr(lang, "settlement"),
                    tr(lang, "district"),
                    tr(lang, "seasons_served"),
                    tr(lang, "worst_season"),
                    tr(lang, "crossings_col"),
                    tr(lang, "population"),
                ],
                "rows": [
                    [
                        r["name"],
                        r["district"] or None,
                        seasons(r["seasons_served"]),
                        season_label(lang, r["worst_season"]) if r["worst_season"] else None,
                        r["crossings"] or None,
                        None if r["population"] is None else _n(r["population"]),
                    ]
                    for r in dependent["table"][:30]
                ],
            },
        )
    )


# --- the planning answers ------------------------------------------------------------------

REPORT_MAX_PAIRS = 15  # district pairs shown in the report (all are in cross_border.csv)


def _plan_cell(value):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
    return value


def _plan_table(rows: list[dict], columns: list[str], lang: str) -> dict:
    def header(c: str) -> str:
        if m := re.fullmatch(r"(centres_within|centre_population_within)_(.+)min", c):
            return tr(lang, f"plan_{m[1]}", band=float(m[2]))
        key = f"plan_col_{c}"
        return tr(lang, key) if key in TEXT else c

    return {
        "headers": [header(c) for c in columns],
        "rows": [[_plan_cell(r.get(c)) for c in columns] for r in rows],
    }


def plan_section_data(plan: dict, lang: str) -> list[dict]:
    """The three planning sections (title, paragraphs, table) from `plan.json`, as data for
    ``templates/report/plan_section.html``."""
    p = plan["proposals"]
    exact = p["exact"]
    gap = (
        tr(lang, "plan_greedy_gap", **p["greedy_gap"] | {"status": exact["status"]})
        if exact["ran"]
        else tr(lang, "plan_exact_not_run", why=exact.get("reason", ""))
    )
    best = exact if exact["ran"] and p["chosen"] == "exact" else p["greedy"]
    lead = tr(
        lang,
        "plan_proposals_lead",
        gap_settlements=_settlements(lang, p["gap_settlements"]),
        gap_population=_n(p["gap_population"]),
        gap_min=p["gap_min"],
        proposed=trn(lang, "n_proposed", p["proposed"]),
        proposed_n=p["proposed"],
        k=p["k"],
        candidates=trn(lang, "n_candidates", p["candidates"]),
        candidates_n=p["candidates"],
        population=_n(best["population"]),
        in_settlements=trn(lang, "n_in_settlements", best["settlements"]),
        verified=_n(p["verified"]["population"]),
        gap=gap,
    )
    proposal_cols = [
        "rank",
        "name",
        "district",
        "population",
        "new_population",
        "new_settlements",
        "cumulative_population",
        "cumulative_share_pct",
    ]
    sections = [
        {
            "title": tr(lang, "plan_title_proposals"),
            "paragraphs": [lead],
            "after": [],
            "table": _plan_table(p["table"], proposal_cols, lang),
            "empty": tr(lang, "plan_none"),
        }
    ]
    cb = plan["cross_border"]
    pair_cols = [
        "district",
        "anchor_district",
        "settlements",
        "population",
        "median_time_min",
        "median_time_saved_min",
        "settlements_gap_without_crossing",
        "anchors",
    ]
    shown = cb["pairs"][:REPORT_MAX_PAIRS]
    more = len(cb["pairs"]) - len(shown)
    sections.append(
        {
            "title": tr(lang, "plan_title_cross_border"),
            "paragraphs": [
                tr(
                    lang,
                    "plan_cross_border_lead",
                    settlements=_settlements(lang, cb["settlements"]),
                    population=_n(cb["population"]),
                )
            ],
            "table": _plan_table(shown, pair_cols, lang),
            "empty": tr(lang, "plan_none"),
            "after": [trn(lang, "plan_more_rows", more, file="cross_border.csv")]
            if more > 0
            else [],
        }
    )
    mr = plan["monotown_reach"]
    named = f" + {', '.join(mr['employment_centres'])}" if mr["employment_centres"] else ""
    reach_cols = ["monotown", "category", "district", "population"]
    for band in mr["bands_min"]:
        reach_cols += [f"centres_within_{band:g}min", f"centre_population_within_{band:g}min"]
    reach_cols += ["nearest_centre", "nearest_centre_time_min"]
    sections.append(
        {
            "title": tr(lang, "plan_title_monotowns"),
            "paragraphs": [
                tr(
                    lang,
                    "plan_monotowns_lead",
                    min_population=_n(mr["employment_min_population"]),
                    named=named,
                )
            ],
            "table": _plan_table(mr["towns"], reach_cols, lang),
            "empty": tr(lang, "plan_none"),
            "after": [],
        }
    )
    return sections


def plan_sections(plan: dict, language: str = "en") -> list[tuple[str, Markup]]:
    """The report's planning sections from `plan.json`: (title, HTML body), every value
    escaped by the template."""
    approximate = tr(language, "plan_approximate") if plan.get("approximate") else ""
    return [
        (s["title"], Markup(render("report/plan_section.html", s=s, approximate=approximate)))
        for s in plan_section_data(plan, language)
    ]


def plan_html(plan: dict, language: str = "en") -> Markup:
    """The planning sections as one block of the report (titles included)."""
    approximate = tr(language, "plan_approximate") if plan.get("approximate") else ""
    return Markup(
        render(
            "report/plan.html", sections=plan_section_data(plan, language), approximate=approximate
        )
    )
