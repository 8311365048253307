"""Services: which settlements host a school, a clinic, a post office …, and how far everyone is from each.

The service types and the OSM tags that define them live in :data:`DEFAULT_SERVICE_TAGS`, one
table a region file can extend or override (`[services] tags`). A rule is `key=value`, or
`key=*` for any value. Points and areas both count (an area becomes its representative point).
A planner-maintained CSV (`name,type,lat,lon`) can replace the OSM services of a region.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from pipeline.errors import InputDataError

__all__ = [
    "DEFAULT_CORE_SERVICES",
    "DEFAULT_DESERT_MIN",
    "DEFAULT_REACH_M",
    "DEFAULT_SERVICE_TAGS",
    "ServiceMatcher",
    "anchor_profile",
    "link_to_settlements",
    "read_service_csv",
]

logger = logging.getLogger(__name__)

# Service type -> OSM tags that make an object that service. Russian practice: a
# feldsher-midwife post (ФАП) is mapped as healthcare=centre or healthcare=feldsher
# (sometimes with amenity=clinic, which then counts as a clinic as well).
DEFAULT_SERVICE_TAGS: dict[str, list[str]] = {
    "hospital": ["amenity=hospital", "healthcare=hospital"],
    "clinic": ["amenity=clinic", "healthcare=clinic", "amenity=doctors", "healthcare=doctor"],
    "fap": ["healthcare=centre", "healthcare=feldsher", "healthcare=paramedic"],
    "pharmacy": ["amenity=pharmacy", "healthcare=pharmacy"],
    "school": ["amenity=school"],
    "kindergarten": ["amenity=kindergarten"],
    "post_office": ["amenity=post_office"],
    "bank": ["amenity=bank"],  # a branch; a cash machine (amenity=atm) is not one
    "shop": ["shop=supermarket", "shop=convenience", "shop=general"],
    "fuel": ["amenity=fuel"],
    "police": ["amenity=police"],
    "fire_station": ["amenity=fire_station"],
    "culture": ["amenity=library", "amenity=community_centre", "amenity=arts_centre"],
}

# What every anchor should offer; `a|b` means either will do.
DEFAULT_CORE_SERVICES = ["school", "clinic|fap", "pharmacy", "post_office"]

# Beyond this many minutes from the nearest service of a type, a settlement is in that
# type's service desert.
# How far from its centre a settlement's services may lie and still be its own (for services
# outside every OSM place area), metres, by place class: a town spreads farther than a hamlet.
DEFAULT_REACH_M: dict[str, float] = {
    "city": 10_000.0,
    "town": 5_000.0,
    "village": 1_000.0,
    "hamlet": 300.0,
    "isolated_dwelling": 150.0,
}

DEFAULT_DESERT_MIN: dict[str, float] = {
    "hospital": 60.0,
    "clinic": 30.0,
    "fap": 30.0,
    "pharmacy": 30.0,
    "school": 30.0,
    "kindergarten": 30.0,
    "post_office": 30.0,
    "bank": 60.0,
    "shop": 30.0,
    "fuel": 60.0,
    "police": 60.0,
    "fire_station": 30.0,
    "culture": 60.0,
}


def parse_rule(rule: str) -> tuple[str, str | None]:
    """'amenity=school' -> ('amenity', 'school'); 'shop=*' -> ('shop', None)."""
    key, sep, value = rule.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise ValueError(f"{rule!r} is not a tag rule; write key=value or key=*")
    return key, (None if value == "*" else value)


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


def link_to_settlements(
    services: gpd.GeoDataFrame,
    places: gpd.GeoDataFrame,
    reach_m: Mapping[str, float],
    areas: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """The settlement each service belongs to (all projected): its name, osm_type, osm_id and
    the distance to it.

    A service inside a settlement's OSM place area belongs to that settlement (the smallest,
    if areas nest). Otherwise it belongs to the settlement with the least distance ÷ reach
    among those within their reach (`reach_m`, by place class: a town spreads farther from its
    centre than a hamlet): a hospital 1.5 km from a town's centre and 100 m from a hamlet is
    the town's (1.5/5 < 0.1/0.3), a post office in a village's centre is the village's, even
    2 km from a town. Beyond every reach it belongs to none. Settlements are matched by
    osm_type and osm_id, never by name.
    """
    n = len(services)
    out = pd.DataFrame(index=services.index)
    pos = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if n and len(places):
        place_xy = np.column_stack([places.geometry.x, places.geometry.y])
        service_xy = np.column_stack([services.geometry.x, services.geometry.y])
        reach = places["place"].map(reach_m).fillna(min(reach_m.values())).to_numpy(dtype=float)
        pairs = cKDTree(service_xy).sparse_distance_matrix(
            cKDTree(place_xy), float(reach.max()), output_type="ndarray"
        )
        ok = pairs["v"] <= reach[pairs["j"]]
        i, j, d = pairs["i"][ok], pairs["j"][ok], pairs["v"][ok]
        order = np.lexsort((j, d / reach[j], i))  # least distance ÷ reach first
        first = np.ones(len(order), dtype=bool)
        first[1:] = i[order][1:] != i[order][:-1]
        pos[i[order][first]] = j[order][first]
        if areas is not None and len(areas):
            inside = _inside_areas(services, places, areas)
            pos = np.where(inside >= 0, inside, pos)
        found = pos >= 0
        dist[found] = np.hypot(*(service_xy[found] - place_xy[pos[found]]).T)
    found = pos >= 0
    pick = np.maximum(pos, 0)
    for column in ("name", "osm_type"):
        values = places[column].to_numpy(dtype=object)[pick] if len(places) else np.full(n, None)
        out[f"settlement_{column}"] = np.where(found, values, None)
    ids = places["osm_id"].to_numpy(dtype=np.int64)[pick] if len(places) else np.zeros(n, int)
    out["settlement_osm_id"] = pd.array(np.where(found, ids, 0), dtype="Int64")
    out.loc[~found, "settlement_osm_id"] = pd.NA
    out["link_distance_m"] = dist
    return out


def _inside_areas(services, places, areas) -> np.ndarray:
    """Per service, the row in `places` whose place area contains it (-1: none); the smallest
    area wins where areas nest."""
    joined = gpd.sjoin(services[["geometry"]], areas, predicate="within", how="inner")
    if joined.empty:
        return np.full(len(services), -1, dtype=np.int64)
    joined["_area"] = areas.geometry.area.to_numpy()[joined["index_right"].to_numpy()]
    joined = joined.sort_values("_area", kind="stable")
    joined = joined[~joined.index.duplicated(keep="first")]
    row = {k: r for r, k in enumerate(zip(places["osm_type"], places["osm_id"], strict=True))}
    out = pd.Series(-1, index=services.index, dtype=np.int64)
    keys = zip(joined["osm_type"], joined["osm_id"], strict=True)
    out.loc[joined.index] = [row.get(k, -1) for k in keys]
    return out.to_numpy()


def anchor_profile(
    anchors: pd.DataFrame, services: pd.DataFrame, types: list[str], core: list[str]
) -> pd.DataFrame:
    """Per anchor: `has_<type>` for every service type, and the core services it lacks.

    `services` needs `service`, `settlement_osm_type` and `settlement_osm_id` (from
    :func:`link_to_settlements`); anchors are matched by osm_type and osm_id. A core entry
    `a|b` is met by either type.
    """
    hosted = services.dropna(subset=["settlement_osm_id"])
    present = set(
        zip(
            zip(
                hosted["settlement_osm_type"],
                hosted["settlement_osm_id"].astype(np.int64),
                strict=True,
            ),
            hosted["service"],
            strict=True,
        )
    )
    out = pd.DataFrame(index=anchors.index)
    ids = list(zip(anchors["osm_type"], anchors["osm_id"].astype(np.int64), strict=True))
    for service in types:
        out[f"has_{service}"] = [(i, service) in present for i in ids]
    lacking = []
    for i in ids:  # tens of anchors, a handful of core entries
        missing = [entry for entry in core if not any((i, t) in present for t in entry.split("|"))]
        lacking.append(", ".join(missing))
    out["core_services_missing"] = lacking
    out["lacks_core_services"] = out["core_services_missing"] != ""
    return out


def service_times(
    settlements: gpd.GeoDataFrame, services: gpd.GeoDataFrame, model, types: list[str]
) -> pd.DataFrame:
    """`time_<type>_min` for every settlement: one multi-source run per service type.

    `model` is the region's travel model (:mod:`pipeline.access.walk_and_drive`); a type with no service at
    all leaves its column empty (NaN), it does not invent a time.
    """
    xy = np.column_stack([settlements.geometry.x, settlements.geometry.y])
    out = pd.DataFrame({f"time_{t}_min": np.nan for t in types}, index=settlements.index)
    present = [t for t in types if (services["service"] == t).any()]
    fields, beyond = [], []
    for service in present:  # one shortest-path run per type, never per facility
        points = services[services["service"] == service]
        fields.append(model.field(np.column_stack([points.geometry.x, points.geometry.y])))
        inside = points["in_region"] if "in_region" in points else pd.Series(True, points.index)
        beyond.append(~inside.fillna(True).to_numpy(dtype=bool))
    across = [[] for _ in range(len(settlements))]
    for service, trips, outside in zip(present, model.trips(xy, fields), beyond, strict=True):
        out[f"time_{service}_min"] = np.where(
            np.isfinite(trips.time_s), trips.time_s / 60.0, np.nan
        )
        for i in np.flatnonzero((trips.source >= 0) & outside[np.maximum(trips.source, 0)]):
            across[i].append(service)
    out["services_beyond_border"] = [", ".join(types) for types in across]
    return out


def desert_list(
    times: pd.DataFrame, desert_min: Mapping[str, float], types: list[str]
) -> pd.Series:
    """Comma-separated service types each settlement is beyond the desert threshold of."""
    flags = {
        service: ~(times[f"time_{service}_min"] <= desert_min[service]).to_numpy()
        for service in types
        if times[f"time_{service}_min"].notna().any()  # no data for a type: no desert claimed
    }
    return pd.Series(
        [", ".join(s for s, f in flags.items() if f[i]) for i in range(len(times))],
        index=times.index,
    )


def coverage_by_service(
    settlements: pd.DataFrame, types: list[str], limits_min: tuple[float, ...] = (15.0, 30.0, 60.0)
) -> pd.DataFrame:
    """Population (and settlements) within each limit of each service type, by district and region."""
    pop = settlements["population"].astype("Float64").fillna(0).to_numpy(dtype=float)
    district = settlements["district"].fillna("(outside districts)").to_numpy()
    rows = []
    for service in types:
        t = settlements[f"time_{service}_min"].to_numpy(dtype=float)
        if not np.isfinite(t).any():
            continue
        frame = pd.DataFrame({"district": district})
        for limit in limits_min:
            within = t <= limit
            frame[f"settlements_within_{limit:g}min"] = within.astype(int)
            frame[f"population_within_{limit:g}min"] = (pop * within).astype(np.int64)
        by = frame.groupby("district", sort=True).sum()
        total = by.sum().to_frame("(region)").T
        table = pd.concat([total, by])
        table.index.name = "area"
        rows.append(table.reset_index().assign(service=service))
    if not rows:
        return pd.DataFrame(columns=["service", "area"])
    out = pd.concat(rows, ignore_index=True)
    return out[["service", "area", *[c for c in out.columns if c not in ("service", "area")]]]
