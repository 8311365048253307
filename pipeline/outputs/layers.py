"""The result layers: which layers a result GeoPackage holds and which columns they carry.

One list of the settlement columns (:data:`SETTLEMENT_COLUMNS`), one of the layers every map
page draws (:data:`MAP_LAYERS`), and the roads layer as the map and QGIS show it.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from pipeline.config import RegionConfig
from pipeline.crs import project_geometries
from pipeline.network.graph import driveable, edge_speeds_kph
from pipeline.outputs.export import layer_names, read_layer

__all__ = [
    "MAP_LAYERS",
    "SETTLEMENT_COLUMNS",
    "empty_roads",
    "page_layers",
    "roads_layer",
    "settlement_columns",
]

SETTLEMENT_COLUMNS = (
    "osm_type",
    "osm_id",
    "name",
    "name_ru",
    "name_en",
    "place",
    "population",
    "population_source",
    "abandoned",
    "district",
    "is_anchor",
    "is_core",
    "anchor_id",
    "anchor_osm_type",
    "anchor_osm_id",
    "anchor_name",
    "anchor_time_min",
    "core_id",
    "core_osm_type",
    "core_osm_id",
    "core_name",
    "core_time_min",
    "gap",
    "access_class",
    "no_road",
    "road_distance_m",
    "anchor_beyond_border",
    "geometry",
)

# The result layers every map page draws (services, seasons, plans come as extra layers).
MAP_LAYERS = (
    "districts", "catchments", "isochrones", "gaps", "agglomeration_zones", "settlements", "anchors",
)  # fmt: skip


def settlement_columns(s: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The settlements layer as written: :data:`SETTLEMENT_COLUMNS`, then the service times
    and deserts, sorted by OSM id."""
    extra = [
        c
        for c in s.columns
        if c.startswith("time_") or c in ("service_deserts", "services_beyond_border")
    ]
    columns = [c for c in SETTLEMENT_COLUMNS if c != "geometry"] + extra + ["geometry"]
    return s[columns].sort_values(["osm_type", "osm_id"]).reset_index(drop=True)


def roads_layer(roads: gpd.GeoDataFrame, cfg: RegionConfig, crs: CRS) -> gpd.GeoDataFrame:
    """The driveable roads of the extract with their speed (km/h), projected to `crs`."""
    roads = roads[driveable(roads, cfg.network)].reset_index(drop=True)
    speed = edge_speeds_kph(roads, cfg.network)
    out = roads[
        ["osm_id", "highway", "name", "ref", "surface", "ferry", "winter_road", "geometry"]
    ].copy()
    out["speed_kph"] = np.where(out["ferry"].astype(bool), cfg.network.ferry_speed_kph, speed)
    if out.crs is None or not out.crs.equals("EPSG:4326"):
        return out.to_crs(crs)
    # Millions of vertices: projected on every core (the same coordinates as to_crs gives).
    return out.set_geometry(project_geometries(out.geometry.to_numpy(), out.crs, crs), crs=crs)


def empty_roads(crs: CRS) -> gpd.GeoDataFrame:
    """The roads layer of the straight-line model: no roads."""
    return gpd.GeoDataFrame(
        {
            "osm_id": pd.Series(dtype="int64"),
            "highway": pd.Series(dtype=str),
            "speed_kph": pd.Series(dtype=float),
        },
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


def page_layers(gpkg: Path, roads: bool = True) -> dict[str, gpd.GeoDataFrame]:
    """The layers a map page draws: the result layers, and roads (unless `roads` is False),
    water, services if present."""
    layers = {name: read_layer(gpkg, name) for name in MAP_LAYERS}
    present = set(layer_names(gpkg))
    for name in ("roads", "water", "services"):
        if name in present and (roads or name != "roads"):
            layers[name] = read_layer(gpkg, name)
    return layers
