"""The pipeline against the usual way (:mod:`bench.baseline`): what must agree, and what differs.

1. :func:`node_agreement` — road node times to the nearest anchor, with every anchor on its
   nearest road node in both: the pipeline's field (``RoadAccess.field``) against the
   baseline's networkx Dijkstra per anchor. Both compute the same model there (drive only, the
   same edge times), so they must agree within 1 s.
2. :func:`settlement_differences` — settlement times of the usual way (nearest node + walk)
   against the pipeline's exact rule (nearest point of any segment), reported, not asserted.

See the docstring of :mod:`bench.baseline` for how each side is built.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["node_agreement", "settlement_differences"]

TOLERANCE_S = 1.0
NO_WALK_M = 1e-3  # the walk limit of the node comparison: a source on a node, nothing walked to


def _coord_key(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    from pipeline.network.graph import _coord_key

    return _coord_key(np.column_stack([lon, lat]))


def _season_graph(cfg, network_npz: Path):
    """The road graph as the catchments stage routes on it (the default season)."""
    from pipeline.network.graph import RoadGraph, apply_season

    with np.load(network_npz, allow_pickle=False) as data:
        graph = RoadGraph.from_npz(data)
    _, rules = cfg.season(None)
    return apply_season(graph, rules, cfg.ferry_months, cfg.network.ferry_wait_min)


def node_agreement(cfg, root: Path, baseline_dir: Path) -> dict:
    """Per road node: the pipeline's field time against the baseline's, anchors on nodes.

    `root` is the run's PIPELINE_ROOT (``bench/out/<size>``), `baseline_dir` the baseline's
    output folder (``baseline.json``, ``node_times.npz``).
    """
    from pipeline._io import region_paths

    paths = region_paths(cfg, root)
    from scipy.spatial import cKDTree

    from pipeline.access.walk_and_drive import RoadAccess, Walk
    from pipeline.network.graph import FLAG_FERRY
    from pipeline.units import kph_to_mps

    report = json.loads((baseline_dir / "baseline.json").read_text(encoding="utf-8"))
    anchors = report["anchor_nodes"]
    with np.load(baseline_dir / "node_times.npz") as data:
        base = {k: data[k] for k in data.files}
    graph = _season_graph(cfg, paths.network)
    net = cfg.network
    walk_mps = float(kph_to_mps(net.offroad_speed_kph))

    # Our road nodes by OSM vertex; the pipeline's own ferry nodes (one per ferry vertex, at
    # the place of a road node) are not road nodes.
    on_ferry = (graph.flags() & FLAG_FERRY) != 0
    ferry_nodes = np.unique(np.concatenate([graph.edge_u[on_ferry], graph.edge_v[on_ferry]]))
    road = np.ones(graph.n_nodes, dtype=bool)
    road[ferry_nodes] = False
    ours_key = _coord_key(graph.node_lonlat[:, 0], graph.node_lonlat[:, 1])
    road_idx = np.flatnonzero(road)
    lookup = pd.Series(road_idx, index=ours_key[road_idx])
    lookup = lookup[~lookup.index.duplicated(keep="first")]

    # Each anchor on its node: the baseline's nearest graph node, and ours found independently
    # (the nearest end of a joinable segment to the anchor's place).
    model = RoadAccess(graph, Walk(walk_mps, NO_WALK_M))
    segs = model.segments
    joinable = np.unique(np.concatenate([segs.a, segs.b]))
    places_xy = _anchor_place_xy(paths.osm_gpkg, anchors["place_osm_id"], graph.crs_wkt)
    _, near = cKDTree(graph.node_xy[joinable]).query(places_xy, k=1)
    ours_anchor = joinable[near]
    base_anchor = lookup.reindex(
        _coord_key(np.asarray(anchors["node_lon"]), np.asarray(anchors["node_lat"]))
    ).to_numpy()
    same_snap = np.array(
        [np.isfinite(b) and int(b) == int(o) for b, o in zip(base_anchor, ours_anchor, strict=True)]
    )
    # The comparison puts each source on the baseline's node (the same vertex where they agree).
    source_node = np.where(np.isfinite(base_anchor), base_anchor, ours_anchor).astype(np.int64)
    field = model.field(graph.node_xy[source_node])

    base_key = _coord_key(base["lon"], base["lat"])
    pos = lookup.reindex(base_key).to_numpy()
    matched = np.isfinite(pos)
    at_ferry_node = np.isin(base_key[~matched], ours_key[ferry_nodes])
    degree = np.bincount(np.concatenate([graph.edge_u, graph.edge_v]), minlength=graph.n_nodes)
    ours_only = road & ~np.isin(ours_key, base_key)
    ours_i = pos[matched].astype(np.int64)
    t_ours = field.node_time_s[ours_i]
    t_base = base["time_s"][matched]
    a_ours = field.node_source[ours_i]
    a_base = base["anchor"][matched]
    r_ours, r_base = np.isfinite(t_ours), np.isfinite(t_base)
    both = r_ours & r_base
    diff = np.abs(t_ours[both] - t_base[both])
    # A different nearest anchor is a disagreement only where it is not a tie.
    other_anchor = (a_ours[both] != a_base[both]) & (diff > TOLERANCE_S)
    within = diff <= TOLERANCE_S
    out = {
        "anchors": len(source_node),
        "anchors_same_node_in_both": int(same_snap.sum()),
        "anchor_nodes (OSM ids)": anchors["node_osm_id"],
        "baseline_nodes": len(t_base) + int((~matched).sum()),
        "baseline_nodes_not_our_road_nodes": int((~matched).sum()),
        "of which at our ferry nodes (ferry vertices)": int(at_ferry_node.sum()),
        "our_road_nodes": int(road.sum()),
        "our_road_nodes_not_in_baseline": int(ours_only.sum()),
        "of which with an edge in the season": int((degree[ours_only] > 0).sum()),
        "compared": int(matched.sum()),
        "reachable_both": int(both.sum()),
        "unreachable_both": int((~r_ours & ~r_base).sum()),
        "reachability_differs": int((r_ours != r_base).sum()),
        "nearest_anchor_differs": int(other_anchor.sum()),
        "max_time_diff_s": float(diff.max()) if len(diff) else 0.0,
        "mean_time_diff_s": float(diff.mean()) if len(diff) else 0.0,
        "within_1s": int(within.sum()),
        "share_within_1s": float(within.mean()) if len(diff) else 1.0,
    }
    out["identical"] = bool(
        out["reachability_differs"] == 0
        and out["nearest_anchor_differs"] == 0
        and out["within_1s"] == out["reachable_both"]
        and out["anchors_same_node_in_both"] == out["anchors"]
    )
    # The same sources with the region's walk: nodes sooner at an anchor by walking from
    # another road than by driving to the anchor's node (what the networkx side cannot do).
    walked = RoadAccess(graph, Walk(walk_mps, float(net.snap_max_m)))
    walked.__dict__["segments"] = segs  # the segments do not depend on the walk
    t_walk = walked.field(graph.node_xy[source_node]).node_time_s[ours_i]
    gain = np.where(np.isfinite(t_ours), t_ours, np.inf) - t_walk
    sooner = np.isfinite(t_walk) & (gain > TOLERANCE_S)
    out["with_region_walk"] = {
        "snap_max_m": float(net.snap_max_m),
        "nodes_sooner_over_1s": int(sooner.sum()),
        "largest_gain_s": float(np.nanmax(np.where(sooner, gain, 0.0))) if len(gain) else 0.0,
        "nodes_reached_only_by_walking": int((np.isfinite(t_walk) & ~np.isfinite(t_ours)).sum()),
    }
    return _rounded(out)


def _anchor_place_xy(osm_gpkg: Path, place_osm_ids, crs_wkt: str) -> np.ndarray:
    """Projected positions of the anchors' places, read from the extract's places layer."""
    import geopandas as gpd
    from pyproj import CRS

    places = gpd.read_file(osm_gpkg, layer="places")
    places = places[places["osm_type"] == "node"].set_index("osm_id")
    pts = places.loc[list(place_osm_ids)].geometry.to_crs(CRS.from_wkt(crs_wkt))
    return np.column_stack([pts.x, pts.y])


def settlement_differences(ours_gpkg: Path, theirs_csv: Path) -> dict:
    """The usual way's settlement times against the pipeline's exact rule (seconds)."""
    import geopandas as gpd

    ours = gpd.read_file(ours_gpkg, layer="settlements", ignore_geometry=True)
    ours = ours[ours["osm_type"] == "node"].set_index("osm_id")
    theirs = pd.read_csv(theirs_csv).set_index("osm_id")
    both = ours.join(theirs, how="inner", rsuffix="_baseline")
    t_ours = both["anchor_time_min"].to_numpy(dtype=float) * 60.0
    t_base = both["anchor_time_s"].to_numpy(dtype=float)
    r_ours, r_base = np.isfinite(t_ours), np.isfinite(t_base)
    ok = r_ours & r_base
    delta = t_base[ok] - t_ours[ok]  # usual way − ours: > 0 where the usual way is slower
    no_time = r_ours & ~r_base
    no_road = both["no_road_baseline"].astype(bool).to_numpy()
    unreached = both["node_unreached"].astype(bool).to_numpy()
    anchor_same = both["anchor_name"].to_numpy()[ok] == both["anchor_name_baseline"].to_numpy()[ok]
    longer = delta > TOLERANCE_S
    walk_ours = both["road_distance_m"].to_numpy(dtype=float)
    walk_base = both["walk_m"].to_numpy(dtype=float)

    def q(values, p):
        return float(np.percentile(values, p)) if len(values) else 0.0

    worst = np.argsort(-delta)[:5]
    names = both["name"].to_numpy(dtype=object)[ok]
    return _rounded(
        {
            "settlements_ours": len(ours),
            "settlements_baseline": len(theirs),
            "compared": len(both),
            "reachable_both": int(ok.sum()),
            "unreachable_both": int((~r_ours & ~r_base).sum()),
            "usual_way_no_time": int(no_time.sum()),
            "usual_way_no_time (no node within snap_max_m)": int((no_time & no_road).sum()),
            "usual_way_no_time (nearest node reaches no anchor)": int((no_time & unreached).sum()),
            "ours_no_time_usual_way_has": int((~r_ours & r_base).sum()),
            "usual_way_longer_over_1s": int(longer.sum()),
            "usual_way_shorter_over_1s": int((delta < -TOLERANCE_S).sum()),
            "anchor_differs": int((~anchor_same).sum()),
            "difference_s (usual way - ours)": {
                "median": q(delta, 50),
                "p90": q(delta, 90),
                "max": float(delta.max()) if len(delta) else 0.0,
                "min": float(delta.min()) if len(delta) else 0.0,
                "median_of_longer": q(delta[longer], 50),
            },
            "walk_to_road_m (median: ours to nearest segment point, usual way to nearest node)": [
                q(walk_ours[np.isfinite(walk_ours)], 50),
                q(walk_base[np.isfinite(walk_base)], 50),
            ],
            "usual_way_unreachable (all)": int((~r_base).sum()),
            "of which no node within snap_max_m": int((~r_base & no_road).sum()),
            "of which nearest node reaches no anchor": int((~r_base & unreached).sum()),
            "largest": [
                {
                    "name": str(names[i]),
                    "ours_min": t_ours[ok][i] / 60,
                    "usual_min": t_base[ok][i] / 60,
                    "ours_road_m": walk_ours[ok][i],
                    "usual_node_m": walk_base[ok][i],
                }
                for i in worst
                if delta[i] > TOLERANCE_S
            ],
        }
    )


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float | np.floating):
        return round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value
