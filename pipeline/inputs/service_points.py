"""Service points: OSM objects matched to service types by their tags, or a planner's CSV.

The service types and the OSM tags that define them are :data:`pipeline.config.defaults.
DEFAULT_SERVICE_TAGS`, one table a region file can extend or override (`[services] tags`). A
rule is `key=value`, or `key=*` for any value. Points and areas both count (an area becomes
its representative point). A planner-maintained CSV (`name,type,lat,lon`) can replace the OSM
services of a region.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np

from pipeline._io import sha256_of
from pipeline.config import RegionConfig
from pipeline.config.tag_rules import parse_rule
from pipeline.errors import InputDataError

__all__ = ["ServiceMatcher", "read_service_csv", "service_points"]

logger = logging.getLogger(__name__)


class ServiceMatcher:
    """Which service types an OSM object's tags make it. Built once from the type table."""

    def __init__(self, table: Mapping[str, list[str]]) -> None:
        self.by_key: dict[str, list[tuple[str | None, str]]] = {}
        for service, rules in table.items():
            for rule in rules:
                key, value = parse_rule(rule)
                self.by_key.setdefault(key, []).append((value, service))

    @property
    def keys(self) -> list[str]:
        return sorted(self.by_key)

    def match(self, tags) -> list[str]:
        """Service types for a tag list (anything with `.get`), in table order, no repeats."""
        found: list[str] = []
        for key, rules in self.by_key.items():
            value = tags.get(key)
            if value is None:
                continue
            for wanted, service in rules:
                if (wanted is None or wanted == value) and service not in found:
                    found.append(service)
        return found


def read_service_csv(path: Path, known_types: list[str]) -> gpd.GeoDataFrame:
    """Service points a planner maintains: columns name, type, lat, lon, read like the anchors
    CSV (:mod:`pipeline.inputs.planner_csv`: UTF-8, Windows-1251 or UTF-16; `,`, `;` or tab; a
    decimal comma in lat/lon)."""
    from pipeline.inputs.planner_csv import numbers, read_planner_csv

    if not path.is_file():
        raise InputDataError(
            f"services.csv {str(path)!r} not found; fix the path in the region file"
        )
    csv = read_planner_csv(path, "service", "name,type,lat,lon")
    table = csv.table
    missing = {"name", "type", "lat", "lon"} - set(table.columns)
    if missing:
        raise InputDataError(
            f"{path}: missing column(s) {', '.join(sorted(missing))} (found: "
            f"{', '.join(csv.header)}); the header must be name,type,lat,lon"
        )
    lat, lon = numbers(table["lat"]), numbers(table["lon"])
    bad = lat.isna() | lon.isna() | ~lat.between(-90, 90) | ~lon.between(-180, 180)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputDataError(
            f"{path}: line {csv.line(row)} has no valid lat/lon ({table['lat'].iloc[row]!r}, "
            f"{table['lon'].iloc[row]!r}; degrees such as 59.22 or 59,22); fix or remove it"
        )
    types = table["type"]
    unknown = sorted(set(types) - set(known_types))
    if unknown:
        row = int(np.flatnonzero(types.isin(unknown).to_numpy())[0])
        raise InputDataError(
            f"{path}, line {csv.line(row)}: unknown service type {unknown[0]!r}"
            + (f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else "")
            + f"; use one of {', '.join(known_types)}"
        )
    return gpd.GeoDataFrame(
        {
            "service": types.to_numpy(dtype=object),
            "name": table["name"].to_numpy(dtype=object),
            "osm_type": "csv",
            "osm_id": np.arange(1, len(table) + 1, dtype=np.int64),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def service_points(cfg: RegionConfig, from_osm: gpd.GeoDataFrame | None):
    """The region's service points: its services.csv if it names one, else those found in OSM
    (None: neither)."""
    if cfg.services.csv is not None:
        path = cfg.resolve(cfg.services.csv)
        points = read_service_csv(path, list(cfg.services.table()))
        logger.info(
            "service points from %s (%d rows, sha256 %s)", path, len(points), sha256_of(path)
        )
        return points
    if from_osm is None:
        logger.warning(
            "no service data (no OSM extract and no services.csv): service accessibility is skipped; "
            'set [services] csv = "services.csv" (name,type,lat,lon) in the region file to add it'
        )
    return from_osm
