"""Shortest travel times on the road graph: one multi-source Dijkstra for all sources at once.

Times are *to* the nearest source: a villager drives from home to the anchor, so on one-way
roads the relevant direction is village → anchor. Dijkstra therefore runs on the reversed graph
from the sources.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

__all__ = ["NO_SOURCE", "NearestSource", "nearest_source", "nearest_source_reversed", "sources_csr"]

NO_SOURCE = -1


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
    graph : sparse.csr_matrix
        Adjacency u→v in seconds (n × n).
    source_nodes : np.ndarray
        Node index of each source; several sources may share a node (the first wins).

    Returns
    -------
    NearestSource
        `source` holds the position in `source_nodes` (not the node index).
    """
    return nearest_source_reversed(graph.T.tocsr(), source_nodes)


def nearest_source_reversed(reversed_graph: sparse.csr_matrix, source_nodes) -> NearestSource:
    """:func:`nearest_source` on a graph that is already reversed (edge v→u for each road u→v).

    Parameters
    ----------
    reversed_graph : scipy.sparse.csr_matrix
        The reversed road graph, edge weights in seconds.
    source_nodes : array-like of int
        The nodes the trips end at (in the reversed graph: where the search starts).

    Returns
    -------
    NearestSource
        Per node, the seconds to its nearest source (inf: none) and that source (-1: none).
    """
    n = reversed_graph.shape[0]
    source_nodes = np.asarray(source_nodes, dtype=np.int64)
    if len(source_nodes) == 0:
        return NearestSource(
            np.full(n, np.inf), np.full(n, NO_SOURCE, dtype=np.int64), np.full(n, -9999)
        )
    unique_nodes, first = np.unique(source_nodes, return_index=True)
    dist, next_node, winner_node = csgraph.dijkstra(
        reversed_graph,
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


def sources_csr(
    reversed_graph: sparse.csr_matrix,
    entry_node: np.ndarray,
    entry_source: np.ndarray,
    entry_time_s: np.ndarray,
    n_sources: int,
) -> sparse.csr_matrix:
    """The reversed road graph with one virtual node per source, numbered after the road nodes.

    Each entry (road node, source, seconds) is the last stretch of a trip, road node → source;
    reversed, it is an edge out of the source's virtual node. Those rows are appended to the
    graph's arrays as they are, so adding sources costs time in the entries, not in the graph.
    Entries must be unique per (node, source).

    Parameters
    ----------
    reversed_graph : scipy.sparse.csr_matrix
        The reversed road graph (n × n), seconds.
    entry_node, entry_source, entry_time_s : np.ndarray
        One entry per (road node, source): the node, the source's index and the seconds from
        the node into the source.
    n_sources : int
        How many sources; source ``i`` becomes node ``n + i``.

    Returns
    -------
    scipy.sparse.csr_matrix
        The (n + n_sources) × (n + n_sources) reversed graph with the sources' edges.
    """
    n = reversed_graph.shape[0]
    entry_source = np.asarray(entry_source, dtype=np.int64)
    order = np.lexsort((entry_node, entry_source))
    counts = np.bincount(entry_source, minlength=n_sources)
    indptr = np.concatenate([reversed_graph.indptr, reversed_graph.indptr[-1] + np.cumsum(counts)])
    size = n + n_sources
    return sparse.csr_matrix(
        (
            np.concatenate([reversed_graph.data, np.asarray(entry_time_s, float)[order]]),
            np.concatenate([reversed_graph.indices, np.asarray(entry_node)[order]]),
            indptr,
        ),
        shape=(size, size),
    )
