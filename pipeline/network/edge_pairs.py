"""Edges by their end nodes, in linear time (compiled with numba): their stable order, and
the fastest of parallel edges.

Road nodes have a handful of edges each, so a counting sort by one end followed by an
insertion sort of each node's few edges by the other end gives what NumPy's stable argsort of
the pair gives, about twice as quick; one compiled pass then keeps the fastest edge of each
pair without the temporary arrays NumPy would need (a macro-region's 20 M edges: 3.1 s → 1 s).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["edge_order", "fastest_of_pairs"]


@numba.njit(cache=True, nogil=True)
def _ends(u, v, e, either_way):
    """The two sort keys of edge `e`: (u, v), or with `either_way` (lower end, higher end and
    direction, u < v first, in one number)."""
    if either_way:
        return min(u[e], v[e]), max(u[e], v[e]) * 2 + (u[e] > v[e])
    return u[e], v[e]


@numba.njit(cache=True, nogil=True)
def edge_order(u, v, n_nodes, either_way=False):
    """The stable order of edges by (u, v): what ``np.lexsort((v, u))`` gives.

    With `either_way`, by (lower end, higher end, direction), which groups the edges of a
    segment (an unordered pair of nodes) together, u → v before v → u when u < v.
    Node numbers are in ``range(n_nodes)``.
    """
    n = len(u)
    start = np.zeros(n_nodes + 1, np.int64)
    for e in range(n):
        start[_ends(u, v, e, either_way)[0] + 1] += 1
    for a in range(n_nodes):
        start[a + 1] += start[a]
    order = np.empty(n, np.int64)
    fill = start[:-1].copy()
    for e in range(n):
        a = _ends(u, v, e, either_way)[0]
        order[fill[a]] = e
        fill[a] += 1
    for a in range(n_nodes):
        for j in range(start[a] + 1, start[a + 1]):
            e = order[j]
            key = _ends(u, v, e, either_way)[1]
            i = j - 1
            while i >= start[a] and _ends(u, v, order[i], either_way)[1] > key:
                order[i + 1] = order[i]
                i -= 1
            order[i + 1] = e
    return order


@numba.njit(cache=True, nogil=True)
def fastest_of_pairs(u, v, t):
    """Edges (u, v, t) sorted by (u, v), keeping only the fastest of parallel edges."""
    n = len(u)
    order = edge_order(u, v, max(u.max(), v.max()) + 1 if n else 0)
    out_u, out_v, out_t = np.empty(n, u.dtype), np.empty(n, v.dtype), np.empty(n, t.dtype)
    m = -1
    for j in range(n):
        e = order[j]
        if m < 0 or u[e] != out_u[m] or v[e] != out_v[m]:
            m += 1
            out_u[m], out_v[m], out_t[m] = u[e], v[e], t[e]
        elif t[e] < out_t[m]:
            out_t[m] = t[e]
    return out_u[: m + 1], out_v[: m + 1], out_t[: m + 1]
