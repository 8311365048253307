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

from pipeline.access.catchments import _in_region
from pipeline.access.travel_model import travel_model
from pipeline.config import RegionConfig
from pipeline.network.graph import FLAG_FERRY, FLAG_WINTER, RoadGraph, apply_season
from pipeline.people import population_or_zero

__all__ = [
    "anchor_minutes",
    "combine_seasons",
    "crossing_dependence",
    "crossing_state",
    "crossings_table",
    "season_crossings",
    "seasons_figures",
    "used_ways",
]


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
    pop = population_or_zero(settlements["population"])
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


def anchor_minutes(cfg: RegionConfig, graph: RoadGraph, places, anchor_pos: np.ndarray):
    """Minutes from each settlement of the region to its nearest anchor on `graph` (NaN:
    unreachable), with the field and the trips (for the ways they use)."""
    model = travel_model(cfg, graph)
    xy = np.column_stack([places.geometry.x, places.geometry.y])
    field = model.field(xy[anchor_pos])
    [trips] = model.trips(xy[_in_region(places)], [field])
    minutes = np.where(np.isfinite(trips.time_s), trips.time_s / 60.0, np.nan)
    return minutes, field, trips


def used_ways(graph: RoadGraph, field, trips) -> np.ndarray:
    """OSM ways on the settlements' fastest trips to their anchors: the segment each joins, the
    shortest-path tree from there on, and the stretch into the anchor."""
    n, next_node = graph.n_nodes, field.next_node
    frontier = np.unique(trips.exit_node[trips.exit_node >= 0])
    seen = np.zeros(n, dtype=bool)
    while len(frontier):  # one step along every path at once
        seen[frontier] = True
        step = next_node[frontier]
        step = step[(step >= 0) & (step < n)]
        frontier = np.unique(step[~seen[step]])
    on_path = seen[graph.edge_u] & (next_node[graph.edge_u] == graph.edge_v)
    last = np.flatnonzero(seen & (next_node >= n))  # nodes whose next step enters an anchor
    entry_key = field.entry_node * (field.n_sources + 1) + field.entry_source
    wanted = last * (field.n_sources + 1) + (next_node[last] - n)
    into_anchor = field.entry_way[np.isin(entry_key, wanted)]
    joined = trips.depart_way[trips.depart_way >= 0]
    return np.unique(np.concatenate([graph.edge_way[on_path], into_anchor, joined]))


def season_crossings(
    cfg: RegionConfig,
    graph: RoadGraph,
    places: gpd.GeoDataFrame,
    anchor_pos: np.ndarray,
    roads: gpd.GeoDataFrame,
) -> tuple[gpd.GeoDataFrame, dict[tuple, list[str]]]:
    """Every crossing of the region and, per settlement (by ``(osm_type, osm_id)``), the names
    of the crossings whose closure in a season it would be open cuts that settlement off.

    `graph` is the network stage's graph (every season is applied to it here), `places` the
    projected settlements, `anchor_pos` their anchors, `roads` the extract's roads projected.
    """
    gap = cfg.thresholds.gap_min
    graphs = {
        s: apply_season(graph, rules, cfg.ferry_months, cfg.network.ferry_wait_min)
        for s, rules in cfg.seasons.items()
    }
    state = crossing_state(graph, graphs)
    lost_by_season = {}
    for season, season_graph in graphs.items():
        base, field, trips = anchor_minutes(cfg, season_graph, places, anchor_pos)
        used = used_ways(season_graph, field, trips)
        open_here = state.loc[state[f"open_{season}"], "osm_id"].to_numpy()
        lost_by_season[season] = crossing_dependence(
            season_graph,
            open_here,
            used,
            lambda g: anchor_minutes(cfg, g, places, anchor_pos)[0],
            base,
            gap,
        )
    settlements = places[_in_region(places)].reset_index(drop=True)
    crossings = crossings_table(state, lost_by_season, settlements, roads)
    keys = list(zip(settlements["osm_type"], settlements["osm_id"], strict=True))
    lost_names: dict[tuple, list[str]] = {}
    for row in crossings.itertuples():  # crossings are few
        label = row.name if isinstance(row.name, str) else f"{row.kind} {row.osm_id}"
        for lost in lost_by_season.values():
            for i in np.flatnonzero(lost.get(int(row.osm_id), [])):
                lost_names.setdefault(keys[i], [])
                if label not in lost_names[keys[i]]:
                    lost_names[keys[i]].append(label)
    return crossings, lost_names


def seasons_figures(cfg: RegionConfig, per_season, combined, crossings) -> dict:
    """seasons.json: each season's served and unreachable counts, all-season access, the
    season-dependent settlements (most people first) and the crossings."""
    gap = cfg.thresholds.gap_min
    pop = combined["population"].astype("Float64").fillna(0)
    seasons = {}
    for season, frame in per_season.items():
        t = frame["anchor_time_min"]
        p = frame["population"].astype("Float64").fillna(0)
        seasons[season] = {
            "dates": f"{cfg.seasons[season].start}..{cfg.seasons[season].end}",
            "settlements_served": int((t <= gap).sum()),
            "population_served": int(p[t <= gap].sum()),
            "settlements_unreachable": int(t.isna().sum()),
        }
    dependent = combined[combined["season_dependent"]].copy()
    dependent["_pop"] = pop[combined["season_dependent"]]
    dependent = dependent.sort_values("_pop", ascending=False, kind="stable")
    table = [
        {
            "name": r.name,
            "district": r.district,
            "population": None if pd.isna(r.population) else int(r.population),
            "seasons_served": r.seasons_served,
            "worst_season": r.worst_season,
            "worst_time_min": None
            if pd.isna(r.worst_time_min)
            else round(float(r.worst_time_min), 1),
            "crossings": r.crossings,
        }
        for r in dependent.itertuples()
    ]
    return {
        "region": cfg.name,
        "gap_threshold_min": gap,
        "seasons": seasons,
        "all_season_access": {
            "settlements": int(combined["all_season_access"].sum()),
            "population": int(pop[combined["all_season_access"]].sum()),
        },
        "season_dependent": {
            "settlements": len(table),
            "population": int(dependent["_pop"].sum()),
            "table": table,
        },
        "crossings": []
        if crossings is None
        else crossings.drop(columns="geometry").replace({np.nan: None}).to_dict(orient="records"),
    }
