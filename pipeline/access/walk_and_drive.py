"""The one rule for timing a trip: walk to a road, drive, walk to the source.

Every time the pipeline reports — a settlement's or a raster cell's time to its nearest anchor,
core or service, in any season or scenario, and every planning candidate's — comes from here.

The rule (README, "How times are computed"). Geometry is planar in the region's projected CRS;
a segment's time comes from its geodesic length and its way's speed, and a fraction of a
segment costs that fraction of its time. From a point P the time to the nearest source is the
least, over every source A, of

* walking straight from P to A, if that walk is at most ``R`` (``network.snap_max_m``);
* walking from P to *any* point X of a joinable road segment (at most ``R``), driving from X
  through the network (first along the rest of X's segment, in a direction it allows) to any
  point Y of a joinable segment, and walking from Y to A (at most ``R``). X and Y may lie on
  one segment, or coincide.

Walking is at ``offroad_speed_kph``. Every driveable segment is joinable except ferries and
motorways, which are entered at their ends only. No cap limits how many road points are
considered, so adding a source never lengthens a time and closing a road never shortens one.
The best X is not always the foot of the perpendicular: where driving is faster than walking
it lies a little along the road, at sin(angle) = walking speed / driving speed.

How it is computed, exactly:

* Joinable segments are cut into pieces of at most :data:`PIECE_M` metres. Within a piece the
  best X (or Y) has a closed form (:func:`_best_s`), so a (point, piece) pair costs a few
  arithmetic operations per end of the piece's segment.
* Sources: every piece within ``R`` of a source (a KD-tree query) gives an edge from each end
  of its segment into a virtual node of that source; one multi-source Dijkstra on the reversed
  graph gives every road node its time and source (:meth:`RoadAccess.field`).
* Points: pieces are binned in square tiles, each tile keeping a lower bound of any trip
  through it. A point visits the tiles around it nearest first, skips a tile or a piece whose
  bound cannot beat the best trip found so far, and stops when the next ring of tiles is too far
  to help (:func:`_point_trips`). Skipping is proven harmless, so this is the exact minimum over
  every road point within reach; it is compiled with numba because it is a branch-and-bound
  search per point, which NumPy cannot express without looking at every piece in reach.
  Several fields (anchors and cores) are searched in one pass: the geometry of a point and a
  piece is worked out once, and each field keeps its own bounds and its own best trip, so each
  gets exactly the answer it would get alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numba
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from pipeline.access.routing import NO_SOURCE, nearest_entry_reversed, sources_csr
from pipeline.machine import CORES, on_a_thread
from pipeline.network.edge_pairs import edge_order
from pipeline.network.graph import FLAG_NO_JOIN, MIN_EDGE_TIME_S, RoadGraph
from pipeline.units import kph_to_mps

__all__ = [
    "PIECE_M",
    "Field",
    "RoadAccess",
    "StraightLineAccess",
    "TravelModel",
    "Trips",
    "Walk",
    "load_kernels",
]

logger = logging.getLogger(__name__)

PIECE_M = 100.0  # longest piece of a segment: a long northern segment is cut into several
_TILE_M = 500.0  # side of the tiles pieces are binned in (250 m: 1 s slower on the bench oblast)
_POINT_BLOCK_M = 2000.0  # points are searched block by block of this side (cache locality)
_BATCH_FLOATS = 1 << 23  # one batch of bounded Dijkstra rows holds at most this many times
_INF = np.inf

_jit = numba.njit(cache=True, nogil=True)


# --- the closed formulas (compiled; the only copy of the rule's arithmetic) ----------------------


@_jit
def _best_s(s0, d, lo, hi, rate, walk_mps, cheaper_high):
    """Where on [lo, hi] to meet the road, minimising walk(s) - s·rate (`cheaper_high`) or
    walk(s) + s·rate.

    walk(s) = hypot(d, s - s0) / walk_mps is the walk from a point whose foot on the segment's
    line is s0 metres from its start, at distance d; `rate` (seconds per metre) is the drive
    along the segment. The objective is convex, so its free minimum, clipped, is the minimum.
    Where driving is no faster than walking (walk_mps·rate >= 1) the far end is best.
    """
    q = walk_mps * rate
    if q < 1.0:
        shift = d * q / np.sqrt(1.0 - q * q)
        free = s0 + shift if cheaper_high else s0 - shift
    else:
        free = hi if cheaper_high else lo
    return min(max(free, lo), hi)


@_jit
def _walk(d, s, s0, walk_mps):
    return np.hypot(d, s - s0) / walk_mps


def load_kernels() -> None:
    """Load the compiled kernels from numba's cache now. The first one a process loads costs
    0.16 s (numba sets up its compiler), each other one milliseconds: make's stage server
    does it once, before it forks the stages."""
    _walk(0.0, 0.0, 0.0, 1.0)


@_jit
def _leave_costs(s0, d, lo, hi, length, rate_ab, rate_ba, walk_mps):
    """Seconds from a point to the segment's b end (driving a → b) and to its a end (b → a),
    joining the road within [lo, hi]; inf where the direction is not allowed."""
    to_b = _INF
    if rate_ab < _INF:
        s = _best_s(s0, d, lo, hi, rate_ab, walk_mps, True)
        to_b = _walk(d, s, s0, walk_mps) + max(length - s, 0.0) * rate_ab
    to_a = _INF
    if rate_ba < _INF:
        s = _best_s(s0, d, lo, hi, rate_ba, walk_mps, False)
        to_a = _walk(d, s, s0, walk_mps) + s * rate_ba
    return to_b, to_a


@_jit
def _enter_costs(s0, d, lo, hi, length, rate_ab, rate_ba, walk_mps):
    """Seconds from the segment's a end (driving a → b) and from its b end (b → a) to a source
    that leaves the road within [lo, hi]: the mirror image of :func:`_leave_costs`."""
    from_a = _INF
    if rate_ab < _INF:
        s = _best_s(s0, d, lo, hi, rate_ab, walk_mps, False)
        from_a = s * rate_ab + _walk(d, s, s0, walk_mps)
    from_b = _INF
    if rate_ba < _INF:
        s = _best_s(s0, d, lo, hi, rate_ba, walk_mps, True)
        from_b = max(length - s, 0.0) * rate_ba + _walk(d, s, s0, walk_mps)
    return from_a, from_b


@_jit
def _along(s0p, dp, lop, hip, s0a, da, loa, hia, rate, walk_mps):
    """Seconds from P to A when both join one segment and the trip drives it towards larger s:
    walk to X, drive to Y at or after X, walk to A.

    The two walks are separate convex problems; if their free optima are in order that is the
    answer, otherwise the best trip has X = Y (no drive), at the point of the segment nearest
    to the straight line between P and the mirror image of A.
    """
    if not rate < _INF:
        return _INF
    x = _best_s(s0p, dp, lop, hip, rate, walk_mps, True)
    y = _best_s(s0a, da, loa, hia, rate, walk_mps, False)
    if x <= y:
        return _walk(dp, x, s0p, walk_mps) + (y - x) * rate + _walk(da, y, s0a, walk_mps)
    lo, hi = max(lop, loa), min(hip, hia)
    if lo > hi:
        return _INF
    total = dp + da
    meet = s0p + (s0a - s0p) * dp / total if total > 0 else s0p
    meet = min(max(meet, lo), hi)
    return _walk(dp, meet, s0p, walk_mps) + _walk(da, meet, s0a, walk_mps)


@_jit
def _one_segment(s0p, dp, lop, hip, s0a, da, loa, hia, length, rate_ab, rate_ba, walk_mps):
    """:func:`_along` in both directions of the segment: (the faster, whether it drives a → b)."""
    forward = _along(s0p, dp, lop, hip, s0a, da, loa, hia, rate_ab, walk_mps)
    backward = _along(
        length - s0p, dp, length - hip, length - lop,
        length - s0a, da, length - hia, length - loa, rate_ba, walk_mps,
    )  # fmt: skip
    return (forward, True) if forward <= backward else (backward, False)


@_jit
def _reach(s0, d, piece_lo, piece_hi, max_m):
    """The part [lo, hi] of a piece within `max_m` of a point (lo > hi: none)."""
    if d > max_m:
        return 1.0, 0.0
    half = np.sqrt(max_m * max_m - d * d)
    return max(piece_lo, s0 - half), min(piece_hi, s0 + half)


# --- the compiled loops ----------------------------------------------------------------------------


@_jit
def _entry_costs(s0, d, lo, hi, seg, length, rate_ab, rate_ba, walk_mps):
    """For (source, piece) pairs: seconds from the segment's a end and from its b end."""
    n = len(s0)
    from_a, from_b = np.empty(n), np.empty(n)
    for i in range(n):
        k = seg[i]
        from_a[i], from_b[i] = _enter_costs(
            s0[i], d[i], lo[i], hi[i], length[k], rate_ab[k], rate_ba[k], walk_mps
        )
    return from_a, from_b


@_jit
def _joinable_segments(order, u, v, flags, time_s, way, x, y):
    """The joinable segments of a graph's edges taken in `order` (:func:`edge_order` with
    `either_way`: grouped by segment, the pair of end nodes, lower first, and direction),
    skipping the edges with FLAG_NO_JOIN and the segments of zero planar length (nothing to walk
    to). Per segment its ends, in each direction the fastest edge's time and way (inf and -1:
    no edge that way; of equally fast edges, the first in `order`), its planar length and its
    midpoint. One pass that reads the graph's edge arrays where they are, without copies of
    them or NumPy's temporaries (at the bench's oblast size the first build in a process went
    from 2.2-2.7 s to 1.4-1.7 s). The arrays are made for as many segments as edges; only the
    part written is ever touched."""
    n = len(order)
    seg_a, seg_b = np.empty(n, np.int64), np.empty(n, np.int64)
    time_ab, time_ba = np.empty(n), np.empty(n)
    way_ab, way_ba = np.empty(n, np.int64), np.empty(n, np.int64)
    length, mid_x, mid_y = np.empty(n), np.empty(n), np.empty(n)
    m, last_a, last_b, dropped = -1, -1, -1, False
    for j in range(n):
        e = order[j]
        if flags[e] & FLAG_NO_JOIN:
            continue
        a, b = min(u[e], v[e]), max(u[e], v[e])
        if a != last_a or b != last_b:  # the first edge of a segment
            last_a, last_b = a, b
            dx, dy = x[b] - x[a], y[b] - y[a]
            planar = np.hypot(dx, dy)
            dropped = not planar > 0
            if dropped:
                continue
            m += 1
            seg_a[m], seg_b[m], length[m] = a, b, planar
            mid_x[m], mid_y[m] = x[a] + dx / 2, y[a] + dy / 2
            time_ab[m], time_ba[m], way_ab[m], way_ba[m] = _INF, _INF, -1, -1
        elif dropped:
            continue
        # edge times are finite (RoadGraph.problems), so the first edge each way is taken
        if u[e] == a:
            if time_s[e] < time_ab[m]:
                time_ab[m], way_ab[m] = time_s[e], way[e]
        elif time_s[e] < time_ba[m]:
            time_ba[m], way_ba[m] = time_s[e], way[e]
    m += 1
    return (
        seg_a[:m], seg_b[:m], time_ab[:m], time_ba[:m], way_ab[:m], way_ba[:m], length[:m],
        mid_x[:m], mid_y[:m],
    )  # fmt: skip


@numba.njit(cache=True, nogil=True, parallel=True)
def _field_bounds(node_time, node_source, own_walk, f, seg_a, seg_b, length, rate_ab, rate_ba,
                  piece_seg, piece_lo, piece_hi, tile_start, tile_piece,
                  time_a, time_b, source_a, source_b, piece_least, tile_least):  # fmt: skip
    """Column `f` of the point search's per-field arrays: each segment's end times and sources
    (gathered: segments are stored tile by tile, nodes are not); per piece a lower bound of a
    trip from its points on (the drive to a segment end plus that end's time, or, on a segment a
    source joins, that source's walk from the segment); per tile the least of its pieces'.
    Each loop's items are independent, so each runs on every core."""
    for k in numba.prange(len(seg_a)):
        time_a[k, f], time_b[k, f] = node_time[seg_a[k]], node_time[seg_b[k]]
        source_a[k, f], source_b[k, f] = node_source[seg_a[k]], node_source[seg_b[k]]
    for p in numba.prange(len(piece_seg)):
        k = piece_seg[p]
        best = own_walk[k]
        if rate_ab[k] < _INF:
            best = min(best, time_b[k, f] + (length[k] - piece_hi[p]) * rate_ab[k])
        if rate_ba[k] < _INF:
            best = min(best, time_a[k, f] + piece_lo[p] * rate_ba[k])
        piece_least[p, f] = best
    for t in numba.prange(len(tile_start) - 1):
        least = _INF
        for j in range(tile_start[t], tile_start[t + 1]):
            least = min(least, piece_least[tile_piece[j], f])
        tile_least[t, f] = least


@numba.njit(cache=True, nogil=True, parallel=True)
def _point_trips(
    xy, order, time_s, source, exit_node, way,  # time_s … way: (fields, points), in place
    x0, y0, tile_m, n_cols, n_rows, tile_start, tile_piece, tile_least, tile_floor, tile_slope,
    half_piece_m,
    piece_seg, piece_lo, piece_hi, piece_least,
    start_x, start_y, unit_x, unit_y, length, rate_ab, rate_ba, seg_a, seg_b, way_ab, way_ba,
    time_a, time_b, source_a, source_b,  # (segments, fields): its ends' times and sources
    arr_start, arr_field, arr_source, arr_s0, arr_d, arr_lo, arr_hi,
    walk_mps, max_m,
):  # fmt: skip
    """The best trip of every point to each field's sources, updating the arrays in place
    (see the module docstring). The per-field bounds (tile_*, piece_least) are (…, fields).

    Points are searched in `order` (nearby points one after the other, so the tiles they read
    stay in the cache). Tiles are visited ring by ring (Chebyshev distance from the point's
    tile); for each field, a tile, a piece or a ring is skipped only when its lower bound
    exceeds that field's best trip so far, so ties are still seen and go to the lower source
    index, whatever the order of the search, and each field gets exactly the answer it would
    get searched alone. The geometry of a piece (where the point meets it, the drive to its
    ends) is computed once for every field. A field stops at the first ring that cannot beat
    its best, by either of two bounds of every tile from that ring on: its distance walked plus
    `tile_floor` (the least bound of the tiles within reach), or half that distance plus
    `tile_slope` (the least of each tile's bound plus half the walk to it: nearby low bounds
    cannot hide farther ones). See :meth:`_Tiles.slope`.
    """
    n_fields = time_s.shape[0]
    reach_tiles = int(np.ceil((max_m + half_piece_m) / tile_m)) + 1
    step_s = tile_m / walk_mps
    half_s = half_piece_m / walk_mps
    for t in numba.prange(len(order)):
        i = order[t]
        x, y = xy[i, 0], xy[i, 1]
        col0 = int(np.floor((x - x0) / tile_m))
        row0 = int(np.floor((y - y0) / tile_m))
        own = min(max(row0, 0), n_rows - 1) * n_cols + min(max(col0, 0), n_cols - 1)
        searching = 0  # bit f: field f may still improve (not if no tile in reach has a way)
        for f in range(n_fields):
            if tile_floor[own, f] < _INF:
                searching |= 1 << f
        for ring in range(reach_tiles + 1):
            if ring > 0:
                for f in range(n_fields):
                    if searching >> f & 1 and (
                        (ring - 1) * step_s - half_s + tile_floor[own, f] > time_s[f, i]
                        or 0.5 * (ring - 2) * step_s - half_s + tile_slope[own, f] > time_s[f, i]
                    ):
                        searching &= ~(1 << f)  # every tile from here on is too far to help
                if searching == 0:
                    break
            for dr in range(-ring, ring + 1):
                row = row0 + dr
                if row < 0 or row >= n_rows:
                    continue
                step = 1 if abs(dr) == ring else 2 * ring  # only the ring's outline
                for dc in range(-ring, ring + 1, max(step, 1)):
                    col = col0 + dc
                    if col < 0 or col >= n_cols:
                        continue
                    tile = row * n_cols + col
                    if tile_start[tile] == tile_start[tile + 1]:
                        continue
                    gx = max(max(x0 + col * tile_m - x, x - (x0 + (col + 1) * tile_m)), 0.0)
                    gy = max(max(y0 + row * tile_m - y, y - (y0 + (row + 1) * tile_m)), 0.0)
                    near = max(np.hypot(gx, gy) - half_piece_m, 0.0)
                    if near > max_m:
                        continue
                    in_tile = 0  # the fields this tile can help
                    for f in range(n_fields):
                        if (
                            searching >> f & 1
                            and near / walk_mps + tile_least[tile, f] <= time_s[f, i]
                        ):
                            in_tile |= 1 << f
                    if in_tile == 0:
                        continue
                    for j in range(tile_start[tile], tile_start[tile + 1]):
                        p = tile_piece[j]
                        k = piece_seg[p]
                        rx, ry = x - start_x[k], y - start_y[k]
                        s0 = rx * unit_x[k] + ry * unit_y[k]
                        d = abs(rx * unit_y[k] - ry * unit_x[k])
                        # First a cheaper test with no square root: the walk to any point
                        # of the piece is at least the point's distance from it. It compares
                        # squares, with a microsecond to spare, so that rounding never skips a
                        # piece the exact test below would keep.
                        off = min(max(s0, piece_lo[p]), piece_hi[p]) - s0
                        walk2 = (d * d + off * off) / (walk_mps * walk_mps)
                        may_help = False
                        for f in range(n_fields):
                            slack = time_s[f, i] - piece_least[p, f]
                            if in_tile >> f & 1 and slack >= 0 and walk2 <= (slack + 1e-6) ** 2:
                                may_help = True
                                break
                        if not may_help:
                            continue
                        lo, hi = _reach(s0, d, piece_lo[p], piece_hi[p], max_m)
                        if lo > hi:
                            continue
                        walk_s = np.hypot(d, min(max(s0, lo), hi) - s0) / walk_mps
                        in_piece = 0  # the fields this piece can help
                        for f in range(n_fields):
                            if in_tile >> f & 1 and walk_s + piece_least[p, f] <= time_s[f, i]:
                                in_piece |= 1 << f
                        if in_piece == 0:
                            continue
                        to_b, to_a = _leave_costs(
                            s0, d, lo, hi, length[k], rate_ab[k], rate_ba[k], walk_mps
                        )
                        for f in range(n_fields):
                            if in_piece >> f & 1 == 0:
                                continue
                            best, best_src = time_s[f, i], source[f, i]
                            total, src = to_b + time_b[k, f], source_b[k, f]
                            if total < best or (total == best and total < _INF and src < best_src):
                                time_s[f, i], source[f, i] = total, src
                                exit_node[f, i], way[f, i] = seg_b[k], way_ab[k]
                                best, best_src = total, src
                            total, src = to_a + time_a[k, f], source_a[k, f]
                            if total < best or (total == best and total < _INF and src < best_src):
                                time_s[f, i], source[f, i] = total, src
                                exit_node[f, i], way[f, i] = seg_a[k], way_ba[k]
                        for r in range(arr_start[k], arr_start[k + 1]):
                            f = arr_field[r]
                            if in_piece >> f & 1 == 0:
                                continue
                            total, forward = _one_segment(
                                s0, d, lo, hi, arr_s0[r], arr_d[r], arr_lo[r], arr_hi[r],
                                length[k], rate_ab[k], rate_ba[k], walk_mps,
                            )  # fmt: skip
                            src = arr_source[r]
                            best, best_src = time_s[f, i], source[f, i]
                            if total < best or (total == best and total < _INF and src < best_src):
                                time_s[f, i], source[f, i], exit_node[f, i] = total, src, -1
                                way[f, i] = way_ab[k] if forward else way_ba[k]


# --- the road segments and their pieces ----------------------------------------------------------


@_jit
def _pieces(start_x, start_y, unit_x, unit_y, length, piece_m):
    """Each segment cut into ceil(length / piece_m) equal pieces (at least one), in segment
    order: per piece its segment, its span [lo, hi] in metres from the segment's start, and
    its midpoint; and the longest piece's length. One pass, without the dozen temporary arrays
    of the same in NumPy (2 s of the macro-region's 10 M pieces, most of it fresh memory)."""
    n = len(length)
    count = np.empty(n, np.int64)
    for k in range(n):
        count[k] = max(1, int(np.ceil(length[k] / piece_m)))
    total = count.sum()
    seg, lo, hi = np.empty(total, np.int64), np.empty(total), np.empty(total)
    mid = np.empty((total, 2))
    p, longest = 0, 0.0
    for k in range(n):
        step = length[k] / count[k]
        longest = max(longest, step)
        for j in range(count[k]):
            lo[p] = j * step
            hi[p] = min((j + 1) * step, length[k])  # never past the end by a rounding
            along = (lo[p] + hi[p]) / 2
            seg[p] = k
            mid[p, 0] = start_x[k] + unit_x[k] * along
            mid[p, 1] = start_y[k] + unit_y[k] * along
            p += 1
    return seg, lo, hi, mid, longest


@_jit
def _tile_starts(xy, x0, y0, size_m, n_cols, n_rows):
    """CSR starts of the points binned into square tiles (row-major, from x0, y0), and whether
    the points already come tile by tile."""
    start = np.zeros(n_cols * n_rows + 1, np.int64)
    in_order, last = True, -1
    for i in range(len(xy)):
        col = min(int((xy[i, 0] - x0) // size_m), n_cols - 1)
        row = min(int((xy[i, 1] - y0) // size_m), n_rows - 1)
        tile = row * n_cols + col
        start[tile + 1] += 1
        in_order &= tile >= last
        last = tile
    for t in range(n_cols * n_rows):
        start[t + 1] += start[t]
    return start, in_order


@_jit
def _block_order(x, y, size_m):
    """An order of points that visits them square block by block, row by row: a counting sort,
    so points keep their order within a block (a stable sort by block, in linear time)."""
    n = len(x)
    order = np.empty(n, np.int64)
    if n == 0:
        return order
    x0, y0 = np.nanmin(x), np.nanmin(y)
    n_cols = int((np.nanmax(x) - x0) // size_m) + 1 if np.isfinite(x0) else 1
    n_rows = int((np.nanmax(y) - y0) // size_m) + 1 if np.isfinite(y0) else 1
    block = np.empty(n, np.int64)
    start = np.zeros(n_cols * n_rows + 1, np.int64)
    for i in range(n):
        col, row = (x[i] - x0) // size_m, (y[i] - y0) // size_m
        # a point without coordinates (NaN) goes in the first block, not past the array
        col = int(col) if 0 <= col < n_cols else 0
        row = int(row) if 0 <= row < n_rows else 0
        block[i] = row * n_cols + col
        start[block[i] + 1] += 1
    for b in range(n_cols * n_rows):
        start[b + 1] += start[b]
    for i in range(n):
        order[start[block[i]]] = i
        start[block[i]] += 1
    return order


@_jit
def _in_marked_square(xy, x0, y0, size_m, marked):
    """Per point, whether the square of side `size_m` it lies in is marked (grid from x0, y0;
    points outside the grid are not)."""
    out = np.zeros(len(xy), np.bool_)
    n_rows, n_cols = marked.shape
    for i in range(len(xy)):
        col = int(np.floor((xy[i, 0] - x0) / size_m))
        row = int(np.floor((xy[i, 1] - y0) / size_m))
        out[i] = 0 <= row < n_rows and 0 <= col < n_cols and marked[row, col]
    return out


def _maybe_within(xy: np.ndarray, source_xy: np.ndarray, reach_m: float) -> np.ndarray:
    """Mask of the points that may lie within `reach_m` of a source: those in the square of
    side `reach_m` of a source, or in one of its eight neighbours (most raster cells are far
    from every source; this is much cheaper than asking a KD-tree about each)."""
    if len(xy) == 0 or len(source_xy) == 0 or not 0 < reach_m < np.inf:
        return np.ones(len(xy), dtype=bool)
    lo = source_xy.min(axis=0) - reach_m
    near = ((source_xy - lo) // reach_m).astype(np.int64)  # every source at least one square in
    marked = np.zeros(tuple(near.max(axis=0)[::-1] + 2), dtype=bool)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            marked[near[:, 1] + dy, near[:, 0] + dx] = True
    return _in_marked_square(xy, lo[0], lo[1], reach_m, marked)


def _float32_below(values: np.ndarray) -> np.ndarray:
    """`values` as float32, each rounded down (never above the float64 value: a lower bound
    stays a lower bound; inf stays inf)."""
    with np.errstate(over="ignore"):  # beyond float32's range: inf, rounded down to its max
        single = values.astype(np.float32)
    too_high = single > values
    single[too_high] = np.nextafter(single[too_high], np.float32(-np.inf))
    return single


def _first_of_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array."""
    first = np.ones(len(sorted_keys), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return first


@dataclass(frozen=True)
class _Segments:
    """Joinable road segments, one per pair of vertices, their pieces and the tiles of pieces."""

    a: np.ndarray  # end node with the lower index
    b: np.ndarray
    start_x: np.ndarray  # coordinates of a
    start_y: np.ndarray
    unit_x: np.ndarray  # unit vector a → b
    unit_y: np.ndarray
    length_m: np.ndarray  # planar
    rate_ab: np.ndarray  # seconds per metre driving a → b (inf: not allowed)
    rate_ba: np.ndarray
    way_ab: np.ndarray  # OSM way of the fastest edge a → b (-1: none)
    way_ba: np.ndarray
    piece_seg: np.ndarray
    piece_lo: np.ndarray  # a piece is [lo, hi] metres from a along its segment
    piece_hi: np.ndarray
    building_tree: Future  # the KD-tree of the piece midpoints, built on a thread (`tree`)
    half_piece_m: float  # every point of a piece lies this near its midpoint
    tiles: _Tiles

    @property
    def tree(self) -> cKDTree:
        """KD-tree of the piece midpoints (its indices are piece indices)."""
        return self.building_tree.result()

    @classmethod
    def of(cls, graph: RoadGraph) -> _Segments:
        x, y = graph.node_xy[:, 0], graph.node_xy[:, 1]
        seg_a, seg_b, time_ab, time_ba, way_ab, way_ba, length, mid_x, mid_y = _joinable_segments(
            edge_order(graph.edge_u, graph.edge_v, graph.n_nodes, either_way=True),
            graph.edge_u,
            graph.edge_v,
            graph.flags(),
            graph.edge_time_s,
            graph.edge_way,
            x,
            y,
        )
        # Segments are stored in the order of the tiles their midpoints fall in, so that the
        # search around a point reads neighbouring memory (random access made it several times
        # slower).
        keep = _block_order(mid_x, mid_y, _TILE_M)
        del mid_x, mid_y
        seg_a, seg_b, length = seg_a[keep], seg_b[keep], length[keep]
        time_ab, time_ba, way_ab, way_ba = (z[keep] for z in (time_ab, time_ba, way_ab, way_ba))
        start_x, start_y = x[seg_a], y[seg_a]
        unit_x, unit_y = (x[seg_b] - start_x) / length, (y[seg_b] - start_y) / length
        piece_seg, lo, hi, mid, longest_piece = _pieces(
            start_x, start_y, unit_x, unit_y, length, PIECE_M
        )
        by_tile = _block_order(mid[:, 0], mid[:, 1], _TILE_M)  # pieces stored tile by tile too
        piece_seg, lo, hi, mid = (z[by_tile] for z in (piece_seg, lo, hi, mid))
        return cls(
            a=seg_a,
            b=seg_b,
            start_x=start_x,
            start_y=start_y,
            unit_x=unit_x,
            unit_y=unit_y,
            length_m=length,
            rate_ab=time_ab / length,
            rate_ba=time_ba / length,
            way_ab=way_ab,
            way_ba=way_ba,
            piece_seg=piece_seg,
            piece_lo=lo,
            piece_hi=hi,
            # built while the tiles and the reversed graph are made (oblast: 0.25 s, macro 1.4 s)
            building_tree=on_a_thread(cKDTree, mid, balanced_tree=False, compact_nodes=False),
            half_piece_m=float(longest_piece / 2),
            tiles=_Tiles.of(mid, _TILE_M),
        )

    @property
    def n_pieces(self) -> int:
        return len(self.piece_seg)

    def foot(self, seg: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(s0, d): where each point's perpendicular meets its segment's line, in metres from
        the segment's start, and the point's distance from that line."""
        rx, ry = xy[:, 0] - self.start_x[seg], xy[:, 1] - self.start_y[seg]
        ux, uy = self.unit_x[seg], self.unit_y[seg]
        return rx * ux + ry * uy, np.abs(rx * uy - ry * ux)


@dataclass(frozen=True)
class _Tiles:
    """Pieces binned by their midpoint into square tiles (row-major, CSR-like)."""

    x0: float
    y0: float
    size_m: float
    n_cols: int
    n_rows: int
    start: np.ndarray  # pieces of tile t: piece[start[t]:start[t + 1]]
    piece: np.ndarray

    @classmethod
    def of(cls, mid: np.ndarray, size_m: float) -> _Tiles:
        if len(mid) == 0:
            empty = np.zeros(0, np.int64)
            return cls(0.0, 0.0, size_m, 1, 1, np.zeros(2, np.int64), empty)
        x0, y0 = float(mid[:, 0].min()), float(mid[:, 1].min())
        n_cols = int((mid[:, 0].max() - x0) // size_m) + 1
        n_rows = int((mid[:, 1].max() - y0) // size_m) + 1
        start, in_order = _tile_starts(mid, x0, y0, size_m, n_cols, n_rows)
        # _Segments stores the pieces tile by tile already; anyone else gets them sorted
        order = np.arange(len(mid)) if in_order else _block_order(mid[:, 0], mid[:, 1], size_m)
        return cls(x0, y0, size_m, n_cols, n_rows, start, order)

    def floor(self, tile_least: np.ndarray, reach_m: float) -> np.ndarray:
        """Per tile, the least bound of every tile within `reach_m` (in whole tiles, Chebyshev,
        one more for where in its tile a point lies): a floor for any trip from a point in it."""
        from scipy import ndimage

        reach = int(np.ceil(reach_m / self.size_m)) + 1
        grid = tile_least.reshape(self.n_rows, self.n_cols)
        return ndimage.minimum_filter(
            grid, size=2 * reach + 1, mode="constant", cval=np.inf
        ).ravel()

    def slope(self, tile_least: np.ndarray, step_s: float, reach_m: float) -> np.ndarray:
        """Per tile t, the least over tiles u within reach of tile_least[u] + step_s × the
        Chebyshev distance from t to u, in tiles: one 3 × 3 minimum filter per step (a
        Chebyshev distance transform weighted by the bounds)."""
        from scipy import ndimage

        grid = tile_least.reshape(self.n_rows, self.n_cols)
        out = grid.copy()
        for _ in range(int(np.ceil(reach_m / self.size_m)) + 1):
            out = np.minimum(
                out, ndimage.minimum_filter(out, size=3, mode="constant", cval=np.inf) + step_s
            )
        return out.ravel()


# --- fields and trips ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """Seconds from every road node to its nearest source, which source, and how sources join.

    `next_node` is the shortest-path tree: the next node on each node's way to its source
    (n_nodes + source for the last step into a source; -9999 where unreached). `entry_*` are
    the edges from road nodes into sources (the last stretch of segment and the walk), with
    their OSM way. `arr_*` are the (source, piece) pairs within reach, grouped by segment
    (``arr_start``), for trips that never reach a node.
    """

    node_time_s: np.ndarray
    node_source: np.ndarray
    next_node: np.ndarray
    source_xy: np.ndarray
    entry_node: np.ndarray
    entry_source: np.ndarray
    entry_time_s: np.ndarray
    entry_way: np.ndarray
    arr_start: np.ndarray
    arr_source: np.ndarray
    arr_s0: np.ndarray
    arr_d: np.ndarray
    arr_lo: np.ndarray
    arr_hi: np.ndarray

    @property
    def n_sources(self) -> int:
        """How many sources the field has.

        Returns
        -------
        int
            The number of rows of `source_xy`.
        """
        return len(self.source_xy)

    @cached_property
    def arrival_segment(self) -> np.ndarray:
        """The segment of each (source, piece) arrival, from `arr_start`.

        Returns
        -------
        np.ndarray
            int64, one per row of the `arr_*` arrays, in their order (grouped by segment).
        """
        return np.repeat(np.arange(len(self.arr_start) - 1), np.diff(self.arr_start))

    @cached_property
    def source_tree(self) -> cKDTree:
        """KD-tree of the source points, built on first use (for the straight walks).

        Returns
        -------
        scipy.spatial.cKDTree
            Tree over `source_xy`; its indices are source indices.
        """
        return cKDTree(self.source_xy)

    def only(self, source: int, node_time_s: np.ndarray) -> Field:
        """The field of one of its sources alone, given that source's node times.

        Parameters
        ----------
        source : int
            Index of the source in this field (a row of `source_xy`).
        node_time_s : np.ndarray
            (n_nodes,) seconds from every road node to that source alone, inf where it is not
            reached or past a search limit (a Dijkstra row from the source's virtual node, as
            in :meth:`RoadAccess.times_within`).

        Returns
        -------
        Field
            A field with one source, numbered 0: `node_source` is 0 where `node_time_s` is
            finite and NO_SOURCE (-1) elsewhere; `next_node` is -9999 everywhere (no
            shortest-path tree is kept). The entries and arrivals are this source's only.
        """
        keep = self.arr_source == source
        counts = np.bincount(self.arrival_segment[keep], minlength=len(self.arr_start) - 1)
        arr_start = np.zeros(len(self.arr_start), np.int64)
        np.cumsum(counts, out=arr_start[1:])
        entry = self.entry_source == source
        return Field(
            node_time_s=node_time_s,
            node_source=np.where(np.isfinite(node_time_s), 0, NO_SOURCE),
            next_node=np.full(len(node_time_s), -9999),
            source_xy=self.source_xy[source : source + 1],
            entry_node=self.entry_node[entry],
            entry_source=np.zeros(int(entry.sum()), np.int64),
            entry_time_s=self.entry_time_s[entry],
            entry_way=self.entry_way[entry],
            arr_start=arr_start,
            arr_source=np.zeros(int(keep.sum()), np.int64),
            arr_s0=self.arr_s0[keep],
            arr_d=self.arr_d[keep],
            arr_lo=self.arr_lo[keep],
            arr_hi=self.arr_hi[keep],
        )


@dataclass(frozen=True)
class Trips:
    """Per point: seconds to its nearest source (inf: none), that source (-1), the road node
    the trip drives to first and the OSM way it joins (-1 for a straight walk; a trip that
    stays on one segment has a way but no node)."""

    time_s: np.ndarray
    source: np.ndarray
    exit_node: np.ndarray
    depart_way: np.ndarray

    @classmethod
    def none(cls, n: int) -> Trips:
        """Trips for `n` points that reach nothing yet: the start of every search.

        Parameters
        ----------
        n : int
            Number of points.

        Returns
        -------
        Trips
            `time_s` inf everywhere; `source`, `exit_node` and `depart_way` NO_SOURCE (-1),
            int64. All arrays have shape (n,) and are separate copies, to be filled in place.
        """
        empty = np.full(n, NO_SOURCE, dtype=np.int64)
        return cls(np.full(n, np.inf), empty.copy(), empty.copy(), empty.copy())

    def take(self, rows) -> Trips:
        """The trips of some of the points.

        Parameters
        ----------
        rows : slice or array-like
            Which points, as for NumPy indexing.

        Returns
        -------
        Trips
            The same four arrays indexed by `rows` (views for a slice).
        """
        return Trips(
            self.time_s[rows], self.source[rows], self.exit_node[rows], self.depart_way[rows]
        )


@dataclass(frozen=True)
class Walk:
    """The walk to and from the road: speed and the longest leg."""

    speed_mps: float
    max_m: float


class TravelModel(Protocol):
    """What every stage needs of a travel model: the road model or the straight-line one."""

    approximate: bool

    def field(self, source_xy: np.ndarray):
        """Prepare the sources at `source_xy` for :meth:`trips`.

        Parameters
        ----------
        source_xy : np.ndarray
            (m, 2) source points, metres in the region's projected CRS.

        Returns
        -------
        object
            The model's field of those sources (:class:`Field` for the road model), to pass
            to :meth:`trips`.
        """

    def fields(self, sources: Sequence[np.ndarray]) -> list:
        """:meth:`field` of each array of source points, in order (the road model makes them
        on every core at once)."""

    def trips(self, xy: np.ndarray, fields: Sequence) -> list[Trips]:
        """Each point's trip to the nearest source of each field.

        Parameters
        ----------
        xy : np.ndarray
            (n, 2) points, metres in the region's projected CRS.
        fields : Sequence
            Fields made by this model's :meth:`field`.

        Returns
        -------
        list of Trips
            One per field, in order, each with arrays of shape (n,); time inf and source -1
            where no source is reached.
        """

    def road_distance_m(self, xy: np.ndarray) -> np.ndarray:
        """Distance from each point to the nearest joinable road.

        Parameters
        ----------
        xy : np.ndarray
            (n, 2) points, metres in the region's projected CRS.

        Returns
        -------
        np.ndarray
            (n,) metres; inf where there is no road, NaN for a model without roads.
        """

    def times_within(self, source_xy, point_xy, limit_s: float):
        """Every (source, point) pair whose trip to that source alone takes at most `limit_s`.

        Parameters
        ----------
        source_xy : array-like
            (m, 2) source points, metres in the region's projected CRS.
        point_xy : array-like
            (n, 2) points, metres in the same CRS.
        limit_s : float
            The longest trip kept, seconds (inclusive).

        Returns
        -------
        tuple of np.ndarray
            (source index int64, point index int64, seconds float), sorted by source then point.
        """


# --- the road model -----------------------------------------------------------------------------


class RoadAccess:
    """The road model: a graph, its joinable segments and the walk (see the module docstring).

    Examples
    --------
    >>> access = RoadAccess.of(graph, offroad_speed_kph=5.0, snap_max_m=2000.0)  # doctest: +SKIP
    >>> anchors = access.field(anchor_xy)  # doctest: +SKIP
    >>> [trips] = access.trips(settlement_xy, [anchors])  # doctest: +SKIP
    """

    approximate = False

    def __init__(self, graph: RoadGraph, walk: Walk) -> None:
        self.graph = graph
        self.walk = walk

    @classmethod
    def of(cls, graph: RoadGraph, offroad_speed_kph: float, snap_max_m: float) -> RoadAccess:
        """The road model of a graph, from the network config's walking settings.

        Parameters
        ----------
        graph : RoadGraph
            The road graph (times in seconds, coordinates in metres).
        offroad_speed_kph : float
            Walking speed off the road, km/h (``network.offroad_speed_kph``).
        snap_max_m : float
            The longest walk to or from the road, or straight to a source, metres
            (``network.snap_max_m``).

        Returns
        -------
        RoadAccess
            The model, walking at `offroad_speed_kph` converted to metres per second.
        """
        return cls(graph, Walk(float(kph_to_mps(offroad_speed_kph)), float(snap_max_m)))

    @cached_property
    def segments(self) -> _Segments:
        """The graph's joinable segments, their pieces and tiles, built on first use.

        Returns
        -------
        _Segments
            One entry per pair of nodes joined by an edge that is not a ferry, motorway or
            boarding edge (FLAG_NO_JOIN) and has a planar length above zero.
        """
        return _Segments.of(self.graph)

    @cached_property
    def _reversed(self) -> sparse.csr_matrix:
        return self.graph.csr(reverse=True)

    def _pieces_within(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point, piece) index pairs, the piece's midpoint within reach of the point."""
        segs = self.segments
        if len(xy) == 0 or segs.n_pieces == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        near = segs.tree.query_ball_point(xy, self.walk.max_m + segs.half_piece_m, workers=-1)
        counts = np.fromiter(map(len, near), dtype=np.int64, count=len(near))
        piece = np.fromiter((i for found in near for i in found), np.int64, int(counts.sum()))
        return np.repeat(np.arange(len(xy)), counts), piece

    # -- sources --

    def field(self, source_xy: np.ndarray) -> Field:
        """Time from every road node to the nearest of the sources at `source_xy`, in one
        Dijkstra run.

        Every piece within reach of a source gives an edge from each end of its segment into
        the source: the best drive along the segment and walk (:func:`_enter_costs`).

        Parameters
        ----------
        source_xy : np.ndarray
            (m, 2) source points, metres in the region's projected CRS (reshaped to (m, 2)).

        Returns
        -------
        Field
            Per road node, seconds to its nearest source (inf: none reached) and that source's
            index (NO_SOURCE, -1: none), with the entries and arrivals :meth:`trips` needs.
        """
        source_xy = np.asarray(source_xy, dtype=float).reshape(-1, 2)
        m = len(source_xy)
        segs, v, max_m = self.segments, self.walk.speed_mps, self.walk.max_m
        reversed_graph = self._reversed  # made first, while the segments' KD-tree is built
        point, piece = self._pieces_within(source_xy)
        seg = segs.piece_seg[piece]
        s0, d = segs.foot(seg, source_xy[point])
        half = np.sqrt(np.maximum(max_m * max_m - d * d, 0.0))
        lo = np.maximum(segs.piece_lo[piece], s0 - half)
        hi = np.minimum(segs.piece_hi[piece], s0 + half)
        ok = (d <= max_m) & (lo <= hi)
        point, seg, s0, d, lo, hi = (z[ok] for z in (point, seg, s0, d, lo, hi))
        from_a, from_b = _entry_costs(
            s0, d, lo, hi, seg, segs.length_m, segs.rate_ab, segs.rate_ba, v
        )
        node = np.concatenate([segs.a[seg], segs.b[seg]])
        source = np.concatenate([point, point])
        cost = np.concatenate([from_a, from_b])
        way = np.concatenate([segs.way_ab[seg], segs.way_ba[seg]])
        finite = np.isfinite(cost)
        node, source, cost, way = node[finite], source[finite], cost[finite], way[finite]
        order = np.lexsort((cost, source, node))  # one entry per (node, source): the cheapest
        node, source, cost, way = node[order], source[order], cost[order], way[order]
        first = _first_of_runs(node * (m + 1) + source)
        node, source, way = node[first], source[first], way[first]
        cost = np.maximum(cost[first], MIN_EDGE_TIME_S)
        # Every entry starts the search (as an edge from its source into the road would): they
        # are few beside the graph's edges, and an entry far worse than its source's best can
        # still be a node's only good way in (a one-way loop).
        result = nearest_entry_reversed(reversed_graph, node, source, cost)
        order = np.argsort(seg, kind="stable")
        arr_start = np.zeros(len(segs.length_m) + 1, np.int64)
        np.cumsum(np.bincount(seg, minlength=len(segs.length_m)), out=arr_start[1:])
        return Field(
            node_time_s=result.time_s,
            node_source=result.source,
            next_node=result.next_node,
            source_xy=source_xy,
            entry_node=node,
            entry_source=source,
            entry_time_s=cost,
            entry_way=way,
            arr_start=arr_start,
            arr_source=point[order],
            arr_s0=s0[order],
            arr_d=d[order],
            arr_lo=lo[order],
            arr_hi=hi[order],
        )

    def fields(self, sources: Sequence[np.ndarray]) -> list[Field]:
        """:meth:`field` of each array of source points, in order, on every core at once:
        each is an independent Dijkstra run over the whole graph, and the compiled Dijkstra
        and entry costs let go of the GIL (the bench oblast's anchors and cores: 1.65-1.95 s
        one after the other with scipy's Dijkstra, 1.25-1.36 s together)."""
        if len(sources) < 2:
            return [self.field(xy) for xy in sources]
        _ = self.segments, self._reversed  # made once, before the threads share them
        with ThreadPoolExecutor(min(CORES, len(sources))) as pool:
            return list(pool.map(self.field, sources))

    # -- points --

    def trips(self, xy: np.ndarray, fields: Sequence[Field]) -> list[Trips]:
        """Each point's trip to the nearest source of each field (see the module docstring).

        Parameters
        ----------
        xy : np.ndarray
            (n, 2) points, metres in the region's projected CRS (reshaped to (n, 2)).
        fields : Sequence of Field
            Fields made by :meth:`field` on this model.

        Returns
        -------
        list of Trips
            One per field, in order, arrays of shape (n,): seconds (inf: no source within
            reach), the source's index (-1: none), the road node the trip drives to first and
            the OSM way it joins. `exit_node` is -1 for a straight walk and for a trip that
            stays on one segment; `depart_way` is -1 for a straight walk. Ties go to the lower
            source index.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        fields = list(fields)
        segs, walk = self.segments, self.walk
        n_fields, n_seg = len(fields), len(segs.length_m)
        time_s = np.full((n_fields, len(xy)), np.inf)
        source, exit_node, way = (np.full((n_fields, len(xy)), NO_SOURCE) for _ in range(3))
        if len(xy) == 0 or n_fields == 0:
            return [Trips(time_s[f], source[f], exit_node[f], way[f]) for f in range(n_fields)]
        reach_m = walk.max_m * (1 + 1e-12)
        for f, field in enumerate(fields):
            if field.n_sources:  # the straight walks, asked only where a source may be near
                near = np.flatnonzero(_maybe_within(xy, field.source_xy, reach_m))
                dist, src = field.source_tree.query(
                    xy[near], k=1, distance_upper_bound=reach_m, workers=-1
                )
                walked = np.isfinite(dist)
                time_s[f, near[walked]] = dist[walked] / walk.speed_mps
                source[f, near[walked]] = src[walked]
        # The fields' (source, piece) arrivals in one list grouped by segment, each field's in
        # its own order.
        arr_seg = np.concatenate([f.arrival_segment for f in fields])
        arr_field = np.repeat(np.arange(n_fields), [len(f.arr_source) for f in fields])
        by_seg = np.argsort(arr_seg, kind="stable")
        arr_start = np.zeros(n_seg + 1, np.int64)
        np.cumsum(np.bincount(arr_seg, minlength=n_seg), out=arr_start[1:])
        arrivals = (
            np.concatenate([getattr(f, name) for f in fields])[by_seg]
            for name in ("arr_source", "arr_s0", "arr_d", "arr_lo", "arr_hi")
        )
        time_a, time_b, source_a, source_b, piece_least, tile_least, tile_floor, tile_slope = (
            self._bounds(fields)
        )
        tiles = segs.tiles
        _point_trips(
            xy, _block_order(xy[:, 0], xy[:, 1], _POINT_BLOCK_M),
            time_s, source, exit_node, way,
            tiles.x0, tiles.y0, tiles.size_m, tiles.n_cols, tiles.n_rows, tiles.start,
            tiles.piece, tile_least, tile_floor, tile_slope, segs.half_piece_m,
            segs.piece_seg, segs.piece_lo, segs.piece_hi, piece_least,
            segs.start_x, segs.start_y, segs.unit_x, segs.unit_y, segs.length_m,
            segs.rate_ab, segs.rate_ba, segs.a, segs.b, segs.way_ab, segs.way_ba,
            time_a, time_b, source_a, source_b,
            arr_start, arr_field[by_seg], *arrivals, walk.speed_mps, walk.max_m,
        )  # fmt: skip
        return [Trips(time_s[f], source[f], exit_node[f], way[f]) for f in range(n_fields)]

    def _bounds(self, fields: Sequence[Field]) -> tuple[np.ndarray, ...]:
        """The point search's per-field arrays, one column per field (:func:`_field_bounds`):
        segment end times and sources, piece and tile bounds, and per tile the floor around it
        and the slope (:class:`_Tiles`)."""
        segs, walk, tiles = self.segments, self.walk, self.segments.tiles
        n_seg, n_fields, n_tiles = len(segs.length_m), len(fields), len(tiles.start) - 1
        time_a, time_b = np.empty((n_seg, n_fields)), np.empty((n_seg, n_fields))
        # int32: a source index is small, and at macro size this saves 160 MB of the peak
        source_a, source_b = (np.empty((n_seg, n_fields), np.int32) for _ in range(2))
        piece_least = np.empty((segs.n_pieces, n_fields))
        tile_least = np.empty((n_tiles, n_fields))
        # The bounds the search keeps are float32, rounded down so that they stay lower bounds
        # (the answers do not change): the tiles cover the region's bounding box, 11.5 M tiles
        # at the bench's macro size, where float64 bounds took 700 MB of the peak.
        tile_floor, tile_slope = (np.empty((n_tiles, n_fields), np.float32) for _ in range(2))
        reach_m = walk.max_m + segs.half_piece_m
        for f, field in enumerate(fields):
            own_walk = np.full(n_seg, np.inf)
            if len(field.arr_d):
                nearest = np.hypot(
                    field.arr_d, np.clip(field.arr_s0, field.arr_lo, field.arr_hi) - field.arr_s0
                )
                np.minimum.at(own_walk, field.arrival_segment, nearest / walk.speed_mps)
            _field_bounds(
                field.node_time_s, field.node_source, own_walk, f, segs.a, segs.b,
                segs.length_m, segs.rate_ab, segs.rate_ba, segs.piece_seg, segs.piece_lo,
                segs.piece_hi, tiles.start, tiles.piece,
                time_a, time_b, source_a, source_b, piece_least, tile_least,
            )  # fmt: skip
            tile_floor[:, f] = _float32_below(tiles.floor(tile_least[:, f], reach_m))
            tile_slope[:, f] = _float32_below(
                tiles.slope(tile_least[:, f], 0.5 * tiles.size_m / walk.speed_mps, reach_m)
            )
        return (
            time_a, time_b, source_a, source_b, _float32_below(piece_least),
            _float32_below(tile_least), tile_floor, tile_slope,
        )  # fmt: skip

    # -- other questions --

    def road_distance_m(self, xy: np.ndarray) -> np.ndarray:
        """Distance from each point to the nearest point of a joinable road (inf: no road).

        Not capped at ``snap_max_m``: a point far from every road gets its true distance.

        Parameters
        ----------
        xy : np.ndarray
            (n, 2) points, metres in the region's projected CRS (reshaped to (n, 2)).

        Returns
        -------
        np.ndarray
            (n,) planar metres to the nearest joinable segment; inf for every point when the
            graph has no joinable segment.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        segs = self.segments
        out = np.full(len(xy), np.inf)
        pending, k = np.arange(len(xy)), 8
        while len(pending) and segs.n_pieces:
            k = min(k, segs.n_pieces)
            dist, piece = segs.tree.query(xy[pending], k=k, workers=-1)
            dist, piece = dist.reshape(len(pending), k), piece.reshape(len(pending), k)
            flat = piece.ravel()
            s0, d = segs.foot(segs.piece_seg[flat], np.repeat(xy[pending], k, axis=0))
            s = np.clip(s0, segs.piece_lo[flat], segs.piece_hi[flat])
            near = np.hypot(d, s - s0).reshape(len(pending), k).min(axis=1)
            # A piece not looked at is at least its midpoint's distance less half a piece away.
            sure = (near <= dist[:, -1] - segs.half_piece_m) | (k == segs.n_pieces)
            out[pending[sure]] = near[sure]
            pending, k = pending[~sure], k * 4
        return out

    def times_within(self, source_xy, point_xy, limit_s: float) -> tuple[np.ndarray, ...]:
        """Every (source, point) pair whose trip from the point to that source *alone* takes
        at most `limit_s`: arrays (source, point, seconds). One Dijkstra run per source,
        stopped at the limit, in batches.

        Parameters
        ----------
        source_xy : array-like
            (m, 2) source points, metres in the region's projected CRS.
        point_xy : array-like
            (n, 2) points, metres in the same CRS.
        limit_s : float
            The longest trip kept, seconds (inclusive).

        Returns
        -------
        tuple of np.ndarray
            (source index int64, point index int64, seconds float), one entry per pair within
            the limit, sorted by source then point; all empty if there are no sources or no
            points.
        """
        source_xy = np.asarray(source_xy, dtype=float).reshape(-1, 2)
        point_xy = np.asarray(point_xy, dtype=float).reshape(-1, 2)
        n, m = self.graph.n_nodes, len(source_xy)
        if m == 0 or len(point_xy) == 0:
            return _no_pairs()
        whole = self.field(source_xy)
        csr = sources_csr(
            self._reversed, whole.entry_node, whole.entry_source, whole.entry_time_s, m
        )
        parts = []
        batch = max(1, _BATCH_FLOATS // (n + m))
        for start in range(0, m, batch):
            ids = np.arange(start, min(start + batch, m))
            rows = csgraph.dijkstra(csr, directed=True, indices=n + ids, limit=limit_s)
            for j, row in zip(ids, np.atleast_2d(rows), strict=True):
                [trips] = self.trips(point_xy, [whole.only(int(j), row[:n])])
                hit = np.flatnonzero(trips.time_s <= limit_s)
                parts.append((np.full(len(hit), j), hit, trips.time_s[hit]))
        return _concat_pairs(parts)


# --- the straight-line model ------------------------------------------------------------------------


@dataclass(frozen=True)
class _StraightField:
    source_xy: np.ndarray

    @cached_property
    def tree(self) -> cKDTree:
        return cKDTree(self.source_xy)


class StraightLineAccess:
    """The offline model without roads: time = straight distance × detour ÷ speed."""

    approximate = True

    def __init__(self, detour_factor: float, speed_kph: float) -> None:
        self.speed_mps = float(kph_to_mps(speed_kph)) / detour_factor

    def field(self, source_xy: np.ndarray) -> _StraightField:
        """The sources at `source_xy`, ready for :meth:`trips`.

        Parameters
        ----------
        source_xy : np.ndarray
            (m, 2) source points, metres in the region's projected CRS (reshaped to (m, 2)).

        Returns
        -------
        _StraightField
            The source points, with a KD-tree of them built on first use.
        """
        return _StraightField(np.asarray(source_xy, dtype=float).reshape(-1, 2))

    def fields(self, sources: Sequence[np.ndarray]) -> list[_StraightField]:
        """:meth:`field` of each array of source points, in order."""
        return [self.field(xy) for xy in sources]

    def trips(self, xy: np.ndarray, fields: Sequence) -> list[Trips]:
        """Each point's straight-line trip to the nearest source of each field.

        Parameters
        ----------
        xy : np.ndarray
            (n, 2) points, metres in the region's projected CRS (reshaped to (n, 2)).
        fields : Sequence of _StraightField
            Fields made by :meth:`field` on this model.

        Returns
        -------
        list of Trips
            One per field, in order, arrays of shape (n,): straight distance × detour ÷ speed
            in seconds and the nearest source's index, with no distance limit. A field with no
            sources gives inf and -1. `exit_node` and `depart_way` are always -1 (no roads).
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        out = []
        for f in fields:
            trips = Trips.none(len(xy))
            if len(f.source_xy) and len(xy):
                dist, source = f.tree.query(xy, k=1, workers=-1)
                trips.time_s[:] = dist / self.speed_mps
                trips.source[:] = source
            out.append(trips)
        return out

    def road_distance_m(self, xy: np.ndarray) -> np.ndarray:
        """Distance to the nearest road, which this model does not know.

        Parameters
        ----------
        xy : np.ndarray
            (n, 2) points; only their number is used.

        Returns
        -------
        np.ndarray
            (n,) NaN.
        """
        return np.full(len(xy), np.nan)

    def times_within(self, source_xy, point_xy, limit_s: float) -> tuple[np.ndarray, ...]:
        """Every (source, point) pair whose straight-line trip takes at most `limit_s`.

        Parameters
        ----------
        source_xy : array-like
            (m, 2) source points, metres in the region's projected CRS.
        point_xy : array-like
            (n, 2) points, metres in the same CRS.
        limit_s : float
            The longest trip kept, seconds (inclusive).

        Returns
        -------
        tuple of np.ndarray
            (source index int64, point index int64, seconds float), sorted by source then point;
            all empty if there are no sources or no points.
        """
        source_xy = np.asarray(source_xy, dtype=float).reshape(-1, 2)
        point_xy = np.asarray(point_xy, dtype=float).reshape(-1, 2)
        if len(source_xy) == 0 or len(point_xy) == 0:
            return _no_pairs()
        within = cKDTree(source_xy).sparse_distance_matrix(
            cKDTree(point_xy), limit_s * self.speed_mps * (1 + 1e-9), output_type="ndarray"
        )
        time_s = within["v"] / self.speed_mps
        keep = time_s <= limit_s
        return _sorted_pairs(within["i"][keep], within["j"][keep], time_s[keep])


def _no_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)


def _concat_pairs(parts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        return _no_pairs()
    source, point, time_s = (np.concatenate(p) for p in zip(*parts, strict=True))
    return _sorted_pairs(source, point, time_s)


def _sorted_pairs(source, point, time_s):
    order = np.lexsort((point, source))
    return (
        np.asarray(source, np.int64)[order],
        np.asarray(point, np.int64)[order],
        np.asarray(time_s, float)[order],
    )
