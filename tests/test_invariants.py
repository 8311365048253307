"""Invariants of settlement and raster-cell times, property-tested with hypothesis.

Each example is a random road network in a 3 km square — either 2–12 nodes anywhere, or up to
40 nodes packed close together (where any cap on how many road points a place looks at would
bite) — with random two-way and one-way roads at 20/45/90 km/h, random settlements (on road
nodes, at raster cell centres, or anywhere) and random anchors, run through the catchments
stage's own functions (:mod:`pipeline.access.walk_and_drive`, :func:`pipeline.access.catchments.compute_accessibility`):

* every time is non-negative (or unreachable), and an anchor's own time is zero;
* each settlement's time equals the independent oracle (tests/oracle.py: networkx over the
  road geometry densified every metre, brute force over every road point within the walk);
* adding an anchor never increases any settlement's or raster cell's time; removing a road
  never decreases one;
* a settlement and its raster cell differ by at most the walk between them, and a settlement
  lies in its anchor's catchment polygon unless a catchment border runs through its cell.

The two hand-built networks at the end are where the old "best of the 16 nearest road nodes"
rule broke both monotonicity invariants; they must hold there too.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer

from pipeline.access import catchments as ca
from pipeline.access.walk_and_drive import RoadAccess
from pipeline.config import RegionConfig
from pipeline.network.graph import RoadGraph
from tests.helpers.oracle import FLOAT_NOISE_S, Oracle, Way

CRS = "EPSG:32637"
ORIGIN = np.array([500_000.0, 6_650_000.0])  # metres, UTM 37N (near Vologda)
SIDE_M = 3_000.0
CELL_M = 250.0
SPEEDS_KPH = (20.0, 45.0, 90.0)

CFG = RegionConfig.model_validate(
    {
        "name": "invariants",
        "display_name": "Invariants",
        "crs": CRS,
        "anchors": {"names": ["-"]},  # anchors are given by position below
        "thresholds": {"bands_min": [5, 10, 20], "gap_min": 15},
        "network": {"snap_max_m": 800.0, "offroad_speed_kph": 5.0},
        "surface": {"cell_m": CELL_M},
    }
)
WALK_MPS = 5.0 / 3.6
GEOD = Geod(ellps="WGS84")
TO_LONLAT = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)

SETTINGS = settings(
    max_examples=30,
    derandomize=True,  # the same examples on every run
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PAIRED = settings(SETTINGS, max_examples=20)  # two runs per example


@dataclass(frozen=True)
class World:
    node_xy: np.ndarray  # (n, 2) metres from ORIGIN
    roads: tuple[tuple[int, int, float, bool], ...]  # (u, v, speed km/h, one-way u→v)
    settlement_xy: np.ndarray  # (m, 2) metres from ORIGIN
    anchors: tuple[int, ...]  # settlement positions


def lonlat_of(xy: np.ndarray) -> np.ndarray:
    lon, lat = TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def graph_of(world: World, roads=None) -> RoadGraph:
    """The directed road graph, each road's time its geodesic length at its speed (as the
    network stage computes it)."""
    roads = world.roads if roads is None else roads
    xy = ORIGIN + world.node_xy
    lonlat = lonlat_of(xy)
    # Nodes at one place are one node, as the network stage makes them (one per coordinate).
    _, first, same = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    same = first[same.ravel()]
    u, v, t = [], [], []
    for a, b, speed_kph, oneway in roads:
        a, b = int(same[a]), int(same[b])
        if a == b:
            continue
        length_m = GEOD.inv(*lonlat[a], *lonlat[b])[2]
        time_s = max(length_m / (speed_kph / 3.6), 1e-3)
        u.append(a), v.append(b), t.append(time_s)
        if not oneway:
            u.append(b), v.append(a), t.append(time_s)
    n_edges = len(u)
    return RoadGraph(
        crs_wkt="",
        node_xy=xy,
        node_lonlat=lonlat,
        edge_u=np.asarray(u, dtype=np.int64),
        edge_v=np.asarray(v, dtype=np.int64),
        edge_time_s=np.asarray(t, dtype=float),
        edge_length_m=np.ones(n_edges),
        edge_way=np.zeros(n_edges, dtype=np.int64),
    )


def settlements_of(world: World) -> gpd.GeoDataFrame:
    m = len(world.settlement_xy)
    return gpd.GeoDataFrame(
        {
            "osm_type": "node",
            "osm_id": np.arange(1, m + 1),
            "name": [f"S{i}" for i in range(m)],
            "place": "village",
            "population": pd.array([100] * m, dtype="Int64"),
            "district": None,
        },
        geometry=shapely.points(ORIGIN + world.settlement_xy),
        crs=CRS,
    )


def accessibility(world: World, anchors=None, roads=None) -> ca.Accessibility:
    """What the catchments stage computes for this world (no cores)."""
    graph = graph_of(world, roads)
    region = gpd.GeoSeries([shapely.box(*ORIGIN, *(ORIGIN + SIDE_M))], crs=CRS)
    anchor_pos = np.unique(np.asarray(world.anchors if anchors is None else anchors))
    model = RoadAccess.of(graph, CFG.network.offroad_speed_kph, CFG.network.snap_max_m)
    return ca.compute_accessibility(
        settlements_of(world), region, anchor_pos, np.array([], dtype=np.int64), model, CFG
    )


def oracle_of(world: World, anchors) -> Oracle:
    """The independent oracle on the same roads (straight two-vertex ways)."""
    xy = ORIGIN + world.node_xy
    ways = [
        Way(lonlat_of(xy[[a, b]]), speed_kph=speed, forward=True, backward=not oneway)
        for a, b, speed, oneway in world.roads
        if a != b and not np.array_equal(xy[a], xy[b])
    ]
    return Oracle(
        ways,
        ORIGIN + world.settlement_xy[sorted(set(anchors))],
        crs=CRS,
        snap_max_m=CFG.network.snap_max_m,
        walk_kph=CFG.network.offroad_speed_kph,
        ferry_wait_min=0.0,
        step_m=1.0,
    )


def cell_times_s(result: ca.Accessibility) -> np.ndarray:
    """Every raster cell's time to its anchor, seconds (inf: none), in grid order."""
    return np.nan_to_num(result.rasters["anchor_time_min"] * 60.0, nan=np.inf)


def times_s(result: ca.Accessibility) -> np.ndarray:
    """Each settlement's time to its anchor, seconds (inf: unreachable)."""
    return result.settlements["anchor_time_min"].fillna(np.inf).to_numpy(dtype=float) * 60.0


# --- random worlds ---------------------------------------------------------------------------

_COORD = st.floats(0.0, SIDE_M, allow_nan=False, allow_infinity=False)
_CENTRES = np.arange(CELL_M / 2, SIDE_M, CELL_M)


@st.composite
def worlds(draw) -> World:
    """A few road nodes anywhere, or many packed within 300 m of a point (a village's lanes)."""
    packed = draw(st.booleans())
    if packed:
        n = draw(st.integers(12, 40))
        centre = np.array([draw(_COORD), draw(_COORD)])
        near = st.floats(-300.0, 300.0, allow_nan=False, allow_infinity=False)
        node_xy = np.clip(
            centre + np.array([[draw(near), draw(near)] for _ in range(n)]), 0, SIDE_M
        )
        node_xy[:2] = [[draw(_COORD), draw(_COORD)] for _ in range(2)]  # and two far away
    else:
        n = draw(st.integers(2, 12))
        node_xy = np.array([[draw(_COORD), draw(_COORD)] for _ in range(n)])
    node = st.integers(0, n - 1)
    roads = draw(
        st.lists(
            st.tuples(node, node, st.sampled_from(SPEEDS_KPH), st.booleans()),
            min_size=1,
            max_size=2 * n,
        )
    )
    where = st.one_of(
        node.map(lambda i: tuple(node_xy[i])),  # in a village on the road
        st.tuples(st.sampled_from(_CENTRES), st.sampled_from(_CENTRES)),  # at a cell centre
        st.tuples(_COORD, _COORD),  # anywhere
    )
    places = draw(st.lists(where, min_size=2, max_size=8))
    anchors = draw(st.lists(st.integers(0, len(places) - 1), min_size=1, max_size=3, unique=True))
    return World(node_xy, tuple(roads), np.array(places, dtype=float), tuple(anchors))


# --- the invariants --------------------------------------------------------------------------


@SETTINGS
@given(worlds())
def test_times_are_sane_equal_the_oracle_and_fit_the_catchments(world: World) -> None:
    result = accessibility(world)
    t = times_s(result)
    assert np.all(t >= 0)
    assert np.all(t[list(world.anchors)] == 0)
    oracle = oracle_of(world, world.anchors).times(ORIGIN + world.settlement_xy)
    tol = 2.0 / WALK_MPS  # the oracle's densification error, 1 m steps (tests/oracle.py)
    sure = np.isfinite(oracle.strict) == np.isfinite(oracle.relaxed)  # not R ± 1 m from a road
    assert np.array_equal(np.isfinite(t[sure]), np.isfinite(oracle.strict[sure]))
    ok = sure & np.isfinite(t)
    assert np.all(t[ok] <= oracle.strict[ok] + FLOAT_NOISE_S)
    assert np.all(t[ok] >= oracle.relaxed[ok] - tol)
    assert_settlements_agree_with_their_cells(result, world)


def assert_settlements_agree_with_their_cells(result: ca.Accessibility, world: World) -> None:
    """A settlement's time and its cell's differ by at most the walk between them (the rule is
    a minimum over walks, so moving the start by d changes it by at most d / walk speed, unless
    the walk limit cuts in); it lies in its anchor's catchment polygon unless a catchment border
    runs through its cell. Points on a cell's edge belong to no one cell: skipped."""
    s = result.settlements
    cells = result.rasters["anchor_id"]
    cell_min = result.rasters["anchor_time_min"]
    polygons = result.catchments.set_index("anchor_id").geometry
    transform = result.grid.transform
    limit = CFG.network.snap_max_m
    model_roads = s["road_distance_m"].to_numpy(dtype=float)
    for i, (own, point) in enumerate(zip(s["anchor_id"], s.geometry, strict=True)):
        col_f, row_f = ~transform @ (point.x, point.y)
        on_edge = np.isclose(col_f % 1, 0) or np.isclose(row_f % 1, 0)
        row, col = int(row_f), int(col_f)
        if on_edge or not (0 <= row < cells.shape[0] and 0 <= col < cells.shape[1]):
            continue
        centre = np.array(transform @ (col + 0.5, row + 0.5))
        apart_m = float(np.hypot(*(centre - (point.x, point.y))))
        mine = s["anchor_time_min"].iloc[i] * 60.0
        theirs = cell_min[row, col] * 60.0
        near_limit = abs(model_roads[i] - limit) <= apart_m + 1.0
        if np.isfinite(mine) and np.isfinite(theirs) and not near_limit:
            assert abs(mine - theirs) <= apart_m / WALK_MPS + 1e-6, (i, mine, theirs)
        if pd.notna(own) and cells[row, col] == own:
            assert polygons[int(own)].covers(point), (i, own)


@PAIRED
@given(worlds(), st.data())
def test_adding_an_anchor_never_increases_a_time(world: World, data) -> None:
    extra = data.draw(st.integers(0, len(world.settlement_xy) - 1), label="new anchor")
    before_result = accessibility(world)
    after_result = accessibility(world, anchors=(*world.anchors, extra))
    before, after = times_s(before_result), times_s(after_result)
    assert np.all(after <= before + 1e-9)
    assert after[extra] == 0
    assert np.all(cell_times_s(after_result) <= cell_times_s(before_result) + 1e-9)


@PAIRED
@given(worlds(), st.data())
def test_removing_a_road_never_decreases_a_time(world: World, data) -> None:
    gone = data.draw(st.integers(0, len(world.roads) - 1), label="road removed")
    before_result = accessibility(world)
    after_result = accessibility(world, roads=world.roads[:gone] + world.roads[gone + 1 :])
    assert np.all(times_s(after_result) >= times_s(before_result) - 1e-9)
    assert np.all(cell_times_s(after_result) >= cell_times_s(before_result) - 1e-9)


# --- where the old k-nearest rule broke them -------------------------------------------------

HOME = np.array([1_000.0, 1_500.0])


def _cluster_world(*, cluster_leads_to_anchor: bool) -> tuple[World, int]:
    """A village with 16 road nodes of its own within 150 m, and a fast road 600 m east.

    Node 0 (600 m east of the village) is on a 90 km/h road to the anchor town at node 1,
    1 km farther east. Nodes 2–17 ring the village at 120–150 m, chained by 20 km/h lanes to
    node 18, 2.5 km west, where a second town stands; with `cluster_leads_to_anchor` a long
    20 km/h track also joins node 18 to the anchor town. Returns the world and the position
    of the second town among the settlements.
    """
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    radii = np.where(np.arange(16) % 2 == 0, 120.0, 150.0)
    ring = HOME + np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
    nodes = np.vstack(
        [
            HOME + np.array([600.0, 0.0]),
            HOME + np.array([1_600.0, 0.0]),
            ring,
            HOME - np.array([2_500.0, 0.0]),
        ]
    )
    roads = [(0, 1, 90.0, False)]
    roads += [(i, i + 1, 20.0, False) for i in range(2, 17)] + [(17, 18, 20.0, False)]
    if cluster_leads_to_anchor:
        roads += [(18, 1, 20.0, False)]
    places = np.vstack([HOME, nodes[1], nodes[18]])  # village, anchor town, second town
    return World(nodes, tuple(roads), places, anchors=(1,)), 2


def test_adding_an_anchor_never_increases_a_time_with_many_nodes_near() -> None:
    world, second_town = _cluster_world(cluster_leads_to_anchor=False)
    before = times_s(accessibility(world))
    after = times_s(accessibility(world, anchors=(1, second_town)))
    # The village walks 600 m to the fast road (432 s) and drives 1 km (40 s): 7.87 min. The
    # fast road's exit point lies a little towards the town, so a few seconds less.
    assert before[0] / 60 == pytest.approx(7.87, abs=0.05)
    assert np.all(after <= before + 1e-9)  # the old rule gave the village 9.7 min here


def test_removing_a_road_never_decreases_a_time_with_many_nodes_near() -> None:
    world, _ = _cluster_world(cluster_leads_to_anchor=True)
    slow_track = world.roads.index((18, 1, 20.0, False))
    before = times_s(accessibility(world))
    after = times_s(accessibility(world, roads=world.roads[:slow_track]))
    assert after[0] / 60 == pytest.approx(7.87, abs=0.05)
    assert np.all(after >= before - 1e-9)  # the old rule gave ≈ 22 min before the removal
