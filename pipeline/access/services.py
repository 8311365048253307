"""Services: which settlements host a school, a clinic, a post office …, and how far everyone is from each.

The service points come from :mod:`pipeline.inputs.service_points` (OSM tags matched by the
type table of :mod:`pipeline.config.defaults`, or a planner's CSV); here they are linked to
the settlements that host them and timed with the one walk-and-drive rule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from pipeline.config import RegionConfig
from pipeline.people import population_or_zero

__all__ = [
    "add_service_access",
    "anchor_profile",
    "coverage_by_service",
    "desert_list",
    "link_to_settlements",
    "service_times",
    "services_figures",
]

logger = logging.getLogger(__name__)


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

    Parameters
    ----------
    services : gpd.GeoDataFrame
        Service points, projected.
    places : gpd.GeoDataFrame
        Settlements with `osm_type`, `osm_id`, `name`, `place`, in the same CRS.
    reach_m : Mapping of str to float
        Reach by place class, metres (``services.reach_m``).
    areas : gpd.GeoDataFrame, optional
        OSM place areas with the `osm_type` and `osm_id` of their place.

    Returns
    -------
    pd.DataFrame
        One row per service (its index): `settlement_name`, `settlement_osm_type`,
        `settlement_osm_id` (empty when it belongs to none) and `link_distance_m`.
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

    Parameters
    ----------
    anchors : pd.DataFrame
        The anchors, with `osm_type` and `osm_id`.
    services : pd.DataFrame
        Services linked to settlements.
    types : list of str
        Every service type of the region.
    core : list of str
        The core services every anchor should host (``services.core``).

    Returns
    -------
    pd.DataFrame
        Per anchor (same index): ``has_<type>`` booleans, `core_services_missing` (text) and
        `lacks_core_services`.
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

    Parameters
    ----------
    settlements : gpd.GeoDataFrame
        The settlements, projected.
    services : gpd.GeoDataFrame
        The service points with their `service` type, same CRS.
    model : TravelModel
        The run's travel model.
    types : list of str
        Every service type of the region (one column each).

    Returns
    -------
    pd.DataFrame
        ``time_<type>_min`` per settlement (same index); NaN where none is reachable.
    """
    xy = np.column_stack([settlements.geometry.x, settlements.geometry.y])
    out = pd.DataFrame({f"time_{t}_min": np.nan for t in types}, index=settlements.index)
    present = [t for t in types if (services["service"] == t).any()]
    sources, beyond = [], []
    for service in present:  # one shortest-path run per type, never per facility
        points = services[services["service"] == service]
        sources.append(np.column_stack([points.geometry.x, points.geometry.y]))
        inside = points["in_region"] if "in_region" in points else pd.Series(True, points.index)
        beyond.append(~inside.fillna(True).to_numpy(dtype=bool))
    fields = model.fields(sources)
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
    """Comma-separated service types each settlement is beyond the desert threshold of.

    Parameters
    ----------
    times : pd.DataFrame
        ``time_<type>_min`` columns (:func:`service_times`).
    desert_min : Mapping of str to float
        The desert threshold of each type, minutes.
    types : list of str
        The types, in the order they are listed.

    Returns
    -------
    pd.Series
        Per settlement, e.g. ``"hospital, bank"``; empty text when none.
    """
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
    """Population (and settlements) within each limit of each service type, by district and region.

    Parameters
    ----------
    settlements : pd.DataFrame
        Settlements with `population`, `district` and ``time_<type>_min`` columns.
    types : list of str
        The service types.
    limits_min : tuple of float
        The time limits, minutes.

    Returns
    -------
    pd.DataFrame
        One row per (service type, area): for each type the region ("(region)") first, then
        each district; ``settlements_within_<T>min`` and ``population_within_<T>min``.
    """
    pop = population_or_zero(settlements["population"])
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


def add_service_access(
    cfg: RegionConfig,
    result,
    model,
    places: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame | None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Put the service columns on the settlements and anchors of `result`.

    Parameters
    ----------
    cfg : RegionConfig
        The region: its service types, reach, deserts and core services.
    result : Accessibility
        The catchments result (:func:`pipeline.access.catchments.compute_accessibility`); its
        settlements get ``time_<type>_min`` and ``service_deserts``, its anchors their profile.
    model : TravelModel
        The run's travel model.
    places : gpd.GeoDataFrame
        The projected places the services are linked to.
    services : gpd.GeoDataFrame
        The service points, projected like `places`.
    areas : gpd.GeoDataFrame or None
        The OSM place areas, projected (None: none in the extract).

    Returns
    -------
    services : gpd.GeoDataFrame
        The services layer: each point with the settlement it belongs to.
    coverage : pd.DataFrame
        Per service type figures (:func:`coverage_by_service`).
    """
    types = list(cfg.services.table())
    s, anchors = result.settlements, result.anchors
    link = link_to_settlements(services, places, cfg.services.reach_table(), areas)
    services = pd.concat([services.drop(columns="geometry"), link, services[["geometry"]]], axis=1)
    services = gpd.GeoDataFrame(services, geometry="geometry", crs=places.crs)
    times = service_times(s, services, model, types)
    for column in times.columns:
        s[column] = times[column].to_numpy()
    s["service_deserts"] = desert_list(times, cfg.services.desert_table(), types).to_numpy()
    profile = anchor_profile(anchors, services, types, cfg.services.core)
    for column in profile.columns:
        anchors[column] = profile[column].to_numpy()
    lacking = int(profile["lacks_core_services"].sum())
    logger.info(
        "services: %d points of %d types; %d of %d anchors lack a core service (%s)",
        len(services),
        services["service"].nunique(),
        lacking,
        len(anchors),
        " + ".join(cfg.services.core),
    )
    return services, coverage_by_service(s, types)


def services_figures(cfg: RegionConfig, anchors, services, service_summary) -> dict:
    """The ``services`` part of summary.json (``{"available": False}`` without service data)."""
    if services is None:
        return {"available": False}
    profile_columns = ["name", "district", "core_services_missing"]
    return {
        "available": True,
        "source": "services.csv" if cfg.services.csv else "OpenStreetMap",
        "counts": services["service"].value_counts().sort_index().to_dict(),
        "core": cfg.services.core,
        "desert_min": cfg.services.desert_table(),
        "anchors_lacking_core": anchors.loc[
            anchors["lacks_core_services"], profile_columns
        ].to_dict(orient="records"),
        "coverage": service_summary.to_dict(orient="records"),
    }
