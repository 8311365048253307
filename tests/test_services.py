"""Service accessibility: service points from OSM (points and areas) or a planner's CSV, the time
from every settlement to the nearest service of each type, anchor service profiles, deserts."""

from __future__ import annotations

import json
import math
import re

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Transformer

from pipeline import stages
from pipeline.access.services import anchor_profile
from pipeline.config import load_region
from pipeline.config.defaults import DEFAULT_SERVICE_TAGS
from pipeline.errors import ConfigError, InputDataError
from pipeline.inputs.service_points import ServiceMatcher
from tests.helpers.oracle import FLOAT_NOISE_S, Oracle, ways_from_run
from tests.helpers.synthetic_region import MIN_EDGE_S, TOL_MIN, drive_s, new_region, prepare_region
from tests.helpers.vologda import vologda_offline

# A line of three settlements on latitude 60.0 (synthetic): Alpha —primary— Bravo —tertiary— Charlie.
ALPHA, BRAVO, CHARLIE = (38.95, 60.0), (39.00, 60.0), (39.10, 60.0)


def _square(b, centre, half_deg=0.001, **tags):
    """A closed way (an area) centred on `centre`: its representative point is the centre."""
    x, y = centre
    ring = [
        b.node(x - half_deg, y - half_deg),
        b.node(x + half_deg, y - half_deg),
        b.node(x + half_deg, y + half_deg),
        b.node(x - half_deg, y + half_deg),
    ]
    return b.way([*ring, ring[0]], **tags)


def _line_region():
    b = new_region()
    b.road([ALPHA, BRAVO], highway="primary")  # 80 km/h
    b.road([BRAVO, CHARLIE], highway="tertiary")  # 60 km/h
    b.place(*ALPHA, "Alpha", place="town")
    b.place(*BRAVO, "Bravo")
    b.place(*CHARLIE, "Charlie")
    b.node(*ALPHA, amenity="school", name="Alpha school")
    b.node(*BRAVO, healthcare="centre", name="ФАП Браво")  # a feldsher-midwife post
    _square(b, CHARLIE, amenity="pharmacy", name="Charlie pharmacy")  # an area, not a point
    b.node(*CHARLIE, amenity="post_office", name="Почта")
    return b


def _run(tmp_path, builder, extra=""):
    cfg, paths = prepare_region(tmp_path, builder, anchors=["Alpha", "Charlie"], extra=extra)
    for stage in (stages.run_extract, stages.run_network, stages.run_catchments):
        stage(cfg, paths)
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index("name")
    anchors = gpd.read_file(paths.gpkg(cfg.name), layer="anchors").set_index("name")
    return cfg, paths, s, anchors


def test_hand_computed_service_times(tmp_path):
    extra = "\n[services]\ndesert_min = { school = 5 }\n"
    _cfg, _paths, s, _anchors = _run(tmp_path, _line_region(), extra)
    ab_s = drive_s(ALPHA, BRAVO, 80.0)  # ≈ 2 780 m at 80 km/h ≈ 125 s
    bc_s = drive_s(BRAVO, CHARLIE, 60.0)  # ≈ 5 560 m at 60 km/h ≈ 334 s
    # Every settlement and service sits on a road node: no walk, plus the 0.001 s edge into the
    # service's virtual node.
    expected = {
        ("Alpha", "school"): MIN_EDGE_S,
        ("Bravo", "school"): ab_s + MIN_EDGE_S,
        ("Charlie", "school"): bc_s + ab_s + MIN_EDGE_S,
        ("Alpha", "fap"): ab_s + MIN_EDGE_S,
        ("Charlie", "fap"): bc_s + MIN_EDGE_S,
        ("Alpha", "pharmacy"): ab_s + bc_s + MIN_EDGE_S,
        ("Bravo", "post_office"): bc_s + MIN_EDGE_S,
    }
    for (name, service), seconds in expected.items():
        assert s.loc[name, f"time_{service}_min"] == pytest.approx(seconds / 60, abs=TOL_MIN)
    # No hospital in the region: the column is empty, never an invented time, and no desert claimed.
    assert s["time_hospital_min"].isna().all()
    assert "hospital" not in s.loc["Charlie", "service_deserts"]
    # Charlie is (bc + ab) / 60 ≈ 7.7 min from a school: beyond the 5-min desert threshold set above.
    assert (bc_s + ab_s) / 60 > 5
    assert "school" in s.loc["Charlie", "service_deserts"].split(", ")
    assert "school" not in s.loc["Bravo", "service_deserts"].split(", ")


def test_service_layer_links_services_to_settlements(tmp_path):
    cfg, paths, _, _ = _run(tmp_path, _line_region())
    services = gpd.read_file(paths.gpkg(cfg.name), layer="services").set_index("service")
    assert set(services.index) == {"school", "fap", "pharmacy", "post_office"}
    assert services.loc["pharmacy", "osm_type"] == "way"  # the area became a point
    assert services.loc["fap", "settlement_name"] == "Bravo"
    assert services.loc["pharmacy", "settlement_name"] == "Charlie"
    assert services.loc["pharmacy", "link_distance_m"] < 1.0


def test_anchor_service_profile(tmp_path):
    _cfg, paths, _, anchors = _run(tmp_path, _line_region())
    # Alpha hosts a school only; Charlie a pharmacy and a post office; the FAP is in Bravo.
    assert bool(anchors.loc["Alpha", "has_school"])
    assert not bool(anchors.loc["Alpha", "has_fap"])
    assert anchors.loc["Alpha", "core_services_missing"] == "clinic|fap, pharmacy, post_office"
    assert anchors.loc["Charlie", "core_services_missing"] == "school, clinic|fap"
    assert anchors["lacks_core_services"].astype(bool).all()
    figures = json.loads(paths.summary_json.read_text(encoding="utf-8"))["services"]
    assert figures["available"] and figures["source"] == "OpenStreetMap"
    assert {a["name"] for a in figures["anchors_lacking_core"]} == {"Alpha", "Charlie"}
    school = [
        r for r in figures["coverage"] if r["service"] == "school" and r["area"] == "(region)"
    ]
    assert school[0]["settlements_within_15min"] == 3


def test_planner_csv_replaces_osm_services(tmp_path):
    csv = tmp_path / "services.csv"
    csv.write_text("name,type,lat,lon\nШкола №1,school,60.0,39.10\n", encoding="cp1251")
    extra = f'\n[services]\ncsv = "{csv.name}"\n'
    cfg, paths, s, _ = _run(tmp_path, _line_region(), extra)
    services = gpd.read_file(paths.gpkg(cfg.name), layer="services")
    assert list(services["name"]) == ["Школа №1"]
    assert list(services["osm_type"]) == ["csv"]
    # The OSM FAP, pharmacy and post office are not used: only the CSV counts.
    assert s["time_fap_min"].isna().all()
    assert s.loc["Charlie", "time_school_min"] == pytest.approx(MIN_EDGE_S / 60, abs=TOL_MIN)
    expected = drive_s(ALPHA, BRAVO, 80.0) + drive_s(BRAVO, CHARLIE, 60.0) + MIN_EDGE_S
    assert s.loc["Alpha", "time_school_min"] == pytest.approx(expected / 60, abs=TOL_MIN)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("name,kind,lat,lon\nA,school,60,39\n", "missing column(s) type"),
        ("name,type,lat,lon\nA,spaceport,60,39\n", "unknown service type 'spaceport'"),
        ("name,type,lat,lon\nA,school,north,39\n", "line 2 has no valid lat/lon"),
    ],
)
def test_bad_service_csv(tmp_path, body, message):
    (tmp_path / "services.csv").write_text(body, encoding="utf-8")
    cfg, paths = prepare_region(
        tmp_path, _line_region(), anchors=["Alpha"], extra='\n[services]\ncsv = "services.csv"\n'
    )
    with pytest.raises(InputDataError, match=re.escape(message)):
        stages.run_extract(cfg, paths)


def test_unknown_core_service_is_a_config_error(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(
        'name = "x"\ndisplay_name = "X"\n[anchors]\nnames = ["A"]\n'
        '[services]\ncore = ["school", "spa|sauna"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="core service 'spa' is not a service type"):
        load_region(config=path)


def test_matcher_reads_the_table():
    matcher = ServiceMatcher(DEFAULT_SERVICE_TAGS)
    assert matcher.match({"amenity": "clinic"}) == ["clinic"]
    assert matcher.match({"healthcare": "centre"}) == ["fap"]
    assert set(matcher.match({"amenity": "pharmacy", "healthcare": "pharmacy"})) == {"pharmacy"}
    assert matcher.match({"amenity": "bench"}) == []
    assert ServiceMatcher({"any_shop": ["shop=*"]}).match({"shop": "bakery"}) == ["any_shop"]


def test_anchor_profile_either_or():
    anchors = gpd.GeoDataFrame({"osm_type": ["node", "node"], "osm_id": [1, 2]})
    services = gpd.GeoDataFrame(
        {
            "service": ["fap", "clinic", "school"],
            "settlement_osm_type": ["node"] * 3,
            "settlement_osm_id": [1, 2, 2],
        }
    )
    profile = anchor_profile(
        anchors, services, ["fap", "clinic", "school"], ["clinic|fap", "school"]
    )
    assert list(profile["core_services_missing"]) == ["school", ""]


@pytest.mark.integration
def test_andorra_hospital_times_match_the_oracle(andorra_run):
    cfg, paths = andorra_run
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements")
    hospitals = gpd.read_file(paths.gpkg(cfg.name), layer="services").query("service == 'hospital'")
    assert len(hospitals) >= 2
    oracle = Oracle(
        ways_from_run(cfg, paths),
        np.column_stack([hospitals.geometry.x, hospitals.geometry.y]),
        crs=s.crs,
        snap_max_m=cfg.network.snap_max_m,
        walk_kph=cfg.network.offroad_speed_kph,
        ferry_wait_min=cfg.network.ferry_wait_min,
        step_m=5.0,
    )
    want = oracle.times(np.column_stack([s.geometry.x, s.geometry.y]))
    reported_s = s["time_hospital_min"].to_numpy(dtype=float) * 60.0
    sure = np.isfinite(want.strict) == np.isfinite(want.relaxed)
    assert np.array_equal(np.isfinite(want.strict[sure]), np.isfinite(reported_s[sure]))
    ok = sure & np.isfinite(reported_s)
    assert ok.sum() > 60
    assert np.all(reported_s[ok] <= want.strict[ok] + FLOAT_NOISE_S)
    assert np.all(reported_s[ok] >= want.relaxed[ok] - oracle.tolerance_s)


def test_vologda_offline_has_no_service_data(tmp_path, caplog):
    cfg, paths = vologda_offline(tmp_path)
    with caplog.at_level("WARNING"):
        for stage in (stages.run_extract, stages.run_network, stages.run_catchments):
            stage(cfg, paths)
    assert any("no service data" in r.getMessage() for r in caplog.records)
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements")
    assert not [c for c in s.columns if c.startswith("time_")]
    assert json.loads(paths.summary_json.read_text(encoding="utf-8"))["services"] == {
        "available": False
    }


def test_vologda_offline_with_planner_csv(tmp_path):
    # One hospital at the official coordinates of Vologda (towns_hflabs.csv: 59.2205, 39.8915).
    (tmp_path / "services.csv").write_text(
        "name,type,lat,lon\nОбластная больница,hospital,59.2205,39.8915\n", encoding="utf-8"
    )
    cfg, paths = vologda_offline(tmp_path, '\n[services]\ncsv = "services.csv"\n')
    for stage in (stages.run_extract, stages.run_network, stages.run_catchments):
        stage(cfg, paths)
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index("name")
    # Straight-line model: distance in the region CRS × 1.35 ÷ 60 km/h.
    to_utm = Transformer.from_crs("EPSG:4326", cfg.crs, always_xy=True)
    hx, hy = to_utm.transform(39.8915, 59.2205)
    point = s.geometry["Череповец"]
    expected_min = math.hypot(point.x - hx, point.y - hy) * 1.35 / (60 / 3.6) / 60
    assert s.loc["Череповец", "time_hospital_min"] == pytest.approx(expected_min, rel=1e-9)
    assert s["time_hospital_min"].notna().all()
