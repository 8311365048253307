"""The road graph: edge times worked out by hand from length (pyproj.Geod) and the speed rules.

Every expected time below is length ÷ speed with the speed taken from the tagging rules, never
from :func:`pipeline.network.graph.edge_speeds_kph` itself.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS, Geod

from pipeline.config import DEFAULT_SPEEDS_KPH, NetworkConfig, RegionConfig
from pipeline.config.schema import SeasonConfig
from pipeline.inputs.osm import ROAD_TAGS, read_pbf
from pipeline.network.graph import (
    FLAG_BOARDING,
    FLAG_FERRY,
    FLAG_GRAVEL,
    FLAG_SOFT,
    FLAG_WINTER,
    MIN_EDGE_TIME_S,
    RoadGraph,
    apply_season,
    build_graph,
    driveable,
    parse_duration_s,
    parse_maxspeed_kph,
)
from tests.helpers.osm_builder import OsmBuilder

CRS_UTM = CRS.from_user_input("EPSG:32637")  # UTM 37N: the test area at 39°E, 60°N
GEOD = Geod(ellps="WGS84")
DEFAULT_NET = NetworkConfig()
DEFAULT_CFG = RegionConfig.model_validate(
    {"name": "t", "display_name": "T", "anchors": {"names": ["A"]}}
)

# Three points on the parallel 60°N, about 1.1 km apart, and one to the north.
P0, P1, P2 = (39.00, 60.00), (39.02, 60.00), (39.05, 60.00)
PN = (39.00, 60.01)


def geod_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Ellipsoidal distance in metres, the independent length of a straight segment."""
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def roads_frame(*roads: dict) -> gpd.GeoDataFrame:
    """A roads table shaped like the extract's: every ROAD_TAGS column, `ferry`, EPSG:4326.

    Each road is a dict with `coords` (lon, lat pairs) and any OSM tags; `route="ferry"`
    sets the ferry flag as :mod:`pipeline.inputs.osm` does.
    """
    rows, geoms = [], []
    for i, road in enumerate(roads, start=1):
        tags = {k: v for k, v in road.items() if k != "coords"}
        ferry = tags.pop("route", None) == "ferry"
        rows.append({"osm_id": i, **{k: tags.get(k) for k in ROAD_TAGS}, "ferry": ferry})
        geoms.append(shapely.LineString(road["coords"]))
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs="EPSG:4326")


def edge_times(roads: gpd.GeoDataFrame, net: NetworkConfig = DEFAULT_NET) -> dict:
    """{((lon, lat), (lon, lat)): seconds} for every directed edge of the built graph."""
    g = build_graph(roads, net, CRS_UTM)
    ll = np.round(g.node_lonlat, 7)
    return {
        (tuple(ll[u]), tuple(ll[v])): t
        for u, v, t in zip(g.edge_u, g.edge_v, g.edge_time_s, strict=True)
    }


def kph(speed: float) -> float:
    """km/h → m/s."""
    return speed / 3.6


# --- speeds ----------------------------------------------------------------------------------


def test_primary_road_time_is_length_over_class_speed():
    length = geod_m(P0, P1)  # ≈ 1 114 m along 60°N
    g = build_graph(roads_frame({"coords": [P0, P1], "highway": "primary"}), DEFAULT_NET, CRS_UTM)
    assert g.n_nodes == 2
    assert len(g.edge_u) == 2  # two-way road: both directions
    np.testing.assert_allclose(g.edge_length_m, [length, length], rtol=1e-9)
    # 80 km/h = 22.22 m/s → ≈ 50.1 s
    np.testing.assert_allclose(g.edge_time_s, length / kph(80.0), rtol=1e-9)
    assert set(g.edge_way) == {1}


def test_multi_segment_road_sums_its_segments():
    times = edge_times(roads_frame({"coords": [P0, P1, P2], "highway": "tertiary"}))
    assert len(times) == 4
    assert times[(P0, P1)] == pytest.approx(geod_m(P0, P1) / kph(60.0), rel=1e-9)
    assert times[(P2, P1)] == pytest.approx(geod_m(P1, P2) / kph(60.0), rel=1e-9)


@pytest.mark.parametrize(("maxspeed", "expected_kph"), [("50", 50.0), ("30 mph", 30 * 1.609344)])
def test_lower_maxspeed_caps_the_class_speed(maxspeed, expected_kph):
    times = edge_times(
        roads_frame({"coords": [P0, P1], "highway": "primary", "maxspeed": maxspeed})
    )
    assert times[(P0, P1)] == pytest.approx(geod_m(P0, P1) / kph(expected_kph), rel=1e-9)


@pytest.mark.parametrize("maxspeed", ["130", "RU:motorway", "none", "signals"])
def test_higher_or_unreadable_maxspeed_keeps_the_class_speed(maxspeed):
    times = edge_times(
        roads_frame({"coords": [P0, P1], "highway": "primary", "maxspeed": maxspeed})
    )
    assert times[(P0, P1)] == pytest.approx(geod_m(P0, P1) / kph(80.0), rel=1e-9)


def test_unpaved_surface_slows_the_road():
    # secondary 70 km/h × unpaved 0.7 = 49 km/h
    times = edge_times(
        roads_frame({"coords": [P0, P1], "highway": "secondary", "surface": "unpaved"})
    )
    assert times[(P0, P1)] == pytest.approx(geod_m(P0, P1) / kph(49.0), rel=1e-9)


def test_tracktype_grade4_slows_a_track():
    # track 20 km/h × grade4 0.45 = 9 km/h
    times = edge_times(roads_frame({"coords": [P0, P1], "highway": "track", "tracktype": "grade4"}))
    assert times[(P0, P1)] == pytest.approx(geod_m(P0, P1) / kph(9.0), rel=1e-9)


def test_surface_and_tracktype_take_the_smaller_factor():
    # track 20 km/h × min(gravel 0.7, grade4 0.45) = 9 km/h; × min(dirt 0.5, grade2 0.8) = 10 km/h
    times = edge_times(
        roads_frame(
            {"coords": [P0, P1], "highway": "track", "surface": "gravel", "tracktype": "grade4"},
            {"coords": [P1, P2], "highway": "track", "surface": "dirt", "tracktype": "grade2"},
        )
    )
    assert times[(P0, P1)] == pytest.approx(geod_m(P0, P1) / kph(9.0), rel=1e-9)
    assert times[(P1, P2)] == pytest.approx(geod_m(P1, P2) / kph(10.0), rel=1e-9)


def test_speed_override_from_the_region_file():
    net = NetworkConfig(speeds_kph={"primary": 60.0})
    times = edge_times(roads_frame({"coords": [P0, P1], "highway": "primary"}), net)
    assert times[(P0, P1)] == pytest.approx(geod_m(P0, P1) / kph(60.0), rel=1e-9)


# --- ferries ---------------------------------------------------------------------------------


def crossing_s(roads: gpd.GeoDataFrame, start, end, net: NetworkConfig = DEFAULT_NET) -> float:
    """Seconds from the road node at `start` to the road node at `end` (networkx on the graph's
    edge list), so boarding and sailing are both counted."""
    import networkx as nx

    g = build_graph(roads, net, CRS_UTM)
    on_road = (g.edge_flags & (FLAG_FERRY | FLAG_BOARDING)) == 0
    ll = np.round(g.node_lonlat, 7)
    at = {tuple(ll[n]): int(n) for n in np.unique(g.edge_u[on_road])}
    graph = nx.DiGraph()
    for u, v, t in zip(g.edge_u, g.edge_v, g.edge_time_s, strict=True):
        graph.add_edge(int(u), int(v), t=min(t, graph.get_edge_data(u, v, {"t": np.inf})["t"]))
    return nx.shortest_path_length(graph, at[start], at[end], weight="t")


def with_piers(*ferries: dict) -> gpd.GeoDataFrame:
    """The ferries plus a short road at each end, so the crossing runs from road to road."""
    piers = []
    for ferry in ferries:
        for lon, lat in (ferry["coords"][0], ferry["coords"][-1]):
            piers.append({"coords": [(lon, lat), (lon, lat + 0.001)], "highway": "residential"})
    return roads_frame(*ferries, *piers)


def test_ferry_with_duration_costs_duration_shared_by_length_plus_the_wait_to_board():
    ferry = {"coords": [P0, P1, P2], "route": "ferry", "duration": "00:30"}
    times = edge_times(roads_frame(ferry))
    # 30 min sailing for the whole crossing, either way, split by length: P0-P1 is 0.02° of
    # 0.05° of longitude → 40 % → 720 s
    assert times[(P0, P1)] + times[(P1, P2)] == pytest.approx(1800.0, rel=1e-9)
    assert times[(P2, P1)] + times[(P1, P0)] == pytest.approx(1800.0, rel=1e-9)
    share = geod_m(P0, P1) / (geod_m(P0, P1) + geod_m(P1, P2))
    assert share == pytest.approx(0.4, rel=1e-6)
    assert times[(P0, P1)] == pytest.approx(1800.0 * share, rel=1e-9)
    # From road to road: the 20 min default wait once, then the sailing.
    assert crossing_s(with_piers(ferry), P0, P2) == pytest.approx(3000.0, abs=2e-3)


def test_ferry_without_duration_sails_at_ferry_speed():
    ferry = {"coords": [P0, P2], "route": "ferry"}
    length = geod_m(P0, P2)  # ≈ 2 785 m
    # at 10 km/h: ≈ 1 003 s, plus the 20 min (1 200 s) wait
    assert edge_times(roads_frame(ferry))[(P0, P2)] == pytest.approx(length / kph(10.0), rel=1e-9)
    expected = length / kph(10.0) + 20 * 60.0
    assert crossing_s(with_piers(ferry), P0, P2) == pytest.approx(expected, abs=2e-3)


def test_ferry_wait_and_speed_come_from_the_config():
    ferry = {"coords": [P0, P2], "route": "ferry"}
    net = NetworkConfig(ferry_speed_kph=20.0, ferry_wait_min=5.0)
    expected = geod_m(P0, P2) / kph(20.0) + 5 * 60.0
    assert crossing_s(with_piers(ferry), P2, P0, net) == pytest.approx(expected, abs=2e-3)


def test_a_crossing_of_several_ferry_ways_waits_once():
    # The route P0 → P1 → P2 drawn as two ferry ways meeting mid-river (no road at P1).
    first = {"coords": [P0, P1], "route": "ferry", "duration": "00:10"}
    second = {"coords": [P1, P2], "route": "ferry", "duration": "00:15"}
    roads = with_piers(first, second)
    assert crossing_s(roads, P0, P2) == pytest.approx(25 * 60.0 + 20 * 60.0, abs=2e-3)


def test_ferry_read_from_an_osm_file(tmp_path):
    b = OsmBuilder()
    b.road([P0, P1], highway="primary")
    b.road([P1, P2], route="ferry", duration="PT45M")
    roads = read_pbf(b.write(tmp_path / "ferry.osm")).roads
    times = edge_times(roads)
    assert times[(P1, P2)] == pytest.approx(45 * 60.0, rel=1e-9)  # sailing
    g = build_graph(roads, DEFAULT_NET, CRS_UTM)
    boarding = (g.edge_flags & FLAG_BOARDING) != 0
    # at P1, road → ferry costs the wait, ferry → road (getting off) nothing (1 ms)
    assert sorted(g.edge_time_s[boarding]) == pytest.approx([1e-3, 20 * 60.0])
    assert times[(P0, P1)] == pytest.approx(geod_m(P0, P1) / kph(80.0), rel=1e-9)


# --- directions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "forward", "backward"),
    [
        ({"highway": "primary"}, True, True),
        ({"highway": "primary", "oneway": "yes"}, True, False),
        ({"highway": "primary", "oneway": "1"}, True, False),
        ({"highway": "primary", "oneway": "-1"}, False, True),
        ({"highway": "primary", "oneway": "no"}, True, True),
        ({"highway": "tertiary", "junction": "roundabout"}, True, False),
        ({"highway": "motorway"}, True, False),
        ({"highway": "motorway", "oneway": "no"}, True, True),
        # an explicit oneway=-1 reverses an implied oneway
        ({"highway": "motorway", "oneway": "-1"}, False, True),
        ({"highway": "tertiary", "junction": "roundabout", "oneway": "-1"}, False, True),
    ],
)
def test_oneway_rules(tags, forward, backward):
    times = edge_times(roads_frame({"coords": [P0, P1], **tags}))
    assert ((P0, P1) in times) is forward
    assert ((P1, P0) in times) is backward
    speed = DEFAULT_SPEEDS_KPH[tags["highway"]]
    for t in times.values():
        assert t == pytest.approx(geod_m(P0, P1) / kph(speed), rel=1e-9)


def test_ferry_runs_both_ways_whatever_its_oneway_tag():
    times = edge_times(roads_frame({"coords": [P0, P1], "route": "ferry", "oneway": "yes"}))
    assert set(times) == {(P0, P1), (P1, P0)}


# --- which roads are driveable ---------------------------------------------------------------


@pytest.mark.parametrize("tag", ["winter_road", "ice_road"])
def test_winter_roads_only_in_winter(tag):
    roads = roads_frame(
        {"coords": [P0, P1], "highway": "primary"},
        {"coords": [P1, P2], "highway": "track", tag: "yes"},
    )
    graph = build_graph(roads, DEFAULT_NET, CRS_UTM)
    seasons = DEFAULT_CFG.seasons
    summer = apply_season(graph, seasons["summer"], [5, 6, 7, 8, 9, 10], 20.0)
    winter = apply_season(graph, seasons["winter"], [5, 6, 7, 8, 9, 10], 20.0)
    assert len(summer.edge_u) == 2  # the primary road, both ways
    assert len(winter.edge_u) == 4
    # On a winter road the season's winter-road speed (30 km/h by default) applies.
    closed_way = graph.edge_way[graph.edge_way != graph.edge_way[0]][0]
    on_winter_road = winter.edge_way == closed_way
    expected = geod_m(P1, P2) / kph(seasons["winter"].winter_road_speed_kph)
    assert np.allclose(winter.edge_time_s[on_winter_road], expected, rtol=1e-9)


# One edge per rule, each 1000 m and 100 s (a boarding edge: 100 s of which the wait share is
# 1). Ferry months are bits: 0 = unknown (the region's navigation months, May-October here),
# 0b1 = January only, 0b100000 = June only.
_EDGES = [  # name, flags, months
    ("paved", 0, 0),
    ("soft", FLAG_SOFT, 0),
    ("gravel", FLAG_GRAVEL, 0),
    ("winter road", FLAG_WINTER, 0),
    ("soft winter road", FLAG_WINTER | FLAG_SOFT, 0),
    ("boarding", FLAG_BOARDING, 0),
    ("ferry, untagged months", FLAG_FERRY, 0),
    ("ferry in January only", FLAG_FERRY, 0b1),
    ("ferry in June only", FLAG_FERRY, 0b100000),
]


def _one_edge_per_rule() -> RoadGraph:
    n = len(_EDGES)
    return RoadGraph(
        crs_wkt="",
        node_xy=np.zeros((n + 1, 2)),
        node_lonlat=np.zeros((n + 1, 2)),
        edge_u=np.arange(n, dtype=np.int64),
        edge_v=np.arange(1, n + 1, dtype=np.int64),
        edge_time_s=np.full(n, 100.0),
        edge_length_m=np.full(n, 1000.0),
        edge_way=np.arange(n, dtype=np.int64),
        edge_flags=np.array([f for _, f, _ in _EDGES], np.uint8),
        edge_wait_share=np.array([1.0 if f & FLAG_BOARDING else 0.0 for _, f, _ in _EDGES]),
        edge_months=np.array([m for _, _, m in _EDGES], np.uint16),
    )


@pytest.mark.parametrize(
    ("season", "expected_s"),
    [
        # mid-July: the untagged ferry and the June one are off-season; soft roads slowed by
        # 0.5, gravel by 0.8; the wait is 5 min instead of the network's 20 (100 s - 900 s is
        # below the least edge time)
        (
            SeasonConfig(
                start="06-15", end="08-15", soft_unpaved_factor=0.5, gravel_factor=0.8,
                ferry_wait_min=5,
            ),
            {"paved": 100.0, "soft": 200.0, "gravel": 125.0, "boarding": MIN_EDGE_TIME_S,
             "ferry, untagged months": 100.0},
        ),
        # the thaw (mid-May): soft roads, winter roads on them too, closed; ferries that run in
        # May (the untagged one) open; the network's wait stays
        (
            SeasonConfig(start="05-01", end="05-31", soft_unpaved_open=False, gravel_factor=0.5),
            {"paved": 100.0, "gravel": 200.0, "boarding": 100.0, "ferry, untagged months": 100.0},
        ),
        # winter (mid-January): winter roads open at 15 km/h (1000 m: 240 s), even a soft one;
        # no ferries, nor their boarding edges
        (
            SeasonConfig(
                start="12-01", end="02-28", winter_roads=True, ferries=False,
                winter_road_speed_kph=15,
            ),
            {"paved": 100.0, "soft": 100.0, "gravel": 100.0, "winter road": 240.0,
             "soft winter road": 240.0},
        ),
    ],
)  # fmt: skip
def test_a_season_closes_and_retimes_each_kind_of_edge_by_its_rule(season, expected_s):
    graph = _one_edge_per_rule()
    seasoned = apply_season(graph, season, navigation_months=[5, 6, 7, 8, 9, 10], ferry_wait_min=20)
    names = [_EDGES[way][0] for way in seasoned.edge_way]
    assert names == [name for name, _, _ in _EDGES if name in expected_s]  # in order
    np.testing.assert_allclose(seasoned.edge_time_s, [expected_s[n] for n in names], rtol=1e-12)
    for name in ("edge_u", "edge_v", "edge_length_m", "edge_flags", "edge_months"):
        kept = getattr(graph, name)[seasoned.edge_way]
        np.testing.assert_array_equal(getattr(seasoned, name), kept)
    assert graph.edge_time_s.tolist() == [100.0] * len(_EDGES)  # the input is left as it was


@pytest.mark.parametrize(
    ("tags", "kept"),
    [
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "residential", "access": "no"}, False),
        ({"highway": "residential", "motor_vehicle": "no"}, False),
        ({"highway": "residential", "access": "no", "motor_vehicle": "yes"}, True),
        ({"highway": "residential", "access": "private", "motorcar": "yes"}, True),
        ({"highway": "residential", "access": "destination"}, True),
        pytest.param(
            {"highway": "residential", "motor_vehicle": "no", "motorcar": "yes"},
            True,
        ),
        pytest.param(
            {"highway": "residential", "motor_vehicle": "yes", "motorcar": "no"},
            False,
        ),
        ({"highway": "construction"}, False),
        ({"highway": "proposed"}, False),
        ({"highway": "footway"}, False),
        ({"highway": "path"}, False),
        ({"highway": "cycleway"}, False),
        ({"highway": "steps"}, False),
        ({"highway": "residential"}, True),
    ],
)
def test_access_and_road_class(tags, kept):
    roads = roads_frame({"coords": [P0, P1], "highway": "primary"}, {"coords": [P0, PN], **tags})
    times = edge_times(roads)
    assert ((P0, PN) in times) is kept
    assert ((P0, P1) in times) and ((P1, P0) in times)


def test_ways_sharing_a_vertex_share_a_node():
    # A T junction: the side road starts at the primary road's middle vertex.
    roads = roads_frame(
        {"coords": [P0, P1, P2], "highway": "primary"},
        {"coords": [P1, PN], "highway": "residential"},
    )
    g = build_graph(roads, DEFAULT_NET, CRS_UTM)
    assert g.n_nodes == 4
    assert len(g.edge_u) == 6


# --- tag parsing -----------------------------------------------------------------------------


def test_parse_maxspeed_kph():
    values = pd.Series(["60", "30 mph", "RU:rural", "ru:urban", "none", "garbage", None, "90;110"])
    got = parse_maxspeed_kph(values)
    expected = [60.0, 30 * 1.609344, 90.0, 60.0, math.nan, math.nan, math.nan, 90.0]
    np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)


def test_parse_duration_s():
    values = pd.Series(["01:30", "PT45M", "20", "00:30", "1:02:03", "PT1H30M", "soon", None])
    got = parse_duration_s(values)
    expected = [5400.0, 2700.0, 1200.0, 1800.0, 3723.0, 5400.0, math.nan, math.nan]
    np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)


# --- the northern road model: untagged minor roads, smoothness, access -----------------------

NORTH_NET = NetworkConfig(untagged_surface="unpaved")


@pytest.mark.parametrize(
    ("tags", "net", "speed_kph"),
    [
        # an untagged unclassified road: class speed unless the region says what it is
        ({"highway": "unclassified"}, DEFAULT_NET, 45.0),
        ({"highway": "unclassified"}, NORTH_NET, 45.0 * 0.7),
        ({"highway": "track"}, NORTH_NET, 20.0 * 0.7),
        # a tag wins over the region's guess; a tracktype is a tag on the surface too
        ({"highway": "unclassified", "surface": "asphalt"}, NORTH_NET, 45.0),
        ({"highway": "track", "tracktype": "grade1"}, NORTH_NET, 20.0),
        # other classes are not guessed about
        ({"highway": "tertiary"}, NORTH_NET, 60.0),
        # smoothness slows, the smallest factor wins
        ({"highway": "tertiary", "smoothness": "very_bad"}, DEFAULT_NET, 60.0 * 0.6),
        ({"highway": "tertiary", "smoothness": "horrible", "surface": "gravel"}, DEFAULT_NET, 24.0),
    ],
)
def test_untagged_minor_roads_and_smoothness(tags, net, speed_kph):
    times = edge_times(roads_frame({"coords": [P0, P1], **tags}), net)
    assert times[(P0, P1)] == pytest.approx(geod_m(P0, P1) / kph(speed_kph), rel=1e-9)


def test_untagged_minor_roads_close_in_the_thaw_where_the_region_says_they_are_dirt():
    roads = roads_frame(
        {"coords": [P0, P1], "highway": "primary"},
        {"coords": [P1, P2], "highway": "unclassified"},
    )
    thaw = DEFAULT_CFG.seasons["thaw"]
    for net, open_in_thaw in ((DEFAULT_NET, True), (NORTH_NET, False)):
        graph = build_graph(roads, net, CRS_UTM)
        thawed = apply_season(graph, thaw, [5, 6, 7, 8, 9, 10], 20.0)
        assert (2 in set(thawed.edge_way)) is open_in_thaw


@pytest.mark.parametrize(
    ("tags", "kept"),
    [
        ({"highway": "track", "smoothness": "impassable"}, False),
        ({"highway": "residential", "access": "emergency"}, False),
        ({"highway": "residential", "access": "delivery"}, False),
        ({"highway": "residential", "access": "agricultural"}, False),
        ({"highway": "residential", "access": "forestry"}, False),
        ({"highway": "residential", "access": "permissive"}, True),
        ({"highway": "residential", "access": "customers"}, True),
    ],
)
def test_roads_closed_by_smoothness_and_access(tags, kept):
    assert bool(driveable(roads_frame({"coords": [P0, P1], **tags}), DEFAULT_NET)[0]) is kept


def test_a_misspelt_untagged_surface_is_refused():
    with pytest.raises(ValueError, match="did you mean 'unpaved'"):
        NetworkConfig(untagged_surface="unpavd")


def test_a_damaged_network_file_is_one_clear_line(tmp_path):
    from pipeline.errors import InputDataError
    from pipeline.stages._common import load_network as _load_network

    graph = build_graph(
        roads_frame({"coords": [P0, P1], "highway": "primary"}), DEFAULT_NET, CRS_UTM
    )
    good = tmp_path / "network.npz"
    np.savez(good, mode=np.array("road"), **graph.to_npz_dict())
    assert _load_network(good, CRS_UTM)[1].n_nodes == 2
    cases = {
        "edge ends": {"edge_v": graph.edge_v + 5},
        "edges": {"edge_time_s": graph.edge_time_s[:1]},
        "positive and finite": {"edge_time_s": -graph.edge_time_s},
    }
    for problem, change in cases.items():
        path = tmp_path / f"bad-{len(problem)}.npz"
        np.savez(path, mode=np.array("road"), **{**graph.to_npz_dict(), **change})
        with pytest.raises(InputDataError, match=f"damaged or out of date.*{problem}"):
            _load_network(path, CRS_UTM)
    with pytest.raises(InputDataError, match="CRS"):
        _load_network(good, CRS.from_user_input("EPSG:3035"))


def test_a_network_file_with_a_changed_byte_or_cut_short_is_one_clear_line(tmp_path):
    """The file is read array by array straight from the zip members: a byte changed inside
    an array's values (which no check of the graph would see) or a file cut short is caught."""
    from pipeline.errors import InputDataError
    from pipeline.stages._common import load_network as _load_network

    graph = build_graph(
        roads_frame({"coords": [P0, P1, P2], "highway": "primary"}), DEFAULT_NET, CRS_UTM
    )
    good = tmp_path / "network.npz"
    np.savez(good, mode=np.array("road"), **graph.to_npz_dict())
    loaded = _load_network(good, CRS_UTM)[1]
    assert np.array_equal(loaded.edge_time_s, graph.edge_time_s)
    raw = good.read_bytes()
    at = raw.index(graph.edge_time_s.tobytes())  # inside the stored values of edge_time_s
    changed = tmp_path / "changed.npz"
    changed.write_bytes(raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :])
    with pytest.raises(InputDataError, match=r"changed\.npz.*(checksum|damaged)"):
        _load_network(changed, CRS_UTM)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputDataError, match=r"cut\.npz"):
        _load_network(cut, CRS_UTM)


def test_every_segment_is_as_long_as_its_ellipsoidal_distance():
    # Many vertices and several ways: the lengths are worked out in chunks, one per core.
    zigzag = [(39.0 + 0.001 * i, 60.0 + 0.0005 * (i % 3)) for i in range(2001)]
    roads = roads_frame(
        {"coords": zigzag, "highway": "unclassified", "oneway": "yes"},
        {"coords": [P0, PN], "highway": "primary", "oneway": "yes"},
        {"coords": [P1, P2], "highway": "primary", "oneway": "yes"},
    )
    g = build_graph(roads, DEFAULT_NET, CRS_UTM)
    ends = [
        (tuple(g.node_lonlat[u]), tuple(g.node_lonlat[v]))
        for u, v in zip(g.edge_u, g.edge_v, strict=True)
    ]
    expected = [geod_m(a, b) for a, b in ends]
    assert len(g.edge_u) == 2000 + 1 + 1
    assert g.edge_length_m == pytest.approx(expected, rel=1e-12)
    assert sorted(map(tuple, ends)) == sorted(
        [(zigzag[i], zigzag[i + 1]) for i in range(2000)] + [(P0, PN), (P1, P2)]
    )


def test_disconnected_parts_are_counted():
    apart = roads_frame(
        {"coords": [P0, P1], "highway": "primary"},
        {"coords": [P2, (39.06, 60.0)], "highway": "primary", "oneway": "yes"},
    )
    joined = roads_frame(
        {"coords": [P0, P1], "highway": "primary", "oneway": "yes"},
        {"coords": [P2, P1], "highway": "primary", "oneway": "yes"},  # P1 reached from both
    )
    assert build_graph(apart, DEFAULT_NET, CRS_UTM).n_parts() == 2
    assert build_graph(joined, DEFAULT_NET, CRS_UTM).n_parts() == 1


@pytest.mark.parametrize("either_way", [False, True])
def test_edge_order_is_the_stable_order_of_its_keys(either_way):
    from pipeline.network.edge_pairs import edge_order

    rng = np.random.default_rng(7)
    for n_nodes, n_edges in ((1, 3), (5, 40), (50, 400), (2000, 6000)):
        # few nodes for many edges: parallel edges both ways, and loops (u == v)
        u = rng.integers(0, n_nodes, n_edges)
        v = rng.integers(0, n_nodes, n_edges)
        if either_way:  # by segment (the unordered pair), then u < v before u > v
            key = [
                (min(a, b), max(a, b), a > b) for a, b in zip(u.tolist(), v.tolist(), strict=True)
            ]
        else:
            key = list(zip(u.tolist(), v.tolist(), strict=True))
        expected = sorted(range(n_edges), key=key.__getitem__)  # Python's sort is stable
        assert edge_order(u, v, n_nodes, either_way).tolist() == expected
    empty = np.zeros(0, np.int64)
    assert len(edge_order(empty, empty, 0, either_way)) == 0


def test_nodes_are_the_distinct_keys_with_their_first_vertex():
    from pipeline.network.graph import _nodes

    rng = np.random.default_rng(3)
    for n_keys, n_distinct in ((1, 1), (10, 3), (1000, 40), (5000, 5000)):
        keys = rng.integers(-(2**62), 2**62, n_distinct)[rng.integers(0, n_distinct, n_keys)]
        first: dict[int, int] = {}
        for i, k in enumerate(keys.tolist()):
            first.setdefault(k, i)
        distinct = sorted(first)
        node_keys, node_of_vertex, first_vertex = _nodes(keys)
        assert node_keys.tolist() == distinct
        assert node_of_vertex.tolist() == [distinct.index(k) for k in keys.tolist()]
        assert first_vertex.tolist() == [first[k] for k in distinct]
    assert all(len(a) == 0 for a in _nodes(np.zeros(0, np.int64)))


def test_nodes_are_numbered_along_the_z_curve_stably_within_a_cell():
    """The order is Python's stable sort of each point's Morton code, built bit by bit from
    the cell's column and row (x // cell, y // cell from the smallest x and y)."""
    from pipeline.network.graph import _z_order

    def morton(col: int, row: int) -> int:
        return sum(((col >> b) & 1) << (2 * b) | ((row >> b) & 1) << (2 * b + 1) for b in range(32))

    rng = np.random.default_rng(5)
    for n, cell in ((1, 1e-3), (7, 1.0), (2000, 1e-3), (3000, 0.25)):
        # points on cell edges (whole multiples of the cell) and many in the same cell
        xy = np.round(rng.uniform(0, 40 * cell, (n, 2)) / (cell / 4)) * (cell / 4)
        x0, y0 = xy[:, 0].min(), xy[:, 1].min()
        codes = [morton(int((x - x0) // cell), int((y - y0) // cell)) for x, y in xy.tolist()]
        expected = sorted(range(n), key=codes.__getitem__)
        assert _z_order(xy, cell).tolist() == expected
    # Cells up to 2^30 apart with 2000 points: code and index do not fit one 64-bit key, so
    # the order comes from a stable argsort of the codes instead; it must be the same order.
    xy = np.floor(rng.uniform(0, 2**30, (2000, 2)) / 2**20) * 2**20  # ties in a cell
    codes = [morton(int(x // 1.0), int(y // 1.0)) for x, y in (xy - xy.min(axis=0)).tolist()]
    assert _z_order(xy, 1.0).tolist() == sorted(range(2000), key=codes.__getitem__)
    assert len(_z_order(np.zeros((0, 2)), 1.0)) == 0


def test_floor_divide_is_python_floor_division_at_and_near_whole_quotients():
    from pipeline.network.graph import _floor_divide

    rng = np.random.default_rng(9)
    cell = 1e-3
    whole = rng.integers(0, 10**5, 2000) * cell  # quotients that round to whole numbers
    a = np.concatenate(
        [whole, np.nextafter(whole, -1), np.nextafter(whole, 1), rng.uniform(0, 90, 2000)]
    )
    assert _floor_divide(a, cell).tolist() == [x // cell for x in a.tolist()]


@pytest.mark.parametrize("region", ["andorra", "synthetic"])
def test_the_roads_handed_to_the_network_stage_are_what_the_file_holds(tmp_path, region):
    """`pipeline all` hands the extract's roads to the network stage in memory: the same
    columns, types, values and geometries as reading them back from osm.gpkg (the real
    Andorra extract's tags, and a synthetic one with ferries, winter roads and every access
    tag the network reads); a second reader, or a file rewritten since, gets the file."""
    from pipeline import stages
    from pipeline._io import region_paths
    from pipeline.config import load_region
    from pipeline.outputs.export import read_layer
    from pipeline.stages._common import read_roads, taken
    from tests.helpers.synthetic_region import new_region, prepare_region

    if region == "andorra":
        cfg = load_region("andorra")
        paths = region_paths(cfg, root=tmp_path)
        stages.run_fetch(cfg, paths)
    else:
        b = new_region()
        b.road([(39.0, 60.0), (39.05, 60.0)], highway="primary", maxspeed="70", ref="Р-1")
        b.road([(39.05, 60.0), (39.1, 60.01)], highway="track", winter_road="yes")
        b.road([(39.1, 60.01), (39.12, 60.02)], route="ferry", duration="00:20", seasonal="yes")
        b.road([(39.0, 60.0), (39.0, 60.04)], highway="unclassified", surface="gravel",
               smoothness="bad", access="private", motorcar="yes", oneway="-1")  # fmt: skip
        b.road([(39.0, 60.04), (39.02, 60.05)], highway="residential", ice_road="yes",
               opening_hours="Dec-Mar", tracktype="grade3", junction="roundabout")  # fmt: skip
        b.place(39.0, 60.0, "Alpha", population="900")
        cfg, paths = prepare_region(tmp_path, b, anchors=["Alpha"])
    stages.run_extract(cfg, paths)
    handed = taken(paths.osm_gpkg, "roads")
    read = read_layer(paths.osm_gpkg, "roads")
    assert handed is not None and len(handed) == len(read) > 3
    pd.testing.assert_frame_equal(
        pd.DataFrame(handed.drop(columns="geometry")), pd.DataFrame(read.drop(columns="geometry"))
    )
    assert handed.crs == read.crs
    assert shapely.equals_exact(handed.geometry.values, read.geometry.values, 0).all()
    assert taken(paths.osm_gpkg, "roads") is None  # taken once
    stages.run_extract(cfg, paths)
    paths.osm_gpkg.touch()  # written since (a later mtime)
    assert read_roads(paths.osm_gpkg) is not handed
    assert taken(paths.osm_gpkg, "roads") is None


@pytest.mark.parametrize("chunk_rows", [1, 3, 1 << 18])
def test_a_season_made_in_the_graph_s_own_arrays_is_the_season_s_copy(monkeypatch, chunk_rows):
    """The catchments stage applies its season in the region graph's own arrays (it drops
    that graph): the same edges, times and every other edge array as the season's copy, with
    chunks smaller than the arrays, one edge each, and larger."""
    import dataclasses

    from pipeline.network import graph as graph_module

    monkeypatch.setattr(graph_module, "_CHUNK_ROWS", chunk_rows)
    roads = roads_frame(
        {"coords": [P0, P1, PN], "highway": "primary"},
        {"coords": [P1, (39.02, 60.0)], "highway": "track", "oneway": "yes"},
        {"coords": [PN, (39.0, 60.02)], "highway": "track", "winter_road": "yes"},
        {"coords": [(39.0, 60.02), (39.01, 60.03)], "highway": "unclassified",
         "surface": "dirt"},
    )  # fmt: skip
    summer = SeasonConfig(start="06-15", end="08-15", soft_unpaved_factor=0.5, gravel_factor=0.8)
    winter = SeasonConfig(start="01-01", end="01-31", winter_roads=True, ferry_wait_min=5)
    thaw = SeasonConfig(start="05-01", end="05-31", soft_unpaved_open=False)
    for season in (summer, winter, thaw):
        copy = apply_season(build_graph(roads, DEFAULT_NET, CRS_UTM), season, [6, 7, 8], 15.0)
        own = apply_season(
            build_graph(roads, DEFAULT_NET, CRS_UTM), season, [6, 7, 8], 15.0, consume=True
        )
        for field in dataclasses.fields(copy):
            a, b = getattr(copy, field.name), getattr(own, field.name)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and np.array_equal(a, b), field.name
            else:
                assert a == b, field.name
    rng = np.random.default_rng(3)
    graph = build_graph(roads, DEFAULT_NET, CRS_UTM)
    keep = rng.random(len(graph.edge_u)) < 0.5
    expected = graph.select(keep)
    got = graph.select(keep, in_place=True)
    assert np.array_equal(got.edge_u, expected.edge_u)
    assert np.array_equal(got.edge_time_s, expected.edge_time_s)
    with pytest.raises(ValueError):
        graph.select(np.arange(1), in_place=True)


def test_parallel_edges_reduce_to_the_fastest_sorted_by_their_ends():
    from pipeline.network.edge_pairs import fastest_of_pairs

    rng = np.random.default_rng(11)
    u, v = rng.integers(0, 30, 500), rng.integers(0, 30, 500)
    t = rng.integers(1, 20, 500).astype(float)  # whole seconds: ties among parallel edges
    fastest: dict[tuple[int, int], float] = {}
    for a, b, s in zip(u.tolist(), v.tolist(), t.tolist(), strict=True):
        fastest[a, b] = min(s, fastest.get((a, b), np.inf))
    got_u, got_v, got_t = fastest_of_pairs(u, v, t)
    assert list(zip(got_u.tolist(), got_v.tolist(), got_t.tolist(), strict=True)) == [
        (a, b, s) for (a, b), s in sorted(fastest.items())
    ]
    empty = np.zeros(0, np.int64)
    assert all(len(x) == 0 for x in fastest_of_pairs(empty, empty, np.zeros(0)))


def test_the_graph_handed_to_the_next_stage_is_what_the_file_holds(tmp_path):
    """`pipeline all` hands the network stage's graph to the catchments stage in memory: the
    same arrays (values, types, layout) as reading network.npz; a file rewritten since, or a
    second reader, gets the file."""
    import dataclasses

    from pipeline.stages._common import keep_network
    from pipeline.stages._common import load_network as _load_network

    roads = roads_frame(
        {"coords": [P0, P1, PN], "highway": "primary"},
        {"coords": [P1, (39.02, 60.0)], "highway": "track", "oneway": "yes"},
    )
    graph = build_graph(roads, DEFAULT_NET, CRS_UTM)
    path = tmp_path / "network.npz"
    np.savez(path, mode=np.array("road"), **graph.to_npz_dict())
    keep_network(path, graph)
    handed = _load_network(path, CRS_UTM)[1]
    read = _load_network(path, CRS_UTM)[1]  # the hand-over is taken once: this one is the file's
    assert handed is graph and read is not graph
    for field in dataclasses.fields(graph):
        a, b = getattr(handed, field.name), getattr(read, field.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.flags.c_contiguous == b.flags.c_contiguous, field
            assert np.array_equal(a, b), field.name
        else:
            assert a == b, field.name
    keep_network(path, graph)
    other = graph.select(np.arange(1))
    np.savez(path, mode=np.array("road"), **other.to_npz_dict())  # rewritten since
    assert len(_load_network(path, CRS_UTM)[1].edge_u) == 1
