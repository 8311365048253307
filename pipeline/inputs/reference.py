"""Bundled reference data, for a region whose OSM extract cannot be had (offline).

It yields the same tables as :func:`pipeline.inputs.osm.read_pbf` (places, boundaries; no roads), so
the later stages run unchanged, with the straight-line model in place of the road graph.
Settlements come from a settlement table (a CSV such as Vologda's SME registry, read by
:mod:`pipeline.inputs.settlement_table`) or from GeoNames points; for the latter, where a point lies
within `TOWN_MATCH_M` of an official town, the town's Cyrillic name, class and census
population replace the GeoNames ones.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from pipeline.config import OfflineConfig, RegionConfig
from pipeline.errors import InputDataError
from pipeline.inputs.osm import ROAD_TAGS, OsmLayers
from pipeline.inputs.settlement_table import read_settlement_table

__all__ = ["CITY_MIN_POPULATION", "TOWN_MATCH_M", "load_reference"]

logger = logging.getLogger(__name__)

TOWN_MATCH_M = 5_000.0  # metres between a GeoNames point and the official town's coordinates
CITY_MIN_POPULATION = 100_000  # a town this large is a `city`, as OSM's place=city


def load_reference(cfg: RegionConfig, crs_for) -> OsmLayers:
    """Read the region's bundled files into extract-shaped tables (EPSG:4326).

    `crs_for(region_polygon)` gives the projected CRS used to match towns to points in metres.
    """
    off = cfg.offline
    if off is None:
        raise InputDataError(
            f"{cfg.name}: no [offline] section, so no bundled data to fall back on"
        )
    districts = _read(cfg.resolve(off.districts), "districts")
    if off.district_name_field not in districts:
        raise InputDataError(
            f"{off.districts}: no field {off.district_name_field!r} "
            f"(has {', '.join(districts.columns.drop('geometry'))}); fix offline.district_name_field"
        )
    districts = districts.to_crs("EPSG:4326")
    region_geom = shapely.union_all(shapely.make_valid(districts.geometry.values))
    boundaries = gpd.GeoDataFrame(
        {
            "osm_id": np.arange(len(districts) + 1, dtype=np.int64),
            "name": [cfg.display_name, *districts[off.district_name_field]],
            "name_ru": None,
            "name_en": None,
            "admin_level": [cfg.boundary.admin_level]
            + [cfg.boundary.district_admin_level] * len(districts),
            "role": ["region"] + ["district"] * len(districts),
        },
        geometry=[region_geom, *districts.geometry],
        crs="EPSG:4326",
    )
    places = _settlements(cfg, off, districts, crs_for(region_geom))
    places["in_region"] = True  # the bundled data holds the region's own settlements only
    roads = gpd.GeoDataFrame(
        pd.DataFrame(columns=["osm_id", *ROAD_TAGS, "ferry"]), geometry=[], crs="EPSG:4326"
    )
    return OsmLayers(roads=roads, places=places, boundaries=boundaries)


def _read(path, what: str) -> gpd.GeoDataFrame:
    if not path.is_file():
        raise InputDataError(
            f"bundled {what} file {str(path)!r} not found; restore it from the repository"
        )
    try:
        frame = gpd.read_file(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputDataError(f"bundled {what} file {str(path)!r} is unreadable ({exc})") from None
    if frame.crs is None:
        raise InputDataError(f"bundled {what} file {str(path)!r} has no CRS; add one")
    return frame


def _settlements(cfg: RegionConfig, off: OfflineConfig, districts, crs) -> gpd.GeoDataFrame:
    path = cfg.resolve(off.settlements)
    if path.suffix.lower() == ".csv":
        places, report = read_settlement_table(path, districts, off.district_name_field, crs)
        report.log(path)
        return places
    points = _read(path, "settlements").to_crs("EPSG:4326")
    for column in ("name", "population"):
        if column not in points:
            raise InputDataError(f"{off.settlements}: needs a {column!r} field")
    ids = points["geonameid"] if "geonameid" in points else pd.Series(np.arange(len(points)))
    places = gpd.GeoDataFrame(
        {
            "osm_type": "geonames",
            "osm_id": ids.astype(np.int64).to_numpy(),
            "name": points["name"].to_numpy(),
            "name_ru": None,
            "name_en": points["name"].to_numpy(),
            "place": "village",  # class unknown in GeoNames; towns are set below
            "population": pd.array(points["population"], dtype="Int64"),
            "admin_centre_level": pd.array([None] * len(points), dtype="Int64"),
        },
        geometry=points.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    if off.towns is not None:
        places = _apply_towns(places, cfg.resolve(off.towns), crs)
    return places.sort_values("osm_id").reset_index(drop=True)


def _apply_towns(places: gpd.GeoDataFrame, path, crs) -> gpd.GeoDataFrame:
    if not path.is_file():
        raise InputDataError(
            f"bundled towns file {str(path)!r} not found; restore it from the repository"
        )
    towns = pd.read_csv(path, dtype={"population": "Int64"})
    missing = {"city", "geo_lat", "geo_lon", "population"} - set(towns.columns)
    if missing:
        raise InputDataError(f"{path}: missing columns {', '.join(sorted(missing))}")
    town_xy = gpd.GeoSeries(gpd.points_from_xy(towns["geo_lon"], towns["geo_lat"]), crs="EPSG:4326")
    town_xy = town_xy.to_crs(crs)
    place_xy = places.geometry.to_crs(crs)
    from scipy.spatial import cKDTree  # here: an extract from OSM never needs it

    tree = cKDTree(np.column_stack([place_xy.x, place_xy.y]))
    dist, nearest = tree.query(np.column_stack([town_xy.x, town_xy.y]), k=1)
    matched = dist <= TOWN_MATCH_M
    if not matched.all():
        unmatched = towns.loc[~matched, "city"].tolist()
        logger.warning(
            "towns with no GeoNames point within %.0f m, left out: %s", TOWN_MATCH_M, unmatched
        )
    rows = nearest[matched]
    places = places.copy()
    t = towns[matched]
    places.loc[places.index[rows], "name"] = t["city"].to_numpy()
    places.loc[places.index[rows], "name_ru"] = t["city"].to_numpy()
    places.loc[places.index[rows], "population"] = t["population"].to_numpy()
    is_city = (t["population"].fillna(0) >= CITY_MIN_POPULATION).to_numpy()
    places.loc[places.index[rows], "place"] = np.where(is_city, "city", "town")
    return places
