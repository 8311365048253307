"""Shortest travel times: one multi-source Dijkstra for all anchors at once, and the off-road leg.

Times are *to* the nearest source: a villager drives from home to the anchor, so on one-way
roads the relevant direction is village → anchor. Dijkstra therefore runs on the reversed graph
from the sources.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

__all__ = ["NearestSource", "nearest_source", "time_via_nearest_nodes"]

NO_SOURCE = -1
_CHUNK_POINTS = 1 << 18  # points per KD-tree query in time_via_nearest_nodes


class NearestSource:
    """Per node: seconds to the nearest source (inf if none) and that source's index (-1)."""

    def __init__(
        self, time_s: np.ndarray, source: np.ndarray, next_node: np.ndarray | None = None
    ) -> None:
        self.time_s = time_s
        self.source = source
        # The next node on each node's fastest way to its source (-9999 at sources and
        # unreached nodes): the shortest-path tree, for finding which edges are used.
        self.next_node = next_node


def nearest_source(graph: sparse.csr_matrix, source_nodes: np.ndarray) -> NearestSource:
    """Time from every node to its nearest source node, in one Dijkstra run.

    Parameters
    ----------
    graph : adjacency u→v in seconds (n × n).
    source_nodes : node index of each source; several sources may share a node (the first wins).

    Returns
    -------
    NearestSource with `source` holding the position in `source_nodes` (not the node index).
    """
    n = graph.shape[0]
    source_nodes = np.asarray(source_nodes, dtype=np.int64)
    if len(source_nodes) == 0:
        return NearestSource(np.full(n, np.inf), np.full(n, NO_SOURCE, dtype=np.int64))
    unique_nodes, first = np.unique(source_nodes, return_index=True)
    dist, next_node, winner_node = csgraph.dijkstra(
        graph.T.tocsr(),
        directed=True,
        indices=unique_nodes,
        min_only=True,
        return_predecessors=True,
    )
    position = np.full(n, NO_SOURCE, dtype=np.int64)
    position[unique_nodes] = first
    reached = winner_node >= 0
    source = np.full(n, NO_SOURCE, dtype=np.int64)
    source[reached] = position[winner_node[reached]]
    return NearestSource(np.asarray(dist, dtype=float), source, next_node)


def time_via_nearest_nodes(
    points_xy: np.ndarray,
    node_xy: np.ndarray,
    node: NearestSource,
    *,
    k: int,
    offroad_speed_kph: float,
    max_offroad_m: float,
    tree: cKDTree | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time from each point to its nearest source: walk to one of its k nearest nodes, then drive.

    Each point takes min over those nodes (within `max_offroad_m`) of node time + off-road
    distance ÷ off-road speed. Points with no such node, or whose nodes reach no source, get
    inf and source -1.

    Returns
    -------
    (time_s, source, nearest_node_m) per point.
    """
    n = len(points_xy)
    if len(node_xy) == 0:  # no road node leads to a source: nobody reaches one
        return np.full(n, np.inf), np.full(n, NO_SOURCE, dtype=np.int64), np.full(n, np.inf)
    tree = tree if tree is not None else cKDTree(node_xy)
    k = min(k, len(node_xy))
    time_s, source, near_m = np.empty(n), np.empty(n, dtype=np.int64), np.empty(n)
    # In chunks: k values per point for millions of raster cells would take gigabytes at once.
    for start in range(0, n, _CHUNK_POINTS):
        sl = slice(start, min(start + _CHUNK_POINTS, n))
        xy = points_xy[sl]
        dist, idx = tree.query(xy, k=k, distance_upper_bound=max_offroad_m, workers=-1)
        dist, idx = dist.reshape(len(xy), k), idx.reshape(len(xy), k)
        found = idx < len(node_xy)
        safe = np.where(found, idx, 0)
        total = np.where(found, node.time_s[safe] + dist / (offroad_speed_kph / 3.6), np.inf)
        best = np.argmin(total, axis=1)
        rows = np.arange(len(xy))
        time_s[sl] = total[rows, best]
        source[sl] = np.where(np.isfinite(time_s[sl]), node.source[safe[rows, best]], NO_SOURCE)
        near_m[sl] = dist[:, 0]
    return time_s, source, near_m
