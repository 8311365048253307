"""Shortest travel times on the road graph: one multi-source Dijkstra for all sources at once.

Times are *to* the nearest source: a villager drives from home to the anchor, so on one-way
roads the relevant direction is village → anchor. Dijkstra therefore runs on the reversed graph
from the sources.

The Dijkstra is compiled here rather than taken from `scipy.sparse.csgraph.dijkstra`, which
does the same but holds the GIL: the anchors' and the cores' fields (and each service's) are
independent runs over the whole graph, and compiled without the GIL they run on both cores at
once (:meth:`pipeline.access.walk_and_drive.RoadAccess.fields`). Alone it is about as fast as
scipy's. The tests check it against networkx and scipy.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import sparse

__all__ = [
    "NO_SOURCE",
    "NearestSource",
    "nearest_entry_reversed",
    "nearest_source",
    "nearest_source_reversed",
    "sources_csr",
]

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
    unique_nodes, first = np.unique(np.asarray(source_nodes, dtype=np.int64), return_index=True)
    none_before = np.full(len(unique_nodes), -9999, np.int64)
    return _search(reversed_graph, unique_nodes, np.zeros(len(unique_nodes)), first, none_before)


def nearest_entry_reversed(
    reversed_graph: sparse.csr_matrix,
    entry_node: np.ndarray,
    entry_source: np.ndarray,
    entry_time_s: np.ndarray,
) -> NearestSource:
    """The same as :func:`nearest_source_reversed` on :func:`sources_csr`'s graph, the sources
    as virtual nodes numbered after the road nodes, without building that graph: each entry
    (road node, source, seconds into the source) starts the search at its node, at its time.

    Returns
    -------
    NearestSource
        Per road node (n of them), its seconds to the nearest source, that source, and the
        next node on the way; a node whose fastest way is its entry has next node
        ``n + source``, the source's virtual node. Of entries equally fast into one node,
        the first wins (in :meth:`RoadAccess.field`'s order: the lower source index).
    """
    entry_source = np.asarray(entry_source, dtype=np.int64)
    n = reversed_graph.shape[0]
    return _search(reversed_graph, entry_node, entry_time_s, entry_source, n + entry_source)


def _search(reversed_graph, start_node, start_time, start_label, start_before) -> NearestSource:
    """:func:`_dijkstra` on a scipy CSR matrix, its result as a :class:`NearestSource` (the
    starts' labels are the sources)."""
    graph = reversed_graph.tocsr()  # (no copy of a CSR matrix)
    time_s, next_node, source = _dijkstra(
        graph.indptr,
        graph.indices,
        graph.data,
        np.asarray(start_node, dtype=np.int64),
        np.asarray(start_time, dtype=float),
        np.asarray(start_label, dtype=np.int64),
        np.asarray(start_before, dtype=np.int64),
    )
    return NearestSource(time_s, source, next_node)


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


@numba.njit(cache=True, nogil=True)
def _dijkstra(indptr, indices, weights, start_node, start_time, start_label, start_before):
    """Dijkstra on a CSR graph (edge weights >= 0) from all its starts at once: start k is
    node ``start_node[k]`` at ``start_time[k]`` seconds, labelled ``start_label[k]``, with
    ``start_before[k]`` as the node before it. Per node: its least time, the node before it
    on that way (-9999: unreached) and the label of the start it comes from (-1: unreached).
    Of equally fast ways, the first found is kept (of equal starts, the first listed).

    The heap holds (time, node) entries without decrease-key: a node is pushed again when its
    time drops, and an entry is stale when popped with more than its node's time. It is a
    4-ary heap, each entry's time and node side by side in one array (node indices are exact
    in a float64), so that a node's four children share a cache line: 10-30 % quicker than
    a binary heap in two arrays on the bench oblast. It grows as needed.
    """
    n = len(indptr) - 1
    time = np.full(n, np.inf)
    before = np.full(n, -9999, np.int64)
    label = np.full(n, -1, np.int64)
    heap = np.empty(2 * max(16, 2 * len(start_node)))  # time, node, time, node, ...
    size = 0
    for k in range(len(start_node)):
        v, t = start_node[k], start_time[k]
        if t < time[v]:
            time[v], before[v], label[v] = t, start_before[k], start_label[k]
            _sift_up(heap, size, t, v)
            size += 1
    while size > 0:
        t, u = heap[0], int(heap[1])
        size -= 1
        _sift_down(heap, size, heap[2 * size], heap[2 * size + 1])
        if t > time[u]:
            continue  # stale: u was pushed again with a lower time (and is settled by now)
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            t_v = t + weights[k]
            if t_v < time[v]:
                time[v], before[v], label[v] = t_v, u, label[u]
                if 2 * size == len(heap):
                    heap = np.concatenate((heap, np.empty(len(heap))))
                _sift_up(heap, size, t_v, v)
                size += 1
    return time, before, label


@numba.njit(cache=True, nogil=True)
def _sift_up(heap, j, t, node):
    """Put (t, node) in the heap's free slot `j`, moving larger parents down."""
    while j > 0:
        parent = (j - 1) >> 2
        if heap[2 * parent] <= t:
            break
        heap[2 * j], heap[2 * j + 1] = heap[2 * parent], heap[2 * parent + 1]
        j = parent
    heap[2 * j], heap[2 * j + 1] = t, node


@numba.njit(cache=True, nogil=True)
def _sift_down(heap, size, t, node):
    """Put (t, node) at the root of a heap of `size` entries, moving smaller children up."""
    if size == 0:
        return
    j = 0
    while True:
        first = 4 * j + 1
        if first >= size:
            break
        least, least_t = first, heap[2 * first]
        for c in range(first + 1, min(first + 4, size)):
            if heap[2 * c] < least_t:
                least, least_t = c, heap[2 * c]
        if least_t >= t:
            break
        heap[2 * j], heap[2 * j + 1] = least_t, heap[2 * least + 1]
        j = least
    heap[2 * j], heap[2 * j + 1] = t, node
