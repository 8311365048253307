"""Read an OSM extract (.osm.pbf) with pyosmium into tables: roads, places, boundaries, services.

Everything stays in EPSG:4326. The region is found among the boundary relations (by relation
id, or by name at its admin level); its districts are the boundaries of the district admin
level that lie inside it. Roads, places and services are kept within the region plus a buffer
(`boundary.clip_buffer_m`), so a road that leaves and re-enters the region still connects and a
town or a hospital just across the border can serve the region's villages; `in_region` says
which places and services are the region's own.

A settlement mapped twice — a place node inside a place area of the same or a near-identical
name — is one settlement: the node, which keeps the area as its outline (`place_areas`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from tqdm import tqdm

from pipeline.config import PLACE_CLASSES, RegionConfig
from pipeline.errors import ExtractError
from pipeline.inputs.service_points import ServiceMatcher
from pipeline.people import parse_population

__all__ = [
    "ROAD_TAGS",
    "OsmLayers",
    "clip_to_region",
    "find_region",
    "merge_place_duplicates",
    "read_pbf",
]

logger = logging.getLogger(__name__)

# Way tags kept on every road; the network stage reads them.
ROAD_TAGS = (
    "highway",
    "name",
    "ref",
    "maxspeed",
    "surface",
    "tracktype",
    "smoothness",
    "oneway",
    "junction",
    "bridge",
    "access",
    "motor_vehicle",
    "motorcar",
    "duration",
    "winter_road",
    "ice_road",
    "seasonal",
    "opening_hours",
)
_PLACE_SET = frozenset(PLACE_CLASSES)
_WKB = osmium.geom.WKBFactory()


@dataclass
class OsmLayers:
    """The three tables the extract stage writes, all EPSG:4326."""

    roads: gpd.GeoDataFrame
    places: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    services: gpd.GeoDataFrame | None = None  # None: no service data at all (not: none found)
    place_areas: gpd.GeoDataFrame | None = None  # outline of each settlement mapped as an area


class _Collector:
    """Rows gathered while pyosmium streams the file once."""

    def __init__(self, matcher: ServiceMatcher | None = None) -> None:
        self.matcher = matcher
        self.services: list[dict] = []
        self.service_xy: list[tuple[float, float]] = []
        self.roads: list[dict] = []
        self.road_wkb: list[bytes] = []
        self.places: list[dict] = []
        self.place_xy: list[tuple[float, float]] = []
        self.place_area_wkb: list[bytes | None] = []  # the area of an area place, else None
        self.boundaries: list[dict] = []
        self.boundary_wkb: list[bytes] = []
        self.admin_centres: dict[int, list[int]] = {}  # node id -> admin levels it is centre of
        self.place_area_ids: set[int] = set()

    def way(self, way: osmium.osm.Way) -> None:
        tags = way.tags
        is_road = "highway" in tags
        is_ferry = tags.get("route") == "ferry"
        if not (is_road or is_ferry):
            return
        try:
            wkb = _WKB.create_linestring(way)
        except (osmium.InvalidLocationError, RuntimeError):
            return  # a way cut by the extract's edge, or with fewer than two distinct nodes
        row = {k: tags.get(k) for k in ROAD_TAGS}
        row["osm_id"] = way.id
        row["ferry"] = is_ferry
        if is_ferry and not is_road:
            row["highway"] = None
        self.roads.append(row)
        self.road_wkb.append(bytes.fromhex(wkb))

    def node(self, node: osmium.osm.Node) -> None:
        place = node.tags.get("place")
        if place in _PLACE_SET and "name" in node.tags:
            self.places.append(_place_row("node", node.id, node.tags))
            self.place_xy.append((node.location.lon, node.location.lat))
            self.place_area_wkb.append(None)
        if self.matcher is not None:
            self._service("node", node.id, node.tags, node.location.lon, node.location.lat)

    def _service(self, osm_type: str, osm_id: int, tags, lon: float, lat: float) -> None:
        for service in self.matcher.match(tags):
            self.services.append(
                {
                    "service": service,
                    "name": tags.get("name"),
                    "osm_type": osm_type,
                    "osm_id": osm_id,
                }
            )
            self.service_xy.append((lon, lat))

    def relation(self, rel: osmium.osm.Relation) -> None:
        if rel.tags.get("boundary") != "administrative":
            return
        level = _int_or_none(rel.tags.get("admin_level"))
        if level is None:
            return
        for member in rel.members:
            if member.type == "n" and member.role == "admin_centre":
                self.admin_centres.setdefault(member.ref, []).append(level)

    def area(self, area: osmium.osm.Area) -> None:
        tags = area.tags
        place = tags.get("place")
        is_boundary = tags.get("boundary") == "administrative" and not area.from_way()
        services = self.matcher.match(tags) if self.matcher is not None else []
        if not is_boundary and place not in _PLACE_SET and not services:
            return
        try:
            geom = shapely.from_wkb(bytes.fromhex(_WKB.create_multipolygon(area)))
        except (RuntimeError, shapely.errors.GEOSException):
            return  # a broken ring; OSM has a few
        if is_boundary:
            self.boundaries.append(
                {
                    "osm_id": area.orig_id(),
                    "name": tags.get("name"),
                    "name_ru": tags.get("name:ru"),
                    "name_en": tags.get("name:en"),
                    "admin_level": _int_or_none(tags.get("admin_level")),
                }
            )
            self.boundary_wkb.append(shapely.to_wkb(geom))
        osm_type = "way" if area.from_way() else "relation"
        if place in _PLACE_SET and "name" in tags and not is_boundary:
            point = geom.representative_point()
            self.places.append(_place_row(osm_type, area.orig_id(), tags))
            self.place_xy.append((point.x, point.y))
            self.place_area_wkb.append(shapely.to_wkb(geom))
        if services:
            point = geom.representative_point()
            self._service(osm_type, area.orig_id(), tags, point.x, point.y)


def _place_row(osm_type: str, osm_id: int, tags: osmium.osm.TagList) -> dict:
    return {
        "osm_type": osm_type,
        "osm_id": osm_id,
        "name": tags.get("name"),
        "name_ru": tags.get("name:ru"),
        "name_en": tags.get("name:en"),
        "place": tags.get("place"),
        "population": parse_population(tags.get("population")),
    }


def _int_or_none(value: str | None) -> int | None:
    """An admin level as OSM tags write it; None when it is no whole number."""
    if value is None:
        return None
    digits = value.replace(" ", "").replace(",", "").replace("\u00a0", "")
    return int(digits) if digits.isdigit() else None


def read_pbf(path, service_table: Mapping[str, list[str]] | None = None) -> OsmLayers:
    """Stream an .osm.pbf (or .osm XML) once: every road, named place, admin boundary and,
    given a service table, every service point in it.

    Raises :class:`ExtractError` if the file is missing, truncated or not a PBF.
    """
    matcher = ServiceMatcher(service_table) if service_table else None
    collector = _Collector(matcher)
    service_keys = matcher.keys if matcher is not None else []
    keys = osmium.filter.KeyFilter("highway", "route", "place", "boundary", *service_keys)
    try:
        processor = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_areas(osmium.filter.KeyFilter("boundary", "place", *service_keys))
            .with_filter(keys)
        )
        for obj in tqdm(
            processor, desc="reading OSM", unit=" objects", mininterval=2, leave=False, disable=None
        ):
            if obj.is_way():
                collector.way(obj)
            elif obj.is_node():
                collector.node(obj)
            elif obj.is_relation():
                collector.relation(obj)
            elif obj.is_area():
                collector.area(obj)
    except RuntimeError as exc:
        raise ExtractError(
            f"{path}: cannot read the OSM extract ({exc}); it may be truncated or corrupt — "
            "delete it and run `make fetch` again"
        ) from None
    return _to_layers(collector)


def _to_layers(c: _Collector) -> OsmLayers:
    road_cols = ["osm_id", *ROAD_TAGS, "ferry"]
    roads = gpd.GeoDataFrame(
        pd.DataFrame(c.roads, columns=road_cols),
        geometry=shapely.from_wkb(c.road_wkb) if c.road_wkb else [],
        crs="EPSG:4326",
    )
    places = pd.DataFrame(
        c.places,
        columns=["osm_type", "osm_id", "name", "name_ru", "name_en", "place", "population"],
    )
    xy = np.asarray(c.place_xy, dtype=float).reshape(-1, 2)
    places = gpd.GeoDataFrame(places, geometry=shapely.points(xy), crs="EPSG:4326")
    places["population"] = places["population"].astype("Int64")
    node_ids = places["osm_id"].where(places["osm_type"] == "node", -1)
    levels = node_ids.map(lambda i: min(c.admin_centres.get(i, [99])))
    places["admin_centre_level"] = levels.where(levels < 99).astype("Int64")
    boundaries = gpd.GeoDataFrame(
        pd.DataFrame(c.boundaries, columns=["osm_id", "name", "name_ru", "name_en", "admin_level"]),
        geometry=shapely.from_wkb(c.boundary_wkb) if c.boundary_wkb else [],
        crs="EPSG:4326",
    )
    services = gpd.GeoDataFrame(
        pd.DataFrame(c.services, columns=["service", "name", "osm_type", "osm_id"]),
        geometry=shapely.points(np.asarray(c.service_xy, dtype=float).reshape(-1, 2)),
        crs="EPSG:4326",
    )
    has_area = np.array([w is not None for w in c.place_area_wkb], dtype=bool)
    place_areas = gpd.GeoDataFrame(
        places.loc[has_area, ["osm_type", "osm_id"]].reset_index(drop=True),
        geometry=shapely.from_wkb([w for w in c.place_area_wkb if w is not None]),
        crs="EPSG:4326",
    )
    return OsmLayers(
        roads=roads,
        places=places,
        boundaries=boundaries,
        services=services,
        place_areas=place_areas,
    )


def clip_to_region(layers: OsmLayers, cfg: RegionConfig, crs) -> OsmLayers:
    """Keep the region's boundary and districts, its places, and roads near it.

    `crs` is the region's projected CRS, used for the road buffer in metres.
    Raises :class:`ExtractError` if the extract has no such region, or no roads or places in it.
    """
    region = find_region(layers.boundaries, cfg)
    region_geom = region.geometry
    inner = layers.boundaries[layers.boundaries["admin_level"] == cfg.boundary.district_admin_level]
    inside = shapely.within(inner.geometry.representative_point().values, region_geom)
    districts = inner[inside].assign(role="district")
    boundaries = pd.concat(
        [gpd.GeoDataFrame([region.to_dict()], crs="EPSG:4326").assign(role="region"), districts],
        ignore_index=True,
    )
    buffer = (
        gpd.GeoSeries([region_geom], crs="EPSG:4326")
        .to_crs(crs)
        .buffer(cfg.boundary.clip_buffer_m)
        .to_crs("EPSG:4326")
        .iloc[0]
    )
    shapely.prepare(buffer)
    roads = layers.roads[shapely.intersects(buffer, layers.roads.geometry.values)]
    shapely.prepare(region_geom)
    places = layers.places[shapely.contains(buffer, layers.places.geometry.values)]
    places = places[places["place"].isin(cfg.settlement_places)].copy()
    places["in_region"] = shapely.contains(region_geom, places.geometry.values)
    areas = layers.place_areas
    if areas is not None:
        places, areas = merge_place_duplicates(places, areas)
    region_label = cfg.display_name
    if roads.empty:
        raise ExtractError(
            f"the extract has no roads in {region_label}; check that source.local_pbf or "
            "source.urls point at an extract that covers the region"
        )
    if not places["in_region"].any():
        raise ExtractError(
            f"the extract has no settlements (place={'/'.join(cfg.settlement_places)}) in "
            f"{region_label}; check settlement_places in the region file"
        )
    services = layers.services
    if services is not None:
        services = services[shapely.contains(buffer, services.geometry.values)].copy()
        services["in_region"] = shapely.contains(region_geom, services.geometry.values)
        services = services.sort_values(["service", "osm_type", "osm_id"]).reset_index(drop=True)
    outside = int((~places["in_region"]).sum())
    if outside:
        logger.info(
            "%d places within %g m beyond the border kept: they may serve as anchors, cores or "
            "service hosts, but are not settlements of %s",
            outside,
            cfg.boundary.clip_buffer_m,
            region_label,
        )
    return OsmLayers(
        roads=roads.sort_values("osm_id").reset_index(drop=True),
        places=places.sort_values(["osm_type", "osm_id"]).reset_index(drop=True),
        boundaries=boundaries.reset_index(drop=True),
        services=services,
        place_areas=areas,
    )


def _same_name(a: str, b: str) -> bool:
    """Names that differ only in case, accents, ё/е, spaces and punctuation, or in a letter."""
    import difflib
    import unicodedata

    def plain(text: str) -> str:
        text = unicodedata.normalize("NFKD", str(text).casefold().replace("ё", "е"))
        return "".join(ch for ch in text if ch.isalnum())

    x, y = plain(a), plain(b)
    return x == y or difflib.SequenceMatcher(None, x, y).ratio() >= 0.9


def merge_place_duplicates(
    places: gpd.GeoDataFrame, areas: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """One settlement for a place node inside a place area of the same or a near-identical name.

    The node stays (its position, tags and id: what anchor lists name); it takes the area's
    population if it has none, and the area becomes its outline. Returns (places, outlines),
    outlines keyed by the settlement's osm_type and osm_id. Every merge is logged.
    """
    places = places.reset_index(drop=True)
    row_of = {k: i for i, k in enumerate(zip(places["osm_type"], places["osm_id"], strict=True))}
    area_row = np.array(
        [row_of.get(k, -1) for k in zip(areas["osm_type"], areas["osm_id"], strict=True)],
        dtype=np.int64,
    )
    areas = areas[area_row >= 0].reset_index(drop=True)
    area_row = area_row[area_row >= 0]
    owner = area_row.copy()  # the settlement each outline belongs to
    names = places["name"].to_numpy(dtype=object)
    population = places["population"].copy()
    nodes = places[places["osm_type"] == "node"]
    pairs = gpd.sjoin(nodes[["geometry"]], areas[["geometry"]], predicate="within", how="inner")
    dropped, merged = np.zeros(len(places), dtype=bool), []
    for node, area in zip(pairs.index, pairs["index_right"], strict=True):  # a few hundred
        twin = area_row[area]
        if dropped[twin] or owner[area] != twin or node in owner[owner != area_row]:
            continue
        if not _same_name(names[node], names[twin]):
            continue
        dropped[twin], owner[area] = True, node
        if pd.isna(population.iloc[node]):
            population.iloc[node] = population.iloc[twin]
        merged.append(f"{names[node]} (node) = {names[twin]} ({areas['osm_type'].iloc[area]})")
    if merged:
        logger.info("%d settlements mapped twice merged: %s", len(merged), "; ".join(merged))
    places = places.assign(population=population)
    outlines = gpd.GeoDataFrame(
        {
            "osm_type": places["osm_type"].to_numpy()[owner],
            "osm_id": places["osm_id"].to_numpy()[owner],
        },
        geometry=areas.geometry.to_numpy(),
        crs=areas.crs,
    )
    kept = places[~dropped].reset_index(drop=True)
    return kept, outlines.sort_values(["osm_type", "osm_id"]).reset_index(drop=True)


def find_region(boundaries: gpd.GeoDataFrame, cfg: RegionConfig) -> pd.Series:
    """The region's boundary row (by relation id, or by name at its admin level)."""
    b = cfg.boundary
    if b.relation_id is not None:
        match = boundaries[boundaries["osm_id"] == b.relation_id]
        wanted = f"boundary relation {b.relation_id}"
    else:
        at_level = boundaries[boundaries["admin_level"] == b.admin_level]
        names = at_level[["name", "name_ru", "name_en"]]
        match = at_level[(names == b.region_name).any(axis=1)]
        wanted = f"boundary {b.region_name!r} at admin_level {b.admin_level}"
    if match.empty:
        raise ExtractError(
            f"the extract has no {wanted}; it does not cover {cfg.display_name} — check "
            "boundary.relation_id / boundary.region_name and the extract's source"
        )
    return match.iloc[0]
