"""An independent implementation of the documented travel-time model, on networkx, for tests.

It reads only the graph's edge list and node coordinates (network.npz) and finds nearest nodes
by brute force, so it shares no routing or KD-tree code with the pipeline.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from pipeline.network import RoadGraph

SOURCE_NODES = 8  # a source (anchor, service) is joined to its 8 nearest road nodes


def node_times(graph: RoadGraph, source_xy: np.ndarray, cfg) -> np.ndarray:
    """Seconds from every road node to the nearest source (inf where none is reachable)."""
    g = nx.DiGraph()
    for u, v, t in zip(graph.edge_v, graph.edge_u, graph.edge_time_s, strict=True):  # reversed
        if not g.has_edge(u, v) or g[u][v]["t"] > t:
            g.add_edge(int(u), int(v), t=float(t))
    speed_mps = cfg.network.offroad_speed_kph / 3.6
    sources = []
    for i, (x, y) in enumerate(source_xy):
        d = np.hypot(graph.node_xy[:, 0] - x, graph.node_xy[:, 1] - y)
        nearest = np.argsort(d, kind="stable")[:SOURCE_NODES]
        virtual = ("source", i)
        sources.append(virtual)
        g.add_node(virtual)
        for n in nearest[d[nearest] <= cfg.network.snap_max_m]:
            g.add_edge(virtual, int(n), t=max(d[n] / speed_mps, 1e-3))
    dist = nx.multi_source_dijkstra_path_length(g, sources, weight="t")
    return np.array([dist.get(n, np.inf) for n in range(graph.n_nodes)])


def point_times(graph: RoadGraph, node_time: np.ndarray, points_xy: np.ndarray, cfg):
    """(best possible, documented rule) seconds from each point to the nearest source.

    Best possible: over every road node within `snap_max_m`. Documented rule: the best of the
    `surface.k_nearest` nearest road nodes that lead to a source.
    """
    speed_mps = cfg.network.offroad_speed_kph / 3.6
    d = np.hypot(
        points_xy[:, None, 0] - graph.node_xy[None, :, 0],
        points_xy[:, None, 1] - graph.node_xy[None, :, 1],
    )
    walk = np.where(d <= cfg.network.snap_max_m, d / speed_mps, np.inf)
    best_possible = np.min(node_time[None, :] + walk, axis=1)
    reached = np.isfinite(node_time)
    nearest_k = np.argsort(np.where(reached[None, :], d, np.inf), axis=1, kind="stable")
    nearest_k = nearest_k[:, : cfg.surface.k_nearest]
    rows = np.arange(len(points_xy))[:, None]
    rule = np.min(node_time[nearest_k] + walk[rows, nearest_k], axis=1)
    return best_possible, rule
