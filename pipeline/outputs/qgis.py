"""QGIS styles and project: the GeoPackage and travel-time raster open ready to read in QGIS.

* :func:`layer_styles` makes one QML style per result layer (settlements by travel time with
  gaps outlined in magenta, catchments as outlines by graph colouring (neighbours never share
  a colour), isochrone bands on the time ramp, anchors and cores as
  stars and diamonds, districts as labelled outlines, roads by class), in the region's language.
  :func:`export.write_gpkg` stores them in the GeoPackage's ``layer_styles`` table as each
  layer's default, the table QGIS itself uses: dragging the file into QGIS shows them styled.
* :func:`raster_style` is the QML of ``travel_time.tif`` (written beside it as
  ``travel_time.qml``, QGIS's sidecar default style).
* :func:`project_xml` is a QGIS project (``<region>.qgz``) referencing both by relative path,
  in groups and drawing order, in the region's CRS: the folder can be copied anywhere.

No QGIS is needed to write any of this; the tests open the results in real QGIS. All text from
OSM (names become category labels) goes through :mod:`xml.etree`, which escapes it.
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

import numpy as np

if TYPE_CHECKING:  # annotations only: the QGIS stage reads no frame (gpkg_catalogue)
    import geopandas as gpd
    from pyproj import CRS

from pipeline.config import RegionConfig
from pipeline.outputs import palette
from pipeline.outputs.i18n import TEXT, tr

__all__ = [
    "GROUPS",
    "QGIS_VERSION",
    "LayerStyle",
    "layer_styles",
    "project_xml",
    "raster_style",
    "write_project",
]

QGIS_VERSION = "3.22.16-Białowieża"  # the oldest QGIS the tests open these files with
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
_FONT = "DejaVu Sans"
_SETTLEMENT_LABEL_MAX_SCALE = 500_000  # settlement names from 1:500,000 inwards
_ROAD_CLASSES = {
    "road_major": ("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"),
    "road_secondary": ("secondary", "secondary_link", "tertiary", "tertiary_link"),
}
# Layer tree, top (drawn last) to bottom: (group key, [(layer, visible)]).
GROUPS = (
    ("group_points", (("anchors", True), ("settlements", True), ("services", False))),
    ("group_base", (("districts", True), ("roads", True))),
    (
        "group_access",
        (
            # the default view, as on the web map: the time bands, and over them the gaps
            # and catchments as outlines
            ("agglomeration_zones", True),
            ("catchments", True),
            ("gaps", True),
            ("isochrones", True),
        ),
    ),
    ("group_raster", (("travel_time", False),)),
)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class LayerStyle:
    """A layer's QGIS style: renderer type (as QGIS names it) and the XML elements it is made of."""

    layer: str
    renderer: str
    elements: tuple[ET.Element, ...]
    labels: bool

    def qml(self) -> str:
        """The style as a QML document (what ``layer_styles.styleQML`` and ``.qml`` files hold)."""
        root = ET.Element(
            "qgis",
            version=QGIS_VERSION,
            styleCategories="Symbology|Labeling|Rendering",
            labelsEnabled="1" if self.labels else "0",
        )
        root.extend(self.elements)
        return _DOCTYPE + ET.tostring(root, encoding="unicode")

    @classmethod
    def from_qml(cls, layer: str, qml: str) -> LayerStyle:
        """The style a QML document of :meth:`qml` holds (read back from ``layer_styles``)."""
        root = ET.fromstring(qml)
        renderer = root.find("renderer-v2")
        return cls(
            layer,
            renderer.get("type") if renderer is not None else "",
            tuple(root),
            root.get("labelsEnabled") == "1",
        )


# --- symbols --------------------------------------------------------------------------------


def _text(value: object) -> str:
    """Text safe for XML 1.0 (control characters from OSM dropped; escaping is ElementTree's)."""
    return _NOT_XML.sub("", str(value))


def _rgba(colour: str, alpha: float = 1.0) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(alpha * 255)}"


def _options(props: dict[str, object]) -> ET.Element:
    top = ET.Element("Option", type="Map")
    for key, value in props.items():
        ET.SubElement(top, "Option", name=key, type="QString", value=_text(value))
    return top


def _symbol(kind: str, name: str, layers: Iterable[tuple[str, dict]]) -> ET.Element:
    symbol = ET.Element(
        "symbol", type=kind, name=name, alpha="1", clip_to_extent="1", force_rhr="0"
    )
    for cls, props in layers:
        layer = ET.SubElement(
            symbol, "layer", {"class": cls, "enabled": "1", "locked": "0", "pass": "0"}
        )
        layer.append(_options(props))
    return symbol


def _marker(name, colour, shape="circle", size=2.2, outline="#ffffff", outline_width=0.3):
    props = {
        "color": _rgba(colour),
        "name": shape,
        "size": size,
        "size_unit": "MM",
        "outline_color": _rgba(outline),
        "outline_width": outline_width,
        "outline_width_unit": "MM",
        "outline_style": "solid",
        "joinstyle": "miter",
    }
    return _symbol("marker", name, [("SimpleMarker", props)])


def _fill(name, colour, alpha=0.35, outline=None, width=0.26, outline_style="solid", brush="solid"):
    props = {
        "color": _rgba(colour, alpha),
        "style": brush,
        "outline_color": _rgba(outline or colour),
        "outline_style": outline_style,
        "outline_width": width,
        "outline_width_unit": "MM",
        "joinstyle": "round",
    }
    return _symbol("fill", name, [("SimpleFill", props)])


def _line(name, colour, width=0.3, style="solid"):
    props = {
        "line_color": _rgba(colour),
        "line_width": width,
        "line_width_unit": "MM",
        "line_style": style,
        "capstyle": "round",
        "joinstyle": "round",
    }
    return _symbol("line", name, [("SimpleLine", props)])


def _renderer(kind: str, **attrs: str) -> ET.Element:
    return ET.Element(
        "renderer-v2", type=kind, symbollevels="0", forceraster="0", enableorderby="0", **attrs
    )


def _with_symbols(renderer: ET.Element, symbols: list[ET.Element]) -> ET.Element:
    holder = ET.SubElement(renderer, "symbols")
    holder.extend(symbols)
    return renderer


def _rules(rules: list[tuple[str, str, ET.Element]]) -> ET.Element:
    """A rule-based renderer: (label, filter expression or 'ELSE', symbol) in drawing order."""
    renderer = _renderer("RuleRenderer")
    root = ET.SubElement(renderer, "rules", key="root")
    symbols = []
    for i, (label, expression, symbol) in enumerate(rules):
        symbol.set("name", str(i))
        ET.SubElement(
            root, "rule", key=f"rule{i}", symbol=str(i), label=_text(label), filter=expression
        )
        symbols.append(symbol)
    return _with_symbols(renderer, symbols)


def _categories(field: str, cats: list[tuple[str, str, ET.Element]]) -> ET.Element:
    """A categorised renderer on `field`: (value, label, symbol)."""
    renderer = _renderer("categorizedSymbol", attr=field)
    holder = ET.SubElement(renderer, "categories")
    symbols = []
    for i, (value, label, symbol) in enumerate(cats):
        symbol.set("name", str(i))
        ET.SubElement(
            holder, "category", value=_text(value), label=_text(label), symbol=str(i), render="true"
        )
        symbols.append(symbol)
    return _with_symbols(renderer, symbols)


def _labeling(expression: str, size=8.0, bold=False, italic=False, colour="#1e1e1e", placement=6,
              max_scale: float | None = None, priority: int = 5) -> ET.Element:  # fmt: skip
    """Simple labelling by an expression, with a white halo; optionally only from 1:`max_scale` in.

    Points are placed cartographically (QGIS tries the positions around the symbol in turn,
    placement 6) and never drawn over another label (``displayAll`` off; a higher `priority`
    wins a place first); every feature is an obstacle, so labels avoid the symbols too."""
    labeling = ET.Element("labeling", type="simple")
    settings = ET.SubElement(labeling, "settings", calloutType="simple")
    style = ET.SubElement(
        settings,
        "text-style",
        fieldName=expression,
        isExpression="1",
        fontFamily=_FONT,
        fontSize=f"{size:g}",
        fontSizeUnit="Point",
        fontWeight="75" if bold else "50",
        fontItalic="1" if italic else "0",
        textColor=_rgba(colour),
        textOpacity="1",
        namedStyle="Bold" if bold else "Book",
    )
    ET.SubElement(
        style,
        "text-buffer",
        bufferDraw="1",
        bufferSize="0.8",
        bufferSizeUnits="MM",
        bufferColor="255,255,255,255",
        bufferOpacity="0.85",
        bufferNoFill="1",
        bufferJoinStyle="128",
    )
    ET.SubElement(
        settings,
        "placement",
        placement=str(placement),
        dist="1",
        distUnits="MM",
        priority=str(priority),
        predefinedPositionOrder="TR,TL,BR,BL,R,L,TSR,BSR",
    )
    ET.SubElement(
        settings,
        "rendering",
        scaleVisibility="1" if max_scale else "0",
        scaleMin="1",
        scaleMax=f"{max_scale or 0:g}",
        obstacle="1",
        obstacleFactor="1",
        drawLabels="1",
        displayAll="0",
        labelPerPart="0",
        mergeLines="0",
        upsidedownLabels="0",
        zIndex=str(priority),
    )
    return labeling


def _name_expression(language: str, columns: Iterable[str], column: str = "name") -> str:
    own = f"{column}_{language}"
    if own in columns:
        return f'coalesce("{own}", "{column}")'
    return f'"{column}"'


# --- layer styles ---------------------------------------------------------------------------


def layer_styles(cfg: RegionConfig, layers: dict[str, gpd.GeoDataFrame]) -> dict[str, LayerStyle]:
    """The QGIS style of every layer in `layers` (layers without a designed style get a plain one)."""
    makers = {
        "settlements": _settlements,
        "anchors": _anchors,
        "catchments": _catchments,
        "isochrones": _isochrones,
        "gaps": _gaps,
        "agglomeration_zones": _agglomeration_zones,
        "districts": _districts,
        "roads": _roads,
    }
    styles = {}
    for name, frame in layers.items():
        maker = makers.get(name)
        styles[name] = maker(cfg, frame) if maker else _plain(name, frame)
    return styles


def _style(layer: str, renderer: ET.Element, labeling: ET.Element | None = None) -> LayerStyle:
    elements = (renderer,) if labeling is None else (renderer, labeling)
    return LayerStyle(layer, renderer.get("type"), elements, labeling is not None)


def _settlements(cfg: RegionConfig, frame: gpd.GeoDataFrame) -> LayerStyle:
    lang, t = cfg.language, '"anchor_time_min"'
    classes = palette.settlement_classes(cfg.thresholds.bands_min, cfg.thresholds.gap_min, lang)
    # Abandoned villages (0 people): small and grey, under the rest (their rule comes first
    # and the others exclude them, so each feature is drawn once).
    abandoned = "abandoned" in frame.columns
    inhabited = 'NOT coalesce("abandoned", false) AND ' if abandoned else ""
    rules = []
    if abandoned:
        rules.append(
            (
                tr(lang, "abandoned"),
                'coalesce("abandoned", false)',
                _marker(
                    "", palette.ABANDONED_COLOUR, size=1.4, outline="#7a7a7a", outline_width=0.15
                ),
            )
        )
    for c in classes[:-2]:
        lower = f"{t} > {c.lo_min:g} AND " if c.lo_min > 0 else ""
        rules.append((c.label, f"{inhabited}{lower}{t} <= {c.hi_min:g}", _marker("", c.colour)))
    gap, unreachable = classes[-2:]
    rules.append(
        (gap.label, f"{inhabited}{t} > {gap.lo_min:g}",
         _marker("", gap.colour, size=3.4, outline="#000000"))
    )  # fmt: skip
    rules.append(
        (
            unreachable.label,
            f"{inhabited}{t} IS NULL",
            _marker(
                "", unreachable.colour, size=3.4, outline=palette.GAP_COLOUR, outline_width=0.6
            ),
        )
    )
    # Anchors are named by the anchors layer: each settlement is labelled once.
    name = _name_expression(lang, frame.columns)
    expression = (
        f'CASE WHEN "is_anchor" THEN NULL ELSE {name} END' if "is_anchor" in frame else name
    )
    labels = _labeling(expression, size=7.5, max_scale=_SETTLEMENT_LABEL_MAX_SCALE, priority=4)
    return _style("settlements", _rules(rules), labels)


def _anchors(cfg: RegionConfig, frame: gpd.GeoDataFrame) -> LayerStyle:
    lang = cfg.language
    rules = [
        (tr(lang, "core"), '"is_core"', _marker("", "#111111", "diamond", 6.0, "#ffffff", 0.5)),
        (tr(lang, "anchor"), "ELSE", _marker("", "#111111", "star", 5.2, "#ffffff", 0.4)),
    ]
    # the label tells two anchors of one name apart (name and district)
    expression = '"label"' if "label" in frame.columns else _name_expression(lang, frame.columns)
    labels = _labeling(expression, size=9, bold=True, priority=9)
    return _style("anchors", _rules(rules), labels)


def _catchments(cfg: RegionConfig, frame: gpd.GeoDataFrame) -> LayerStyle:
    rows = frame.sort_values("anchor_id")
    labels = rows["anchor_label"] if "anchor_label" in rows else rows["anchor_name"]
    # graph colouring: two catchments that touch never share a colour (as on the web map)
    colours = palette.catchment_colours(rows, touch_m=cfg.surface.cell_m) if len(rows) else {}
    cats = [  # by id: two anchors of one name are two categories
        (str(int(i)), name, _fill("", colours[int(i)], alpha=0.0, width=0.6, brush="no"))
        for i, name in zip(rows["anchor_id"], labels.astype(str), strict=True)
    ]
    return _style("catchments", _categories("anchor_id", cats))


def _isochrones(cfg: RegionConfig, frame: gpd.GeoDataFrame) -> LayerStyle:
    renderer = _renderer("graduatedSymbol", attr="to_min", graduatedMethod="GraduatedColor")
    ranges = ET.SubElement(renderer, "ranges")
    symbols = []
    bands = palette.band_classes(cfg.thresholds.bands_min, cfg.language, cfg.thresholds.gap_min)
    for i, c in enumerate(bands):
        ET.SubElement(
            ranges,
            "range",
            lower=f"{c.lo_min:g}",
            upper=f"{c.hi_min:g}",
            symbol=str(i),
            label=c.label,
            render="true",
        )
        symbols.append(_fill(str(i), c.colour, alpha=0.55, width=0, outline_style="no"))
    _with_symbols(renderer, symbols)
    ramp = ET.SubElement(renderer, "colorramp", type="gradient", name="[source]")
    ramp.append(
        _options(
            {
                "color1": _rgba(palette.TIME_RAMP[0]),
                "color2": _rgba(palette.TIME_RAMP[-1]),
                "discrete": "0",
                "rampType": "gradient",
            }
        )
    )
    ET.SubElement(renderer, "classificationMethod", id="Fixed")
    return _style("isochrones", renderer)


def _gaps(cfg: RegionConfig, frame: gpd.GeoDataFrame) -> LayerStyle:
    lang, gap = cfg.language, cfg.thresholds.gap_min
    cats = [
        (
            "beyond_threshold",
            tr(lang, "beyond_threshold", minutes=gap),
            _fill("", palette.GAP_COLOUR, alpha=0.0, width=0.6, brush="no"),
        ),
        (
            "no_access",
            tr(lang, "no_access"),
            _fill("", palette.NO_ACCESS_COLOUR, alpha=0.45, outline=palette.GAP_COLOUR, width=0.4),
        ),
    ]
    return _style("gaps", _categories("kind", cats))


def _agglomeration_zones(cfg: RegionConfig, frame: gpd.GeoDataFrame) -> LayerStyle:
    limits = sorted({float(x) for x in frame["to_min"]}) if len(frame) else []
    lows = [0.0, *limits[:-1]] if limits else []
    cats = [
        (
            f"{hi:g}",
            tr(cfg.language, "band", lo=lo, hi=hi),
            _fill(
                "",
                palette.CORE_ZONE_COLOUR,
                alpha=0.0,
                width=0.6 if i == 0 else 0.45,
                outline_style="solid" if i == 0 else "dash",
                brush="no",
            ),
        )
        for i, (lo, hi) in enumerate(zip(lows, limits, strict=True))
    ]
    return _style("agglomeration_zones", _categories("to_min", cats))


def _districts(cfg: RegionConfig, frame: gpd.GeoDataFrame) -> LayerStyle:
    symbol = _fill("0", palette.DISTRICT_COLOUR, alpha=0.0, width=0.5, brush="no")
    renderer = _with_symbols(_renderer("singleSymbol"), [symbol])
    labels = _labeling(_name_expression(cfg.language, frame.columns), size=8.5, italic=True,
                       colour="#444444", placement=1, priority=2)  # fmt: skip
    return _style("districts", renderer, labels)


def _roads(cfg: RegionConfig, frame: gpd.GeoDataFrame) -> LayerStyle:
    lang = cfg.language

    def among(values: tuple[str, ...]) -> str:
        return '"highway" IN (' + ", ".join(f"'{v}'" for v in values) + ")"

    rules = [
        (tr(lang, "road_ferry"), '"ferry"', _line("", "#2b7bb9", 0.5, "dash")),
        (tr(lang, "road_major"), among(_ROAD_CLASSES["road_major"]), _line("", "#b2182b", 0.7)),
        (
            tr(lang, "road_secondary"),
            among(_ROAD_CLASSES["road_secondary"]),
            _line("", "#e08214", 0.45),
        ),
        (tr(lang, "road_minor"), "ELSE", _line("", "#8c8c8c", 0.2)),
    ]
    return _style("roads", _rules(rules))


def _plain(name: str, frame: gpd.GeoDataFrame) -> LayerStyle:
    geom = _geometry_kind(frame)
    symbol = {
        "Point": lambda: _marker("0", "#6a3d9a", "square", 2.0),
        "Line": lambda: _line("0", "#6a3d9a", 0.4),
        "Polygon": lambda: _fill("0", "#6a3d9a", alpha=0.2),
    }.get(geom, lambda: _marker("0", "#6a3d9a", "square", 2.0))()
    return _style(name, _with_symbols(_renderer("singleSymbol"), [symbol]))


def _geometry_kind(frame: gpd.GeoDataFrame) -> str:
    types = set(frame.geom_type.dropna()) if len(frame) else set()
    if types & {"Polygon", "MultiPolygon"}:
        return "Polygon"
    if types & {"LineString", "MultiLineString"}:
        return "Line"
    return "Point" if types else "Unknown"


# --- the raster -----------------------------------------------------------------------------


def raster_style(cfg: RegionConfig) -> str:
    """QML for band 1 (``anchor_time_min``) of ``travel_time.tif``: the time ramp, discrete."""
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology")
    root.append(_raster_pipe(cfg))
    ET.SubElement(root, "blendMode").text = "0"
    return _DOCTYPE + ET.tostring(root, encoding="unicode")


def _raster_pipe(cfg: RegionConfig) -> ET.Element:
    limits = cfg.thresholds.bands_min
    classes = palette.band_classes(limits, cfg.language, cfg.thresholds.gap_min)
    pipe = ET.Element("pipe")
    renderer = ET.SubElement(
        pipe,
        "rasterrenderer",
        type="singlebandpseudocolor",
        band="1",
        opacity="0.8",
        alphaBand="-1",
        classificationMin="0",
        classificationMax=f"{limits[-1]:g}",
    )
    ET.SubElement(renderer, "rasterTransparency")
    shader = ET.SubElement(ET.SubElement(renderer, "rastershader"), "colorrampshader")
    shader.attrib.update(
        colorRampType="DISCRETE",
        classificationMode="3",
        clip="0",
        minimumValue="0",
        maximumValue=f"{limits[-1]:g}",
    )
    for c in classes:
        ET.SubElement(
            shader, "item", alpha="255", value=f"{c.hi_min:g}", label=c.label, color=c.colour
        )
    over = palette.time_colour(np.array([limits[-1] + 1.0]), limits, cfg.thresholds.gap_min)[0]
    ET.SubElement(
        shader,
        "item",
        alpha="255",
        value="inf",
        label=tr(cfg.language, "band_over", minutes=limits[-1]),
        color=str(over),
    )
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    return pipe


# --- the project ----------------------------------------------------------------------------


def _spatialrefsys(crs: CRS) -> ET.Element:
    wkt, authority, name = _crs_identity(crs)
    srs = ET.Element("spatialrefsys", nativeFormat="Wkt")
    ET.SubElement(srs, "wkt").text = wkt
    if authority:
        ET.SubElement(srs, "srid").text = authority[1]
        ET.SubElement(srs, "authid").text = ":".join(authority)
    ET.SubElement(srs, "description").text = name
    ET.SubElement(srs, "geographicflag").text = "true" if crs.is_geographic else "false"
    return srs


@functools.lru_cache(maxsize=8)
def _crs_identity(crs: CRS) -> tuple[str, tuple[str, str] | None, str]:
    """WKT, authority code and name of the CRS, looked up once per project: every layer repeats
    them, and pyproj searches its whole database for the code of a custom CRS."""
    return crs.to_wkt(), crs.to_authority(), crs.name


def _wrapped(tag: str, child: ET.Element) -> ET.Element:
    element = ET.Element(tag)
    element.append(child)
    return element


@dataclass(frozen=True)
class _Entry:
    layer_id: str
    name: str
    source: str
    provider: str
    visible: bool
    element: ET.Element


def project_xml(
    cfg: RegionConfig,
    gpkg_name: str,
    layers: dict[str, tuple[str, LayerStyle]],
    crs: CRS,
    extent: tuple[float, float, float, float],
    raster_name: str | None = "travel_time.tif",
    note: str = "",
) -> str:
    """A QGIS project (.qgs XML) showing `layers` of ``./<gpkg_name>`` and ``./<raster_name>``.

    `layers`: each layer's geometry kind ("Point", "Line", "Polygon" or "Unknown", as
    :mod:`pipeline.outputs.gpkg_catalogue` reads it) and style (:func:`layer_styles`).

    Sources are relative to the project file, so the folder can move as a whole. `extent`
    (xmin, ymin, xmax, ymax in `crs`) is where the map opens. `note`: the APPROXIMATE warning
    of a straight-line run, shown in the project's title, as the first entry of the layer tree
    and in the project's metadata (Project → Properties → Metadata).
    """
    entries = {
        name: _vector_entry(cfg, name, gpkg_name, kind, style, crs)
        for name, (kind, style) in layers.items()
    }
    if raster_name:
        entries["travel_time"] = _raster_entry(cfg, raster_name, crs)
    title = cfg.display_name
    if note:  # an approximate (straight-line) run says so in the title, the tree and metadata
        title = f"{cfg.display_name} — {tr(cfg.language, 'approximate')}"
    root = ET.Element("qgis", projectname=_text(title), version=QGIS_VERSION)
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = _text(title)
    root.append(_wrapped("projectCrs", _spatialrefsys(crs)))
    root.append(_layer_tree(cfg, entries, note))
    root.append(_canvas(crs, extent))
    project_layers = ET.SubElement(root, "projectlayers")
    project_layers.extend(e.element for e in _ordered(entries))
    order = ET.SubElement(root, "layerorder")
    for e in _ordered(entries):
        ET.SubElement(order, "layer", id=e.layer_id)
    root.append(_properties())
    root.append(_view_settings(crs, extent))
    root.append(_metadata(title, note))
    ET.indent(root, space=" ")
    return _DOCTYPE + ET.tostring(root, encoding="unicode") + "\n"


def _ordered(entries: dict[str, _Entry]) -> list[_Entry]:
    """Entries top (drawn last) to bottom: the groups' order, then any other layer."""
    known = [name for _, members in GROUPS for name, _ in members]
    names = [n for n in known if n in entries] + [n for n in entries if n not in known]
    return [entries[n] for n in names]


def _maplayer(kind: str, entry_id: str, source: str, name: str, crs: CRS, provider: ET.Element,
              **attrs: str) -> ET.Element:  # fmt: skip
    element = ET.Element("maplayer", type=kind, hasScaleBasedVisibilityFlag="0", **attrs)
    ET.SubElement(element, "id").text = entry_id
    ET.SubElement(element, "datasource").text = source
    ET.SubElement(element, "layername").text = _text(name)
    element.append(_wrapped("srs", _spatialrefsys(crs)))
    element.append(provider)
    return element


def _vector_entry(cfg, name, gpkg_name, geometry: str, style: LayerStyle, crs) -> _Entry:
    title = _layer_title(cfg, name)
    source = f"./{gpkg_name}|layername={name}"
    provider = ET.Element("provider", encoding="UTF-8")
    provider.text = "ogr"
    element = _maplayer(
        "vector",
        _layer_id(name),
        source,
        title,
        crs,
        provider,
        labelsEnabled="1" if style.labels else "0",
    )
    if geometry != "Unknown":
        element.set("geometry", geometry)
    element.extend(style.elements)
    visible = dict(member for _, members in GROUPS for member in members).get(name, True)
    return _Entry(_layer_id(name), title, source, "ogr", visible, element)


def _raster_entry(cfg: RegionConfig, raster_name: str, crs: CRS) -> _Entry:
    provider = ET.Element("provider")
    provider.text = "gdal"
    source = f"./{raster_name}"
    title = tr(cfg.language, "layer_travel_time")
    element = _maplayer("raster", _layer_id("travel_time"), source, title, crs, provider)
    element.append(_raster_pipe(cfg))
    return _Entry(_layer_id("travel_time"), title, source, "gdal", False, element)


def _layer_id(name: str) -> str:
    """A stable layer id; QGIS ignores ids of 10 characters or fewer and makes up its own."""
    return f"{name}_anchor_access"


def _layer_title(cfg: RegionConfig, name: str) -> str:
    """The layer's name in the region's language (a layer this module does not know: its own)."""
    key = f"layer_{name}"
    if key not in TEXT:
        return name
    return tr(cfg.language, key, minutes=cfg.thresholds.gap_min)


def _checked(visible: bool) -> str:
    return "Qt::Checked" if visible else "Qt::Unchecked"


def _layer_tree(cfg: RegionConfig, entries: dict[str, _Entry], note: str = "") -> ET.Element:
    tree = ET.Element("layer-tree-group")
    if note:  # an empty group whose name is the warning: the first thing the Layers panel shows
        ET.SubElement(tree, "layer-tree-group", name=_text(f"⚠ {tr(cfg.language, 'qgis_approximate')}"), checked="Qt::Checked",
                      expanded="0")  # fmt: skip
    groups = [(tr(cfg.language, key), [n for n, _ in members]) for key, members in GROUPS]
    others = [n for n in entries if n not in {m for _, ms in groups for m in ms}]
    if others:
        groups.append((tr(cfg.language, "group_other"), others))
    for title, members in groups:
        present = [entries[n] for n in members if n in entries]
        if not present:
            continue
        group = ET.SubElement(
            tree,
            "layer-tree-group",
            name=title,
            checked=_checked(any(e.visible for e in present)),
            expanded="1",
        )
        for e in present:
            ET.SubElement(
                group,
                "layer-tree-layer",
                id=e.layer_id,
                name=_text(e.name),
                source=e.source,
                providerKey=e.provider,
                checked=_checked(e.visible),
                expanded="1" if e.visible else "0",
            )
    ET.SubElement(tree, "custom-order", enabled="0")
    return tree


def _extent(tag: str, extent, attrs: bool = False) -> ET.Element:
    keys = ("xmin", "ymin", "xmax", "ymax")
    if attrs:
        return ET.Element(tag, {k: f"{v:.3f}" for k, v in zip(keys, extent, strict=True)})
    element = ET.Element(tag)
    for k, v in zip(keys, extent, strict=True):
        ET.SubElement(element, k).text = f"{v:.3f}"
    return element


def _canvas(crs: CRS, extent) -> ET.Element:
    canvas = ET.Element("mapcanvas", name="theMapCanvas", annotationsVisible="1")
    ET.SubElement(canvas, "units").text = "meters"
    canvas.append(_extent("extent", extent))
    ET.SubElement(canvas, "rotation").text = "0"
    canvas.append(_wrapped("destinationsrs", _spatialrefsys(crs)))
    ET.SubElement(canvas, "rendermaptile").text = "0"
    return canvas


def _view_settings(crs: CRS, extent) -> ET.Element:
    view = ET.Element("ProjectViewSettings", UseProjectScales="0", rotation="0")
    ET.SubElement(view, "Scales")
    default = _extent("DefaultViewExtent", extent, attrs=True)
    default.append(_spatialrefsys(crs))
    view.append(default)
    return view


def _metadata(title: str, note: str) -> ET.Element:
    """The project's metadata: its title and, for an approximate run, the note as abstract."""
    meta = ET.Element("projectMetadata")
    ET.SubElement(meta, "identifier")
    ET.SubElement(meta, "parentidentifier")
    ET.SubElement(meta, "language")
    ET.SubElement(meta, "type")
    ET.SubElement(meta, "title").text = _text(title)
    ET.SubElement(meta, "abstract").text = _text(note)
    ET.SubElement(meta, "links")
    ET.SubElement(meta, "author")
    ET.SubElement(meta, "creation")
    return meta


def _properties() -> ET.Element:
    properties = ET.Element("properties")
    paths = ET.SubElement(properties, "Paths")
    ET.SubElement(paths, "Absolute", type="bool").text = "false"
    # QGIS reads <projectCrs> only when this (legacy) switch is on.
    srs = ET.SubElement(properties, "SpatialRefSys")
    ET.SubElement(srs, "ProjectionsEnabled", type="int").text = "1"
    return properties


def write_project(path: Path, xml: str, name: str) -> None:
    """Write `xml` as a .qgz: a zip holding one ``<name>.qgs`` (fixed timestamp: reproducible)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(f"{name}.qgs", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, xml.encode("utf-8"))


def gpkg_styles(cfg: RegionConfig, layers: dict[str, gpd.GeoDataFrame]) -> dict[str, str]:
    """Each layer's default QGIS style (QML), to store inside the GeoPackage."""
    return {name: style.qml() for name, style in layer_styles(cfg, layers).items()}
