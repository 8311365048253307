"""The reviewer's report (one HTML page, read in five minutes) and the settlement table for
spreadsheet users.

``maps/<region>/report.html``: headline figures (population and settlements within 30 and
60 min of an anchor, in gaps, unreachable), districts sorted by population in gaps, the 20
largest gap settlements, a matplotlib chart of cumulative population against travel time
(embedded as a PNG data URI: the page is one self-contained file), the method and the data
sources with dates and attribution, and the approximate-model warning when it applies.

``data_processed/<region>/settlements.csv``: the settlements layer without geometry, plus
``lon``/``lat`` in WGS 84; UTF-8 with a byte-order mark so that Excel shows Cyrillic names.
Russian-language regions use ``;`` between fields and a decimal comma, as Excel expects with
Russian regional settings; English ones ``,`` and a decimal point.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pipeline import palette
from pipeline.config import RegionConfig
from pipeline.i18n import ACCESS_CLASSES, local_name, season_label, service_label, tr

__all__ = [
    "HEADLINE_MINUTES",
    "Headline",
    "build_report",
    "district_table",
    "headline_figures",
    "largest_gaps",
    "settlements_table",
    "write_settlements_csv",
]

HEADLINE_MINUTES = (30.0, 60.0)  # the headline thresholds, whatever the region's bands
LARGEST_GAPS = 20
_CSV_FORMAT = {"ru": {"sep": ";", "decimal": ","}, "en": {"sep": ",", "decimal": "."}}


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


def _cumulative_chart(s: pd.DataFrame, cfg: RegionConfig) -> str:
    """PNG (base64) of the population share reached against time, to the anchor and the core."""
    lang = cfg.language
    pop = _population(s).fillna(0).to_numpy()
    total = pop.sum() or 1.0
    figure = Figure(figsize=(7.5, 3.6), dpi=100, layout="constrained")
    ax = figure.add_subplot()
    limit = max(cfg.thresholds.bands_min[-1], cfg.thresholds.gap_min) * 1.25
    series = [("anchor_time_min", "cumulative_anchor", "#1a9850")]
    if s["core_time_min"].notna().any():
        series.append(("core_time_min", "cumulative_core", palette.CORE_ZONE_COLOUR))
    for column, key, colour in series:
        t = pd.to_numeric(s[column], errors="coerce").to_numpy()
        ok = np.isfinite(t)
        order = np.argsort(t[ok], kind="stable")
        x = np.concatenate([[0.0], t[ok][order], [limit]])
        y = np.concatenate([[0.0], np.cumsum(pop[ok][order]), [pop[ok].sum()]]) / total * 100
        ax.step(x, y, where="post", color=colour, linewidth=2, label=tr(lang, key))
    gap = cfg.thresholds.gap_min
    ax.axvline(gap, color=palette.GAP_COLOUR, linestyle="--", linewidth=1.2)
    ax.text(gap, 3, " " + tr(lang, "gap_over", minutes=gap), color=palette.GAP_COLOUR, fontsize=8)
    ax.set_xlim(0, limit)
    ax.set_ylim(0, 101)
    ax.set_xlabel(tr(lang, "cumulative_x"))
    ax.set_ylabel(tr(lang, "cumulative_y"))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# --- the page -------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape("—" if value is None or value != value else str(value))


def _n(value: float) -> str:
    """A whole number with thin-space thousands (readable in both languages)."""
    return f"{round(value):,}".replace(",", "\u202f")


def _minutes(value: float) -> str:
    return "—" if value != value else f"{value:.0f}"


def build_report(
    settlements: gpd.GeoDataFrame,
    anchors: gpd.GeoDataFrame,
    cfg: RegionConfig,
    meta: dict[str, str],
    sources: dict,
    attribution: str = "",
    generated: datetime | None = None,
    extra_sections: list[str] | None = None,
) -> str:
    """The report page as HTML text. Every value from the data is escaped.

    `extra_sections`: finished HTML sections (services, seasons, planning) placed before the
    method; their builders escape their own text.
    """
    lang, gap = cfg.language, cfg.thresholds.gap_min
    s = settlements.assign(name=local_name(settlements, lang))
    generated = generated or datetime.now(UTC)
    sections = [
        _header(cfg, meta, generated),
        _headline_section(s, cfg),
        f"<h2>{_e(tr(lang, 'cumulative'))}</h2>"
        f'<img class="chart" alt="{_e(tr(lang, "cumulative"))}" '
        f'src="data:image/png;base64,{_cumulative_chart(s, cfg)}">',
        _district_section(s, cfg),
        _gap_section(s, cfg, gap),
        *(extra_sections or []),
        _method_section(s, anchors, cfg, meta, sources, attribution, generated),
    ]
    title = tr(lang, "report_title", region=cfg.display_name)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def _header(cfg: RegionConfig, meta: dict[str, str], generated: datetime) -> str:
    from pipeline.maps import approximate_text

    lang = cfg.language
    out = f"<h1>{_e(tr(lang, 'report_title', region=cfg.display_name))}</h1>\n"
    out += f'<p class="links"><a href="index.html">{_e(tr(lang, "open_map"))}</a></p>\n'
    if meta.get("approximate") == "yes":
        out += f'<div class="approx" id="approximate">{_e(approximate_text(cfg))}</div>\n'
    return out


def _headline_section(s: pd.DataFrame, cfg: RegionConfig) -> str:
    lang, gap = cfg.language, cfg.thresholds.gap_min
    labels = {f"within_{m:g}": tr(lang, "within", minutes=m) for m in HEADLINE_MINUTES}
    labels["gap"] = tr(lang, "in_gaps", minutes=gap)
    labels["unreachable"] = tr(lang, "unreachable_long")
    cards = "".join(
        f'<div class="card{" alert" if h.key in ("gap", "unreachable") and h.settlements else ""}" '
        f'data-key="{h.key}"><div class="big">{_e(_people(h, lang))}</div>'
        f"<div>{h.share:.0%} · {_n(h.settlements)} {_e(tr(lang, 'settlements_n'))}</div>"
        + (
            f'<div class="what">{_e(tr(lang, "abandoned_too", n=_n(h.abandoned)))}</div>'
            if h.abandoned
            else ""
        )
        + f'<div class="what">{_e(labels[h.key])}</div></div>'
        for h in headline_figures(s, gap)
    )
    pop = _population(s)
    total = tr(
        lang,
        "of_total",
        population=_n(pop.fillna(0).sum()),
        settlements=_n(len(s)),
        unknown=_n(pop.isna().sum()),
    )
    return f'<h2>{_e(tr(lang, "headline"))}</h2>\n<div class="cards">{cards}</div>\n<p class="note">{_e(total)}</p>'


def _people(h: Headline, lang: str) -> str:
    """'1 234 people', never '0 people' for settlements whose people are unknown."""
    if h.unknown and h.unknown == h.settlements:
        return tr(lang, "people_unknown")
    text = f"{_n(h.population)} {tr(lang, 'people')}"
    return text + (f" + {tr(lang, 'unknown_in', n=_n(h.unknown))}" if h.unknown else "")


def _table(headers: list[str], rows: list[list[str]], numeric_from: int, css: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _district_section(s: pd.DataFrame, cfg: RegionConfig) -> str:
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
    rows = [[_e(r.district), *(_n(v) for v in list(r)[2:])] for r in table.itertuples()]
    return f"<h2>{_e(tr(lang, 'by_district'))}</h2>\n" + _table(headers, rows, 1, "districts")


def _gap_section(s: pd.DataFrame, cfg: RegionConfig, gap: float) -> str:
    lang = cfg.language
    title = f"<h2>{_e(tr(lang, 'largest_gaps', n=LARGEST_GAPS))}</h2>\n"
    top = largest_gaps(s, gap)
    if top.empty:
        return title + f"<p>{_e(tr(lang, 'no_gaps'))}</p>"
    access = {c: tr(lang, f"class_{c}") for c in ACCESS_CLASSES}
    headers = [
        tr(lang, "settlement"),
        tr(lang, "district"),
        tr(lang, "anchor_col"),
        tr(lang, "access_class"),
        tr(lang, "population"),
        tr(lang, "anchor_time"),
    ]
    rows = [
        [
            _e(r.name),
            _e(r.district),
            _e(r.anchor_name),
            _e(access.get(str(r.access_class), r.access_class)),
            _e(tr(lang, "unknown")) if r.gap_pop != r.gap_pop else _n(r.gap_pop),
            _e(tr(lang, "unreachable")) if r.gap_t != r.gap_t else _minutes(r.gap_t),
        ]
        for r in top.itertuples()
    ]
    return title + _table(headers, rows, 4, "gaps")


def _method_section(s, anchors, cfg, meta, sources: dict, attribution: str, generated) -> str:
    lang, th = cfg.language, cfg.thresholds
    if meta.get("mode") == "straight_line" and cfg.offline is not None:
        method = tr(lang, "method_straight", detour=cfg.offline.detour_factor,
                    speed=cfg.offline.speed_kph, gap=th.gap_min)  # fmt: skip
    else:
        method = tr(lang, "method_road", snap=cfg.network.snap_max_m, gap=th.gap_min)
    names = local_name(s[s["is_anchor"].astype(bool)], lang).astype(str)
    cores = local_name(s[s["is_core"].astype(bool)], lang).astype(str)
    anchor_line = (
        f"<p><b>{_e(tr(lang, 'anchors_used', n=len(names)))}:</b> {_e(', '.join(sorted(names)))}"
        + (f" ({_e(tr(lang, 'cores_used'))}: {_e(', '.join(sorted(cores)))})" if len(cores) else "")
        + "</p>"
    )
    if sources.get("mode") == "osm":
        source = tr(
            lang,
            "source_osm",
            file=Path(str(sources.get("url") or sources.get("file", ""))).name,
            sha=str(sources.get("sha256", ""))[:16],
            date=str(sources.get("recorded_at", ""))[:10],
        )
    else:
        source = tr(lang, "source_fallback", reason=sources.get("reason", meta.get("source", "")))
    credits = ""
    if attribution:
        credits = (
            f"<details><summary>{_e(tr(lang, 'attribution_file'))}</summary>"
            f"<pre>{_e(attribution)}</pre></details>"
        )
    footer = tr(lang, "generated", date=generated.strftime("%Y-%m-%d %H:%M UTC"),
                gpkg=f"data_processed/{cfg.name}/{cfg.name}.gpkg")  # fmt: skip
    return (
        f"<h2>{_e(tr(lang, 'method'))}</h2>\n<p>{_e(method)}</p>\n{anchor_line}\n"
        f"<h2>{_e(tr(lang, 'sources'))}</h2>\n<p>{_e(source)}</p>\n"
        f"<p>{_e(tr(lang, 'attribution'))}, ODbL 1.0 — https://www.openstreetmap.org/copyright</p>\n"
        f'{credits}\n<p class="note">{_e(footer)}</p>'
    )


_CSS = """
body { font: 14px/1.45 "DejaVu Sans", Arial, sans-serif; max-width: 980px; margin: 20px auto; padding: 0 16px; color: #222; }
h1 { font-size: 21px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 22px 0 8px; border-bottom: 1px solid #ddd; }
.approx { background: #fff3cd; color: #7a4b00; border: 2px solid #d39e00; padding: 8px 12px; border-radius: 4px; margin: 10px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { flex: 1 1 200px; border: 1px solid #ccc; border-radius: 6px; padding: 8px 12px; background: #f7faf7; }
.card.alert { background: #fdf0f7; border-color: #d6007e; }
.card .big { font-size: 20px; font-weight: bold; } .card .what { color: #555; font-size: 12px; }
.note { color: #666; font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 6px; text-align: left; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.chart { max-width: 100%; }
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
    """UTF-8 with BOM; separator and decimal mark as Excel expects in the region's language."""
    table.to_csv(
        path, index=False, encoding="utf-8-sig", lineterminator="\r\n", **_CSV_FORMAT[language]
    )


def services_section(figures: dict, cfg: RegionConfig) -> str:
    """Anchors lacking core services, and the population within reach of each service type."""
    if not figures or not figures.get("available"):
        return ""
    lang = cfg.language
    lacking = figures.get("anchors_lacking_core", [])
    core = " + ".join(service_label(lang, t) for entry in figures["core"] for t in entry.split("|"))
    rows = [
        [_e(a["name"]), _e(a["district"] or "—"), _e(a["core_services_missing"])] for a in lacking
    ]
    parts = [
        f"<h2>{_e(tr(lang, 'services_title'))}</h2>",
        f"<p>{_e(tr(lang, 'services_lacking', n=len(lacking), core=core))}</p>",
    ]
    if rows:
        headers = [tr(lang, "anchor_col"), tr(lang, "district"), tr(lang, "core_missing")]
        parts.append(_table(headers, rows, 3))
    region_rows = [r for r in figures.get("coverage", []) if r["area"] == "(region)"]
    if region_rows:
        headers = [tr(lang, "service_type")] + [
            tr(lang, "col_within", minutes=m) for m in (15, 30, 60)
        ]
        body = [
            [_e(service_label(lang, r["service"]))]
            + [_n(r[f"population_within_{m}min"]) for m in (15, 30, 60)]
            for r in region_rows
        ]
        parts.append(_table(headers, body, 1))
    return "\n".join(parts)


def seasons_section(figures: dict, cfg: RegionConfig) -> str:
    """Population served in each season, and the settlements whose access depends on it."""
    if not figures:
        return ""
    lang = cfg.language
    season_rows = [
        [
            _e(season_label(lang, name)),
            _e(f["dates"]),
            _n(f["population_served"]),
            _n(f["settlements_unreachable"]),
        ]
        for name, f in figures["seasons"].items()
    ]
    dependent = figures["season_dependent"]
    parts = [
        f"<h2>{_e(tr(lang, 'seasons_section'))}</h2>",
        _table(
            [
                tr(lang, "season"),
                tr(lang, "dates"),
                tr(lang, "col_within", minutes=figures["gap_threshold_min"]),
                tr(lang, "col_unreachable"),
            ],
            season_rows,
            2,
        ),
        f"<h3>{_e(tr(lang, 'season_dependent_title'))}</h3>",
        f"<p>{_e(tr(lang, 'season_dependent_n', n=dependent['settlements'], people=_n(dependent['population'])))}</p>",
    ]
    if dependent["table"]:
        headers = [
            tr(lang, "settlement"), tr(lang, "district"), tr(lang, "seasons_served"),
            tr(lang, "worst_season"), tr(lang, "crossings_col"), tr(lang, "population"),
        ]  # fmt: skip
        rows = [
            [
                _e(r["name"]),
                _e(r["district"] or "—"),
                _e(r["seasons_served"] or "—"),
                _e(r["worst_season"]),
                _e(r["crossings"] or "—"),
                "—" if r["population"] is None else _n(r["population"]),
            ]
            for r in dependent["table"][:30]
        ]
        parts.append(_table(headers, rows, 5))
    return "\n".join(parts)
