"""How a scenario's added roads join the network, and how bad scenario files are reported.

Every input here is synthetic: the regions are drawn with tests/osm_builder.py (see
tests/test_synthetic_osm.py for the conventions: UTM 37N, settlements on road nodes, walks of
at most 1 000 m), the GeoJSON lines and the scenario files are written by the tests, and the
graphs of the unit tests are built by hand. Expected times are worked out from the geometry
(segment length ÷ speed), as in tests/test_seasons.py.

Layout (degrees; 0.01° of longitude ≈ 558 m and of latitude ≈ 1 113 m at 60 °N): the anchor
Riverton at TOWN on a primary road (80 km/h); an "island" road far from it, with a settlement at
its end, that only the scenario's roads can connect.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from pyproj import CRS

from pipeline import stages
from pipeline.config import load_region
from pipeline.errors import ConfigError, InputDataError
from pipeline.network.graph import (
    FLAG_ADDED,
    FLAG_GRAVEL,
    FLAG_NO_JOIN,
    MIN_EDGE_TIME_S,
    RoadGraph,
)
from pipeline.network.scenarios import AddRoads, Scenario, apply_scenario, load_scenario
from tests.helpers.synthetic_region import (
    MIN_EDGE_S,
    TO_UTM,
    TOL_MIN,
    drive_s,
    geod_m,
    new_region,
    prepare_region,
)

PROJECT = Path(__file__).resolve().parent.parent
TOWN = (39.00, 60.00)  # Riverton, the anchor
P1 = (39.02, 60.00)  # the east end of the anchor's road
ISLAND_START = (39.10, 60.06)
FAR = (39.12, 60.06)  # Faraway, at the end of the island road
ADDED_KPH = 60.0


# --- helpers ----------------------------------------------------------------------------------


def _line(coords) -> dict:
    return {"type": "LineString", "coordinates": [list(c) for c in coords]}


def _geojson(*geometries: dict) -> str:
    features = [{"type": "Feature", "properties": {}, "geometry": g} for g in geometries]
    return json.dumps({"type": "FeatureCollection", "features": features})


def _scenario(cfg, name: str, toml: str, **files: str) -> Path:
    """Write `regions/<region>/scenarios/<name>.toml` and the files beside it (synthetic)."""
    folder = cfg.region_file.parent / cfg.name / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (folder / file_name.replace("__", ".")).write_text(text, encoding="utf-8")
    path = folder / f"{name}.toml"
    path.write_text(toml, encoding="utf-8")
    return path


def _roads(kph: float = ADDED_KPH, geojson: str = "lines.geojson", extra: str = "") -> str:
    return f'[[add_roads]]\ngeojson = "{geojson}"\nspeed_kph = {kph}\n{extra}'


def _island_region():
    b = new_region()
    b.road([TOWN, P1], highway="primary")  # 80 km/h
    b.road([ISLAND_START, FAR], highway="tertiary")  # 60 km/h, joined to nothing
    b.place(*TOWN, "Riverton", place="town")
    b.place(*FAR, "Faraway")
    return b


def _prepared(tmp_path, builder):
    cfg, paths = prepare_region(tmp_path, builder, anchors=["Riverton"])
    stages.run_extract(cfg, paths)
    stages.run_network(cfg, paths)
    return cfg, paths


def _scenario_run(cfg, paths, name: str) -> gpd.GeoDataFrame:
    run = paths.for_run(name, None)
    stages.run_catchments(cfg, run, scenario=name)
    return gpd.read_file(run.gpkg(cfg.name), layer="settlements").set_index("name")


def _cli(*args: str, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIPELINE_ROOT": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--quiet"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]


# --- lines that meet ---------------------------------------------------------------------------

JUNCTION = (39.06, 60.03)  # a new point, kilometres from every road
NEAR_JUNCTION = (39.06, 60.030005)  # 0.56 m north of it: "within a metre", the same node


@pytest.mark.parametrize("layout", ["one file", "two files", "within a metre"])
def test_two_added_lines_meeting_at_a_new_point_are_connected(tmp_path, layout):
    cfg, paths = _prepared(tmp_path, _island_region())
    to_town = _line([P1, JUNCTION])
    second_start = NEAR_JUNCTION if layout == "within a metre" else JUNCTION
    to_island = _line([second_start, ISLAND_START])
    if layout == "two files":
        _scenario(
            cfg,
            "meet",
            _roads(geojson="a.geojson") + _roads(geojson="b.geojson"),
            a__geojson=_geojson(to_town),
            b__geojson=_geojson(to_island),
        )
    else:
        _scenario(cfg, "meet", _roads(), lines__geojson=_geojson(to_town, to_island))
    s = _scenario_run(cfg, paths, "meet")
    # Faraway → island start (tertiary) → junction → P1 (both added, 60 km/h) → Riverton
    # (primary). The junction node sits at the first line's vertex, so "within a metre" has
    # the same time.
    expected_s = (
        drive_s(FAR, ISLAND_START, 60.0)
        + drive_s(ISLAND_START, JUNCTION, ADDED_KPH)
        + drive_s(JUNCTION, P1, ADDED_KPH)
        + drive_s(P1, TOWN, 80.0)
        + MIN_EDGE_S
    )
    # 66.8 s + 241.0 s + 241.1 s + 50.2 s ≈ 599.2 s ≈ 9.99 min
    assert expected_s == pytest.approx(599.2, abs=0.1)
    assert s.loc["Faraway", "anchor_time_min"] == pytest.approx(expected_s / 60, abs=TOL_MIN)


# --- a MultiLineString ------------------------------------------------------------------------

BYPASS = (39.01, 60.01)  # 1 113 m north of the anchor's road: no walk onto it
ISLAND_BEND = (39.11, 60.07)


def test_multilinestring_parts_are_separate_lines(tmp_path):
    """Part 1 is a bypass beside the anchor's road, part 2 a loop on the island road. Only a
    phantom edge from the end of part 1 (Riverton) to the start of part 2 (the island) would
    let Faraway reach the anchor."""
    b = _island_region()
    b.place(*BYPASS, "Bypass")
    cfg, paths = _prepared(tmp_path, b)
    multi = {
        "type": "MultiLineString",
        "coordinates": [
            [list(P1), list(BYPASS), list(TOWN)],
            [list(ISLAND_START), list(ISLAND_BEND), list(FAR)],
        ],
    }
    _scenario(cfg, "multi", _roads(), lines__geojson=_geojson(multi))
    s = _scenario_run(cfg, paths, "multi")
    assert math.isnan(s.loc["Faraway", "anchor_time_min"])
    assert s.loc["Faraway", "access_class"] == "unreachable"
    bypass_s = drive_s(BYPASS, TOWN, ADDED_KPH) + MIN_EDGE_S  # the first part is there
    assert s.loc["Bypass", "anchor_time_min"] == pytest.approx(bypass_s / 60, abs=TOL_MIN)


# --- an end joining the middle of a long segment ---------------------------------------------

NORTH_END = (39.00, 60.04)  # TOWN → NORTH_END: one 4.45 km segment along the central meridian
OFF_ROAD = (39.0003, 60.02)  # 16.7 m east of that segment's middle
EAST_START = (39.04, 60.02)
EASTFIELD = (39.06, 60.02)


def test_end_joins_the_nearest_point_of_a_long_segment(tmp_path):
    b = new_region()
    b.road([TOWN, NORTH_END], highway="primary")
    b.road([EAST_START, EASTFIELD], highway="tertiary")
    b.place(*TOWN, "Riverton", place="town")
    b.place(*EASTFIELD, "Eastfield")
    cfg, paths = _prepared(tmp_path, b)
    _scenario(cfg, "middle", _roads(), lines__geojson=_geojson(_line([OFF_ROAD, EAST_START])))
    s = _scenario_run(cfg, paths, "middle")
    # The 39 °E meridian is UTM 37N's central meridian: the segment is the line x = 500 000 m,
    # so the end's nearest point X has the end's northing, and X splits the segment by the
    # northings' fraction. The added road starts at X.
    x_end, y_end = TO_UTM.transform(*OFF_ROAD)
    _, y_town = TO_UTM.transform(*TOWN)
    _, y_north = TO_UTM.transform(*NORTH_END)
    fraction = (y_end - y_town) / (y_north - y_town)
    foot = TO_UTM.transform(500_000.0, y_end, direction="INVERSE")
    assert fraction == pytest.approx(0.5, abs=1e-4)
    assert x_end - 500_000.0 == pytest.approx(16.7, abs=0.1)  # within snap_m = 50
    expected_s = (
        drive_s(EASTFIELD, EAST_START, 60.0)  # 1 115.3 m at 60 km/h = 66.9 s
        + geod_m(EAST_START, foot) / (ADDED_KPH / 3.6)  # 2 230.7 m at 60 km/h = 133.8 s
        + fraction * drive_s(NORTH_END, TOWN, 80.0)  # half of 4 456.5 m at 80 km/h = 100.3 s
        + MIN_EDGE_S
    )
    assert expected_s == pytest.approx(301.0, abs=0.1)
    assert s.loc["Eastfield", "anchor_time_min"] == pytest.approx(expected_s / 60, abs=TOL_MIN)


# --- the graph edits, on hand-built graphs ----------------------------------------------------

UTM = CRS.from_epsg(32637)
SOUTH, NORTH = (39.00, 60.00), (39.00, 60.04)
MOTOR_A, MOTOR_B = (39.10, 60.00), (39.10, 60.04)


def _hand_graph(*, oneway: bool = False) -> RoadGraph:
    """A gravel road SOUTH–NORTH (way 77; both directions unless `oneway`) and a motorway
    MOTOR_A–MOTOR_B (way 88, never joined)."""
    lonlat = np.array([SOUTH, NORTH, MOTOR_A, MOTOR_B])
    xy = np.column_stack(TO_UTM.transform(lonlat[:, 0], lonlat[:, 1]))
    u, v = ([0, 2], [1, 3]) if oneway else ([0, 1, 2], [1, 0, 3])
    n = len(u)
    way = [77] * (n - 1) + [88]
    flags = [FLAG_GRAVEL] * (n - 1) + [FLAG_NO_JOIN]
    return RoadGraph(
        crs_wkt=UTM.to_wkt(),
        node_xy=xy,
        node_lonlat=lonlat,
        edge_u=np.array(u, dtype=np.int64),
        edge_v=np.array(v, dtype=np.int64),
        edge_time_s=np.array([200.0] * (n - 1) + [100.0]),
        edge_length_m=np.array([4454.6] * (n - 1) + [4454.6]),
        edge_way=np.array(way, dtype=np.int64),
        edge_flags=np.array(flags, dtype=np.uint8),
        edge_wait_share=np.zeros(n),
        edge_months=np.array([0b101] * n, dtype=np.uint16),
    )


def _hand_scenario(tmp_path: Path, *lines: dict, snap_m: float = 50.0) -> Scenario:
    (tmp_path / "lines.geojson").write_text(_geojson(*lines), encoding="utf-8")
    spec = AddRoads(geojson=Path("lines.geojson"), speed_kph=ADDED_KPH, snap_m=snap_m)
    return Scenario(name="hand", add_roads=[spec], folder=tmp_path)


def _same_length(graph: RoadGraph) -> None:
    arrays = [
        graph.edge_u,
        graph.edge_v,
        graph.edge_time_s,
        graph.edge_length_m,
        graph.edge_way,
        graph.edge_flags,
        graph.edge_wait_share,
        graph.edge_months,
    ]
    assert {len(a) for a in arrays} == {len(graph.edge_u)}
    assert len(graph.node_xy) == len(graph.node_lonlat) == graph.n_nodes
    assert graph.edge_u.max() < graph.n_nodes and graph.edge_v.max() < graph.n_nodes


@pytest.fixture(scope="module")
def cfg():
    return load_region("andorra")  # only its speed table is read, and speed_kph is given


@pytest.mark.parametrize("oneway", [False, True], ids=["two-way", "one-way"])
def test_split_keeps_way_flags_months_and_shares_the_time(tmp_path, cfg, oneway):
    graph = _hand_graph(oneway=oneway)
    # From 16.7 m east of the road's middle out east and back to its north end.
    scenario = _hand_scenario(tmp_path, _line([(39.0003, 60.02), (39.05, 60.03), NORTH]))
    out = apply_scenario(graph, scenario, cfg, UTM)
    _same_length(out)
    split = graph.n_nodes  # the first new node: the point of the road nearest the end
    assert out.node_xy[split][0] == pytest.approx(500_000.0, abs=1e-6)
    road = out.edge_way == 77
    directions = 1 if oneway else 2
    assert road.sum() == 2 * directions  # each direction: two edges instead of one
    assert set(out.edge_u[road]) | set(out.edge_v[road]) == {0, 1, split}
    assert out.edge_time_s[road].sum() == pytest.approx(200.0 * directions)
    assert out.edge_length_m[road].sum() == pytest.approx(4454.6 * directions)
    assert (out.edge_flags[road] == FLAG_GRAVEL).all()
    assert (out.edge_months[road] == 0b101).all()
    south_half = road & (out.edge_u == 0)
    assert out.edge_time_s[south_half] == pytest.approx([200.0 * 0.5], rel=1e-4)
    if oneway:
        assert not (road & (out.edge_u == 1)).any()  # still no edge north → south
    added = (out.edge_flags & FLAG_ADDED) != 0
    assert set(out.edge_u[added]) | set(out.edge_v[added]) == {split, split + 1, 1}
    assert (out.edge_way[added] == -1).all()
    motorway = out.edge_way == 88
    assert motorway.sum() == 1 and out.edge_u[motorway][0] == 2  # untouched


def test_end_near_a_road_vertex_joins_that_vertex(tmp_path, cfg):
    graph = _hand_graph()
    near_north = (39.000005, 60.040003)  # 0.4 m from NORTH: joins it, no split
    scenario = _hand_scenario(tmp_path, _line([near_north, (39.02, 60.02), SOUTH]))
    out = apply_scenario(graph, scenario, cfg, UTM)
    _same_length(out)
    assert out.n_nodes == graph.n_nodes + 1  # only the line's interior vertex is new
    assert out.edge_time_s[out.edge_way == 77].tolist() == [200.0, 200.0]
    added = (out.edge_flags & FLAG_ADDED) != 0
    assert 1 in set(out.edge_u[added])


def test_interior_vertex_on_a_road_does_not_join_it(tmp_path, cfg):
    """A bridge drawn across the road, with a vertex right on it, stays above it."""
    graph = _hand_graph()
    bridge = _line([(38.98, 60.01), (39.00, 60.02), (39.02, 60.03)])
    with pytest.raises(InputDataError, match=r"is 111\d m from the nearest road"):
        apply_scenario(graph, _hand_scenario(tmp_path, bridge), cfg, UTM)  # ends 1.1 km off
    out = apply_scenario(graph, _hand_scenario(tmp_path, bridge, snap_m=1200), cfg, UTM)
    _same_length(out)
    # The ends join the road (at 60.01 and 60.03); the vertex on the road at 60.02 is a node of
    # the bridge only, and the road between the two joins stays one edge each way.
    added = (out.edge_flags & FLAG_ADDED) != 0
    on_road = out.n_nodes - 1
    assert on_road not in set(out.edge_u[~added]) | set(out.edge_v[~added])
    assert (out.edge_way == 77).sum() == 6  # three stretches, both directions


def test_end_near_only_a_motorway_is_an_error(tmp_path, cfg):
    graph = _hand_graph()
    scenario = _hand_scenario(tmp_path, _line([(39.0999, 60.02), (39.2, 60.02)]), snap_m=100)
    with pytest.raises(InputDataError, match=r"start .* of added line feature 1 of"):
        apply_scenario(graph, scenario, cfg, UTM)  # 6 m from the motorway, 5.6 km from the road


def test_added_edges_never_shorter_than_min_edge(tmp_path, cfg):
    out = apply_scenario(_hand_graph(), _hand_scenario(tmp_path, _line([SOUTH, NORTH])), cfg, UTM)
    _same_length(out)
    assert (out.edge_time_s >= MIN_EDGE_TIME_S).all()
    assert out.n_nodes == 4  # both ends are road vertices


# --- a line end that joins nothing, through the command line ---------------------------------

LOOSE_END = (39.03, 60.03)  # P1, the end of the anchor's road, is the nearest road point


def test_loose_end_is_one_error_line_through_the_cli(tmp_path):
    cfg, _ = _prepared(tmp_path, _island_region())
    _scenario(
        cfg,
        "dangling",
        _roads(),
        lines__geojson=_geojson(
            _line([TOWN, (39.01, 60.005), P1]),  # joined at both ends
            _line([P1, LOOSE_END]),  # its end joins nothing
            _line([(39.03, 60.08), (39.04, 60.08)]),  # neither end joins: 2 more loose ends
        ),
    )
    result = _cli(
        "catchments", "--config", str(cfg.region_file), "--scenario", "dangling", root=tmp_path
    )
    assert result.returncode == 2, result.stderr
    lines = _error_lines(result)
    assert len(lines) == 1, result.stderr
    [line] = lines
    assert line.startswith("error: scenario 'dangling'")
    # The second line's end is the first loose one.
    x, y = TO_UTM.transform(*LOOSE_END)
    px, py = TO_UTM.transform(*P1)
    distance = math.hypot(x - px, y - py)
    assert distance == pytest.approx(3387, abs=1)
    got = re.search(r"is (\d+) m from the nearest road", line)
    assert got and abs(int(got.group(1)) - distance) <= 1, line
    assert "feature 2 of" in line and "lines.geojson" in line
    assert "snap_m = 50" in line and "raise snap_m" in line
    assert "end (39.030000, 60.030000)" in line
    assert "2 more line end(s)" in line


# --- validation: snap_m, and `check` -----------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-5"])
def test_snap_m_must_be_finite_and_positive(tmp_path, value):
    cfg, _ = prepare_region(tmp_path, _island_region(), anchors=["Riverton"])
    _scenario(cfg, "snap", _roads(extra=f"snap_m = {value}\n"))
    why = "should be a finite number" if value in ("inf", "nan") else "should be greater than 0"
    with pytest.raises(ConfigError, match=rf"add_roads\.0\.snap_m = .* is invalid: Input {why}"):
        load_scenario(cfg, "snap")


def test_speed_kph_inf_is_refused(tmp_path):
    cfg, _ = prepare_region(tmp_path, _island_region(), anchors=["Riverton"])
    _scenario(cfg, "fast", _roads(kph="inf"))
    with pytest.raises(ConfigError, match=r"add_roads\.0\.speed_kph = inf is invalid"):
        load_scenario(cfg, "fast")


def test_check_lists_every_bad_scenario_file(tmp_path):
    cfg, _ = prepare_region(tmp_path, _island_region(), anchors=["Riverton"])
    good = _geojson(_line([TOWN, P1]))
    _scenario(cfg, "good", _roads(), lines__geojson=good)
    _scenario(cfg, "bad_snap", _roads(extra="snap_m = inf\n"), lines__geojson=good)
    _scenario(cfg, "missing", _roads(geojson="nowhere.geojson"))
    _scenario(cfg, "junk", '[close]\npolygon = "junk.geojson"\n', junk__geojson="not json")
    point = _geojson({"type": "Point", "coordinates": list(TOWN)})
    _scenario(cfg, "point", _roads(geojson="point.geojson"), point__geojson=point)
    _scenario(cfg, "footway", '[[add_roads]]\ngeojson = "lines.geojson"\nhighway = "footway"\n')
    _scenario(cfg, "ghost_anchor", '[anchors]\nadd = ["Nowhere"]\n')  # names are not checked
    _scenario(cfg, "Upper Case", 'description = "a file name that is no scenario name"\n')
    result = _cli("check", "--config", str(cfg.region_file), root=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = _error_lines(result)
    assert len(lines) == 6, result.stderr
    assert all(line.startswith("error: ") for line in lines)
    by_name = {name: [line for line in lines if name in line] for name in ("bad_snap", "missing")}
    assert "snap_m = inf is invalid" in by_name["bad_snap"][0]
    assert "nowhere.geojson' not found" in by_name["missing"][0]
    assert any("'junk'" in line and "unreadable" in line for line in lines)
    assert any("'point'" in line and "has a Point" in line for line in lines)
    assert any("'footway'" in line and "has no speed" in line for line in lines)
    assert any("'Upper Case' is not a scenario name" in line for line in lines)
    assert "8 scenario file(s) checked, 6 invalid" in result.stdout


def test_check_passes_the_shipped_scenarios(tmp_path):
    result = _cli("check", "--region", "andorra", root=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 scenario file(s) checked, all valid" in result.stdout
