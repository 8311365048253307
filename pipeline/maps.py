"""The reviewer's map: one self-standing folium HTML page per region.

Layers (each toggleable): districts, catchments coloured by anchor, isochrone bands, coverage
gaps, agglomeration zones, settlements coloured by travel time (gap settlements stand out),
anchors and cores. OSM text is escaped before it reaches the page.
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
import numpy as np
from branca.element import Element

from pipeline.config import RegionConfig

__all__ = ["GAP_COLOUR", "build_map", "time_colour"]

GAP_COLOUR = "#d6007e"  # magenta: unmistakable against the green-to-red time ramp
UNREACHABLE_COLOUR = "#000000"
_TIME_RAMP = [
    "#1a9850",
    "#66bd63",
    "#a6d96a",
    "#fee08b",
    "#fdae61",
    "#f46d43",
    "#d73027",
    "#a50026",
]
_CATEGORICAL = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
]  # fmt: skip


def time_colour(minutes: np.ndarray, limits: list[float]) -> np.ndarray:
    """Ramp colour of each time by its band; NaN (unreachable) is black."""
    band = np.searchsorted(np.asarray(limits), np.nan_to_num(minutes, nan=np.inf), side="left")
    ramp = np.asarray(_TIME_RAMP)[
        np.linspace(0, len(_TIME_RAMP) - 1, len(limits) + 1).round().astype(int)
    ]
    colours = ramp[np.minimum(band, len(limits))]
    return np.where(np.isfinite(minutes), colours, UNREACHABLE_COLOUR)


def _escaped(frame: gpd.GeoDataFrame, columns: list[str]) -> gpd.GeoDataFrame:
    out = frame.copy()
    for column in columns:
        out[column] = [
            html.escape(str(v)) if v is not None and v == v else "—" for v in out[column]
        ]
    return out


def _polygons(frame: gpd.GeoDataFrame, tolerance_m: float) -> gpd.GeoDataFrame:
    """Simplified in the projected CRS (by about a cell), then to WGS 84 for the web."""
    out = frame.copy()
    out["geometry"] = out.geometry.simplify(tolerance_m, preserve_topology=True)
    return out.to_crs("EPSG:4326")


def build_map(layers: dict[str, gpd.GeoDataFrame], cfg: RegionConfig, meta: dict[str, str]) -> str:
    """The map page as HTML text."""
    tol = cfg.surface.cell_m
    districts = layers["districts"].to_crs("EPSG:4326")
    west, south, east, north = (
        districts.total_bounds
        if len(districts)
        else layers["settlements"].to_crs(4326).total_bounds
    )
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap (online only)", control=True).add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])

    _add_catchments(fmap, _polygons(layers["catchments"], tol))
    _add_isochrones(fmap, _polygons(layers["isochrones"], tol), cfg)
    _add_gaps(fmap, _polygons(layers["gaps"], tol), cfg)
    _add_core_zones(fmap, _polygons(layers["agglomeration_zones"], tol))
    _add_districts(fmap, districts)
    _add_settlements(fmap, layers["settlements"].to_crs("EPSG:4326"), cfg)
    _add_anchors(fmap, layers["anchors"].to_crs("EPSG:4326"), layers["settlements"])
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(Element(_legend(cfg, meta)))
    return fmap.get_root().render()


def _add_districts(fmap, districts: gpd.GeoDataFrame) -> None:
    d = _escaped(districts[["name", "geometry"]], ["name"])
    folium.GeoJson(
        d,
        name="Districts",
        style_function=lambda _: {"color": "#333333", "weight": 1.5, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["name"], aliases=["District"]),
    ).add_to(fmap)


def _add_catchments(fmap, catchments: gpd.GeoDataFrame) -> None:
    c = _escaped(catchments, ["anchor_name"])
    c["colour"] = [_CATEGORICAL[i % len(_CATEGORICAL)] for i in c["anchor_id"]]
    folium.GeoJson(
        c[["anchor_name", "area_km2", "colour", "geometry"]],
        name="Catchments (nearest anchor)",
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": f["properties"]["colour"],
            "weight": 0.5,
            "fillOpacity": 0.35,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["anchor_name", "area_km2"], aliases=["Anchor", "Area, km²"]
        ),
    ).add_to(fmap)


def _add_isochrones(fmap, bands: gpd.GeoDataFrame, cfg: RegionConfig) -> None:
    limits = cfg.thresholds.bands_min
    bands = bands.copy()
    bands["colour"] = time_colour(bands["to_min"].to_numpy(dtype=float) - 1e-9, limits)
    folium.GeoJson(
        bands[["label", "colour", "geometry"]],
        name="Travel time to the nearest anchor",
        show=False,
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": f["properties"]["colour"],
            "weight": 0,
            "fillOpacity": 0.45,
        },
        tooltip=folium.GeoJsonTooltip(fields=["label"], aliases=["To the anchor"]),
    ).add_to(fmap)


def _add_gaps(fmap, gaps: gpd.GeoDataFrame, cfg: RegionConfig) -> None:
    g = gaps.copy()
    g["what"] = np.where(
        g["kind"] == "no_access",
        "no road access",
        f"over {cfg.thresholds.gap_min:g} min from every anchor",
    )
    folium.GeoJson(
        g[["what", "area_km2", "kind", "geometry"]],
        name=f"Coverage gaps (> {cfg.thresholds.gap_min:g} min)",
        style_function=lambda f: {
            "fillColor": GAP_COLOUR if f["properties"]["kind"] == "beyond_threshold" else "#555555",
            "color": GAP_COLOUR,
            "weight": 1,
            "fillOpacity": 0.2,
        },
        tooltip=folium.GeoJsonTooltip(fields=["what", "area_km2"], aliases=["Gap", "Area, km²"]),
    ).add_to(fmap)


def _add_core_zones(fmap, zones: gpd.GeoDataFrame) -> None:
    z = _escaped(zones, ["core_name"])
    folium.GeoJson(
        z[["core_name", "zone", "to_min", "geometry"]],
        name="Agglomeration zones",
        show=False,
        style_function=lambda f: {
            "color": "#08306b",
            "weight": 2,
            "dashArray": "6 4" if f["properties"]["to_min"] > min(z["to_min"], default=0) else None,
            "fillOpacity": 0.0,
        },
        tooltip=folium.GeoJsonTooltip(fields=["core_name", "zone"], aliases=["Core", "Drive"]),
    ).add_to(fmap)


def _add_settlements(fmap, s: gpd.GeoDataFrame, cfg: RegionConfig) -> None:
    s = _escaped(s, ["name", "anchor_name", "core_name", "district"])
    s["colour"] = time_colour(s["anchor_time_min"].to_numpy(dtype=float), cfg.thresholds.bands_min)
    s["is_gap"] = s["gap"].astype(bool)
    s["colour"] = np.where(s["is_gap"] & s["anchor_time_min"].notna(), GAP_COLOUR, s["colour"])
    s["anchor_min"] = (
        s["anchor_time_min"]
        .round(1)
        .astype(object)
        .where(s["anchor_time_min"].notna(), "unreachable")
    )
    s["core_min"] = (
        s["core_time_min"].round(1).astype(object).where(s["core_time_min"].notna(), "unreachable")
    )
    s["pop"] = s["population"].astype(object).where(s["population"].notna(), "unknown")
    fields = [
        "name",
        "pop",
        "district",
        "anchor_name",
        "anchor_min",
        "core_name",
        "core_min",
        "access_class",
    ]
    aliases = [
        "Settlement",
        "Population",
        "District",
        "Anchor",
        "Minutes",
        "Core",
        "Minutes",
        "Class",
    ]
    folium.GeoJson(
        s[[*fields, "colour", "is_gap", "geometry"]],
        name="Settlements (time to the anchor)",
        marker=folium.CircleMarker(radius=4, weight=1, fill_opacity=0.9),
        style_function=lambda f: {
            "color": "#000000" if f["properties"]["is_gap"] else "#ffffff",
            "fill": True,
            "fillOpacity": 0.95,
            "fillColor": f["properties"]["colour"],
            "radius": 7 if f["properties"]["is_gap"] else 4,
            "weight": 2 if f["properties"]["is_gap"] else 1,
        },
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases),
    ).add_to(fmap)


def _add_anchors(fmap, anchors: gpd.GeoDataFrame, settlements: gpd.GeoDataFrame) -> None:
    group = folium.FeatureGroup(name="Anchors ★ and cores ◆")
    for row in anchors.itertuples():  # tens of anchors; markers need one call each
        symbol, size = ("◆", 22) if row.is_core else ("★", 18)
        folium.Marker(
            [row.geometry.y, row.geometry.x],
            icon=folium.DivIcon(
                html=f'<div style="font-size:{size}px;color:#111;text-shadow:0 0 3px #fff">{symbol}</div>',
                icon_size=(size, size),
                icon_anchor=(size // 2, size // 2),
            ),
            tooltip=html.escape(
                f"{row.name}: {'core, ' if row.is_core else ''}anchor; "
                f"{row.settlements_served} settlements, {row.population_served} people served"
            ),
        ).add_to(group)
    group.add_to(fmap)


def _legend(cfg: RegionConfig, meta: dict[str, str]) -> str:
    limits = cfg.thresholds.bands_min
    colours = time_colour(np.asarray([*limits, limits[-1] + 1]) - 1e-9, limits)
    lows = [0, *limits]
    rows = "".join(
        f'<div><span style="background:{c}"></span>{lo:g}–{hi:g} min</div>'
        for c, lo, hi in zip(colours[:-1], lows, limits, strict=False)
    )
    rows += f'<div><span style="background:{colours[-1]}"></span>&gt; {limits[-1]:g} min</div>'
    rows += f'<div><span style="background:{GAP_COLOUR};border:2px solid #000"></span>gap (&gt; {cfg.thresholds.gap_min:g} min)</div>'
    rows += f'<div><span style="background:{UNREACHABLE_COLOUR}"></span>unreachable</div>'
    banner = ""
    if meta.get("approximate") == "yes":
        banner = f'<div class="approx">{html.escape(meta.get("note", "APPROXIMATE results"))}</div>'
    return f"""
<style>
 .legend {{position:fixed;bottom:60px;left:10px;z-index:1000;background:#fff;padding:8px 10px;
   font:12px/1.4 sans-serif;border:1px solid #999;border-radius:4px;max-width:260px}}
 .legend span {{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}}
 .approx {{position:fixed;top:10px;left:60px;right:400px;z-index:1000;background:#fff3cd;color:#7a4b00;
   border:2px solid #d39e00;padding:6px 10px;font:13px sans-serif;border-radius:4px}}
</style>
{banner}
<div class="legend"><b>{html.escape(cfg.display_name)}</b><br>Settlements: time to the nearest anchor{rows}
<div>★ anchor &nbsp; ◆ agglomeration core</div>
<div style="color:#555">© OpenStreetMap contributors</div></div>
"""
