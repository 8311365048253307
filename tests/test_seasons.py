"""Seasons, river crossings and what-if scenarios on a small synthetic river region, with every
time worked out by hand, plus a closure scenario on the real Andorra extract.

The region (synthetic, see tests/helpers/osm_builder.py): Riverton (the anchor) on the south bank of a
river; Northville across it, reached by a ferry in summer (no tags: the region's navigation
months May–October apply) and by a winter road (зимник) over the ice in winter; Eastham at the
end of a grade-4 track, impassable in the thaw; Weston on a gravel road, slower in the thaw.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pytest

from pipeline import stages
from pipeline.config import load_region
from pipeline.errors import ConfigError
from pipeline.network.scenarios import load_scenario
from tests.helpers.synthetic_region import MIN_EDGE_S, TOL_MIN, drive_s, new_region, prepare_region

TOWN = (39.00, 60.00)
PIER_S, PIER_N = (39.00, 60.02), (39.00, 60.04)
NORTH = (39.00, 60.06)
ICE = (39.03, 60.03)  # the winter road's bend on the ice
EAST = (39.10, 60.00)
WEST = (38.95, 60.00)
FERRY_MIN, WAIT_MIN = 20.0, 20.0


def river_region():
    b = new_region()
    b.road([TOWN, PIER_S], highway="primary")  # 80 km/h
    b.road([PIER_S, PIER_N], route="ferry", duration="00:20")
    b.road([PIER_N, NORTH], highway="tertiary")  # 60 km/h
    b.road([TOWN, ICE, NORTH], highway="track", winter_road="yes")  # 30 km/h in winter
    b.road([TOWN, EAST], highway="track", tracktype="grade4")  # 20 × 0.45 km/h
    b.road([TOWN, WEST], highway="tertiary", surface="gravel")  # 60 × 0.7 km/h
    b.place(*TOWN, "Riverton", place="town")
    b.place(*NORTH, "Northville")
    b.place(*EAST, "Eastham")
    b.place(*WEST, "Weston")
    return b


def expected_minutes() -> dict[tuple[str, str], float]:
    """By hand, from the default seasons (pipeline.config.defaults.DEFAULT_SEASONS)."""
    summer_north = (
        drive_s(TOWN, PIER_S, 80.0) + (FERRY_MIN + WAIT_MIN) * 60 + drive_s(PIER_N, NORTH, 60.0)
    )
    winter_north = drive_s(TOWN, ICE, 30.0) + drive_s(ICE, NORTH, 30.0)
    track_kph = 20.0 * 0.45
    gravel_kph = 60.0 * 0.7
    s = {
        ("summer", "Northville"): summer_north,
        ("winter", "Northville"): winter_north,
        ("thaw", "Northville"): math.inf,  # no ferry (ice break-up), no winter road
        ("summer", "Eastham"): drive_s(TOWN, EAST, track_kph),
        ("winter", "Eastham"): drive_s(TOWN, EAST, track_kph * 0.8),  # snow on soft tracks
        ("thaw", "Eastham"): math.inf,  # распутица: soft tracks closed
        ("summer", "Weston"): drive_s(TOWN, WEST, gravel_kph),
        ("winter", "Weston"): drive_s(TOWN, WEST, gravel_kph),
        ("thaw", "Weston"): drive_s(TOWN, WEST, gravel_kph * 0.6),
    }
    return {k: (v + MIN_EDGE_S) / 60 if math.isfinite(v) else v for k, v in s.items()}


@pytest.fixture(scope="module")
def river_seasons(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("river")
    cfg, paths = prepare_region(tmp, river_region(), anchors=["Riverton"])
    stages.run_extract(cfg, paths)
    stages.run_network(cfg, paths)
    stages.run_seasons(cfg, paths)
    return cfg, paths


def test_each_season_matches_hand_computed_times(river_seasons):
    cfg, paths = river_seasons
    for season in ("summer", "winter", "thaw"):
        run = paths.for_run(None, season)
        s = gpd.read_file(run.gpkg(cfg.name), layer="settlements").set_index("name")
        for (when, name), minutes in expected_minutes().items():
            if when != season:
                continue
            got = s.loc[name, "anchor_time_min"]
            if math.isinf(minutes):
                assert math.isnan(got), (season, name)
                assert s.loc[name, "access_class"] == "unreachable"
            else:
                assert got == pytest.approx(minutes, abs=TOL_MIN), (season, name)


def test_worst_best_and_all_season_access(river_seasons):
    _cfg, paths = river_seasons
    combined = gpd.read_file(paths.processed / "seasons.gpkg", layer="settlement_seasons")
    c = combined.set_index("name")
    exp = expected_minutes()
    assert c.loc["Northville", "worst_season"] == "thaw"
    assert math.isnan(c.loc["Northville", "worst_time_min"])
    assert c.loc["Northville", "best_season"] == "winter"  # the ice road beats the ferry
    assert c.loc["Northville", "best_time_min"] == pytest.approx(
        exp["winter", "Northville"], abs=TOL_MIN
    )
    assert bool(c.loc["Northville", "season_dependent"])
    assert not bool(c.loc["Northville", "all_season_access"])
    assert c.loc["Northville", "seasons_served"] == "summer, winter"
    assert c.loc["Weston", "worst_season"] == "thaw"
    assert bool(c.loc["Weston", "all_season_access"])
    assert bool(c.loc["Riverton", "all_season_access"])
    assert "Northville" in {
        r["name"]
        for r in json.loads((paths.processed / "seasons.json").read_text())["season_dependent"][
            "table"
        ]
    }


def test_crossings_layer_states_and_dependants(river_seasons):
    _cfg, paths = river_seasons
    crossings = gpd.read_file(paths.processed / "seasons.gpkg", layer="crossings").set_index("kind")
    ferry, winter = crossings.loc["ferry"], crossings.loc["winter_road"]
    assert (bool(ferry["open_summer"]), bool(ferry["open_winter"]), bool(ferry["open_thaw"])) == (
        True,
        False,
        False,
    )
    assert (
        bool(winter["open_summer"]),
        bool(winter["open_winter"]),
        bool(winter["open_thaw"]),
    ) == (False, True, False)
    # Northville loses access without the ferry in summer, and without the ice road in winter.
    assert ferry["settlements_lost_summer"] == 1 and ferry["who_summer"] == "Northville"
    assert winter["settlements_lost_winter"] == 1 and winter["who_winter"] == "Northville"
    assert ferry["settlements_lost_winter"] == 0
    combined = gpd.read_file(
        paths.processed / "seasons.gpkg", layer="settlement_seasons"
    ).set_index("name")
    assert set(combined.loc["Northville", "crossings"].split(", ")) == {
        "ferry " + str(int(crossings.loc["ferry", "osm_id"])),
        "winter_road " + str(int(crossings.loc["winter_road", "osm_id"])),
    }


def test_ferry_tags_set_its_months(tmp_path):
    b = river_region()
    # Replace the untagged ferry by one that runs only June–September: still open in summer
    # (mid-season is August), and a `seasonal=winter` ferry would be closed then.
    b.ways = [w for w in b.ways if w[2].get("route") != "ferry"]
    b.road([PIER_S, PIER_N], route="ferry", duration="00:20", opening_hours="Jun-Sep 08:00-20:00")
    cfg, paths = prepare_region(tmp_path, b, anchors=["Riverton"])
    stages.run_extract(cfg, paths)
    stages.run_network(cfg, paths)
    stages.run_catchments(cfg, paths)
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index("name")
    assert s.loc["Northville", "anchor_time_min"] == pytest.approx(
        expected_minutes()["summer", "Northville"], abs=TOL_MIN
    )


def test_season_rules_from_the_region_file(tmp_path):
    extra = (
        "\n[seasons.summer]\nferry_wait_min = 5\n\n[seasons.winter]\nwinter_road_speed_kph = 15\n"
    )
    cfg, paths = prepare_region(tmp_path, river_region(), anchors=["Riverton"], extra=extra)
    assert cfg.seasons["winter"].ferries is False  # unchanged rules keep their defaults
    stages.run_extract(cfg, paths)
    stages.run_network(cfg, paths)
    stages.run_catchments(cfg, paths)  # default season: summer, with a 5-minute wait
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index("name")
    expected = expected_minutes()["summer", "Northville"] - (WAIT_MIN - 5.0)
    assert s.loc["Northville", "anchor_time_min"] == pytest.approx(expected, abs=TOL_MIN)
    winter = paths.for_run(None, "winter")
    stages.run_catchments(cfg, winter, season="winter")
    w = gpd.read_file(winter.gpkg(cfg.name), layer="settlements").set_index("name")
    slow = (drive_s(TOWN, ICE, 15.0) + drive_s(ICE, NORTH, 15.0) + MIN_EDGE_S) / 60
    assert w.loc["Northville", "anchor_time_min"] == pytest.approx(slow, abs=TOL_MIN)


def test_unknown_season_is_refused(river_seasons):
    cfg, _ = river_seasons
    with pytest.raises(ConfigError, match="unknown season 'spring'; seasons: summer, winter, thaw"):
        cfg.season("spring")


def _bridge_scenario(cfg):
    folder = cfg.region_file.parent / cfg.name / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    line = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "LineString", "coordinates": [list(PIER_S), list(PIER_N)]},
            }
        ],
    }
    (folder / "bridge.geojson").write_text(json.dumps(line), encoding="utf-8")
    (folder / "new_bridge.toml").write_text(
        'description = "A bridge where the ferry runs"\n'
        '[[add_roads]]\ngeojson = "bridge.geojson"\nhighway = "primary"\n',
        encoding="utf-8",
    )


def test_bridge_scenario_and_diff(tmp_path):
    cfg, paths = prepare_region(tmp_path, river_region(), anchors=["Riverton"])
    _bridge_scenario(cfg)
    stages.run_extract(cfg, paths)
    stages.run_network(cfg, paths)
    stages.run_catchments(cfg, paths)
    run = paths.for_run("new_bridge", None)
    stages.run_catchments(cfg, run, scenario="new_bridge")
    s = gpd.read_file(run.gpkg(cfg.name), layer="settlements").set_index("name")
    bridged = (
        drive_s(TOWN, PIER_S, 80.0)
        + drive_s(PIER_S, PIER_N, 80.0)
        + drive_s(PIER_N, NORTH, 60.0)
        + MIN_EDGE_S
    ) / 60
    assert s.loc["Northville", "anchor_time_min"] == pytest.approx(bridged, abs=TOL_MIN)
    target = stages.run_diff(cfg, paths, "baseline", "new_bridge")
    changes = gpd.read_file(target).set_index("name")
    assert list(changes.index) == ["Northville"]
    assert changes.loc["Northville", "change"] == "faster"
    assert changes.loc["Northville", "delta_min"] == pytest.approx(
        bridged - expected_minutes()["summer", "Northville"], abs=TOL_MIN
    )
    # In the thaw the bridge turns "unreachable" into served: gained.
    thaw_a = paths.for_run(None, "thaw")
    thaw_b = paths.for_run("new_bridge", "thaw")
    stages.run_catchments(cfg, thaw_a, season="thaw")
    stages.run_catchments(cfg, thaw_b, season="thaw", scenario="new_bridge")
    gained = gpd.read_file(
        stages.run_diff(cfg, paths, "baseline@thaw", "new_bridge@thaw")
    ).set_index("name")
    assert gained.loc["Northville", "change"] == "gained"
    figures = json.loads(
        (paths.processed / "diff" / "baseline-thaw__new_bridge-thaw.json").read_text()
    )
    assert figures["gained"]["settlements"] == 1


def test_unknown_scenario_lists_known(tmp_path):
    cfg, _ = prepare_region(tmp_path, river_region(), anchors=["Riverton"])
    _bridge_scenario(cfg)
    with pytest.raises(
        ConfigError, match="unknown scenario 'new_brige' \\(did you mean 'new_bridge'\\?\\)"
    ):
        load_scenario(cfg, "new_brige")


def test_andorra_closure_scenario_never_speeds_anyone_up(andorra_run):
    cfg, paths = andorra_run
    run = paths.for_run("close_cg2_above_canillo", None)
    stages.run_catchments(cfg, run, scenario="close_cg2_above_canillo")
    base = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index(
        ["osm_type", "osm_id"]
    )
    closed = gpd.read_file(run.gpkg(cfg.name), layer="settlements").set_index(
        ["osm_type", "osm_id"]
    )
    a = base["anchor_time_min"].to_numpy(dtype=float)
    b = closed.loc[base.index, "anchor_time_min"].to_numpy(dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    assert np.all(b[both] >= a[both] - 1e-9)  # removing a road never makes anyone faster
    changes = gpd.read_file(stages.run_diff(cfg, paths, "baseline", "close_cg2_above_canillo"))
    assert "Soldeu" in set(changes["name"])
    assert (changes["delta_min"].dropna() > 0).all()


def test_region_file_season_validation(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "s"\ndisplay_name = "S"\n[anchors]\nnames = ["A"]\n[seasons.summer]\nstart = "13-01"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="is not a date as MM-DD"):
        load_region(config=path)
