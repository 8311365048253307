"""The reviewer's map: one self-contained HTML page per region, usable offline.

Leaflet (``pipeline/vendor/leaflet``, from npm) and the page's own script and style
(``pipeline/web/``) are inlined, so the page opens from a file share or an e-mail attachment
with no network: online an OSM basemap appears, offline every data layer still shows on a
plain background. Layers (each toggleable, each with a legend): districts, catchments coloured
by anchor, isochrone bands, coverage gaps, agglomeration zones, settlements coloured by travel
time (gap settlements large and magenta, unreachable black), anchors ★ and cores ◆; search by
settlement name, click popups and a scale bar. Points are drawn on a canvas and polygons
simplified to about a raster cell, so a whole oblast with thousands of settlements stays fast.

OSM text travels as JSON data (``<`` ``>`` ``&`` escaped) and the script puts it into the page
with ``textContent``: a place called ``<script>…`` shows as text and never runs.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline import palette
from pipeline.config import RegionConfig
from pipeline.i18n import ACCESS_CLASSES, local_name, season_label, service_label, tr
from pipeline.palette import GAP_COLOUR, time_colour

__all__ = [
    "GAP_COLOUR",
    "LAYER_ORDER",
    "approximate_text",
    "build_map",
    "change_layer",
    "plan_layers",
    "point_layer",
    "season_layers",
    "service_layers",
    "time_colour",
]

_HERE = Path(__file__).resolve().parent
_LEAFLET = _HERE / "vendor" / "leaflet"
_WEB = _HERE / "web"
_COORD_DECIMALS = 5  # about 1 m: finer than any simplified polygon or OSM node needs here
# Layers in the layer control and legend, top first.
LAYER_ORDER = (
    "anchors",
    "settlements",
    "districts",
    "agglomeration_zones",
    "gaps",
    "isochrones",
    "catchments",
)
_UI_TEXT = (
    "unknown", "unreachable", "anchor_col", "anchor_time", "core_col", "core_time", "population",
    "district", "access_class", "area_km2", "zone", "search", "not_found", "basemap",
    "basemap_offline", "attribution", "anchor", "core",
)  # fmt: skip


def build_map(
    layers: dict[str, gpd.GeoDataFrame],
    cfg: RegionConfig,
    meta: dict[str, str],
    extra: list[dict] | None = None,
    title: str | None = None,
) -> str:
    """The map page as HTML text, from the result layers of ``<region>.gpkg``.

    `extra`: more point/line layers (see :func:`point_layer`), e.g. services and deserts,
    seasons, planning proposals; `title` replaces the page title.
    """
    lang = cfg.language
    data = _map_data(layers, cfg)
    data["extra"] = list(extra or [])
    banner = ""
    if meta.get("approximate") == "yes":
        short = approximate_text(cfg, short=True)
        full = html.escape(approximate_text(cfg), quote=True)
        banner = f'<div class="approx" id="approximate" title="{full}">{html.escape(short)}</div>'
    title = title or tr(lang, "map_title", region=cfg.display_name)
    parts = {
        "LANG": lang,
        "TITLE": html.escape(title),
        "REPORT": html.escape(tr(lang, "report_link")),
        "BANNER": banner,
        "LEAFLET_CSS": _leaflet_css(),
        "MAP_CSS": (_WEB / "map.css").read_text(encoding="utf-8"),
        "LEAFLET_JS": _leaflet_js(),
        "MAP_JS": (_WEB / "map.js").read_text(encoding="utf-8"),
        "DATA": _script_json(data),
    }
    template = (_WEB / "map.html").read_text(encoding="utf-8")
    return re.sub(r"@@([A-Z_]+)@@", lambda m: parts[m.group(1)], template)


def approximate_text(cfg: RegionConfig, short: bool = False) -> str:
    """The warning shown on every deliverable of a straight-line (offline) run."""
    off = cfg.offline
    detour, speed = (off.detour_factor, off.speed_kph) if off else (float("nan"), float("nan"))
    key = "approximate_short" if short else "approximate_long"
    return tr(cfg.language, key, detour=detour, speed=speed, region=cfg.name)


def _script_json(payload: dict) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' can end it or start markup."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _leaflet_js() -> str:
    js = (_LEAFLET / "leaflet.js").read_text(encoding="utf-8")
    return re.sub(r"^//# sourceMappingURL=.*$", "", js, flags=re.MULTILINE)


def _leaflet_css() -> str:
    """Leaflet's stylesheet with its images as data: URIs (nothing to fetch)."""

    def inline(match: re.Match) -> str:
        png = (_LEAFLET / "images" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

    css = (_LEAFLET / "leaflet.css").read_text(encoding="utf-8")
    return re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)


# --- data -----------------------------------------------------------------------------------


def _map_data(layers: dict[str, gpd.GeoDataFrame], cfg: RegionConfig) -> dict:
    lang, gap = cfg.language, cfg.thresholds.gap_min
    settlements = layers["settlements"].to_crs(4326)
    anchor_names = _anchor_local_names(settlements, lang)
    classes = palette.settlement_classes(cfg.thresholds.bands_min, gap, lang)
    districts = layers["districts"]
    bounds = (districts if len(districts) else layers["settlements"]).to_crs(4326).total_bounds
    return {
        "bounds": [round(float(v), _COORD_DECIMALS) for v in bounds],
        "text": {key: tr(lang, key) for key in _UI_TEXT},
        "colours": {
            "gap": GAP_COLOUR,
            "core_zone": palette.CORE_ZONE_COLOUR,
            "district": palette.DISTRICT_COLOUR,
        },
        "classes": [{"colour": c.colour, "label": c.label} for c in classes],
        "names": {key: _layer_name(cfg, key) for key in LAYER_ORDER},
        "order": list(LAYER_ORDER),
        "legends": _legends(layers, cfg, classes, anchor_names),
        "layers": _polygon_layers(layers, cfg, anchor_names),
        "settlements": _settlement_columns(settlements, cfg, classes, anchor_names),
        "anchors": _anchor_points(layers["anchors"].to_crs(4326), lang, anchor_names),
    }


def _layer_name(cfg: RegionConfig, key: str) -> str:
    return tr(cfg.language, f"layer_{key}", minutes=cfg.thresholds.gap_min)


def _anchor_local_names(settlements: gpd.GeoDataFrame, lang: str) -> dict[str, str]:
    """Anchor name (as in ``anchor_name``) -> its name in the region's language."""
    anchors = settlements[settlements["is_anchor"].astype(bool)]
    return dict(
        zip(anchors["name"].astype(str), local_name(anchors, lang).astype(str), strict=True)
    )


def _rounded(geometry: gpd.GeoSeries) -> gpd.GeoSeries:
    return gpd.GeoSeries(
        shapely.transform(geometry.to_numpy(), lambda xy: np.round(xy, _COORD_DECIMALS)),
        crs=geometry.crs,
    )


def _geojson(frame: gpd.GeoDataFrame, tolerance_m: float, properties: pd.DataFrame) -> dict:
    """Polygons simplified in the projected CRS (by about a cell), then WGS 84, then rounded."""
    # Not topology-preserving: ~10x faster on thousands of raster patches (an oblast's bands),
    # and a patch that collapses at this tolerance is smaller than a cell anyway.
    geometry = frame.geometry.simplify(tolerance_m, preserve_topology=False).to_crs(4326)
    out = gpd.GeoDataFrame(properties.reset_index(drop=True), geometry=_rounded(geometry).values)
    return json.loads(out.to_json(drop_id=True))


def _text_or_none(values) -> list:
    return [None if v is None or v != v else str(v) for v in values]


def _polygon_layers(layers, cfg: RegionConfig, anchor_names: dict[str, str]) -> dict:
    lang, tol, gap = cfg.language, cfg.surface.cell_m, cfg.thresholds.gap_min
    catch, bands = layers["catchments"], layers["isochrones"]
    gaps, zones, districts = layers["gaps"], layers["agglomeration_zones"], layers["districts"]
    inner = zones["to_min"].min() if len(zones) else 0
    return {
        "catchments": _geojson(
            catch,
            tol,
            pd.DataFrame(
                {
                    "anchor": [anchor_names.get(str(n), str(n)) for n in catch["anchor_name"]],
                    "area_km2": catch["area_km2"].round(1),
                    "colour": [palette.categorical(i) for i in catch["anchor_id"]],
                }
            ),
        ),
        "isochrones": _geojson(
            bands,
            tol,
            pd.DataFrame(
                {
                    "label": [
                        tr(lang, "band", lo=a, hi=b)
                        for a, b in zip(bands["from_min"], bands["to_min"], strict=True)
                    ],
                    "colour": time_colour(
                        bands["to_min"].to_numpy(dtype=float) - 1e-9, cfg.thresholds.bands_min
                    ),
                }
            ),
        ),
        "gaps": _geojson(
            gaps,
            tol,
            pd.DataFrame(
                {
                    "label": [
                        tr(lang, "no_access")
                        if k == "no_access"
                        else tr(lang, "beyond_threshold", minutes=gap)
                        for k in gaps["kind"]
                    ],
                    "area_km2": gaps["area_km2"].round(1),
                    "colour": np.where(
                        gaps["kind"] == "no_access", palette.NO_ACCESS_COLOUR, GAP_COLOUR
                    ),
                }
            ),
        ),
        "agglomeration_zones": _geojson(
            zones,
            tol,
            pd.DataFrame(
                {
                    "core": [anchor_names.get(str(n), str(n)) for n in zones["core_name"]],
                    "zone": [tr(lang, "band", lo=0, hi=t) for t in zones["to_min"]],
                    "inner": (zones["to_min"] == inner).to_numpy(),
                }
            ),
        ),
        "districts": _geojson(
            districts, tol / 2, pd.DataFrame({"name": _text_or_none(districts["name"])})
        ),
    }


def _settlement_columns(s: gpd.GeoDataFrame, cfg: RegionConfig, classes, anchor_names) -> dict:
    lang = cfg.language
    access = {c: tr(lang, f"class_{c}") for c in ACCESS_CLASSES}

    def minutes(column: str) -> list:
        return [None if v != v else round(float(v), 1) for v in s[column]]

    return {
        "name": _text_or_none(local_name(s, lang)),
        "lat": np.round(s.geometry.y.to_numpy(), _COORD_DECIMALS).tolist(),
        "lon": np.round(s.geometry.x.to_numpy(), _COORD_DECIMALS).tolist(),
        "pop": [None if v != v else int(v) for v in s["population"]],
        "district": _text_or_none(s["district"]),
        "anchor": _text_or_none(
            anchor_names.get(str(n), n) if n == n else n for n in s["anchor_name"]
        ),
        "anchor_min": minutes("anchor_time_min"),
        "core": _text_or_none(anchor_names.get(str(n), n) if n == n else n for n in s["core_name"]),
        "core_min": minutes("core_time_min"),
        "access": [access.get(str(c), str(c)) for c in s["access_class"]],
        "cls": palette.settlement_class(
            s["anchor_time_min"].to_numpy(dtype=float), classes
        ).tolist(),
        "abandoned": (
            s["abandoned"].astype(bool).tolist() if "abandoned" in s else [False] * len(s)
        ),
    }


def _anchor_points(anchors: gpd.GeoDataFrame, lang: str, anchor_names: dict[str, str]) -> list:
    has_profile = "core_services_missing" in anchors.columns
    return [
        {
            "rows": [[tr(lang, "core_missing"), row.core_services_missing or tr(lang, "none")]]
            if has_profile
            else [],
            "name": anchor_names.get(str(row.name), str(row.name)),
            "lat": round(row.geometry.y, _COORD_DECIMALS),
            "lon": round(row.geometry.x, _COORD_DECIMALS),
            "core": bool(row.is_core),
            "served": tr(
                lang,
                "served",
                settlements=int(row.settlements_served),
                people=f"{int(row.population_served):,}".replace(",", "\u202f"),
            ),
        }
        for row in anchors.itertuples()
    ]


def _legends(layers, cfg: RegionConfig, classes, anchor_names: dict[str, str]) -> dict:
    lang, gap = cfg.language, cfg.thresholds.gap_min
    catch = layers["catchments"].sort_values("anchor_id")
    zones = sorted({float(t) for t in layers["agglomeration_zones"]["to_min"]})
    point = [{"kind": "point", "colour": c.colour, "label": c.label} for c in classes]
    point[-2]["outline"] = "#000000"
    point[-1]["outline"] = GAP_COLOUR
    return {
        "settlements": point,
        "anchors": [
            {"kind": "symbol", "symbol": "★", "label": tr(lang, "anchor")},
            {"kind": "symbol", "symbol": "◆", "label": tr(lang, "core")},
        ],
        "districts": [
            {
                "kind": "line",
                "colour": palette.DISTRICT_COLOUR,
                "label": tr(lang, "district_outline"),
            }
        ],
        "agglomeration_zones": [
            {
                "kind": "line",
                "colour": palette.CORE_ZONE_COLOUR,
                "dashed": i > 0,
                "label": tr(lang, "band", lo=0, hi=t),
            }
            for i, t in enumerate(zones)
        ],
        "gaps": [
            {
                "kind": "fill",
                "colour": GAP_COLOUR,
                "label": tr(lang, "beyond_threshold", minutes=gap),
            },
            {"kind": "fill", "colour": palette.NO_ACCESS_COLOUR, "label": tr(lang, "no_access")},
        ],
        "isochrones": [
            {"kind": "fill", "colour": c.colour, "label": c.label}
            for c in palette.band_classes(cfg.thresholds.bands_min, lang)
        ],
        "catchments": [
            {
                "kind": "fill",
                "colour": palette.categorical(i),
                # two anchors of one name are told apart by their label (name and district)
                "label": anchor_names.get(str(n), str(n)) if label == n else str(label),
            }
            for i, n, label in zip(
                catch["anchor_id"],
                catch["anchor_name"],
                catch.get("anchor_label", catch["anchor_name"]),
                strict=True,
            )
        ],
    }


# --- extra layers ---------------------------------------------------------------------------


def point_layer(
    key: str,
    name: str,
    points: gpd.GeoDataFrame,
    titles,
    rows: list[list[list]],
    colour,
    *,
    radius: float = 5.0,
    legend: list[dict] | None = None,
    visible: bool = False,
    group: str | None = None,
    lines: list[list] | None = None,
    stroke: str | None = None,
) -> dict:
    """A generic map layer of points (and optional lines) with popups; all text is data.

    `rows[i]` is the popup table of point i: [[label, value], …]. `colour` is one colour or one
    per point. Lines are [lat1, lon1, lat2, lon2, colour].
    """
    p = points.to_crs(4326)
    colours = colour if isinstance(colour, str) else [str(c) for c in colour]
    return {
        "key": key,
        "name": name,
        "visible": visible,
        "group": group,
        "legend": legend or [],
        "lines": lines or [],
        "points": {
            "lat": np.round(p.geometry.y.to_numpy(), _COORD_DECIMALS).tolist(),
            "lon": np.round(p.geometry.x.to_numpy(), _COORD_DECIMALS).tolist(),
            "colour": colours,
            "radius": radius,
            "stroke": stroke,
            "title": _text_or_none(titles),
            "rows": [[[str(a), _plain(b)] for a, b in r] for r in rows],
        },
    }


def _plain(value):
    """A JSON-safe popup value: None for missing, numbers rounded, else text."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (float, np.floating)):
        return round(float(value), 1)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return str(value)


def service_layers(layers: dict[str, gpd.GeoDataFrame], cfg: RegionConfig) -> list[dict]:
    """The services layer and one desert layer per service type (hidden until switched on)."""
    if "services" not in layers:
        return []
    lang = cfg.language
    services = layers["services"]
    types = sorted(services["service"].unique())
    colour_of = {t: palette.categorical(i) for i, t in enumerate(types)}
    out = [
        point_layer(
            "services",
            tr(lang, "layer_services"),
            services,
            [
                n if isinstance(n, str) and n else t
                for n, t in zip(services["name"], services["service"], strict=True)
            ],
            [
                [[tr(lang, "service_type"), service_label(lang, t)], [tr(lang, "settlement"), s]]
                for t, s in zip(services["service"], services["settlement_name"], strict=True)
            ],
            [colour_of[t] for t in services["service"]],
            radius=3.5,
            legend=[
                {"kind": "point", "colour": colour_of[t], "label": service_label(lang, t)}
                for t in types
            ],
        )
    ]
    s = layers["settlements"]
    names = local_name(s, lang)
    deserts = cfg.services.desert_table()
    for service in cfg.services.table():
        column = f"time_{service}_min"
        if column not in s.columns or s[column].isna().all():
            continue
        limit = deserts[service]
        far = ~(s[column] <= limit)
        out.append(
            point_layer(
                f"desert_{service}",
                tr(lang, "layer_desert", service=service_label(lang, service), minutes=limit),
                s[far],
                names[far],
                [
                    [[tr(lang, "time_to", service=service), t], [tr(lang, "population"), p]]
                    for t, p in zip(s.loc[far, column], s.loc[far, "population"], strict=True)
                ],
                GAP_COLOUR,
                radius=5.0,
                legend=[
                    {
                        "kind": "point",
                        "colour": GAP_COLOUR,
                        "label": tr(lang, "desert_legend", minutes=limit),
                    }
                ],
            )
        )
    return out


def season_layers(
    per_season: dict[str, gpd.GeoDataFrame],
    combined: gpd.GeoDataFrame,
    crossings: gpd.GeoDataFrame | None,
    cfg: RegionConfig,
) -> list[dict]:
    """A season switcher: one settlement layer per season and the worst-season view (only one
    of them shown at a time), and the crossings with what depends on them."""
    lang, gap = cfg.language, cfg.thresholds.gap_min
    classes = palette.settlement_classes(cfg.thresholds.bands_min, gap, lang)
    legend = [{"kind": "point", "colour": c.colour, "label": c.label} for c in classes]

    def layer(key, name, frame, minutes, extra_rows, visible):
        colours = [classes[i].colour for i in palette.settlement_class(minutes, classes)]
        unreachable = tr(lang, "unreachable")
        rows = [
            [[tr(lang, "anchor_time"), unreachable if t != t else round(float(t), 1)], *extra]
            for t, extra in zip(minutes, extra_rows, strict=True)
        ]
        return point_layer(
            key,
            name,
            frame,
            local_name(frame, lang),
            rows,
            colours,
            radius=5.0,
            legend=legend,
            visible=visible,
            group="season",
        )

    out = []  # all hidden at first: the page opens on the default season's own layers
    for season, frame in per_season.items():
        minutes = frame["anchor_time_min"].to_numpy(dtype=float)
        extra = [[[tr(lang, "population"), p]] for p in frame["population"]]
        out.append(
            layer(
                f"season_{season}",
                tr(lang, "layer_season", season=season_label(lang, season)),
                frame,
                minutes,
                extra,
                season == cfg.default_season,
            )
        )
    worst = combined["worst_time_min"].to_numpy(dtype=float)
    extra = [
        [
            [tr(lang, "worst_season"), w],
            [tr(lang, "seasons_served"), s or "—"],
            [tr(lang, "crossings_col"), c or "—"],
        ]
        for w, s, c in zip(
            combined["worst_season"], combined["seasons_served"], combined["crossings"], strict=True
        )
    ]
    out.append(layer("season_worst", tr(lang, "layer_worst"), combined, worst, extra, False))
    if crossings is not None and len(crossings):
        mid = crossings.geometry.interpolate(0.5, normalized=True)
        points = gpd.GeoDataFrame(
            crossings.drop(columns="geometry"), geometry=mid, crs=crossings.crs
        )
        open_cols = [c for c in crossings.columns if c.startswith("open_")]
        rows = [
            [
                [
                    tr(lang, "seasons_served"),
                    ", ".join(c.removeprefix("open_") for c in open_cols if r[c]) or "—",
                ]
            ]
            + [
                [
                    tr(lang, "lost_without", season=c.removeprefix("open_")),
                    r[f"who_{c.removeprefix('open_')}"] or "—",
                ]
                for c in open_cols
                if r[c]
            ]
            for _, r in crossings.iterrows()
        ]
        titles = [
            n if isinstance(n, str) and n else f"{k} {i}"
            for n, k, i in zip(
                crossings["name"], crossings["kind"], crossings["osm_id"], strict=True
            )
        ]
        out.append(
            point_layer(
                "crossings", tr(lang, "layer_crossings"), points, titles, rows,
                ["#1f78b4" if k == "ferry" else "#6a3d9a" for k in crossings["kind"]], radius=6.0, visible=True,
                legend=[{"kind": "point", "colour": "#1f78b4", "label": tr(lang, "road_ferry")}, {"kind": "point", "colour": "#6a3d9a", "label": tr(lang, "winter_road")}],
            )
        )  # fmt: skip
    return out


def change_layer(changes: gpd.GeoDataFrame, cfg: RegionConfig) -> dict:
    """The settlements a scenario changes, coloured by the kind of change."""
    lang = cfg.language
    colour = {
        "gained": "#1a9850",
        "lost": GAP_COLOUR,
        "faster": "#91cf60",
        "slower": "#fc8d59",
        "anchor changed": "#7570b3",
    }
    rows = [
        [
            [tr(lang, "change"), tr(lang, f"change_{k}")],
            [tr(lang, "time_a"), a],
            [tr(lang, "time_b"), b],
            [tr(lang, "population"), p],
        ]
        for k, a, b, p in zip(
            changes["change"],
            changes["time_a_min"],
            changes["time_b_min"],
            changes["population"],
            strict=True,
        )
    ]
    kinds = [k for k in colour if (changes["change"] == k).any()]
    return point_layer(
        "changes", tr(lang, "layer_changes"), changes, local_name(changes, lang), rows,
        [colour[k] for k in changes["change"]], radius=6.0, visible=True,
        legend=[{"kind": "point", "colour": colour[k], "label": tr(lang, f"change_{k}")} for k in kinds],
    )  # fmt: skip


def plan_layers(plan: dict[str, gpd.GeoDataFrame], cfg: RegionConfig) -> list[dict]:
    """The planning answers on the map: proposed anchors, and the links to an anchor in another
    district and from single-industry towns to employment centres (hidden until switched on)."""
    lang = cfg.language
    out = []
    if "proposals" in plan and len(plan["proposals"]):
        p = plan["proposals"]
        rows = [
            [[tr(lang, "population"), pop], [tr(lang, "newly_covered"), new]]
            for pop, new in zip(p["population"], p["new_population"], strict=True)
        ]
        out.append(
            point_layer(
                "proposals", tr(lang, "layer_proposals"), p, p["label"], rows, "#00a651",
                radius=8.0, visible=True, stroke="#000000",
                legend=[{"kind": "point", "colour": "#00a651", "label": tr(lang, "proposal")}],
            )
        )  # fmt: skip
    for key, colour in (("cross_border", "#ff7f00"), ("monotown_reach", "#6a3d9a")):
        if key not in plan or not len(plan[key]):
            continue
        lines = plan[key]
        starts = shapely.get_point(lines.geometry.values, 0)
        ends = shapely.get_point(lines.geometry.values, -1)
        coords = [
            [
                round(a.y, _COORD_DECIMALS),
                round(a.x, _COORD_DECIMALS),
                round(b.y, _COORD_DECIMALS),
                round(b.x, _COORD_DECIMALS),
                colour,
            ]
            for a, b in zip(starts, ends, strict=True)
        ]
        start_points = gpd.GeoDataFrame(geometry=starts, crs=lines.crs)
        rows = [[] for _ in range(len(lines))]
        out.append(
            point_layer(
                key, tr(lang, f"layer_{key}"), start_points, lines["label"], rows, colour, radius=3.0,
                lines=coords, legend=[{"kind": "line", "colour": colour, "label": tr(lang, f"layer_{key}")}],
            )
        )  # fmt: skip
    return out
