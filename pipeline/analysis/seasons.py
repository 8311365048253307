"""Access across the seasons, and the river crossings it hangs on.

Given each season's settlement times (from the catchments stage run once per season), every
settlement gets its worst and best season and whether it is served within the gap threshold
all year. Every ferry, ice crossing and winter road becomes a *crossing*: open or closed in
each season, and the people who lose access (their anchor time rises above the gap threshold,
or they become unreachable) when it is closed while it would be open.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.network.graph import FLAG_FERRY, FLAG_WINTER, RoadGraph

__all__ = ["combine_seasons", "crossing_dependence", "crossing_state", "crossings_table"]


def combine_seasons(by_season: dict[str, gpd.GeoDataFrame], gap_min: float) -> gpd.GeoDataFrame:
    """One row per settlement: its anchor time in each season, worst and best season,
    `all_season_access` (within `gap_min` in every season) and `season_dependent` (served in
    some season but not all). Unreachable counts as the worst possible time."""
    names = list(by_season)
    first = by_season[names[0]]
    key = ["osm_type", "osm_id"]
    out = first[[*key, "name", "population", "district", "is_anchor", "geometry"]].copy()
    times = []
    for season, frame in by_season.items():
        t = out[key].merge(frame[[*key, "anchor_time_min"]], on=key, how="left")["anchor_time_min"]
        out[f"anchor_time_{season}_min"] = t.to_numpy()
        times.append(t.to_numpy(dtype=float))
    table = np.column_stack(times)
    worst_key = np.where(np.isnan(table), np.inf, table)
    worst = np.argmax(worst_key, axis=1)
    best = np.argmin(worst_key, axis=1)
    rows = np.arange(len(out))
    out["worst_season"] = np.asarray(names, dtype=object)[worst]
    out["worst_time_min"] = table[rows, worst]
    out["best_season"] = np.asarray(names, dtype=object)[best]
    out["best_time_min"] = table[rows, best]
    served = table <= gap_min
    out["seasons_served"] = [
        ", ".join(n for n, ok in zip(names, r, strict=True) if ok) for r in served
    ]
    out["all_season_access"] = served.all(axis=1)
    out["season_dependent"] = served.any(axis=1) & ~served.all(axis=1)
    columns = [c for c in out.columns if c != "geometry"] + ["geometry"]
    return gpd.GeoDataFrame(out[columns], geometry="geometry", crs=first.crs)


def crossing_state(base: RoadGraph, season_graphs: dict[str, RoadGraph]) -> pd.DataFrame:
    """Crossing ways (ferries, winter roads, ice crossings) of the graph and whether each is
    open in each season (open: some edge of the way survives that season's rules)."""
    flags = base.flags()
    crossing = (flags & (FLAG_FERRY | FLAG_WINTER)) != 0
    ways = np.unique(base.edge_way[crossing])
    state = pd.DataFrame({"osm_id": ways})
    way_flags = pd.Series(flags[crossing]).groupby(base.edge_way[crossing]).max()
    state["kind"] = np.where(
        (way_flags.reindex(ways).to_numpy() & FLAG_FERRY) != 0, "ferry", "winter_road"
    )
    for season, graph in season_graphs.items():
        state[f"open_{season}"] = np.isin(ways, graph.edge_way)
    return state


def crossing_dependence(
    graph: RoadGraph,
    crossings: np.ndarray,
    used_ways: np.ndarray,
    settlement_times,
    base_time_min: np.ndarray,
    gap_min: float,
) -> dict[int, np.ndarray]:
    """For each crossing way open in `graph`, the settlements that lose access without it.

    `settlement_times(graph) -> minutes per settlement` reruns the model on a graph. Only
    crossings on somebody's fastest path (`used_ways`) can matter, so only those are rerun:
    one run per used crossing, a handful in a region.
    """
    served = base_time_min <= gap_min
    lost: dict[int, np.ndarray] = {}
    for way in crossings:
        if way not in used_ways:
            lost[int(way)] = np.zeros(len(base_time_min), dtype=bool)
            continue
        without = settlement_times(graph.select(graph.edge_way != way))
        lost[int(way)] = served & ~(without <= gap_min)
    return lost


def crossings_table(
    state: pd.DataFrame,
    lost_by_season: dict[str, dict[int, np.ndarray]],
    settlements: pd.DataFrame,
    roads: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    """The crossings layer: geometry from the extract's roads, the seasonal state, and per season
    the settlements and people who lose access when the crossing is closed."""
    pop = settlements["population"].astype("Float64").fillna(0).to_numpy(dtype=float)
    names = settlements["name"].astype(str).to_numpy()
    out = state.copy()
    for season, lost in lost_by_season.items():
        masks = [lost.get(int(w), np.zeros(len(pop), dtype=bool)) for w in out["osm_id"]]
        out[f"settlements_lost_{season}"] = [int(m.sum()) for m in masks]
        out[f"population_lost_{season}"] = [int(pop[m].sum()) for m in masks]
        out[f"who_{season}"] = [", ".join(names[m][:20]) for m in masks]
    lost_cols = [c for c in out.columns if c.startswith("population_lost_")]
    out["population_depending"] = out[lost_cols].max(axis=1) if lost_cols else 0
    geometry = roads.set_index("osm_id").geometry.reindex(out["osm_id"]).to_numpy()
    names_col = roads.set_index("osm_id")["name"].reindex(out["osm_id"]).to_numpy()
    out.insert(1, "name", names_col)
    return (
        gpd.GeoDataFrame(out, geometry=geometry, crs=roads.crs)
        .sort_values("osm_id")
        .reset_index(drop=True)
    )
