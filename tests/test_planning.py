"""Planning answers: the covering solution against brute force, the cross-border table against a
hand-made example, the monotown reach against networkx, and the stage on Andorra and Vologda.

The synthetic regions are drawn at 60 °N (see tests/test_synthetic_osm.py): 0.01° of longitude
≈ 558 m, 0.01° of latitude ≈ 1 114 m. Every settlement sits on a road node, and nodes of
different places are more than `snap_max_m` (1 000 m) apart unless said otherwise.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from pipeline import cli, stages
from pipeline._io import region_paths
from pipeline.access.travel_model import travel_model
from pipeline.analysis import planning as pl
from pipeline.config import load_region
from pipeline.errors import ConfigError
from pipeline.network.graph import RoadGraph
from pipeline.outputs.export import read_metadata
from pipeline.outputs.plan_layers import plan_map_layers
from pipeline.outputs.report import plan_sections
from tests.helpers.oracle import FLOAT_NOISE_S, Oracle, ways_from_run
from tests.helpers.synthetic_region import MIN_EDGE_S, TOL_MIN, drive_s, new_region, prepare_region
from tests.helpers.vologda import vologda_offline

PLAN_FILES = ("plan.gpkg", "proposals.csv", "cross_border.csv", "monotown_reach.csv", "plan.json")


def _run_to_plan(tmp_path, builder, **region):
    cfg, paths = prepare_region(tmp_path, builder, **region)
    for stage in (stages.run_extract, stages.run_network, stages.run_catchments, stages.run_plan):
        stage(cfg, paths)
    return cfg, paths


def _plan(paths) -> dict:
    return json.loads((paths.processed / "plan" / "plan.json").read_text(encoding="utf-8"))


def _layer(paths, name: str) -> gpd.GeoDataFrame:
    return gpd.read_file(paths.processed / "plan" / "plan.gpkg", layer=name)


# --- the solvers against brute force, on random coverage matrices ----------------------------


def _brute_force(cover: np.ndarray, weight: np.ndarray, k: int) -> int:
    best = 0
    for subset in itertools.combinations(range(cover.shape[0]), min(k, cover.shape[0])):
        hit = cover[list(subset)].any(axis=0)
        best = max(best, int(weight[hit].sum()))
    return best


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 7).flatmap(
        lambda rows: st.tuples(
            st.lists(st.lists(st.booleans(), min_size=9, max_size=9), min_size=rows, max_size=rows),
            st.lists(st.integers(0, 2000), min_size=9, max_size=9),
            st.integers(1, 4),
        )
    )
)
def test_exact_cover_matches_brute_force_and_beats_greedy(case):
    rows, population, k = case
    cover = np.array(rows, dtype=bool)
    weight = pl.cover_weights(np.array(population, dtype=float))
    best = _brute_force(cover, weight, k)
    matrix = sparse.csr_matrix(cover)
    exact = pl.exact_cover(matrix, weight, k, time_limit_s=10)
    greedy = pl.greedy_cover(matrix, weight, k)
    assert exact.status == "optimal"
    assert len(exact.picks) <= k and len(greedy) <= k
    value = lambda picks: int(weight[cover[picks].any(axis=0)].sum()) if picks else 0  # noqa: E731
    assert value(exact.picks) == best
    assert value(greedy) <= best
    # (1 - 1/e) guarantee of greedy maximal covering
    assert value(greedy) >= (1 - 1 / math.e) * best - 1e-9


def test_cover_weights_rank_population_before_settlements():
    w = pl.cover_weights(np.array([100.0, np.nan, 0.0, 99.0]))
    # unknown population counts as 0; one more person beats every extra settlement together
    assert w[1] == w[2] == 1
    assert w[0] > w[3] + w[1] + w[2]


# --- (1) covering on a synthetic region: a greedy trap, checked against brute force ---------

# A residential road (30 km/h) along 60 °N. One unit U = 0.028° ≈ 1 562 m ≈ 3.12 min; the plan's
# standard is 4 min: villages 1 U apart are within it, 1.5 U (≈ 4.69 min) apart are not.
U = 0.028
ANCHOR_LON = 38.92
VILLAGES = {  # name: (units east of Aa, population)
    "Aa": (0.0, 100),
    "Bb": (1.0, 100),
    "Cc": (2.0, 500),
    "Mid": (2.5, 100),
    "Dd": (3.0, 500),
    "Ee": (4.0, 100),
    "Ff": (5.0, 100),
}
FIRST_LON = ANCHOR_LON + 3 * U  # Aa is 3 U ≈ 9.4 min from the anchor: every village is in a gap
COVER_PLAN = """
[planning]
k = 2
gap_min = 4
candidate_min_population = 0
candidates = ["Bb", "Mid", "Ee"]
"""


def _lonlat(name: str) -> tuple[float, float]:
    return (FIRST_LON + VILLAGES[name][0] * U, 60.0)


def trap_region():
    b = new_region()
    points = [(ANCHOR_LON, 60.0)] + [_lonlat(n) for n in sorted(VILLAGES, key=VILLAGES.get)]
    b.road(points, highway="residential")
    b.place(ANCHOR_LON, 60.0, "Anchorton", place="town", population="3000")
    for name, (_, population) in VILLAGES.items():
        b.place(*_lonlat(name), name, population=str(population))
    return b


@pytest.fixture(scope="module")
def trap_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("trap")
    return _run_to_plan(root, trap_region(), anchors=["Anchorton"], extra=COVER_PLAN)


def _oracle(cfg, paths, sources_xy) -> Oracle:
    """The independent oracle (tests/helpers/oracle.py) on the run's roads, towards `sources_xy`."""
    return Oracle(
        ways_from_run(cfg, paths),
        np.asarray(sources_xy, dtype=float),
        crs=gpd.read_file(paths.gpkg(cfg.name), layer="settlements").crs,
        snap_max_m=cfg.network.snap_max_m,
        walk_kph=cfg.network.offroad_speed_kph,
        ferry_wait_min=cfg.network.ferry_wait_min,
        step_m=1.0,
    )


def _reference_best(cfg, paths, k: int) -> tuple[int, int, tuple[str, ...]]:
    """Brute force over every k-subset of the candidates with the oracle: (population,
    settlements, names) of the best, with all anchors and the subset as sources at once."""
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index("name")
    xy = {n: (s.geometry[n].x, s.geometry[n].y) for n in s.index}
    gap = [n for n in s.index if not s.loc[n, "anchor_time_min"] <= cfg.planning.gap_min]
    gap_xy = np.array([xy[n] for n in gap])
    best = (-1, -1, ())
    for subset in itertools.combinations(cfg.planning.candidates, k):
        sources = ["Anchorton", *subset]
        rule_s = _oracle(cfg, paths, [xy[n] for n in sources]).times(gap_xy).strict
        covered = [n for n, t in zip(gap, rule_s, strict=True) if t / 60 <= 4 or n in subset]
        score = (sum(VILLAGES[n][1] for n in covered), len(covered), subset)
        best = max(best, score, key=lambda v: v[:2])
    return best


def test_greedy_trap_exact_beats_greedy_and_matches_brute_force(trap_run):
    cfg, paths = trap_run
    p = _plan(paths)["proposals"]
    assert p["gap_settlements"] == 7 and p["gap_population"] == 1500
    assert p["candidates"] == 3
    # Greedy takes Mid first (Cc + Dd + Mid = 1 100 people), then Bb (+200): 1 300.
    assert p["greedy"]["names"] == ["Mid", "Bb"]
    assert p["greedy"]["population"] == 1300
    # Bb (Aa, Bb, Cc) and Ee (Dd, Ee, Ff) together: 1 400, the brute-force optimum.
    population, settlements, names = _reference_best(cfg, paths, k=2)
    assert (population, settlements, set(names)) == (1400, 6, {"Bb", "Ee"})
    assert p["exact"]["status"] == "optimal"
    assert p["exact"]["population"] == population
    assert p["exact"]["settlements"] == settlements
    assert p["greedy_gap"] == {"population": 100, "settlements": 1, "percent": pytest.approx(7.14)}
    assert p["chosen"] == "exact"
    assert p["verified"] == {"population": 1400, "settlements": 6}
    table = _layer(paths, "proposals")
    assert table["name"].tolist() == ["Bb", "Ee"]
    assert table["new_population"].tolist() == [700, 700]
    assert table["cumulative_population"].tolist() == [700, 1400]
    assert table["cumulative_share_pct"].tolist() == [pytest.approx(46.7), pytest.approx(93.3)]
    newly = _layer(paths, "newly_covered").set_index("name")
    assert set(newly.index) == {"Aa", "Bb", "Cc", "Dd", "Ee", "Ff"}
    assert newly.loc["Bb", "time_min"] == 0.0
    # Aa → Bb: 1 U of residential road at 30 km/h, plus the 0.001 s edge into Bb
    aa_s = drive_s(_lonlat("Aa"), _lonlat("Bb"), 30.0) + MIN_EDGE_S
    assert newly.loc["Aa", "time_min"] == pytest.approx(aa_s / 60, abs=TOL_MIN)
    assert newly.loc["Aa", "new_anchor"] == "Bb"


def test_covering_times_follow_the_catchments_rule(trap_run):
    # Every candidate × gap-settlement time within the limit equals the oracle's time to that
    # candidate alone (with the exact rule, coverage by one candidate does not depend on others).
    cfg, paths = trap_run
    with np.load(paths.network, allow_pickle=False) as data:
        graph = RoadGraph.from_npz(data)
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index("name")
    names = list(VILLAGES)
    xy = np.array([(s.geometry[n].x, s.geometry[n].y) for n in names])
    model = travel_model(cfg, graph)
    pairs = pl.times_within(model, xy, xy, 10 * 60.0)
    got = {(names[d], names[p]): t for d, p, t in zip(*pairs, strict=True)}
    oracle = _oracle(cfg, paths, xy)
    for j, dest in enumerate(names):
        times = oracle.times_to(xy, j)
        want = {(dest, names[i]): t for i, t in enumerate(times.strict) if t <= 600}
        mine = {key: t for key, t in got.items() if key[0] == dest}
        assert mine.keys() == want.keys()
        for key in want:
            t = want[key]
            low = times.relaxed[names.index(key[1])] - oracle.tolerance_s
            assert low <= mine[key] <= t + FLOAT_NOISE_S, key


def test_cli_plan_takes_k(trap_run):
    cfg, paths = trap_run
    root = paths.processed.parent.parent
    env = {**os.environ, "PIPELINE_ROOT": str(root)}
    run = subprocess.run(
        [sys.executable, "-m", "pipeline", "plan", "--config", str(cfg.region_file), "--k", "1"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    p = _plan(paths)["proposals"]
    assert p["k"] == 1 and p["greedy"]["names"] == ["Mid"] and p["exact"]["names"] == ["Mid"]
    stages.run_plan(cfg, paths)  # back to the region file's k = 2 for the other tests


def test_cli_refuses_k_below_one(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_ROOT", str(tmp_path))
    assert cli.main(["plan", "--region", "andorra", "--k", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: k = '0' is invalid") and "\n" not in err
    assert "whole number from 1 to 100" in err
    assert not (tmp_path / "logs").exists()  # refused before the stage starts
    assert "plan" not in cli.ALL  # `make` / `all` never runs the plan


# --- (2) cross-border ties and (3) monotown reach: a region of three districts -------------

WESTBY = (38.92, 60.00)  # anchor of West
EASTBY = (39.10, 60.00)  # anchor of East
BORDERVILLE = (39.03, 60.00)  # in West, nearer Eastby
NORDBY = (39.10, 60.08)  # in North, which has no anchor
WESTVALE = (38.92, 60.04)  # in West, served by Westby
MILLTON = (39.00, 60.06)  # a single-industry town in West
WEST = (38.90, 59.95, 39.05, 60.10)
EAST = (39.05, 59.95, 39.20, 60.05)
NORTH = (39.05, 60.05, 39.20, 60.10)
TIES_PLAN = """
[planning]
monotowns = ["Millton"]
employment_min_population = 2000
reach_bands_min = [5, 9, 12]
"""


def ties_region():
    b = new_region()
    b.admin_boundary(WEST, admin_level=6, name="West")
    b.admin_boundary(EAST, admin_level=6, name="East")
    b.admin_boundary(NORTH, admin_level=6, name="North")
    b.road([WESTBY, BORDERVILLE, EASTBY], highway="primary")
    b.road([EASTBY, NORDBY], highway="tertiary")
    b.road([WESTBY, WESTVALE, MILLTON], highway="tertiary")
    b.road([MILLTON, BORDERVILLE], highway="primary", oneway="yes")  # only towards Borderville
    b.place(*WESTBY, "Westby", place="town", population="5000")
    b.place(*EASTBY, "Eastby", place="town", population="8000")
    b.place(*BORDERVILLE, "Borderville", population="300")
    b.place(*NORDBY, "Nordby", population="200")
    b.place(*WESTVALE, "Westvale", population="150")
    b.place(*MILLTON, "Millton", place="town", population="2500")
    return b


@pytest.fixture(scope="module")
def ties_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ties")
    return _run_to_plan(root, ties_region(), anchors=["Westby", "Eastby"], extra=TIES_PLAN)


def test_cross_border_table_matches_hand_made_example(ties_run):
    _cfg, paths = ties_run
    # Borderville → Eastby: primary 0.07° ≈ 3 906 m at 80 km/h ≈ 175.8 s ≈ 2.93 min;
    # → Westby (its own district's anchor): 0.11° ≈ 6 138 m ≈ 276.2 s ≈ 4.60 min.
    border_s = drive_s(BORDERVILLE, EASTBY, 80.0) + MIN_EDGE_S
    border_own_s = drive_s(BORDERVILLE, WESTBY, 80.0) + MIN_EDGE_S
    assert border_s / 60 == pytest.approx(2.93, abs=0.01)
    # Nordby → Eastby: tertiary 0.08° of latitude ≈ 8 915 m at 60 km/h ≈ 8.92 min; North has
    # no anchor of its own.
    nordby_s = drive_s(NORDBY, EASTBY, 60.0) + MIN_EDGE_S
    # Millton (West) → Eastby: the one-way primary to Borderville, then east ≈ 8.1 min; → Westby,
    # its own district's anchor, by the tertiary through Westvale ≈ 9.5 min.
    mill_s = drive_s(MILLTON, BORDERVILLE, 80.0) + drive_s(BORDERVILLE, EASTBY, 80.0) + MIN_EDGE_S
    mill_own_s = drive_s(MILLTON, WESTVALE, 60.0) + drive_s(WESTVALE, WESTBY, 60.0) + MIN_EDGE_S
    links = _layer(paths, "cross_border").set_index("name")
    assert set(links.index) == {"Borderville", "Millton", "Nordby"}
    m = links.loc["Millton"]
    assert (m["anchor_name"], m["own_district_anchor"]) == ("Eastby", "Westby")
    assert m["time_min"] == pytest.approx(mill_s / 60, abs=TOL_MIN)
    assert m["own_district_time_min"] == pytest.approx(mill_own_s / 60, abs=TOL_MIN)
    b = links.loc["Borderville"]
    assert (b["district"], b["anchor_name"], b["anchor_district"]) == ("West", "Eastby", "East")
    assert b["time_min"] == pytest.approx(border_s / 60, abs=TOL_MIN)
    assert b["own_district_anchor"] == "Westby"
    assert b["own_district_time_min"] == pytest.approx(border_own_s / 60, abs=TOL_MIN)
    assert not b["gap_without_crossing"]
    n = links.loc["Nordby"]
    assert (n["district"], n["anchor_district"]) == ("North", "East")
    assert n["time_min"] == pytest.approx(nordby_s / 60, abs=TOL_MIN)
    assert math.isnan(n["own_district_time_min"]) and n["gap_without_crossing"]

    pairs = _layer(paths, "cross_border_pairs")
    with_people = pairs[pairs["settlements"] > 0].set_index(["district", "anchor_district"])
    assert sorted(with_people.index) == [("North", "East"), ("West", "East")]
    west = with_people.loc[("West", "East")]
    assert (west["settlements"], west["population"]) == (2, 2800)
    saved_min = np.median([border_own_s - border_s, mill_own_s - mill_s]) / 60
    assert west["median_time_saved_min"] == pytest.approx(saved_min, abs=TOL_MIN)
    assert west["median_time_min"] == pytest.approx((border_s + mill_s) / 2 / 60, abs=TOL_MIN)
    assert west["settlements_no_own_anchor"] == 0 and west["area_km2"] > 0
    north = with_people.loc[("North", "East")]
    assert (north["settlements"], north["population"], north["settlements_no_own_anchor"]) == (
        1,
        200,
        1,
    )
    assert (
        north["settlements_gap_without_crossing"],
        north["population_gap_without_crossing"],
    ) == (
        1,
        200,
    )
    assert math.isnan(north["median_time_saved_min"])
    assert (pairs["area_km2"] >= pl.LAND_ONLY_MIN_KM2).all() or (pairs["settlements"] > 0).all()
    csv = (paths.processed / "plan" / "cross_border.csv").read_text(encoding="utf-8-sig")
    # A Russian-language region (the default): `;` between fields, as Excel expects
    assert csv.splitlines()[0].startswith("district;anchor_district;settlements;population")


def test_monotown_reach_matches_the_oracle(ties_run):
    cfg, paths = ties_run
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index("name")
    point = lambda n: np.array([(s.geometry[n].x, s.geometry[n].y)])  # noqa: E731
    expected = {}
    for centre in ("Westby", "Eastby"):  # Millton (2 500) is a centre too, but not its own
        oracle = _oracle(cfg, paths, point(centre))
        expected[centre] = oracle.times(point("Millton")).strict[0] / 60
    # Millton → Eastby takes the one-way primary to Borderville (≈ 8.1 min); the way back could
    # not. Millton → Westby: the tertiary through Westvale (≈ 9.5 min).
    assert expected["Eastby"] == pytest.approx(8.1, abs=0.1)
    assert expected["Westby"] == pytest.approx(9.5, abs=0.1)
    links = _layer(paths, "monotown_reach").set_index("centre")
    assert set(links.index) == {"Westby", "Eastby"}
    for centre, minutes in expected.items():
        assert links.loc[centre, "time_min"] == pytest.approx(minutes, abs=0.03)  # 1 m steps
    assert links.loc["Eastby", "band_min"] == 9 and links.loc["Westby", "band_min"] == 12
    table = _plan(paths)["monotown_reach"]["towns"]
    assert len(table) == 1
    row = table[0]
    assert (row["monotown"], row["district"], row["population"]) == ("Millton", "West", 2500)
    assert row["centres_within_5min"] == 0 and row["centre_population_within_5min"] == 0
    assert row["centres_within_9min"] == 1 and row["centre_population_within_9min"] == 8000
    assert row["centres_within_12min"] == 2 and row["centre_population_within_12min"] == 13000
    e, w = expected["Eastby"], expected["Westby"]
    assert row["centres_within_12min_names"] == f"Eastby ({e:.0f} min); Westby ({w:.0f} min)"
    assert row["nearest_centre"] == "Eastby"


# --- the stage on Andorra (real roads) and Vologda (offline) -------------------------------


@pytest.fixture(scope="module")
def andorra_plan(andorra_run, tmp_path_factory):
    """The plan stage on a copy of the session's Andorra run (whose files other tests compare)."""
    cfg, shared = andorra_run
    paths = region_paths(cfg, root=tmp_path_factory.mktemp("andorra-plan"))
    shutil.copytree(shared.raw, paths.raw)
    shutil.copytree(shared.processed, paths.processed)
    return cfg, paths, stages.run_plan(cfg, paths)


@pytest.mark.integration
def test_plan_on_andorra(andorra_plan):
    _cfg, paths, target = andorra_plan
    out = paths.processed / "plan"
    assert target == out / "plan.json"
    assert all((out / name).is_file() for name in PLAN_FILES)
    assert {name for name, _ in pyogrio.list_layers(out / "plan.gpkg")} == set(pl.PLAN_LAYERS)
    meta = read_metadata(out / "plan.gpkg")
    assert meta["approximate"] == "no" and meta["gap_threshold_min"] == "10"
    plan = _plan(paths)
    p = plan["proposals"]
    assert p["proposed"] >= 1 and p["exact"]["ran"] and p["exact"]["status"] == "optimal"
    assert p["greedy_gap"]["population"] >= 0
    assert p["verified"]["population"] == max(p["greedy"]["population"], p["exact"]["population"])
    assert p["table"][0]["name"] == "Pas de la Casa"  # 2 996 people, the only tagged gap population
    for layer in pl.PLAN_LAYERS:
        assert _layer(paths, layer).crs.to_epsg() == 3035
    reach = plan["monotown_reach"]["towns"][0]
    assert reach["monotown"] == "Pas de la Casa" and reach["centres_within_60min"] >= 3
    sections = plan_sections(plan, "en")
    assert sections[0][0].startswith("Closing gaps")
    assert all("<table" in body or "<p>" in body for _, body in sections)
    web = plan_map_layers(out / "plan.gpkg")
    assert "proposals" in web and web["proposals"].crs.to_epsg() == 4326
    assert web["proposals"]["label"].iloc[0].startswith("1. Pas de la Casa")


@pytest.mark.integration
def test_plan_on_andorra_reach_matches_the_oracle(andorra_plan):
    cfg, paths, _ = andorra_plan
    links = _layer(paths, "monotown_reach")
    town = np.array([links.geometry.iloc[0].coords[0]])
    for _, row in links.head(2).iterrows():  # the two nearest centres
        oracle = Oracle(
            ways_from_run(cfg, paths),
            np.array([row.geometry.coords[1]]),
            crs=links.crs,
            snap_max_m=cfg.network.snap_max_m,
            walk_kph=cfg.network.offroad_speed_kph,
            ferry_wait_min=cfg.network.ferry_wait_min,
            step_m=5.0,
        )
        times = oracle.times(town)
        low = times.relaxed[0] - oracle.tolerance_s
        assert low <= row["time_min"] * 60 <= times.strict[0] + FLOAT_NOISE_S, row["centre"]


def test_plan_onvologda_offline(tmp_path):
    cfg, paths = vologda_offline(tmp_path)
    # a coarse raster: the plan reads only the catchment polygons from it (cross-border land)
    cfg = cfg.model_copy(update={"surface": cfg.surface.model_copy(update={"cell_m": 2000.0})})
    for stage in (stages.run_extract, stages.run_network, stages.run_catchments, stages.run_plan):
        stage(cfg, paths)
    out = paths.processed / "plan"
    assert all((out / name).is_file() for name in PLAN_FILES)
    meta = read_metadata(out / "plan.gpkg")
    assert meta["approximate"] == "yes" and meta["note"].startswith("APPROXIMATE")
    plan = _plan(paths)
    assert plan["approximate"] is True and plan["mode"] == "straight_line"
    p = plan["proposals"]
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index("name", drop=False)
    assert p["gap_settlements"] == int((~(s["anchor_time_min"] <= 60)).sum())
    assert p["proposed"] == cfg.planning.k
    assert p["greedy"]["population"] <= p["exact"]["population"] <= p["gap_population"]
    # Сокол → Вологда by the straight-line model: distance × 1.35 ÷ 60 km/h
    a, b = s.geometry["Сокол"], s.geometry["Вологда"]
    expected_min = math.hypot(a.x - b.x, a.y - b.y) * 1.35 / (60 / 3.6) / 60
    reach = {r["monotown"]: r for r in plan["monotown_reach"]["towns"]}
    # The oblast's four towns on the government's list, with their categories.
    assert {m: r["category"] for m, r in reach.items()} == {
        "Сазоново": 1,
        "Красавино": 1,
        "Череповец": 1,
        "Сокол": 3,
    }
    assert reach["Сокол"]["nearest_centre"] == "Вологда"
    assert reach["Сокол"]["nearest_centre_time_min"] == pytest.approx(expected_min, rel=1e-9)
    sections = plan_sections(plan, "ru")
    assert all("ПРИБЛИЖЁННО" in body for _, body in sections)
    # Villages of Череповецкий район served by the city of Череповец (its own municipality)
    pairs = {(r["district"], r["anchor_district"]): r for r in plan["cross_border"]["pairs"]}
    assert pairs[("Череповецкий район", "Череповец")]["settlements"] >= 1


# --- configuration and text ----------------------------------------------------------------


def test_planning_section_is_validated(tmp_path):
    base = (tmp_path / "x.toml", 'name = "x"\ndisplay_name = "X"\n[anchors]\nnames = ["A"]\n')
    path, text = base
    path.write_text(text + "[planning]\nk = 3\nmonotown = []\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"unknown key 'planning.monotown'; did you mean 'monotowns'"
    ):
        load_region(config=path)
    path.write_text(text + "[planning]\nreach_bands_min = [60, 30]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="strictly ascending"):
        load_region(config=path)
    path.write_text(text + "[planning]\nk = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"planning\.k"):
        load_region(config=path)
    path.write_text(text, encoding="utf-8")
    plan = load_region(config=path).planning
    assert (plan.k, plan.gap_min, plan.reach_bands_min) == (5, None, [30.0, 45.0, 60.0])


def test_plan_sections_escape_names():
    row = {"rank": 1, "name": "<script>alert(1)</script>", "district": "A & B", "population": 5}
    plan = {
        "approximate": False,
        "proposals": {
            "gap_settlements": 1,
            "gap_population": 5,
            "gap_min": 60.0,
            "proposed": 1,
            "k": 1,
            "candidates": 1,
            "greedy": {"population": 5, "settlements": 1},
            "exact": {"ran": False, "reason": "x"},
            "greedy_gap": {"population": 0, "percent": 0.0},
            "chosen": "greedy",
            "verified": {"population": 5},
            "table": [row],
        },
        "cross_border": {"settlements": 0, "population": 0, "pairs": []},
        "monotown_reach": {
            "bands_min": [30.0],
            "employment_min_population": 10000,
            "employment_centres": [],
            "towns": [],
        },
    }
    body = "".join(html for _, html in plan_sections(plan, "en"))
    assert "<script>" not in body and "&lt;script&gt;" in body and "A &amp; B" in body
