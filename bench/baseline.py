"""The usual way, as the benchmark's baseline: osmnx graph, nearest nodes, networkx per anchor.

What a planner does without this tool: load the road network into an osmnx graph, give edges
speeds with ``ox.add_edge_speeds``/``ox.add_edge_travel_times``, snap every anchor and every
settlement to its nearest graph node, run one networkx Dijkstra per anchor from its node
(``nx.single_source_dijkstra_path_length`` on the reversed graph: times *to* the anchor), take
each settlement's best anchor, and draw isochrones and catchments by buffering the edges
reached within each limit.

The graph and its edge times are the pipeline's (the same arithmetic done the slow way):

* the same roads: only what ``pipeline.network.driveable`` keeps (road classes of the speed
  profile, ferries), less the winter and ice roads that the default season (summer) closes,
  written as .osm XML with pyosmium (osmnx cannot read PBF); the conversion stands in for the
  download and is timed apart;
* ``simplify=False`` (every road vertex stays a node, so node times can be compared one by one
  and a point can snap to any vertex) and ``retain_all=True`` (keep disconnected fragments);
* edge lengths recomputed on the WGS84 ellipsoid (pyproj.Geod), as the pipeline does; osmnx's
  great-circle lengths on a sphere differ by up to ~0.5 %, several seconds per hour of driving;
* speeds: ``ox.add_edge_speeds(hwy_speeds=<the region's class speeds>)``, as usual; osmnx
  then takes a tagged maxspeed *instead of* the class speed and knows no surface, tracktype or
  smoothness, so each edge's speed is replaced by the pipeline's speed of its way
  (``pipeline.network.edge_speeds_kph`` on the way's tags, which osmnx keeps on the edge:
  the lower of class speed and maxspeed, times the surface/tracktype/smoothness factor);
* ferries: the tagged duration (or length at ferry speed) shared by length, plus the wait once
  per ferry way (the synthetic regions draw each crossing as one ferry way, so that is the
  pipeline's wait once per crossing).

Where the two *differ* is the walk to the road, and that is the point of the pipeline's rule:

* **the usual way** (this module): a settlement walks straight to its nearest graph node
  (``cKDTree`` on the projected nodes, what ``ox.distance.nearest_nodes`` does on a projected
  graph) and drives from there; an anchor is its nearest node, plus its own walk to that node.
  A walk longer than ``network.snap_max_m`` (the pipeline's limit) counts as no road; a nearest
  node in a fragment that reaches no anchor leaves the settlement without a time, even where
  another road would serve it;
* **the pipeline**: a point walks to the nearest *point of any segment* within
  ``snap_max_m`` (at the best angle where driving is faster than walking), and so does each
  anchor; see ``pipeline/access.py``.

So the benchmark's agreement check (``bench/agreement.py``, from ``bench/run.py``) compares
what the two compute identically, and only reports the rest:

1. **Road node times, asserted equal within 1 s.** Each anchor is snapped to its nearest
   graph node here, and independently to its nearest road node (an end of a joinable segment)
   of the pipeline's graph there; the two must be the same OSM vertex. The pipeline then builds
   its field (``RoadAccess.field``: entry edges, one multi-source Dijkstra) with the sources
   placed *exactly* on those nodes and the walk limited to 1 mm (so no source is reached by
   walking from another road: the networkx side has no walking at all). Per road node matched
   by its coordinates (1e-7°; the pipeline's own ferry nodes are left out), the least over
   anchors of this module's Dijkstra times (``node_times.npz``, without the anchors' walk)
   against the field's ``node_time_s``: reachability, nearest anchor, max difference and the
   share within 1 s. The field with the region's real walk limit is also reported: how many
   nodes are sooner at an anchor by walking the last stretch from another road.
2. **Settlement times, reported.** This module's answer (nearest node + walk at both ends)
   against the pipeline's exact rule (``anchor_time_min`` of the catchments GeoPackage):
   median, 90th percentile and largest difference, settlements the usual way gives a longer
   time (> 1 s) or none (no node within the limit; nearest node reaching no anchor), and any
   the usual way gives a shorter time (the rule considers every node, so only a nearest node
   on a non-joinable road — a ferry or motorway — can do that).

Usage::

    python -m bench.baseline --config bench/out/district/synth-district.toml --out DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

T0 = time.perf_counter()

import geopandas as gpd  # noqa: E402  (imports are part of the timed run)
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import osmium  # noqa: E402
import osmnx as ox  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
from pyproj import CRS, Geod, Transformer  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from pipeline.config import load_region  # noqa: E402
from pipeline.inputs.osm import ROAD_TAGS  # noqa: E402
from pipeline.network.graph import driveable, edge_speeds_kph, parse_duration_s  # noqa: E402

__all__ = ["convert_to_xml", "run_baseline"]

_GEOD = Geod(ellps="WGS84")
ISOCHRONE_BUFFER_M = 100.0  # half-width of the band drawn around each reached edge


def convert_to_xml(pbf: Path, roads_xml: Path, places_xml: Path, net) -> dict:
    """Write the driveable roads (with their nodes) and the named places as .osm XML."""
    keep: list[int] = []
    need: set[int] = set()
    rows = []
    for way in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
        rows.append({k: way.tags.get(k) for k in ROAD_TAGS} | {"id": way.id})
        rows[-1]["ferry"] = way.tags.get("route") == "ferry"
    table = pd.DataFrame(rows, columns=["id", *ROAD_TAGS, "ferry"])
    # The default season (summer) closes winter roads and ice crossings; ferries run.
    winter = table["winter_road"].eq("yes") | table["ice_road"].eq("yes")
    ok = driveable(table, net) & ~winter.to_numpy()
    keep_ids = set(table.loc[ok, "id"].tolist())
    for p in (roads_xml, places_xml):
        p.unlink(missing_ok=True)
    roads = osmium.SimpleWriter(str(roads_xml))
    places = osmium.SimpleWriter(str(places_xml))
    try:
        ways = []
        for way in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
            if way.id in keep_ids:
                refs = [n.ref for n in way.nodes]
                need.update(refs)
                ways.append(osmium.osm.mutable.Way(id=way.id, nodes=refs, tags=dict(way.tags)))
                keep.append(way.id)
        for node in osmium.FileProcessor(str(pbf), osmium.osm.NODE):
            if node.id in need:
                roads.add_node(osmium.osm.mutable.Node(id=node.id, location=node.location))
            elif "place" in node.tags and "name" in node.tags:
                places.add_node(node)
        for way in ways:
            roads.add_way(way)
    finally:
        roads.close()
        places.close()
    return {"ways": len(keep), "nodes": len(need)}


def _edge_table(graph) -> tuple[list, np.ndarray, np.ndarray]:
    edges = list(graph.edges(keys=True, data=True))
    u = (
        np.array([graph.nodes[a]["x"] for a, _, _, _ in edges]),
        np.array([graph.nodes[a]["y"] for a, _, _, _ in edges]),
    )
    v = (
        np.array([graph.nodes[b]["x"] for _, b, _, _ in edges]),
        np.array([graph.nodes[b]["y"] for _, b, _, _ in edges]),
    )
    return edges, np.column_stack(u), np.column_stack(v)


def _speeds_and_times(graph, cfg) -> None:
    """osmnx speeds and travel times, corrected to the pipeline's model (see module doc)."""
    net = cfg.network
    speeds = net.speed_table()
    edges, a, b = _edge_table(graph)
    _, _, length = _GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    for (_, _, _, d), metres in zip(edges, np.abs(length), strict=True):
        d["length"] = float(metres)
        if d.get("route") == "ferry" and "highway" not in d:
            d["highway"] = "ferry"
    ox.add_edge_speeds(graph, hwy_speeds={**speeds, "ferry": net.ferry_speed_kph})
    # The pipeline's speed of each way, from the tags osmnx kept on its edges.
    ways = pd.DataFrame(
        [{k: d.get(k) for k in ROAD_TAGS} | {"osmid": d["osmid"]} for _, _, _, d in edges],
        columns=["osmid", *ROAD_TAGS],
    ).drop_duplicates("osmid")
    ways = ways.astype({k: object for k in ROAD_TAGS}).where(ways.notna(), None)
    kph = dict(zip(ways["osmid"], edge_speeds_kph(ways, net), strict=True))
    for _, _, _, d in edges:
        if d["highway"] != "ferry":
            d["speed_kph"] = kph[d["osmid"]]
    ox.add_edge_travel_times(graph)
    _ferry_times(graph, edges, net)
    for _, _, _, d in edges:
        d["travel_time"] = max(d["travel_time"], 1e-3)


def _ferry_times(graph, edges, net) -> None:
    by_way: dict[int, list[dict]] = {}
    for _, _, _, d in edges:
        if d.get("route") == "ferry":
            by_way.setdefault(d["osmid"], []).append(d)
    for parts in by_way.values():
        # each direction of a two-way ferry holds every segment once
        way_m = sum(d["length"] for d in parts) / (2 if not parts[0].get("oneway") else 1)
        tagged = parse_duration_s(pd.Series([parts[0].get("duration")]))[0]
        total = tagged if np.isfinite(tagged) else way_m / (net.ferry_speed_kph / 3.6)
        total += net.ferry_wait_min * 60.0
        for d in parts:
            d["travel_time"] = total * d["length"] / max(way_m, 1e-9)


def _anchor_positions(places: gpd.GeoDataFrame, names: list[str]) -> list[int]:
    """Rows of the named places, preferring cities and towns (as the pipeline does)."""
    rank = places["place"].map({"city": 0, "town": 1}).fillna(9)
    out = []
    for name in names:
        hit = places.index[places["name"] == name]
        out.append(int(hit[np.argmin(rank[hit].to_numpy())]))
    return out


def run_baseline(config: Path, out_dir: Path) -> dict:
    """Run the usual way on a region file's extract; write answers and timings to `out_dir`."""
    timings: dict[str, float] = {"imports_s": time.perf_counter() - T0}
    cfg = load_region(config=config)
    net = cfg.network
    crs = CRS.from_user_input(cfg.crs)
    out_dir.mkdir(parents=True, exist_ok=True)
    roads_xml, places_xml = out_dir / "roads.osm", out_dir / "places.osm"

    t = time.perf_counter()
    converted = convert_to_xml(cfg.resolve(cfg.source.local_pbf), roads_xml, places_xml, net)
    timings["convert_to_xml_s (not counted)"] = time.perf_counter() - t

    t = time.perf_counter()
    ox.settings.useful_tags_way = list(
        dict.fromkeys([*ox.settings.useful_tags_way, *ROAD_TAGS, "route"])
    )
    graph = ox.graph_from_xml(roads_xml, simplify=False, retain_all=True)
    places = ox.features_from_xml(places_xml, tags={"place": True}).reset_index()
    places = places[places["name"].notna() & places["place"].isin(cfg.settlement_places)]
    places = places.sort_values("id").reset_index(drop=True)
    timings["load_graph_s"] = time.perf_counter() - t

    t = time.perf_counter()
    _speeds_and_times(graph, cfg)
    timings["edge_speeds_s"] = time.perf_counter() - t

    catch_started = time.perf_counter()
    result = _route(graph, places, cfg, crs, timings)
    timings["catchment_step_s"] = time.perf_counter() - catch_started

    t = time.perf_counter()
    result["settlements"].to_file(out_dir / "baseline.gpkg", layer="settlements", driver="GPKG")
    result["isochrones"].to_file(out_dir / "baseline.gpkg", layer="isochrones", driver="GPKG")
    result["catchments"].to_file(out_dir / "baseline.gpkg", layer="catchments", driver="GPKG")
    result["settlements"].drop(columns="geometry").to_csv(out_dir / "settlements.csv", index=False)
    timings["write_s"] = time.perf_counter() - t
    t = time.perf_counter()
    np.savez(out_dir / "node_times.npz", **result["node_times"])
    timings["node_times_for_agreement_s (not counted)"] = time.perf_counter() - t
    not_counted = sum(v for k, v in timings.items() if k.endswith("(not counted)"))
    timings["total_s (process, without convert)"] = time.perf_counter() - T0 - not_counted
    report = {
        "graph_nodes": graph.number_of_nodes(),
        "graph_edges": graph.number_of_edges(),
        "anchors": int(result["n_anchors"]),
        "anchor_nodes": result["anchor_nodes"],
        "converted": converted,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    (out_dir / "baseline.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _route(graph, places: gpd.GeoDataFrame, cfg, crs: CRS, timings: dict) -> dict:
    net = cfg.network
    t = time.perf_counter()
    node_ids = np.array(list(graph.nodes), dtype=np.int64)
    to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lon = np.array([graph.nodes[n]["x"] for n in node_ids])
    lat = np.array([graph.nodes[n]["y"] for n in node_ids])
    node_xy = np.column_stack(to_xy.transform(lon, lat))
    places = places.to_crs(crs)
    xy = np.column_stack([places.geometry.x, places.geometry.y])
    anchor_names = list(dict.fromkeys([*cfg.anchors.names, *cfg.cores.names]))
    anchors = _anchor_positions(places, anchor_names)
    walk_mps = net.offroad_speed_kph / 3.6
    # Every point to its nearest node (ox.distance.nearest_nodes on a projected graph).
    snap_m, snap = cKDTree(node_xy).query(xy, k=1, workers=-1)
    anchor_node, anchor_walk_s = snap[anchors], snap_m[anchors] / walk_mps
    timings["snap_s"] = time.perf_counter() - t

    # One Dijkstra per anchor on the reversed graph, from its node: time from every node *to* it.
    t = time.perf_counter()
    rev = graph.reverse(copy=True)
    times = np.full((len(anchors), len(node_ids)), np.inf)
    position = {n: i for i, n in enumerate(node_ids.tolist())}
    for a, node in enumerate(anchor_node):
        reached = nx.single_source_dijkstra_path_length(
            rev, int(node_ids[node]), weight="travel_time"
        )
        cols = np.fromiter((position[n] for n in reached), dtype=np.int64, count=len(reached))
        times[a, cols] = np.fromiter(reached.values(), dtype=float, count=len(reached))
    timings["dijkstra_per_anchor_s"] = time.perf_counter() - t

    t = time.perf_counter()
    # The anchor's own walk to its node counts too (the pipeline walks at both ends).
    with_walk = times + anchor_walk_s[:, None]
    best = with_walk.min(axis=0)
    best_anchor = np.where(np.isfinite(best), with_walk.argmin(axis=0), -1)
    near_road = snap_m <= net.snap_max_m
    time_s = np.where(near_road, best[snap] + snap_m / walk_mps, np.inf)
    winner = np.where(np.isfinite(time_s), best_anchor[snap], -1)
    time_s[anchors] = 0.0
    winner[anchors] = np.arange(len(anchors))
    names = np.array(anchor_names, dtype=object)
    settlements = gpd.GeoDataFrame(
        {
            "osm_id": places["id"].to_numpy(),
            "name": places["name"].to_numpy(),
            "anchor_name": np.where(winner >= 0, names[np.maximum(winner, 0)], None),
            "anchor_time_s": np.where(np.isfinite(time_s), time_s, np.nan),
            "node_osm_id": node_ids[snap],
            "walk_m": snap_m,
            "no_road": ~near_road,
            "node_unreached": near_road & ~np.isfinite(best[snap]),
        },
        geometry=places.geometry.values,
        crs=crs,
    )
    settlements.loc[anchors, ["no_road", "node_unreached"]] = False
    timings["assign_settlements_s"] = time.perf_counter() - t

    t = time.perf_counter()
    # Each road segment once (a two-way street is two directed edges in the graph).
    edges = np.array([(position[u], position[v]) for u, v in graph.edges()], dtype=np.int64)
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    lines = shapely.linestrings(np.stack([node_xy[edges[:, 0]], node_xy[edges[:, 1]]], axis=1))
    edge_time = np.maximum(best[edges[:, 0]], best[edges[:, 1]])
    iso = []
    for limit in cfg.thresholds.bands_min:
        sel = edge_time <= limit * 60.0
        iso.append(shapely.union_all(shapely.buffer(lines[sel], ISOCHRONE_BUFFER_M)))
    isochrones = gpd.GeoDataFrame({"to_min": cfg.thresholds.bands_min}, geometry=iso, crs=crs)
    timings["isochrones_buffer_s"] = time.perf_counter() - t
    t = time.perf_counter()
    owner = np.where(
        best_anchor[edges[:, 0]] == best_anchor[edges[:, 1]], best_anchor[edges[:, 0]], -1
    )
    polys = [
        shapely.union_all(shapely.buffer(lines[owner == a], ISOCHRONE_BUFFER_M))
        for a in range(len(anchors))
    ]
    catchments = gpd.GeoDataFrame({"anchor_name": anchor_names}, geometry=polys, crs=crs)
    timings["catchments_buffer_s"] = time.perf_counter() - t
    # For the agreement check (not the usual way's work): every node's time to the nearest
    # anchor *node*, without the anchors' walk (bench/agreement.py compares it per node).
    node_times = {
        "node_osm_id": node_ids,
        "lon": lon,
        "lat": lat,
        "time_s": times.min(axis=0),
        "anchor": np.where(np.isfinite(times.min(axis=0)), times.argmin(axis=0), -1),
    }
    anchor_table = {
        "name": anchor_names,
        "place_osm_id": places["id"].to_numpy()[anchors].tolist(),
        "node_osm_id": node_ids[anchor_node].tolist(),
        "node_lon": lon[anchor_node].tolist(),
        "node_lat": lat[anchor_node].tolist(),
        "walk_m": np.round(snap_m[anchors], 3).tolist(),
    }
    return {
        "settlements": settlements,
        "isochrones": isochrones,
        "catchments": catchments,
        "n_anchors": len(anchors),
        "node_times": node_times,
        "anchor_nodes": anchor_table,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baseline", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    report = run_baseline(args.config, args.out)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
