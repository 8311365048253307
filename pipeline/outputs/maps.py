"""The map pages, built with folium: one self-contained HTML file each, usable offline.

Every page (``index.html``, ``seasons.html``, ``plan.html``, ``diff/<a>__<b>.html`` and the
what-if runs' ``index.html``) is a :class:`folium.Map` (canvas rendering) with the result layers
as folium ``GeoJson`` layers and ``FeatureGroup`` s, folium's ``LayerControl``, settlement search
with ``folium.plugins.Search``, and each layer's legend as a branca element (:class:`Legend`).
Leaflet and leaflet-search (``pipeline/vendor/``, from npm) and the page's own helpers
(``pipeline/templates/map/``) are inlined, so nothing is fetched: online an OSM basemap
appears, offline the data layers show on a paper-coloured ground with roads, water and
boundaries drawn from the data.

The default view answers "where is nobody served?": the travel-time bands in one sequential
ramp (magenta tints beyond the gap threshold), the gaps outlined in magenta, gap and unreachable
settlements large and on top, catchments as outlines in graph-coloured colours labelled with
their anchor, agglomeration zones as outlines, and the roads by class (minor roads from zoom
:data:`MINOR_ROADS_ZOOM` on, winter roads and ferries in their own style).

One more layer is three lines of folium::

    m = region_map("andorra")
    folium.GeoJson(my_frame, name="Planned clinics", tooltip="planned clinic").add_to(m)
    save(m, Path("maps/andorra/clinics.html"))

**Untrusted text.** OSM names travel as JSON data and reach the page through ``textContent``
(:file:`templates/map/page.js`). branca re-reads every rendered piece of a page as a Jinja
template, so a name such as ``{{ 7*7 }}`` would be *evaluated* by a plain folium render;
:func:`page_html` renders with that second pass switched off (the text stays text). It also
numbers folium's element ids in order, so two runs give byte-identical pages.
"""

from __future__ import annotations

import base64
import gc
import html
import itertools
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium import plugins
from folium.template import Template
from folium.utilities import JsCode

from pipeline.config import RegionConfig
from pipeline.machine import CORES
from pipeline.outputs import palette
from pipeline.outputs.i18n import (
    ACCESS_CLASSES,
    anchor_labels,
    anchor_local_names,
    approximate_text,
    local_name,
    run_text,
    season_label,
    service_label,
    tr,
)
from pipeline.outputs.palette import GAP_COLOUR, time_colour
from pipeline.outputs.templates import FOLDER as TEMPLATES
from pipeline.outputs.templates import render

__all__ = [
    "GAP_COLOUR",
    "LAYER_ORDER",
    "MINOR_ROADS_ZOOM",
    "Legend",
    "Overlay",
    "add_overlay",
    "approximate_text",
    "build_map",
    "change_layers",
    "page_html",
    "plan_layers",
    "point_layer",
    "region_map",
    "result_map",
    "run_text",
    "save",
    "scenario_road_layers",
    "season_layers",
    "service_layers",
    "time_colour",
]

_HERE = Path(__file__).resolve().parent
_VENDOR = _HERE / "vendor"
_COORD_DECIMALS = 5  # about 1 m: finer than any OSM node needs here
_AREA_DECIMALS = 4  # about 10 m: polygons simplified by about a raster cell need no more
MINOR_ROADS_ZOOM = 12  # minor roads and tracks are drawn from this zoom on
# Result layers in the layer control, top first (roads, water and extras are added around them).
LAYER_ORDER = (
    "anchors",
    "settlements",
    "abandoned",
    "districts",
    "agglomeration_zones",
    "catchments",
    "gaps",
    "isochrones",
)
# Leaflet panes (z-index): the time surface, water, lines, abandoned villages, settlements.
_PANES = {"surface": 402, "water": 404, "lines": 410, "abandoned": 420, "points": 430}
_MAJOR = {"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"}
_SECONDARY = {"secondary", "secondary_link"}
_TERTIARY = {"tertiary", "tertiary_link"}
# Road simplification (metres) by class: the main roads are seen at every zoom, the minor ones
# from MINOR_ROADS_ZOOM on (about 75 m a pixel at 60° N).
_ROAD_TOLERANCE_M = {
    "major": 40.0,
    "secondary": 30.0,
    "tertiary": 25.0,
    "minor": 20.0,
    "track": 20.0,
    "winter": 25.0,
    "ferry": 25.0,
}


# --- pages ----------------------------------------------------------------------------------


@dataclass
class Overlay:
    """One switchable layer of a map page: a folium layer, its key, name and legend."""

    key: str
    name: str
    layer: folium.map.Layer
    legend: list[dict] = field(default_factory=list)
    visible: bool = True
    group: str | None = None  # layers of one group are shown one at a time
    min_zoom: int | None = None  # drawn only from this zoom on


class Legend(MacroElement):
    """A layer's legend entries (and its key, exclusive group, minimum zoom), as a branca
    element: a child of the layer, shown in the page's legend while the layer is."""

    _template = Template(
        """{% macro script(this, kwargs) %}
anchorPage.register({{ this._parent.get_name() }}, {{ this.spec|tojson }});
{% endmacro %}"""
    )

    def __init__(self, key: str, name: str, entries: list[dict], group=None, min_zoom=None):
        super().__init__()
        self._name = "Legend"
        self.spec = {
            "key": key,
            "name": name,
            "legend": entries,
            "group": group,
            "minZoom": min_zoom,
        }


class _Search(plugins.Search):
    """folium's Search over the settlements, with the inlined leaflet-search: the box sits in
    the page's panel, results are text (never HTML), a hit opens the settlement's popup."""

    default_js: ClassVar[list] = []  # inlined (pipeline/vendor/leaflet-search), never from a CDN
    default_css: ClassVar[list] = []
    _template = Template(
        """{% macro script(this, kwargs) %}
var {{ this.get_name() }}_group = L.featureGroup([{% for layer in this.layers %}{{ layer.get_name() }}, {% endfor %}]);
var {{ this.get_name() }}_shown = {{ this.get_name() }}_group.getLayers().map(function (l) { return {{ this._parent.get_name() }}.hasLayer(l); });
var {{ this.get_name() }} = new L.Control.Search({
    layer: {{ this.get_name() }}_group,
    propertyName: {{ this.search_label|tojson }},
    container: "search-box",
    collapsed: false,
    initial: false,
    marker: false,
    autoCollapse: false,
    textPlaceholder: {{ this.placeholder|tojson }},
    textErr: {{ this.not_found|tojson }},
    textCancel: {{ this.cancel|tojson }},
    buildTip: anchorPage.searchTip,
    moveToLocation: anchorPage.searchMove,
});
{{ this.get_name() }}.on("search:locationfound", anchorPage.searchFound);
{{ this._parent.get_name() }}.addControl({{ this.get_name() }});
// leaflet-search puts the layers it searches on the map: keep hidden ones hidden
{{ this._parent.get_name() }}.removeLayer({{ this.get_name() }}_group);
{{ this.get_name() }}_group.getLayers().forEach(function (l, i) {
    if ({{ this.get_name() }}_shown[i]) l.addTo({{ this._parent.get_name() }});
});
anchorPage.search = {{ this.get_name() }};
{% endmacro %}"""
    )

    def __init__(self, layers: list, label: str, placeholder: str, not_found: str, cancel: str):
        super().__init__(layers[0], search_label=label, placeholder=placeholder)
        self.layers = layers
        self.not_found = not_found
        self.cancel = cancel

    def test_params(self, keys):
        # the search key is filled in by page.js where it equals the name (not in the data)
        assert isinstance(self._parent, folium.Map), "Search can only be added to a folium Map."


class _Init(MacroElement):
    """The page's last script: legends, exclusive groups, offline note, fitting the region."""

    _template = Template(
        """{% macro script(this, kwargs) %}
anchorPage.init({{ this._parent.get_name() }}, {
    bounds: {{ this.bounds|tojson }},
    text: {{ this.text|tojson }},
    basemap: {{ this.basemap.get_name() if this.basemap else "null" }},
    control: {{ this.control.get_name() if this.control else "null" }},
    foldLayers: {{ this.fold|tojson }},
});
{% endmacro %}"""
    )

    def __init__(self, bounds, text, basemap, control, fold: bool):
        super().__init__()
        self._name = "Init"
        self.bounds, self.text, self.basemap, self.control, self.fold = (
            bounds,
            text,
            basemap,
            control,
            fold,
        )


class _Start(MacroElement):
    """Right after the map is made: open on the region (see page.js, ``anchorPage.start``)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
anchorPage.start({{ this._parent.get_name() }}, {{ this.bounds|tojson }});
{% endmacro %}"""
    )

    def __init__(self, bounds):
        super().__init__()
        self._name = "Start"
        self.bounds = bounds


class _LabelLayer(MacroElement):
    """Marks its parent layer's labels for decluttering (a larger area's label wins)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
anchorPage.labelLayers.push({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(self):
        super().__init__()
        self._name = "LabelLayer"


class _Raw(MacroElement):
    """Markup made by our own (autoescaping) templates, put into the page as it is."""

    _template = Template(
        "{% macro header(this, kwargs) %}{{ this.head }}{% endmacro %}"
        "{% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}"
    )

    def __init__(self, head: str = "", body: str = ""):
        super().__init__()
        self._name = "Raw"
        self.head, self.body = head, body


class _Map(folium.Map):
    """folium.Map without its CDN defaults (jQuery, Bootstrap, awesome-markers: unused here;
    Leaflet itself is inlined by the page)."""

    default_js: ClassVar[list] = []
    default_css: ClassVar[list] = []


_PAGE = Template(
    """<!DOCTYPE html>
<html lang="{{ this.lang }}">
<head>
<meta charset="utf-8">
<title>{{ this.title|e }}</title>
{{ this.header.render(**kwargs) }}
</head>
<body>
{{ this.html.render(**kwargs) }}
<script>
{{ this.script.render(**kwargs) }}
</script>
</body>
</html>
"""
)


def new_map(
    cfg: RegionConfig,
    meta: dict[str, str],
    bounds: tuple[float, float, float, float],
    *,
    what: str | None = None,
    season_text: str | None = None,
    scenario_text: str | None = None,
    links: list[tuple[str, str]] | None = None,
) -> folium.Map:
    """An empty map page for the region: inlined assets, panes, the online basemap, the panel
    (title, season and scenario, links, the APPROXIMATE warning, the offline note).

    `bounds` (lon/lat min, max) is the region the page opens on; `what` says what the page shows
    (default: access to anchor settlements); `links`: (href, text) to the region's other pages.
    """
    lang = cfg.language
    run = run_text(cfg, meta)
    season_text = season_text or run["season"]
    scenario_text = scenario_text or run["scenario"]
    what = what or tr(lang, "page_map")
    heading = f"{cfg.display_name}: {what}"
    title = tr(
        lang,
        "title_full",
        region=cfg.display_name,
        what=what,
        season=season_text,
        scenario=scenario_text,
    )
    if meta.get("approximate") == "yes":
        title = f"{tr(lang, 'approximate_title')} · {title}"
    centre = [(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2]
    m = _Map(
        location=centre,
        zoom_start=8,
        tiles=None,
        prefer_canvas=True,
        zoom_snap=0.25,
        control_scale=False,
    )
    figure = m.get_root()
    figure._template = _PAGE
    figure.lang = lang
    figure.title = title
    figure.header.add_child(_Literal(_assets()), name="assets")
    box = [round(float(v), _COORD_DECIMALS) for v in bounds]
    m.add_child(_Start(box))
    for name, z in _PANES.items():
        folium.map.CustomPane(name, z_index=z, pointer_events=True).add_to(m)
    basemap = folium.TileLayer(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        attr=html.escape(tr(lang, "attribution")),
        name=html.escape(tr(lang, "basemap")),
        max_zoom=19,
        overlay=False,
        control=True,
    )
    basemap.add_to(m)
    panel = render(
        "map/panel.html",
        heading=heading,
        what=f"{season_text} · {scenario_text}",
        links=[{"href": h, "text": t} for h, t in (links or [])],
        approximate=meta.get("approximate") == "yes",
        approximate_short=approximate_text(cfg, short=True),
        approximate_long=approximate_text(cfg),
        offline=tr(lang, "basemap_offline"),
    )
    m.add_child(_Raw(body=panel))
    m._anchor = {
        "cfg": cfg,
        "bounds": box,
        "basemap": basemap,
        "overlays": [],
        "search": [],
        "finished": False,
    }
    return m


def add_overlay(m: folium.Map, overlay: Overlay) -> Overlay:
    """Put `overlay` on the page: in the layer control (its name escaped: Leaflet shows layer
    names as HTML), with its legend; hidden until switched on unless `visible`."""
    layer = overlay.layer
    layer.layer_name = html.escape(overlay.name)
    layer.show = overlay.visible
    layer.add_child(
        Legend(overlay.key, overlay.name, overlay.legend, overlay.group, overlay.min_zoom)
    )
    m.add_child(layer)
    m._anchor["overlays"].append(overlay)
    return overlay


def page_html(m: folium.Map) -> str:
    """The page as HTML text: the layer control, search and page script added (once), folium's
    ids numbered in order (reproducible), rendered without branca's second template pass."""
    state = getattr(m, "_anchor", None)
    if state is not None and not state["finished"]:
        state["finished"] = True
        cfg = state["cfg"]
        lang = cfg.language
        if state["search"]:
            m.add_child(
                _Search(state["search"], "l", tr(lang, "search"), tr(lang, "not_found"), "×")
            )
        control = folium.LayerControl(collapsed=False, position="topright")
        m.add_child(control)
        text = {key: tr(lang, key) for key in ("attribution", "layers", "unknown", "unreachable")}
        fold = len(state["overlays"]) > 14
        m.add_child(_Init(state["bounds"], text, state["basemap"], control, fold))
    figure = m.get_root()
    with _plain_rendering():
        _number_ids(figure)
        return figure.render()


def save(m: folium.Map, path: Path) -> Path:
    """Write the page to `path` (see :func:`page_html`)."""
    path = Path(path)
    path.write_text(page_html(m), encoding="utf-8")
    return path


class _Literal(Element):
    """Text put into the page as it is: never read as a template."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "Literal"
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


@contextmanager
def _plain_rendering() -> Iterator[None]:
    """Render folium/branca without re-reading each rendered piece as a Jinja template (which
    would evaluate ``{{ … }}`` in OSM names), with compact UTF-8 JSON and numbered ids."""
    original_render = MacroElement.render
    original_id = Element.__dict__["_generate_id"]
    counter = itertools.count(1_000_000)

    def render(self, **kwargs):
        figure = self.get_root()
        assert isinstance(figure, Figure), (
            "You cannot render this Element if it is not in a Figure."
        )
        module = self._template.module.__dict__
        for part, target in (
            ("header", figure.header),
            ("html", figure.html),
            ("script", figure.script),
        ):
            macro = module.get(part)
            if macro is not None:
                target.add_child(_Literal(macro(self, kwargs)), name=self.get_name())
        for element in list(self._children.values()):
            element.render(**kwargs)

    environments = {folium.GeoJson._template.environment, _PAGE.environment}
    policies = [(env, env.policies.get("json.dumps_kwargs")) for env in environments]
    MacroElement.render = render
    Element._generate_id = classmethod(lambda cls: f"{next(counter):x}")
    for env, _ in policies:
        env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "separators": (",", ":")}
    try:
        yield
    finally:
        MacroElement.render = original_render
        Element._generate_id = original_id
        for env, old in policies:
            env.policies["json.dumps_kwargs"] = old


def _number_ids(figure: Figure) -> None:
    """Give every element of the page an id by its place in the tree (folium makes random ones)."""
    counter = itertools.count()

    def walk(element: Element) -> None:
        element._id = f"{next(counter):x}"
        children = list(element._children.values())
        element._children = dict()
        for child in children:
            walk(child)
            element._children[child.get_name()] = child

    walk(figure)
    for part in (figure.header, figure.html, figure.script):
        walk(part)


@lru_cache(maxsize=1)
def _assets() -> str:
    """Leaflet, leaflet-search and the page's own style and script, inline (images as data:
    URIs, source-map comments dropped)."""

    def css(folder: Path, name: str) -> str:
        def inline(match: re.Match) -> str:
            path = folder / "images" / match.group(1)
            kind = "gif" if path.suffix == ".gif" else "png"
            return f"url(data:image/{kind};base64,{base64.b64encode(path.read_bytes()).decode()})"

        text = (folder / name).read_text(encoding="utf-8")
        return re.sub(r"url\((?:\.\./)?images/([\w.-]+\.(?:png|gif))\)", inline, text)

    def js(path: Path) -> str:
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"^//# sourceMappingURL=.*$", "", text, flags=re.MULTILINE)
        return text.replace("</script", "<\\/script")

    styles = [
        css(_VENDOR / "leaflet", "leaflet.css"),
        css(_VENDOR / "leaflet-search", "leaflet-search.min.css"),
        (TEMPLATES / "map" / "page.css").read_text(encoding="utf-8"),
    ]
    scripts = [
        js(_VENDOR / "leaflet" / "leaflet.js"),
        js(_VENDOR / "leaflet-search" / "leaflet-search.min.js"),
        js(TEMPLATES / "map" / "page.js"),
    ]
    return "".join(f"<style>\n{s}\n</style>\n" for s in styles) + "".join(
        f"<script>\n{s}\n</script>\n" for s in scripts
    )


# --- data -----------------------------------------------------------------------------------


def _rounded(geometry, decimals: int = _COORD_DECIMALS):
    return shapely.transform(np.asarray(geometry), lambda xy: np.round(xy, decimals))


def _features(geoms_4326, properties: list[dict], decimals: int = _COORD_DECIMALS) -> dict:
    """A GeoJSON FeatureCollection (no ids; properties as given), coordinates rounded."""
    geometries = _geometry_objects(_rounded(geoms_4326, decimals))
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": g}
            for p, g in zip(properties, geometries, strict=True)
            if g is not None
        ],
    }


# GEOS type id -> GeoJSON type, for the types read from coordinate arrays (others via text)
_GEOJSON_TYPES = {
    0: "Point",
    1: "LineString",
    3: "Polygon",
    5: "MultiLineString",
    6: "MultiPolygon",
}


def _geometry_objects(geoms: np.ndarray) -> list[dict | None]:
    """Each geometry as a GeoJSON geometry object (None if missing), as :func:`json.loads`
    would read ``shapely.to_geojson``, but its nested lists cut from one coordinate array per
    type (no text round trip). Empty geometries and other types go through the text."""
    out: list[dict | None] = [None] * len(geoms)
    kind = np.where(shapely.is_empty(geoms), -2, shapely.get_type_id(geoms))
    for type_id, name in _GEOJSON_TYPES.items():
        pos = np.flatnonzero(kind == type_id)
        if len(pos) == 0:
            continue
        _, coords, offsets = shapely.to_ragged_array(geoms[pos])
        nested = coords.tolist()
        for level in offsets:  # innermost first: rings of coordinates, polygons of rings, …
            nested = [nested[a:b] for a, b in itertools.pairwise(level.tolist())]
        for i, coordinates in zip(pos.tolist(), nested, strict=True):
            out[i] = {"type": name, "coordinates": coordinates}
    for i in np.flatnonzero((kind != -1) & ~np.isin(kind, list(_GEOJSON_TYPES))).tolist():
        out[i] = json.loads(shapely.to_geojson(geoms[i]))
    return out


def _simplified(frame: gpd.GeoDataFrame, tolerance_m: float):
    """Geometries simplified in the projected CRS (by about a raster cell), in WGS 84. Polygon
    parts and holes smaller than a cell at that tolerance are dropped."""
    geoms = frame.geometry.to_numpy()
    areas = np.isin(shapely.get_type_id(geoms), [3, 6])  # Polygon, MultiPolygon
    simple = np.empty(len(geoms), dtype=object)
    simple[~areas] = shapely.simplify(geoms[~areas], tolerance_m, preserve_topology=False)
    if areas.any():
        simple[areas] = _without_slivers(
            _simplified_rings(geoms[areas], tolerance_m), tolerance_m**2
        )
    return gpd.GeoSeries(simple, crs=frame.crs).to_crs(4326).to_numpy()


def _simplified_rings(geoms: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Polygons with each ring simplified on its own (Douglas-Peucker, as a line), and rings
    that collapse below a triangle dropped (a part with its shell).

    For drawing only: the result is not repaired into a valid geometry. GEOS's simplifier
    repairs each result with a buffer, which on a band of thousands of raster patches cost 23 s
    of a macro-region's map stage; ring by ring it takes 0.6 s, and a ring moves by at most
    the tolerance either way, about a cell at the zoom the page opens at."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)  # each part's shell first
    lines = shapely.linestrings(
        shapely.get_coordinates(rings),
        indices=np.repeat(np.arange(len(rings)), shapely.get_num_coordinates(rings)),
    )
    simple = shapely.simplify(lines, tolerance_m, preserve_topology=False)
    kept = shapely.get_num_coordinates(simple) >= 4  # closed: first point = last point
    shell = np.r_[True, ring_of[1:] != ring_of[:-1]]
    alive = np.zeros(len(parts), dtype=bool)
    alive[ring_of[shell & kept]] = True
    kept &= alive[ring_of]
    n = shapely.get_num_coordinates(simple[kept])
    kept_parts, part_of_ring = np.unique(ring_of[kept], return_inverse=True)
    polygons = shapely.polygons(
        shapely.linearrings(
            shapely.get_coordinates(simple[kept]), indices=np.repeat(np.arange(len(n)), n)
        ),
        indices=part_of_ring,
    )
    owner = part_of[kept_parts]
    out = np.array([shapely.Polygon() for _ in range(len(geoms))], dtype=object)
    several = np.bincount(owner, minlength=len(geoms)) > 1
    one = ~several[owner]
    out[owner[one]] = polygons[one]
    if several.any():
        which, k = np.unique(owner[~one], return_inverse=True)
        out[which] = shapely.multipolygons(polygons[~one], indices=k)
    return out


def _without_slivers(geoms: np.ndarray, min_area: float) -> np.ndarray:
    """The polygons without their parts and holes smaller than `min_area` (one whose parts are
    all that small stays as it is)."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    big = shapely.area(parts) >= min_area
    parts, owner = parts[big], owner[big]
    if len(parts) == 0:
        return geoms
    rings, ring_part = shapely.get_rings(parts, return_index=True)  # each part's shell first
    shell = np.ones(len(rings), dtype=bool)
    shell[1:] = ring_part[1:] != ring_part[:-1]
    keep = shell | (shapely.area(shapely.polygons(rings)) >= min_area)
    parts = shapely.polygons(rings[keep], indices=ring_part[keep])
    n_parts = np.bincount(owner, minlength=len(geoms))
    out = geoms.copy()
    one = np.flatnonzero(n_parts == 1)
    out[one] = parts[np.searchsorted(owner, one)]
    in_several = n_parts[owner] > 1
    if in_several.any():
        several, k = np.unique(owner[in_several], return_inverse=True)
        out[several] = shapely.multipolygons(parts[in_several], indices=k)
    return out


def _text(value) -> str | None:
    return None if value is None or value != value else str(value)


def _number(value):
    if value is None or value != value:
        return None
    return round(float(value), 1) if isinstance(value, float | np.floating) else value


def _popup(
    rows: list,
    *,
    title: str | None = None,
    fixed_title: str | None = None,
    lookups: list | None = None,
    lang: str = "en",
    tooltip: str | None = None,
    settlements: bool = False,
    search: str | None = None,
) -> JsCode:
    """on_each_feature: a popup table from the feature's properties (see page.js)."""
    spec = {
        "title": title,
        "fixedTitle": fixed_title,
        "rows": rows,
        "lookups": lookups or [],
        "unknown": tr(lang, "unknown"),
        "unreachable": tr(lang, "unreachable"),
        "tooltip": tooltip,
        "settlements": settlements,
        "search": search,
    }
    return JsCode(f"anchorPage.popup({_js_json(spec)})")


def _js_json(value) -> str:
    """JSON to put into our own script code (a JsCode): no '<', '>' or '&' that could end the
    script element or start markup."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _geojson(data: dict, name: str, **kwargs) -> folium.GeoJson:
    return folium.GeoJson(data, name=name, **kwargs)


def _settlementanchor_labels(
    s, column_id: str, column_name: str, labels: dict[int, str], anchor_names: dict[str, str]
) -> list:
    if column_id in s:
        ids = pd.to_numeric(s[column_id], errors="coerce")
        names = s[column_name]
        return [
            labels.get(int(i), anchor_names.get(str(n), str(n))) if i == i else _text(n)
            for i, n in zip(ids, names, strict=True)
        ]
    return [_text(anchor_names.get(str(n), n)) if n == n else None for n in s[column_name]]


def _search_labels(names: list, districts: list, ids: list) -> list[str]:
    """A unique search entry per settlement: its name, with the district where two share it."""
    count = pd.Series(names).value_counts().to_dict()
    labels = [
        f"{n} ({d})" if count.get(n, 0) > 1 and d else str(n)
        for n, d in zip(names, districts, strict=True)
    ]
    seen = pd.Series(labels).value_counts().to_dict()
    return [
        f"{label} · {i}" if seen.get(label, 0) > 1 else label
        for label, i in zip(labels, ids, strict=True)
    ]


# --- the result layers ---------------------------------------------------------------------


def result_map(
    layers: dict[str, gpd.GeoDataFrame],
    cfg: RegionConfig,
    meta: dict[str, str],
    extra: list[Overlay] | None = None,
    hidden: tuple[str, ...] = (),
    road_overlays: list[Overlay] | None = None,
    **page,
) -> folium.Map:
    """A map page with every result layer (and `extra` overlays), as a folium.Map to add to.

    `hidden`: keys of layers listed but switched off at first. `road_overlays`: the roads as
    :func:`road_overlays` made them ahead of the page (not from ``layers``).

    `layers`: the result layers of ``<region>.gpkg`` (``roads`` and ``water`` optional); `page`:
    what :func:`new_map` takes (what, season_text, scenario_text, links).
    """
    lang, gap = cfg.language, cfg.thresholds.gap_min
    districts = layers["districts"]
    bounds = (districts if len(districts) else layers["settlements"]).to_crs(4326).total_bounds
    m = new_map(cfg, meta, tuple(bounds), **page)
    settlements = layers["settlements"]
    anchor_names = anchor_local_names(settlements, lang)
    labels = anchor_labels(layers, lang, anchor_names)
    classes = palette.settlement_classes(cfg.thresholds.bands_min, gap, lang)
    # The area layers are built on other threads (the costliest first) while this one builds
    # the roads and the settlements: their GEOS and PROJ calls run without the GIL.
    with ThreadPoolExecutor(CORES) as pool:
        areas = {
            "isochrones": pool.submit(_isochrones, layers["isochrones"], cfg),
            "gaps": pool.submit(_gaps, layers["gaps"], cfg),
            "catchments": pool.submit(_catchments, layers["catchments"], cfg, labels),
            "agglomeration_zones": pool.submit(
                _zones, layers["agglomeration_zones"], cfg, anchor_names
            ),
            "districts": pool.submit(_districts, districts, cfg),
        }
        roads = road_overlays if road_overlays is not None else _roads(layers.get("roads"), cfg)
        water = _water(layers.get("water"), cfg)
        points = _settlement_layers(settlements, cfg, classes, labels, anchor_names)
        anchors = _anchor_layer(layers["anchors"], cfg, labels)
        overlays = {key: future.result() for key, future in areas.items()}
    below = [overlays[k] for k in ("isochrones", "gaps")]
    below += water
    below += [overlays[k] for k in ("catchments", "agglomeration_zones", "districts")]
    below += roads
    # Drawing order: added first, drawn first. Abandoned villages under the inhabited ones;
    # what a page is about (changes, seasons, proposals, deserts) over the settlements.
    for overlay in [*below, points[1], points[0], *(extra or []), anchors]:
        if overlay is not None:
            if overlay.key in hidden:
                overlay.visible = False
            add_overlay(m, overlay)
    m._anchor["search"] = [o.layer for o in points if o is not None]
    return m


def build_map(
    layers: dict[str, gpd.GeoDataFrame],
    cfg: RegionConfig,
    meta: dict[str, str],
    extra: list[Overlay] | None = None,
    hidden: tuple[str, ...] = (),
    road_overlays: list[Overlay] | None = None,
    **page,
) -> str:
    """The map page as HTML text, from the result layers of ``<region>.gpkg`` (see
    :func:`result_map`)."""
    with _collector_paused():
        return page_html(result_map(layers, cfg, meta, extra, hidden, road_overlays, **page))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off: a page is millions of small lists and dicts (GeoJSON
    coordinates, feature properties) that form no cycles, and the collector would walk them
    over and over as they are made (a fifth of a macro-region's map stage). What they leave
    behind is freed by reference counting as usual."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def region_map(region: str | RegionConfig, root: Path | None = None, **page) -> folium.Map:
    """The region's map page (from its results GeoPackage) as a folium.Map, to add layers to."""
    from pipeline._io import region_paths
    from pipeline.config import load_region
    from pipeline.outputs.export import layer_names, read_layer, read_metadata

    cfg = load_region(region) if isinstance(region, str) else region
    gpkg = region_paths(cfg, root=root).gpkg(cfg.name)
    names = set(layer_names(gpkg))
    layers = {n: read_layer(gpkg, n) for n in (*MAP_LAYERS, "roads", "water") if n in names}
    return result_map(layers, cfg, read_metadata(gpkg), **page)


MAP_LAYERS = (
    "districts",
    "catchments",
    "isochrones",
    "gaps",
    "agglomeration_zones",
    "settlements",
    "anchors",
)


def _isochrones(bands: gpd.GeoDataFrame, cfg: RegionConfig) -> Overlay:
    lang, limits, gap = cfg.language, cfg.thresholds.bands_min, cfg.thresholds.gap_min
    colours = time_colour(bands["to_min"].to_numpy(dtype=float) - 1e-9, limits, gap)
    props = [
        {"label": tr(lang, "band", lo=a, hi=b), "colour": str(c), "area": round(float(k), 1)}
        for a, b, c, k in zip(
            bands["from_min"], bands["to_min"], colours, bands["area_km2"], strict=True
        )
    ]
    data = _features(_simplified(bands, cfg.surface.cell_m), props, _AREA_DECIMALS)
    layer = _geojson(
        data,
        "isochrones",
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "fillOpacity": 0.6,
            "weight": 0,
            "stroke": False,
        },
        on_each_feature=_popup([[tr(lang, "area_km2"), "area", "t"]], title="label", lang=lang),
        pane="surface",
    )
    legend = [
        {"kind": "fill", "colour": c.colour, "label": c.label, "opacity": 0.75}
        for c in palette.band_classes(limits, lang, gap)
    ]
    return Overlay("isochrones", tr(lang, "layer_isochrones"), layer, legend)


def _gaps(gaps: gpd.GeoDataFrame, cfg: RegionConfig) -> Overlay:
    lang, gap = cfg.language, cfg.thresholds.gap_min
    props = [
        {
            "label": tr(lang, "no_access")
            if k == "no_access"
            else tr(lang, "beyond_threshold", minutes=gap),
            "k": 1 if k == "no_access" else 0,
            "area": round(float(a), 1),
        }
        for k, a in zip(gaps["kind"], gaps["area_km2"], strict=True)
    ]
    data = _features(_simplified(gaps, cfg.surface.cell_m), props, _AREA_DECIMALS)
    styles = [
        {"color": GAP_COLOUR, "weight": 2.2, "fill": False, "opacity": 0.95},
        {
            "color": GAP_COLOUR,
            "weight": 1.5,
            "fillColor": palette.NO_ACCESS_COLOUR,
            "fillOpacity": 0.45,
            "opacity": 0.9,
        },
    ]
    layer = _geojson(
        data,
        "gaps",
        style=JsCode(f"anchorPage.styleBy('k', {_js_json(styles)})"),
        on_each_feature=_popup([[tr(lang, "area_km2"), "area", "t"]], title="label", lang=lang),
        pane="surface",
    )
    legend = [
        {"kind": "line", "colour": GAP_COLOUR, "label": tr(lang, "beyond_threshold", minutes=gap)},
        {
            "kind": "fill",
            "colour": palette.NO_ACCESS_COLOUR,
            "outline": GAP_COLOUR,
            "label": tr(lang, "no_access"),
            "outlineWidth": 1,
            "opacity": 0.6,
        },
    ]
    return Overlay("gaps", tr(lang, "layer_gaps", minutes=gap), layer, legend)


def _label_points(frame: gpd.GeoDataFrame):
    """A point inside the largest part of each polygon (where its label goes), in WGS 84."""
    points = []
    for geom in frame.geometry:
        parts = shapely.get_parts(geom)
        largest = parts[int(np.argmax(shapely.area(parts)))] if len(parts) else geom
        points.append(shapely.point_on_surface(largest))
    return gpd.GeoSeries(points, crs=frame.crs).to_crs(4326).to_numpy()


def _catchments(catch: gpd.GeoDataFrame, cfg: RegionConfig, labels: dict[int, str]) -> Overlay:
    lang = cfg.language
    catch = catch.sort_values("anchor_id").reset_index(drop=True)
    colours = palette.catchment_colours(catch, touch_m=cfg.surface.cell_m)
    ids = [int(i) for i in catch["anchor_id"]]
    names = [labels.get(i, str(n)) for i, n in zip(ids, catch["anchor_name"], strict=True)]
    props = [
        {"anchor": n, "colour": colours[i], "area": round(float(a), 1)}
        for i, n, a in zip(ids, names, catch["area_km2"], strict=True)
    ]
    outlines = _geojson(
        _features(_simplified(catch, cfg.surface.cell_m), props, _AREA_DECIMALS),
        "catchment outlines",
        style_function=lambda f: {
            "color": f["properties"]["colour"],
            "weight": 2.4,
            "opacity": 0.9,
            "fill": True,
            "fillOpacity": 0,
        },
        on_each_feature=_popup([[tr(lang, "area_km2"), "area", "t"]], title="anchor", lang=lang),
        pane="lines",
    )
    names_layer = _geojson(
        _features(
            _label_points(catch),
            [{"anchor": n, "area": p["area"]} for n, p in zip(names, props, strict=True)],
        ),
        "catchment labels",
        point_to_layer=JsCode("anchorPage.labels('anchor', 'catchment-label')"),
    )
    names_layer.add_child(_LabelLayer())
    group = folium.FeatureGroup(name="catchments")
    group.add_child(outlines)
    group.add_child(names_layer)
    legend = [{"kind": "line", "colour": "#1b7837", "label": tr(lang, "catchment_outline")}]
    return Overlay("catchments", tr(lang, "layer_catchments"), group, legend)


def _zones(zones: gpd.GeoDataFrame, cfg: RegionConfig, anchor_names) -> Overlay:
    lang = cfg.language
    limits = sorted({float(t) for t in zones["to_min"]})
    props = [
        {
            "core": anchor_names.get(str(n), str(n)),
            "zone": tr(lang, "band", lo=0, hi=t),
            "k": limits.index(float(t)),
        }
        for n, t in zip(zones["core_name"], zones["to_min"], strict=True)
    ]
    styles = [
        {
            "color": palette.CORE_ZONE_COLOUR,
            "weight": 2.5 if i == 0 else 2.0,
            "fill": False,
            "dashArray": None if i == 0 else "6 4",
        }
        for i in range(max(len(limits), 1))
    ]
    layer = _geojson(
        _features(_simplified(zones, cfg.surface.cell_m), props, _AREA_DECIMALS),
        "agglomeration_zones",
        style=JsCode(f"anchorPage.styleBy('k', {_js_json(styles)})"),
        on_each_feature=_popup([[tr(lang, "zone"), "zone", "t"]], title="core", lang=lang),
        pane="lines",
    )
    legend = [
        {
            "kind": "line",
            "colour": palette.CORE_ZONE_COLOUR,
            "dashed": i > 0,
            "label": tr(lang, "band", lo=0, hi=t),
        }
        for i, t in enumerate(limits)
    ]
    return Overlay(
        "agglomeration_zones", tr(lang, "layer_agglomeration_zones"), layer, legend, visible=False
    )


def _districts(districts: gpd.GeoDataFrame, cfg: RegionConfig) -> Overlay:
    lang = cfg.language
    names = local_name(districts, lang) if "name" in districts else [None] * len(districts)
    props = [{"name": _text(n)} for n in names]
    layer = _geojson(
        _features(_simplified(districts, cfg.surface.cell_m / 2), props),
        "districts",
        style_function=lambda f: {
            "color": palette.DISTRICT_COLOUR,
            "weight": 1.4,
            "opacity": 0.8,
            "fill": True,
            "fillOpacity": 0,
            "dashArray": "4 3",
        },
        on_each_feature=_popup([], title="name", lang=lang),
        pane="lines",
    )
    legend = [
        {
            "kind": "line",
            "colour": palette.DISTRICT_COLOUR,
            "dashed": True,
            "label": tr(lang, "district_outline"),
        }
    ]
    return Overlay("districts", tr(lang, "layer_districts"), layer, legend)


def _truthy(values) -> np.ndarray:
    """True, or a tag saying yes ("yes", "true", "1", "ice_road"; any case)."""
    text = pd.Series(values, dtype=object).astype(str).str.lower()
    return text.isin(["yes", "true", "1", "ice_road"]).to_numpy(bool)


def _road_kind(roads: gpd.GeoDataFrame) -> np.ndarray:
    highway = roads["highway"].astype(str).to_numpy()
    kind = np.full(len(roads), "minor", dtype=object)
    kind[np.isin(highway, list(_TERTIARY))] = "tertiary"
    kind[np.isin(highway, list(_SECONDARY))] = "secondary"
    kind[np.isin(highway, list(_MAJOR))] = "major"
    kind[highway == "track"] = "track"
    if "winter_road" in roads:
        kind[_truthy(roads["winter_road"])] = "winter"
    if "ferry" in roads:
        kind[_truthy(roads["ferry"])] = "ferry"
    return kind


def _merged_roads(roads: gpd.GeoDataFrame, kind: np.ndarray) -> gpd.GeoDataFrame:
    """Roads of one kind, class, name, ref, surface and speed merged into long lines, then
    simplified by kind (fewer, lighter features; the popup still says what each road is)."""
    frame = pd.DataFrame(
        {
            "kind": kind,
            "highway": roads["highway"].fillna("").astype(str).to_numpy(),  # ferries: none
            "name": roads["name"].fillna("").astype(str).to_numpy() if "name" in roads else "",
            "ref": roads["ref"].fillna("").astype(str).to_numpy() if "ref" in roads else "",
            "surface": roads["surface"].fillna("").astype(str).to_numpy()
            if "surface" in roads
            else "",
            "speed": pd.to_numeric(roads.get("speed_kph"), errors="coerce")
            .round(0)
            .fillna(-1)
            .to_numpy(),
        }
    )
    keys = ["kind", "highway", "name", "ref", "surface", "speed"]
    grouped = frame.groupby(keys, sort=True)
    out = grouped.size().index.to_frame(index=False)  # one row per group, in key order
    group = grouped.ngroup().to_numpy()
    grouped_rows = np.flatnonzero(np.isfinite(group))
    in_group_order = grouped_rows[np.argsort(group[grouped_rows], kind="stable")]
    # Each group's lines in one MultiLineString, joined end to end where they meet (no union:
    # noding every crossing cost most of the stage and changes nothing that is drawn).
    lines = roads.geometry.to_numpy()[in_group_order]
    if (shapely.get_type_id(lines) == 1).all():  # LineStrings, as written: no parts to copy
        parts, owner = lines, np.arange(len(lines))
    else:
        parts, owner = shapely.get_parts(lines, return_index=True)
    merged = shapely.line_merge(
        shapely.multilinestrings(parts, indices=group[in_group_order][owner])
    )
    tolerance_m = out["kind"].map(_ROAD_TOLERANCE_M).to_numpy(dtype=float)
    out["geometry"] = shapely.simplify(merged, tolerance_m, preserve_topology=False)
    out = out[~shapely.is_empty(out["geometry"].to_numpy())].reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=roads.crs)


def road_overlays(roads: gpd.GeoDataFrame | None, cfg: RegionConfig) -> list[Overlay]:
    """The roads of a map page, made apart from the page: for one page only (an overlay's
    folium layer belongs to the map it is added to)."""
    with _collector_paused():
        return _roads(roads, cfg)


def _roads(roads: gpd.GeoDataFrame | None, cfg: RegionConfig) -> list[Overlay]:
    """The roads: trunk to tertiary at every zoom, minor roads and tracks from
    :data:`MINOR_ROADS_ZOOM` on, winter roads and ferries in their own style."""
    if roads is None or roads.empty or roads.geometry.isna().all():
        return []
    lang = cfg.language
    roads = roads[roads.geometry.notna() & ~roads.geometry.is_empty]
    merged = _merged_roads(roads, _road_kind(roads))
    style = palette.ROAD_STYLE
    order = ["track", "minor", "tertiary", "secondary", "major", "winter", "ferry"]
    styles = []
    for kind in order:
        colour, width = style[kind]
        s = {"color": colour, "weight": width, "opacity": 0.9, "lineCap": "round"}
        if kind in ("track", "winter"):
            s["dashArray"] = "5 4" if kind == "track" else "8 5"
        if kind == "ferry":
            s["dashArray"] = "2 6"
            s["weight"] = width + 0.6
        styles.append(s)
    rows = [
        [tr(lang, "highway_col"), "h", "t"],
        [tr(lang, "surface_col"), "f", "t"],
        [tr(lang, "speed_col"), "v", "t"],
    ]
    popup = _popup(rows, title="n", lang=lang)

    def layer(kinds: list[str], name: str) -> folium.GeoJson | None:
        part = merged[merged["kind"].isin(kinds)]
        if part.empty:
            return None
        decimals = 4 if set(kinds) <= {"minor", "track"} else _COORD_DECIMALS
        props = [
            {
                "y": order.index(k),
                "n": " ".join(x for x in (r, n) if x) or h,
                "h": h,
                "f": f or None,
                "v": None if v < 0 else int(v),
            }
            for k, h, n, r, f, v in zip(
                part["kind"],
                part["highway"],
                part["name"],
                part["ref"],
                part["surface"],
                part["speed"],
                strict=True,
            )
        ]
        return _geojson(
            _features(part.to_crs(4326).geometry.to_numpy(), props, decimals),
            name,
            style=JsCode(f"anchorPage.styleBy('y', {_js_json(styles)})"),
            on_each_feature=popup,
            pane="lines",
        )

    def legend(kinds):
        labels = {
            "major": tr(lang, "road_trunk"),
            "secondary": tr(lang, "road_secondary_class"),
            "tertiary": tr(lang, "road_tertiary"),
            "minor": tr(lang, "road_minor"),
            "track": tr(lang, "road_track"),
            "winter": tr(lang, "road_winter"),
            "ferry": tr(lang, "road_ferry"),
        }
        present = set(merged["kind"])
        return [
            {
                "kind": "line",
                "colour": style[k][0],
                "label": labels[k],
                "dashed": k in ("track", "winter", "ferry"),
                "width": max(2, round(style[k][1])),
            }
            for k in kinds
            if k in present
        ]

    out = []
    minor = layer(["track", "minor"], "roads_minor")
    if minor is not None:
        group = folium.FeatureGroup(name="roads_minor")
        group.add_child(minor)
        out.append(
            Overlay(
                "roads_minor",
                tr(lang, "layer_roads_minor", zoom=MINOR_ROADS_ZOOM),
                group,
                legend(["minor", "track"]),
                min_zoom=MINOR_ROADS_ZOOM,
            )
        )
    main = layer(["tertiary", "secondary", "major"], "roads")
    if main is not None:
        out.append(
            Overlay(
                "roads",
                tr(lang, "layer_roads_main"),
                main,
                legend(["major", "secondary", "tertiary"]),
            )
        )
    special = layer(["winter", "ferry"], "roads_special")
    if special is not None:
        out.append(
            Overlay(
                "roads_special",
                tr(lang, "layer_roads_special"),
                special,
                legend(["winter", "ferry"]),
            )
        )
    return out


def _water(water: gpd.GeoDataFrame | None, cfg: RegionConfig) -> list[Overlay]:
    """Lakes, reservoirs and rivers, when the results have a ``water`` layer."""
    if water is None or water.empty or water.geometry.isna().all():
        return []
    lang = cfg.language
    water = water[water.geometry.notna() & ~water.geometry.is_empty]
    names = local_name(water, lang) if "name" in water else [None] * len(water)
    props = [{"name": _text(n)} for n in names]
    layer = _geojson(
        _features(_simplified(water, cfg.surface.cell_m / 4), props),
        "water",
        style_function=lambda f: {
            "color": "#6baed6",
            "weight": 1.2,
            "fillColor": palette.WATER_COLOUR,
            "fillOpacity": 0.85,
            "opacity": 0.9,
        },
        on_each_feature=_popup([], title="name", lang=lang),
        pane="water",
    )
    legend = [{"kind": "fill", "colour": palette.WATER_COLOUR, "label": tr(lang, "water_area")}]
    return [Overlay("water", tr(lang, "layer_water"), layer, legend)]


def _settlement_styles(classes) -> list[dict]:
    gap_class = len(classes) - 2
    styles = []
    for i, c in enumerate(classes):
        if i < gap_class:
            styles.append(
                {
                    "radius": 3.2,
                    "weight": 0.7,
                    "color": "#1f2d3d",
                    "fillColor": c.colour,
                    "fillOpacity": 1,
                }
            )
        elif i == gap_class:
            styles.append(
                {
                    "radius": 5.2,
                    "weight": 1.5,
                    "color": "#000000",
                    "fillColor": c.colour,
                    "fillOpacity": 1,
                }
            )
        else:
            styles.append(
                {
                    "radius": 5.2,
                    "weight": 2.2,
                    "color": GAP_COLOUR,
                    "fillColor": c.colour,
                    "fillOpacity": 1,
                }
            )
    return styles


_ABANDONED_STYLE = {
    "radius": 2.4,
    "weight": 0.6,
    "color": "#7a7a7a",
    "fillColor": palette.ABANDONED_COLOUR,
    "fillOpacity": 0.85,
}


def _settlement_layers(s, cfg: RegionConfig, classes, labels, anchor_names):
    """(inhabited, abandoned) settlement overlays: canvas circles by travel-time class, gap and
    unreachable ones larger and drawn last; abandoned villages small and grey, drawn under."""
    lang = cfg.language
    s = s.to_crs(4326).reset_index(drop=True)
    names = [_text(n) for n in local_name(s, lang)]
    districts = [_text(d) for d in s["district"]]
    district_list = sorted({d for d in districts if d})
    anchor = _settlementanchor_labels(s, "anchor_id", "anchor_name", labels, anchor_names)
    core = _settlementanchor_labels(s, "core_id", "core_name", labels, anchor_names)
    people_list = sorted({x for x in anchor + core if x})
    access_list = [tr(lang, f"class_{c}") for c in ACCESS_CLASSES]
    cls = palette.settlement_class(s["anchor_time_min"].to_numpy(dtype=float), classes)
    abandoned = (
        s["abandoned"].fillna(False).astype(bool).to_numpy()
        if "abandoned" in s
        else (np.zeros(len(s), dtype=bool))
    )
    search = _search_labels(
        names, districts, s["osm_id"].tolist() if "osm_id" in s else list(range(len(s)))
    )
    d_index = {d: i for i, d in enumerate(district_list)}
    p_index = {p: i for i, p in enumerate(people_list)}
    a_index = {a: i for i, a in enumerate(ACCESS_CLASSES)}
    population = pd.to_numeric(s["population"], errors="coerce").to_numpy()
    anchor_t = s["anchor_time_min"].to_numpy(dtype=float)
    core_t = s["core_time_min"].to_numpy(dtype=float)
    access = [a_index.get(str(c), -1) for c in s["access_class"]]
    props = []
    for i in range(len(s)):
        p = {"n": names[i], "s": int(cls[i]), "k": access[i]}
        if search[i] != names[i]:
            p["l"] = search[i]  # page.js fills in the name where the two are the same
        if population[i] == population[i]:
            p["p"] = int(population[i])
        for key, value in (
            ("d", d_index.get(districts[i], -1)),
            ("a", p_index.get(anchor[i], -1)),
            ("c", p_index.get(core[i], -1)),
        ):
            if value >= 0:
                p[key] = value
        if anchor_t[i] == anchor_t[i]:
            p["t"] = round(float(anchor_t[i]), 1)
        if core_t[i] == core_t[i]:
            p["u"] = round(float(core_t[i]), 1)
        props.append(p)
    rows = [
        [tr(lang, "population"), "p", "n"],
        [tr(lang, "district"), "d", "l", 0],
        [tr(lang, "anchor_col"), "a", "l", 1],
        [tr(lang, "anchor_time"), "t", "m"],
        [tr(lang, "core_col"), "c", "l", 1],
        [tr(lang, "core_time"), "u", "m"],
        [tr(lang, "access_class"), "k", "l", 2],
    ]
    lookups = [district_list, people_list, access_list]
    popup = _popup(rows, title="n", lookups=lookups, lang=lang, settlements=True, search="l")
    geometry = s.geometry.to_numpy()
    # gap and unreachable settlements last: drawn on top of the others
    order = np.lexsort((np.arange(len(s)), cls))
    inhabited = [int(i) for i in order if not abandoned[i]]
    empty = [int(i) for i in order if abandoned[i]]
    legend = [
        {
            "kind": "point",
            "colour": c.colour,
            "label": c.label,
            **({"outline": "#000000"} if i == len(classes) - 2 else {}),
            **({"outline": GAP_COLOUR} if i == len(classes) - 1 else {}),
            **({"size": 14} if i >= len(classes) - 2 else {"size": 9}),
        }
        for i, c in enumerate(classes)
    ]
    main = _geojson(
        _features(geometry[inhabited], [props[i] for i in inhabited]),
        "settlements",
        point_to_layer=JsCode("anchorPage.circles('points')"),
        style=JsCode(f"anchorPage.styleBy('s', {_js_json(_settlement_styles(classes))})"),
        on_each_feature=popup,
    )
    out = [Overlay("settlements", tr(lang, "legend_settlements"), main, legend), None]
    if empty:
        layer = _geojson(
            _features(geometry[empty], [props[i] for i in empty]),
            "abandoned",
            point_to_layer=JsCode("anchorPage.circles('abandoned')"),
            style=JsCode(f"anchorPage.styleBy('x', {_js_json([_ABANDONED_STYLE])})"),
            on_each_feature=popup,
        )
        out[1] = Overlay(
            "abandoned",
            tr(lang, "layer_abandoned"),
            layer,
            [
                {
                    "kind": "point",
                    "colour": palette.ABANDONED_COLOUR,
                    "outline": "#7a7a7a",
                    "outlineWidth": 1,
                    "label": tr(lang, "abandoned"),
                    "size": 7,
                }
            ],
        )
    return out


def _anchor_layer(anchors: gpd.GeoDataFrame, cfg: RegionConfig, labels: dict[int, str]) -> Overlay:
    lang = cfg.language
    a = anchors.to_crs(4326).reset_index(drop=True)
    has_profile = "core_services_missing" in a.columns
    props = []
    for row in a.itertuples():
        core = bool(row.is_core)
        served = tr(
            lang,
            "served",
            settlements=_settlements_n(lang, int(row.settlements_served)),
            people=_thousands(int(row.population_served)),
        )
        rows = [[tr(lang, "core") if core else tr(lang, "anchor"), served]]
        if has_profile:
            rows.append([tr(lang, "core_missing"), row.core_services_missing or tr(lang, "none")])
        # named on hover: the catchment's label already names it on the map
        props.append(
            {
                "name": labels.get(int(row.anchor_id), str(row.name)),
                "y": int(core),
                "q": 0,
                "rows": rows,
            }
        )
    symbols = [
        {"symbol": "★", "colour": "#111111", "size": 18, "z": 500},
        {"symbol": "◆", "colour": "#111111", "size": 22, "z": 1000},
    ]
    layer = _geojson(
        _features(a.geometry.to_numpy(), props),
        "anchors",
        point_to_layer=JsCode(f"anchorPage.symbols('y', {_js_json(symbols)}, 'name', 'q')"),
        on_each_feature=_popup([["", "rows", "r"]], title="name", lang=lang),
    )
    legend = [
        {"kind": "symbol", "symbol": "★", "label": tr(lang, "anchor")},
        {"kind": "symbol", "symbol": "◆", "label": tr(lang, "core")},
    ]
    return Overlay("anchors", tr(lang, "layer_anchors"), layer, legend)


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def _settlements_n(lang: str, n: int) -> str:
    from pipeline.outputs.i18n import trn

    return trn(lang, "settlements_n", n, shown=_thousands(n))


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
    stroke: str = "#333333",
) -> Overlay:
    """A layer of points with popups: `rows[i]` is point i's popup table [[label, value], …];
    `colour` is one colour or one per point. All text is data."""
    p = points.to_crs(4326).reset_index(drop=True)
    colours = [colour] * len(p) if isinstance(colour, str) else [str(c) for c in colour]
    palette_ = sorted(set(colours))
    styles = [
        {"radius": radius, "weight": 1.2, "color": stroke, "fillColor": c, "fillOpacity": 0.95}
        for c in palette_
    ]
    props = [
        {"n": _text(t), "s": palette_.index(c), "rows": [[str(a), _plain(b)] for a, b in r]}
        for t, c, r in zip(list(titles), colours, rows, strict=True)
    ]
    layer = _geojson(
        _features(p.geometry.to_numpy(), props),
        key,
        point_to_layer=JsCode("anchorPage.circles('points')"),
        style=JsCode(f"anchorPage.styleBy('s', {_js_json(styles)})"),
        on_each_feature=_popup([["", "rows", "r"]], title="n", lang="en"),
    )
    return Overlay(key, name, layer, legend or [], visible=visible, group=group)


def _line_layer(
    key: str,
    name: str,
    lines: gpd.GeoDataFrame,
    titles,
    rows,
    styles: list[dict],
    style_index,
    legend,
    *,
    lang: str,
    visible: bool = True,
) -> Overlay:
    """A layer of lines with popups; line i drawn in ``styles[style_index[i]]``."""
    frame = lines.to_crs(4326).reset_index(drop=True)
    props = [
        {"n": _text(t), "s": int(s), "rows": [[str(a), _plain(b)] for a, b in r]}
        for t, s, r in zip(list(titles), list(style_index), rows, strict=True)
    ]
    layer = _geojson(
        _features(frame.geometry.to_numpy(), props),
        key,
        style=JsCode(f"anchorPage.styleBy('s', {_js_json(styles)})"),
        on_each_feature=_popup([["", "rows", "r"]], title="n", lang=lang),
        pane="lines",
    )
    return Overlay(key, name, layer, legend, visible=visible)


def _symbol_layer(
    key: str,
    name: str,
    points: gpd.GeoDataFrame,
    titles,
    rows,
    symbols,
    index,
    legend,
    *,
    lang: str,
    visible: bool = True,
) -> Overlay:
    p = points.to_crs(4326).reset_index(drop=True)
    props = [
        {"n": _text(t), "y": int(i), "rows": [[str(a), _plain(b)] for a, b in r]}
        for t, i, r in zip(list(titles), list(index), rows, strict=True)
    ]
    layer = _geojson(
        _features(p.geometry.to_numpy(), props),
        key,
        point_to_layer=JsCode(f"anchorPage.symbols('y', {_js_json(symbols)})"),
        on_each_feature=_popup([["", "rows", "r"]], title="n", lang=lang),
    )
    return Overlay(key, name, layer, legend, visible=visible)


def _plain(value):
    """A JSON-safe popup value: None for missing, numbers rounded, else text."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float | np.floating):
        return None if value != value else round(float(value), 1)
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return int(value)
    return str(value)


def service_layers(layers: dict[str, gpd.GeoDataFrame], cfg: RegionConfig) -> list[Overlay]:
    """The services layer and one desert layer per service type (hidden, one at a time)."""
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
                n if isinstance(n, str) and n else service_label(lang, t)
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
        label = service_label(lang, service)
        out.append(
            point_layer(
                f"desert_{service}",
                tr(lang, "layer_desert", service=label, minutes=limit),
                s[far],
                names[far],
                [
                    [[tr(lang, "time_to", service=label), t], [tr(lang, "population"), p]]
                    for t, p in zip(s.loc[far, column], s.loc[far, "population"], strict=True)
                ],
                GAP_COLOUR,
                radius=5.0,
                group="desert",
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
) -> list[Overlay]:
    """A season switcher: one settlement layer per season and the worst-season view (one at a
    time), and the crossings (ferry routes, ice crossings, winter roads) with who needs them."""
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

    out = []
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
            [tr(lang, "worst_season"), season_label(lang, w) if isinstance(w, str) else w],
            [tr(lang, "seasons_served"), _season_list(lang, s) or "—"],
            [tr(lang, "crossings_col"), c or "—"],
        ]
        for w, s, c in zip(
            combined["worst_season"], combined["seasons_served"], combined["crossings"], strict=True
        )
    ]
    out.append(layer("season_worst", tr(lang, "layer_worst"), combined, worst, extra, False))
    if crossings is not None and len(crossings):
        open_cols = [c for c in crossings.columns if c.startswith("open_")]
        rows = [
            [
                [
                    tr(lang, "seasons_served"),
                    ", ".join(
                        season_label(lang, c.removeprefix("open_")) for c in open_cols if r[c]
                    )
                    or "—",
                ]
            ]
            + [
                [
                    tr(lang, "lost_without", season=season_label(lang, c.removeprefix("open_"))),
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
        colour = palette.ROAD_STYLE
        styles = [
            {"color": colour["ferry"][0], "weight": 4, "dashArray": "2 7", "lineCap": "round"},
            {"color": colour["winter"][0], "weight": 4, "dashArray": "9 5"},
        ]
        index = [0 if k == "ferry" else 1 for k in crossings["kind"]]
        legend_x = [
            {
                "kind": "line",
                "colour": colour["ferry"][0],
                "dashed": True,
                "label": tr(lang, "road_ferry"),
            },
            {
                "kind": "line",
                "colour": colour["winter"][0],
                "dashed": True,
                "label": tr(lang, "winter_road"),
            },
        ]
        out.append(
            _line_layer(
                "crossings",
                tr(lang, "layer_crossings"),
                crossings,
                titles,
                rows,
                styles,
                index,
                legend_x,
                lang=lang,
            )
        )
    return out


def _season_list(lang: str, seasons) -> str:
    if not isinstance(seasons, str) or not seasons:
        return ""
    return ", ".join(season_label(lang, s.strip()) for s in seasons.split(","))


_CHANGE_SYMBOLS = {  # symbol, colour, size: lost and gained access apart from ordinary gaps
    "lost": ("▼", "#d7191c", 22),
    "gained": ("▲", "#1a9850", 22),
    "slower": ("▾", "#e66101", 16),
    "faster": ("▴", "#4dac26", 16),
    "anchor changed": ("◇", "#5e3c99", 14),
}


def change_layers(changes: gpd.GeoDataFrame, cfg: RegionConfig) -> list[Overlay]:
    """The settlements a scenario changes: lost access ▼ and gained access ▲ (large, their own
    colours, unlike any gap settlement), slower, faster, other anchor."""
    lang = cfg.language
    kinds = list(_CHANGE_SYMBOLS)
    present = [k for k in kinds if (changes["change"] == k).any()]
    symbols = [
        {
            "symbol": _CHANGE_SYMBOLS[k][0],
            "colour": _CHANGE_SYMBOLS[k][1],
            "size": _CHANGE_SYMBOLS[k][2],
            "z": 2000 - 100 * i,
        }
        for i, k in enumerate(kinds)
    ]
    unreachable = tr(lang, "unreachable")
    rows = [
        [
            [tr(lang, "change"), tr(lang, f"change_{k}")],
            [tr(lang, "time_a"), unreachable if a != a else a],
            [tr(lang, "time_b"), unreachable if b != b else b],
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
    label = {"lost": "change_legend_lost", "gained": "change_legend_gained"}
    legend = [
        {
            "kind": "symbol",
            "symbol": _CHANGE_SYMBOLS[k][0],
            "colour": _CHANGE_SYMBOLS[k][1],
            "label": tr(lang, label.get(k, f"change_{k}")),
        }
        for k in present
    ]
    index = [kinds.index(k) for k in changes["change"]]
    return [
        _symbol_layer(
            "changes",
            tr(lang, "layer_changes"),
            changes,
            local_name(changes, lang),
            rows,
            symbols,
            index,
            legend,
            lang=lang,
        )
    ]


def scenario_road_layers(
    cfg: RegionConfig, scenario: str, roads: gpd.GeoDataFrame | None
) -> list[Overlay]:
    """The roads a scenario closes (from the region's roads) and adds (its GeoJSON lines)."""
    from pipeline.errors import PipelineError
    from pipeline.network.scenarios import load_scenario

    if scenario in (None, "", "baseline"):
        return []
    try:
        spec = load_scenario(cfg, scenario)
    except PipelineError:  # the page still draws; the run's own log says what was wrong
        return []
    lang = cfg.language
    parts, kinds, titles = [], [], []
    if roads is not None and len(roads) and (spec.close.osm_ids or spec.close.polygon):
        closed = roads["osm_id"].isin(spec.close.osm_ids).to_numpy()
        if spec.close.polygon is not None:
            try:
                zone = gpd.read_file(spec.folder / spec.close.polygon).to_crs(roads.crs)
                closed |= roads.geometry.intersects(zone.union_all()).to_numpy()
            except Exception:  # the scenario stage reports unreadable files; the map goes on
                pass
        picked = roads[closed]
        parts += list(picked.to_crs(4326).geometry)
        kinds += [0] * len(picked)
        titles += [
            " ".join(x for x in (_text(r) or "", _text(n) or "") if x) or str(i)
            for r, n, i in zip(
                picked.get("ref", [None] * len(picked)),
                picked.get("name", [None] * len(picked)),
                picked["osm_id"],
                strict=True,
            )
        ]
    for add in spec.add_roads:
        try:
            frame = gpd.read_file(spec.folder / add.geojson)
        except Exception:  # as above
            continue
        frame = frame.set_crs(4326) if frame.crs is None else frame.to_crs(4326)
        parts += list(frame.geometry)
        kinds += [1] * len(frame)
        titles += [str(add.geojson)] * len(frame)
    if not parts:
        return []
    frame = gpd.GeoDataFrame(geometry=parts, crs=4326)
    styles = [
        {"color": "#000000", "weight": 6, "dashArray": "4 6", "opacity": 1, "lineCap": "butt"},
        {"color": "#1a9850", "weight": 6, "opacity": 1},
    ]
    status = [tr(lang, "road_closed"), tr(lang, "road_added")]
    rows = [[[tr(lang, "change"), status[k]]] for k in kinds]
    legend = [
        {"kind": "line", "colour": "#000000", "dashed": True, "label": status[0], "width": 4},
        {"kind": "line", "colour": "#1a9850", "label": status[1], "width": 4},
    ]
    legend = [legend[k] for k in sorted(set(kinds))]
    return [
        _line_layer(
            "scenario_roads",
            tr(lang, "layer_scenario_roads"),
            frame,
            titles,
            rows,
            styles,
            kinds,
            legend,
            lang=lang,
        )
    ]


def plan_layers(plan: dict[str, gpd.GeoDataFrame], cfg: RegionConfig) -> list[Overlay]:
    """The planning answers: proposed anchors (gold, numbered), the gap settlements they bring
    within reach, the links to an anchor in another district and from single-industry towns to
    employment centres."""
    lang = cfg.language
    out = []
    if "newly_covered" in plan and len(plan["newly_covered"]):
        n = plan["newly_covered"]
        rows = [[[tr(lang, "population"), p]] for p in n["population"]]
        out.append(
            point_layer(
                "newly_covered",
                tr(lang, "newly_covered"),
                n,
                n["label"],
                rows,
                palette.PROPOSAL_COLOUR,
                radius=4.0,
                visible=True,
                stroke=GAP_COLOUR,
                legend=[
                    {
                        "kind": "point",
                        "colour": palette.PROPOSAL_COLOUR,
                        "outline": GAP_COLOUR,
                        "label": tr(lang, "newly_covered"),
                    }
                ],
            )
        )
    for key, colour in (("cross_border", "#ff7f00"), ("monotown_reach", "#6a3d9a")):
        if key not in plan or not len(plan[key]):
            continue
        lines = plan[key]
        rows = [[] for _ in range(len(lines))]
        styles = [{"color": colour, "weight": 2, "opacity": 0.8}]
        out.append(
            _line_layer(
                key,
                tr(lang, f"layer_{key}"),
                lines,
                lines["label"],
                rows,
                styles,
                [0] * len(lines),
                [{"kind": "line", "colour": colour, "label": tr(lang, f"layer_{key}")}],
                lang=lang,
                visible=key == "cross_border",
            )
        )
    if "proposals" in plan and len(plan["proposals"]):
        p = plan["proposals"]
        rows = [
            [[tr(lang, "population"), pop], [tr(lang, "newly_covered"), new]]
            for pop, new in zip(p["population"], p["new_population"], strict=True)
        ]
        out.append(
            point_layer(
                "proposals",
                tr(lang, "layer_proposals"),
                p,
                p["label"],
                rows,
                palette.PROPOSAL_COLOUR,
                radius=9.0,
                visible=True,
                stroke="#000000",
                legend=[
                    {
                        "kind": "point",
                        "colour": palette.PROPOSAL_COLOUR,
                        "outline": "#000000",
                        "size": 14,
                        "label": tr(lang, "proposal"),
                    }
                ],
            )
        )
    return out
