"""The walk-and-drive rule (pipeline/access/walk_and_drive.py) on tiny hand-made graphs, times worked out by hand.

Coordinates are planar metres; edge times are given directly, so every expected time below is
arithmetic: walking at 3.6 km/h = 1 m/s, so a walk of d metres takes d seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.access.walk_and_drive import RoadAccess
from pipeline.network.graph import FLAG_NO_JOIN, RoadGraph

WALK_KPH = 3.6  # 1 m/s


def graph(node_xy, edges, flags=None) -> RoadGraph:
    """Edges (u, v, seconds); a two-way road is two edges."""
    u, v, t = (np.array(x) for x in zip(*edges, strict=True))
    n = len(u)
    return RoadGraph(
        crs_wkt="",
        node_xy=np.asarray(node_xy, dtype=float),
        node_lonlat=np.asarray(node_xy, dtype=float),
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        edge_time_s=t.astype(float),
        edge_length_m=np.ones(n),
        edge_way=np.arange(n, dtype=np.int64) + 100,
        edge_flags=np.zeros(n, np.uint8) if flags is None else np.asarray(flags, np.uint8),
    )


def times(g: RoadGraph, sources, points, max_m=2000.0):
    access = RoadAccess.of(g, WALK_KPH, max_m)
    [trips] = access.trips(np.asarray(points, float), [access.field(np.asarray(sources, float))])
    return trips


def walk_then_drive_s(d: float, along_m: float, drive_mps: float) -> float:
    """Walking d metres off a straight road at 1 m/s, then driving along it `along_m` from the
    foot of the perpendicular: the best meeting point lies q·d/√(1−q²) ahead (q = 1/drive
    speed), which gives d·√(1−q²) + along_m / drive_mps."""
    q = 1.0 / drive_mps
    return d * math.sqrt(1 - q * q) + along_m / drive_mps


def test_a_village_beside_a_long_straight_road_walks_to_the_road_not_to_a_vertex():
    # A 3 km road with vertices only at its ends, 100 s end to end (30 m/s); the anchor at x=0.
    g = graph([[0, 0], [3000, 0]], [(0, 1, 100.0), (1, 0, 100.0)])
    trips = times(g, [[0, 0]], [[1500, 100]], max_m=1000.0)
    # The nearest vertex is 1.5 km away, beyond the walk limit: the old rule had no road here.
    assert trips.time_s[0] == pytest.approx(walk_then_drive_s(100, 1500, 30.0), abs=1e-6)
    assert trips.depart_way[0] == 101  # driven west, on the edge 1 → 0


def test_one_way_roads_are_driven_the_way_they_go():
    # One-way 0 → 1 (east), 60 s; the anchor at the east end; a village beside the road near
    # the east end must still drive east; a village beside it but the anchor at the west end
    # cannot drive west: it walks to the west end instead (or straight to the anchor).
    g = graph([[0, 0], [1800, 0]], [(0, 1, 60.0)])
    east = times(g, [[1800, 0]], [[900, 30]])
    assert east.time_s[0] == pytest.approx(walk_then_drive_s(30, 900, 30.0), abs=1e-6)
    west = times(g, [[0, 0]], [[900, 30]], max_m=2000.0)
    assert west.time_s[0] == pytest.approx(math.hypot(900, 30), abs=1e-6)  # straight walk


def test_an_anchor_and_a_village_on_one_segment_drive_straight_between_them():
    # Both are 50 m off a 4 km segment (two-way, 40 m/s), 2 km apart along it.
    g = graph([[0, 0], [4000, 0]], [(0, 1, 100.0), (1, 0, 100.0)])
    trips = times(g, [[3000, 50]], [[1000, 50]], max_m=500.0)
    q = 1 / 40.0
    walk = 50 * math.sqrt(1 - q * q)  # each walk meets the road a little towards the other
    assert trips.time_s[0] == pytest.approx(2 * walk + 2000 / 40.0, abs=1e-6)
    assert trips.exit_node[0] == -1  # no road node on the way


def test_a_point_walks_straight_to_a_source_when_that_is_faster():
    g = graph([[0, 0], [1000, 0]], [(0, 1, 10.0), (1, 0, 10.0)])
    trips = times(g, [[0, 300]], [[0, 600]], max_m=1000.0)
    assert trips.time_s[0] == pytest.approx(300.0)
    assert trips.exit_node[0] == -1 and trips.depart_way[0] == -1


def test_nobody_beyond_the_walk_from_every_road_and_source_is_timed():
    g = graph([[0, 0], [1000, 0]], [(0, 1, 10.0), (1, 0, 10.0)])
    trips = times(g, [[0, 0]], [[500, 1500]], max_m=1000.0)
    assert math.isinf(trips.time_s[0]) and trips.source[0] == -1


def test_a_ferry_or_a_motorway_is_never_walked_onto():
    # A 2 km link between the anchor's road end and a far end, not joinable (a motorway): a
    # village beside its middle has no road to walk to.
    g = graph([[0, 0], [2000, 0]], [(0, 1, 20.0), (1, 0, 20.0)], flags=[FLAG_NO_JOIN] * 2)
    trips = times(g, [[0, 0]], [[1000, 100]], max_m=500.0)
    assert math.isinf(trips.time_s[0])


def test_the_nearest_of_several_sources_wins_and_is_named_by_its_index():
    g = graph(
        [[0, 0], [1000, 0], [2000, 0]], [(0, 1, 10.0), (1, 0, 10.0), (1, 2, 10.0), (2, 1, 10.0)]
    )
    trips = times(g, [[0, 0], [2000, 0]], [[1800, 0], [200, 0]])
    assert trips.source.tolist() == [1, 0]
    assert trips.time_s == pytest.approx([2.0, 2.0])  # 200 m of a 10 s / km road


def test_road_distance_is_to_the_nearest_point_of_a_road():
    g = graph([[0, 0], [3000, 0]], [(0, 1, 100.0), (1, 0, 100.0)])
    access = RoadAccess.of(g, WALK_KPH, 1000.0)
    got = access.road_distance_m(np.array([[1500.0, 100.0], [-300.0, 400.0], [1000.0, 0.0]]))
    assert got == pytest.approx([100.0, 500.0, 0.0])


def test_several_fields_searched_together_each_get_their_own_answer():
    """Anchors and cores are searched in one pass; each field's trips must be what that field
    gets searched alone, and the hand-worked times hold (200 m at 10 s / km = 2 s)."""
    g = graph(
        [[0, 0], [1000, 0], [2000, 0]], [(0, 1, 10.0), (1, 0, 10.0), (1, 2, 10.0), (2, 1, 10.0)]
    )
    access = RoadAccess.of(g, WALK_KPH, 2000.0)
    points = np.array([[1800.0, 0.0], [200.0, 0.0], [1000.0, 50.0]])
    near_ends = access.field(np.array([[0.0, 0.0], [2000.0, 0.0]]))
    middle = access.field(np.array([[1000.0, 0.0]]))
    together = access.trips(points, [near_ends, middle])
    for field, got in zip([near_ends, middle], together, strict=True):
        [alone] = access.trips(points, [field])
        for name in ("time_s", "source", "exit_node", "depart_way"):
            assert np.array_equal(getattr(got, name), getattr(alone, name)), name
    assert together[0].source.tolist() == [1, 0, 0]
    assert together[0].time_s[:2] == pytest.approx([2.0, 2.0])
    assert together[1].time_s[:2] == pytest.approx([8.0, 8.0])  # 800 m of road to the middle
    assert together[1].time_s[2] == pytest.approx(50.0)  # walks 50 m straight to it


def test_fields_made_together_are_the_fields_made_one_by_one():
    """`fields` makes its fields on two threads; each must be exactly what `field` makes."""
    g = graph(
        [[0, 0], [1000, 0], [2000, 0], [2000, 900]],
        [(0, 1, 10.0), (1, 0, 10.0), (1, 2, 10.0), (2, 1, 10.0), (2, 3, 40.0)],  # 2 → 3 one way
    )
    sources = [np.array([[0.0, 0.0], [2000.0, 0.0]]), np.array([[1000.0, 30.0]]), np.zeros((0, 2))]
    together = RoadAccess.of(g, WALK_KPH, 2000.0).fields(sources)
    for xy, got in zip(sources, together, strict=True):
        alone = RoadAccess.of(g, WALK_KPH, 2000.0).field(xy)
        for name in ("node_time_s", "node_source", "next_node", "entry_node", "entry_time_s"):
            assert np.array_equal(getattr(got, name), getattr(alone, name)), name
    # 30 m walked straight down to node 1; from nodes 0 and 2, 1 km of road at 100 m/s, left
    # at the best angle; node 3 has no way on (2 → 3 is one way).
    end = walk_then_drive_s(30.0, 1000.0, 100.0)
    assert together[1].node_time_s.tolist() == pytest.approx([end, 30.0, end, np.inf])


def test_search_bounds_kept_in_float32_never_rise_above_the_float64_value():
    from pipeline.access.walk_and_drive import _float32_below

    values = np.concatenate(
        [np.random.default_rng(0).uniform(0, 1e6, 10_000), [0.0, 1 / 3, np.inf, 1e39]]
    )
    single = _float32_below(values)
    assert single.dtype == np.float32
    assert (single.astype(np.float64) <= values).all()
    # and no lower than needed: the next float32 up is above the value; inf stays inf
    finite = np.isfinite(values)
    with np.errstate(over="ignore"):  # the float32 max (1e39 rounded down) goes up to inf
        above = np.nextafter(single[finite], np.float32(np.inf)).astype(np.float64)
    assert (above > values[finite]).all()
    assert single[~finite].tolist() == [np.inf]


def test_the_straight_walk_prefilter_never_drops_a_point_within_reach():
    from pipeline.access.walk_and_drive import _maybe_within

    rng = np.random.default_rng(1)
    points = rng.uniform(-5000, 5000, (20_000, 2))
    sources = np.array([[0.0, 0.0], [4990.0, -4990.0], [-5400.0, 100.0]])  # one beyond the points
    reach = 700.0
    within = (np.hypot(*(points[:, None, :] - sources[None]).transpose(2, 0, 1)) <= reach).any(1)
    kept = _maybe_within(points, sources, reach)
    assert within.any() and kept[within].all()
    assert kept.mean() < 0.2  # it does filter


def test_a_point_without_coordinates_gets_no_time_and_spoils_no_other():
    g = graph([[0, 0], [1000, 0]], [(0, 1, 10.0), (1, 0, 10.0)])
    trips = times(g, [[0, 0]], [[np.nan, np.nan], [1000, 0], [np.nan, 5.0]])
    assert trips.source.tolist() == [-1, 0, -1]
    assert np.isinf(trips.time_s[[0, 2]]).all()
    assert trips.time_s[1] == pytest.approx(10.0)


def test_a_segment_drives_each_way_by_its_fastest_edge_and_only_joinable_edges_count():
    # Nodes 0-1: a road 200 m long with three edges 0 → 1 (60 s, and two of 30 s: the first of
    # them counts) and one 1 → 0 (90 s). Nodes 1-2: a ferry (never joined). Nodes 2-3: the
    # same point, a segment with nothing to walk to. Node 4: a one-way street 1 → 4.
    xy = [[0, 0], [200, 0], [200, 500], [200, 500], [400, 0]]
    edges = [
        (0, 1, 60.0), (1, 0, 90.0), (0, 1, 30.0), (0, 1, 30.0),
        (1, 2, 10.0), (2, 1, 10.0), (2, 3, 5.0), (1, 4, 20.0),
    ]  # fmt: skip
    flags = [0, 0, 0, 0, FLAG_NO_JOIN, FLAG_NO_JOIN, 0, 0]
    segs = RoadAccess.of(graph(xy, edges, flags), WALK_KPH, 2000.0).segments
    found = {
        (int(a), int(b)): (rate_ab * length, rate_ba * length, int(way_ab), int(way_ba))
        for a, b, rate_ab, rate_ba, way_ab, way_ba, length in zip(
            segs.a, segs.b, segs.rate_ab, segs.rate_ba, segs.way_ab, segs.way_ba, segs.length_m,
            strict=True,
        )
    }  # fmt: skip
    # edge_way is the edge's index + 100 (the `graph` helper)
    assert found == {(0, 1): (30.0, 90.0, 102, 101), (1, 4): (20.0, np.inf, 107, -1)}


def test_segments_are_cut_into_equal_pieces_no_longer_than_a_piece():
    from pipeline.access.walk_and_drive import PIECE_M, _pieces

    rng = np.random.default_rng(3)
    length = np.r_[1e-3, PIECE_M, PIECE_M * (1 + 1e-12), 250.0, 3 * PIECE_M, rng.random(200) * 900]
    angle = rng.random(len(length)) * 2 * np.pi
    start = rng.random((len(length), 2)) * 1e5
    unit = np.column_stack([np.cos(angle), np.sin(angle)])
    seg, lo, hi, mid, longest = _pieces(
        start[:, 0], start[:, 1], unit[:, 0], unit[:, 1], length, PIECE_M
    )
    counts = np.bincount(seg, minlength=len(length))
    assert counts[:5].tolist() == [1, 1, 2, 3, 3]  # by hand
    assert (counts == np.maximum(1, np.ceil(length / PIECE_M))).all()
    assert (np.diff(seg) >= 0).all()  # in segment order
    first = np.r_[0, np.cumsum(counts)[:-1]]
    last = np.cumsum(counts) - 1
    assert (lo[first] == 0).all() and (hi[last] <= length).all()  # never past the end
    np.testing.assert_allclose(hi[last], length, rtol=1e-12)
    inner = np.flatnonzero(np.diff(seg) == 0)
    np.testing.assert_allclose(hi[inner], lo[inner + 1], rtol=1e-12)  # no gap, no overlap
    pieces = hi - lo
    assert (pieces <= PIECE_M * (1 + 1e-12)).all()
    np.testing.assert_allclose(pieces, (length / counts)[seg], rtol=1e-9)  # equal pieces
    assert longest == pytest.approx(pieces.max(), rel=1e-12) and longest <= PIECE_M * (1 + 1e-12)
    # each midpoint on its segment, halfway along its piece
    np.testing.assert_allclose(mid, start[seg] + unit[seg] * ((lo + hi) / 2)[:, None], atol=1e-9)


def test_tiles_list_every_point_in_the_square_it_lies_in():
    from pipeline.access.walk_and_drive import _Tiles

    rng = np.random.default_rng(5)
    for n in (1, 7, 5000):
        xy = rng.random((n, 2)) * [3000.0, 1700.0] - 800.0
        for points in (xy, xy[np.lexsort(((xy[:, 0] + 800) // 500, (xy[:, 1] + 800) // 500))]):
            tiles = _Tiles.of(points, 500.0)
            col = np.floor((points[:, 0] - points[:, 0].min()) / 500.0).astype(int)
            row = np.floor((points[:, 1] - points[:, 1].min()) / 500.0).astype(int)
            assert tiles.n_cols == col.max() + 1 and tiles.n_rows == row.max() + 1
            assert tiles.start[0] == 0 and tiles.start[-1] == n
            assert sorted(tiles.piece.tolist()) == list(range(n))
            for t in range(tiles.n_cols * tiles.n_rows):
                listed = tiles.piece[tiles.start[t] : tiles.start[t + 1]].tolist()
                inside = np.flatnonzero(row * tiles.n_cols + col == t).tolist()
                assert listed == inside  # in the points' own order within a tile
