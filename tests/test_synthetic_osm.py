"""Whole-pipeline runs on tiny synthetic OSM files, with every expected time worked out by hand.

Each test draws a small made-up region (see :mod:`tests.helpers.osm_builder`): a ferry, a one-way road,
an island, a village far from roads, an agglomeration core. Settlements sit exactly on road
nodes, so the walk to the road is 0 m, and every node is more than `snap_max_m` (1 000 m)
from every other node of another place, so nobody walks a shortcut. The expected time is then
the sum of segment lengths (pyproj.Geod) ÷ speed, plus ferry time and wait, plus the 0.001 s
edge (network.MIN_EDGE_TIME_S) from the anchor's road node into the anchor itself.

Region: a square of 38.90–39.20 °E × 59.95–60.10 °N in UTM 37N (EPSG:32637), whose central
meridian is 39 °E. At 60 °N, 0.01° of longitude ≈ 558 m and 0.01° of latitude ≈ 1 114 m.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from pipeline import stages
from pipeline.errors import AnchorNotFoundError
from tests.helpers.osm_builder import OsmBuilder
from tests.helpers.synthetic_region import (
    BBOX,
    CELL_M,
    MIN_EDGE_S,
    OFFROAD_KPH,
    REGION_RELATION,
    SNAP_MAX_M,
    TO_UTM,
    TOL_MIN,
    assert_raster_matches_settlement,
    drive_s,
    new_region,
    prepare_region,
    run_pipeline,
)

# --- (a) a ferry -----------------------------------------------------------------------------

PORT = (39.00, 60.00)  # anchor town, on the mainland
PIER_SOUTH = (39.02, 60.00)
PIER_NORTH = (39.02, 60.03)
FARSHORE = (39.04, 60.03)  # village across the river


def ferry_region() -> OsmBuilder:
    b = new_region()
    b.road([PORT, PIER_SOUTH], highway="primary")
    b.road([PIER_SOUTH, PIER_NORTH], route="ferry", duration="00:30")
    b.road([PIER_NORTH, FARSHORE], highway="tertiary")
    b.place(*PORT, "Porthaven", place="town")
    b.place(*FARSHORE, "Farshore")
    return b


@pytest.mark.parametrize("xml", [False, True], ids=["pbf", "osm-xml"])
def test_ferry_crossing_costs_duration_plus_wait(tmp_path, xml):
    run = run_pipeline(tmp_path, ferry_region(), anchors=["Porthaven"], xml=xml)
    # Farshore → Pier north: tertiary 1 115.0 m at 60 km/h (16.667 m/s) =    66.90 s
    # Pier north → Pier south: ferry duration 00:30 + 20 min wait       = 3 000.00 s
    # Pier south → Porthaven: primary 1 116.0 m at 80 km/h (22.222 m/s) =    50.22 s
    # into the anchor                                                      +  0.001 s
    #                                                          total ≈ 3 117.12 s ≈ 51.95 min
    expected_s = (
        drive_s(FARSHORE, PIER_NORTH, 60.0) + (30 + 20) * 60.0 + drive_s(PIER_SOUTH, PORT, 80.0)
    ) + MIN_EDGE_S
    assert expected_s == pytest.approx(3117.12, abs=0.01)
    far = run.row("Farshore")
    assert far["anchor_time_min"] == pytest.approx(expected_s / 60.0, abs=TOL_MIN)
    assert far["anchor_name"] == "Porthaven"
    assert far["access_class"] == "anchor_zone"  # 51.95 min ≤ gap_min 60
    assert not far["gap"]
    assert not far["no_road"]
    assert far["road_distance_m"] == pytest.approx(0.0, abs=1e-6)

    port = run.row("Porthaven")
    assert port["anchor_time_min"] == 0.0
    assert port["anchor_name"] == "Porthaven"
    assert_raster_matches_settlement(run, "Porthaven")


def test_raster_agrees_with_settlement_across_a_river(tmp_path):
    # Cells and settlements walk at most network.snap_max_m to a road, so Farshore's cell cannot
    # "walk" the ≈ 3 523 m across the river to Pier south (≈ 43.1 min) and undercut the
    # 51.95 min ferry trip of Farshore itself.
    run = run_pipeline(tmp_path, ferry_region(), anchors=["Porthaven"])
    assert_raster_matches_settlement(run, "Farshore")


def test_ferry_without_duration_sails_at_ferry_speed(tmp_path):
    b = new_region()
    b.road([PORT, PIER_SOUTH], highway="primary")
    b.road([PIER_SOUTH, PIER_NORTH], route="ferry")
    b.road([PIER_NORTH, FARSHORE], highway="tertiary")
    b.place(*PORT, "Porthaven", place="town")
    b.place(*FARSHORE, "Farshore")
    run = run_pipeline(tmp_path, b, anchors=["Porthaven"])
    # ferry: 3 342.4 m at 10 km/h (2.778 m/s) = 1 203.3 s, + 1 200 s wait
    # total ≈ 66.90 + 2 403.26 + 50.22 + 0.001 ≈ 2 520.38 s ≈ 42.01 min
    expected_s = (
        drive_s(FARSHORE, PIER_NORTH, 60.0)
        + drive_s(PIER_NORTH, PIER_SOUTH, 10.0)
        + 20 * 60.0
        + drive_s(PIER_SOUTH, PORT, 80.0)
        + MIN_EDGE_S
    )
    assert expected_s == pytest.approx(2520.38, abs=0.01)
    assert run.row("Farshore")["anchor_time_min"] == pytest.approx(expected_s / 60.0, abs=TOL_MIN)


# --- (b) a one-way road ----------------------------------------------------------------------

ONETON = (39.00, 60.00)  # anchor
LOOPVALE = (39.00, 60.03)  # village north of it: the one-way runs anchor → village
CORNER_NE = (39.03, 60.03)
CORNER_SE = (39.03, 60.00)
UPSTREAM = (39.00, 59.97)  # village south of it: the one-way runs village → anchor
OFFSIDE = (39.005, 59.97)  # hamlet off the road, ≈ 279 m east of Upstream


def oneway_region() -> OsmBuilder:
    b = new_region()
    b.road([ONETON, LOOPVALE], highway="primary", oneway="yes")
    b.road([LOOPVALE, CORNER_NE, CORNER_SE, ONETON], highway="tertiary")
    b.road([UPSTREAM, ONETON], highway="primary", oneway="yes")
    b.place(*ONETON, "Oneton", place="town")
    b.place(*LOOPVALE, "Loopvale")
    b.place(*UPSTREAM, "Upstream")
    b.place(*OFFSIDE, "Offside", place="hamlet")
    return b


@pytest.fixture(scope="module")
def oneway_run(tmp_path_factory):
    return run_pipeline(tmp_path_factory.mktemp("oneway"), oneway_region(), anchors=["Oneton"])


def test_oneway_time_is_village_to_anchor(oneway_run):
    run = oneway_run
    # Loopvale → Oneton cannot use the one-way primary (it runs Oneton → Loopvale, 150.41 s);
    # it drives the tertiary loop: 1 672.5 + 3 342.4 + 1 674.0 = 6 688.9 m at 60 km/h
    #   ≈ 401.33 s ≈ 6.689 min (anchor → village would be 2.507 min)
    loop_s = (
        drive_s(LOOPVALE, CORNER_NE, 60.0)
        + drive_s(CORNER_NE, CORNER_SE, 60.0)
        + drive_s(CORNER_SE, ONETON, 60.0)
        + MIN_EDGE_S
    )
    assert loop_s == pytest.approx(401.33, abs=0.01)
    short_s = drive_s(ONETON, LOOPVALE, 80.0)
    loop = run.row("Loopvale")
    assert loop["anchor_time_min"] == pytest.approx(loop_s / 60.0, abs=TOL_MIN)
    assert loop["anchor_time_min"] > short_s / 60.0 + 4.0

    # Upstream → Oneton: the one-way primary, 3 342.4 m at 80 km/h ≈ 150.41 s ≈ 2.507 min, even
    # though Oneton cannot drive back to Upstream at all.
    up_s = drive_s(UPSTREAM, ONETON, 80.0) + MIN_EDGE_S
    assert up_s == pytest.approx(150.41, abs=0.01)
    up = run.row("Upstream")
    assert up["anchor_time_min"] == pytest.approx(up_s / 60.0, abs=TOL_MIN)
    assert up["anchor_name"] == "Oneton"
    assert_raster_matches_settlement(run, "Loopvale")
    assert_raster_matches_settlement(run, "Upstream")


def test_walk_to_the_road_is_added(oneway_run):
    # Offside has no road: it walks ≈ 279 m west to the one-way Upstream → Oneton and drives it.
    # In the projected CRS the road is a straight segment; Offside's perpendicular meets it at
    # s0 metres from Upstream, d metres away. Walking 1.389 m/s and driving v m/s, the best
    # place to reach the road lies d·q/√(1−q²) farther along (q = 1.389 / v), which costs
    # d·√(1−q²)/1.389 of walking and the rest of the segment's time from the foot.
    a = np.array(TO_UTM.transform(*UPSTREAM))
    b = np.array(TO_UTM.transform(*ONETON))
    p = np.array(TO_UTM.transform(*OFFSIDE))
    length_m = float(np.hypot(*(b - a)))
    unit = (b - a) / length_m
    s0 = float(np.dot(p - a, unit))
    d = float(abs(unit[0] * (p - a)[1] - unit[1] * (p - a)[0]))
    assert d == pytest.approx(279.0, abs=1.0) and 0 <= s0 < 10
    drive_all_s = drive_s(UPSTREAM, ONETON, 80.0)
    walk_mps = OFFROAD_KPH / 3.6
    q = walk_mps / (length_m / drive_all_s)
    expected_s = d * math.sqrt(1 - q * q) / walk_mps + (length_m - s0) / length_m * drive_all_s
    off = oneway_run.row("Offside")
    assert off["anchor_time_min"] == pytest.approx(expected_s / 60.0, abs=TOL_MIN)
    assert off["road_distance_m"] == pytest.approx(d, rel=1e-9)
    assert not off["no_road"]
    assert off["anchor_name"] == "Oneton"
    assert_raster_matches_settlement(oneway_run, "Offside")


# --- (c) an island and (d) a village far from any road ---------------------------------------

MAINPORT = (39.00, 60.00)
MAIN_END = (39.02, 60.00)
ISLA_NORTE = (39.10, 60.05)  # a road fragment ≈ 7 km from the mainland roads
ISLA_SUR = (39.12, 60.05)
DEEPWOOD = (39.00, 60.08)  # ≥ 6.5 km from every road node


def island_region() -> OsmBuilder:
    b = new_region()
    b.road([MAINPORT, MAIN_END], highway="residential")
    b.road([ISLA_NORTE, ISLA_SUR], highway="residential")
    b.place(*MAINPORT, "Mainport", place="town")
    b.place(*ISLA_NORTE, "Isla Norte")
    b.place(*ISLA_SUR, "Isla Sur", place="hamlet")
    b.place(*DEEPWOOD, "Deepwood")
    return b


@pytest.fixture(scope="module")
def island_run(tmp_path_factory):
    return run_pipeline(tmp_path_factory.mktemp("island"), island_region(), anchors=["Mainport"])


@pytest.mark.parametrize("name", ["Isla Norte", "Isla Sur"])
def test_island_settlements_are_unreachable_not_timed(island_run, name):
    isle = island_run.row(name)
    assert isle["access_class"] == "unreachable"
    assert math.isnan(isle["anchor_time_min"])
    assert pd.isna(isle["anchor_name"]) or isle["anchor_name"] == ""
    assert isle["gap"]
    assert not isle["no_road"]  # there is a road: it just leads nowhere
    assert isle["road_distance_m"] == pytest.approx(0.0, abs=1e-6)
    # the island is > snap_max_m from every road reaching the anchor: no raster time
    assert math.isnan(island_run.raster_at(name))


def test_village_beyond_snap_distance_has_no_road(island_run):
    deep = island_run.row("Deepwood")
    assert deep["no_road"]
    assert deep["access_class"] == "unreachable"
    assert math.isnan(deep["anchor_time_min"])
    assert pd.isna(deep["anchor_name"]) or deep["anchor_name"] == ""
    assert deep["gap"]
    # straight distance in the projected CRS to the nearest road node of any road (the island's
    # Isla Norte, ≈ 6.5 km: 0.10° east ≈ 5.6 km and 0.03° south ≈ 3.3 km)
    x0, y0 = TO_UTM.transform(*DEEPWOOD)
    nearest_m = min(
        math.hypot(x - x0, y - y0)
        for x, y in (TO_UTM.transform(*p) for p in (MAINPORT, MAIN_END, ISLA_NORTE, ISLA_SUR))
    )
    assert nearest_m == pytest.approx(6492.5, abs=0.5)
    assert deep["road_distance_m"] == pytest.approx(nearest_m, rel=1e-9)
    assert deep["road_distance_m"] > SNAP_MAX_M


def test_mainland_anchor_still_reached(island_run):
    main = island_run.row("Mainport")
    assert main["anchor_time_min"] == 0.0
    assert main["access_class"] == "anchor_zone"
    assert_raster_matches_settlement(island_run, "Mainport")


# --- (e) an agglomeration core ---------------------------------------------------------------

BIGCITY = (39.00, 60.00)  # the core (and so an anchor too)
NEARBY = (39.00, 60.03)  # village 3.3 km north of the core, by primary road
SMALLTOWN = (39.10, 60.00)  # a second anchor, 5.6 km east by a track
REMOTE = (39.10, 60.03)  # village 3.3 km north of Smalltown


def core_region() -> OsmBuilder:
    b = new_region()
    b.road([BIGCITY, NEARBY], highway="primary")
    b.road([BIGCITY, SMALLTOWN], highway="track")
    b.road([SMALLTOWN, REMOTE], highway="primary")
    b.place(*BIGCITY, "Bigcity", place="city")
    b.place(*SMALLTOWN, "Smalltown", place="town")
    b.place(*NEARBY, "Nearby")
    b.place(*REMOTE, "Remote")
    return b


def test_core_zone_and_core_time(tmp_path):
    run = run_pipeline(
        tmp_path,
        core_region(),
        anchors=["Smalltown"],
        cores=["Bigcity"],
        extra="zone_min = [1.5, 3.0]",
    )
    # Nearby → Bigcity: primary 3 342.4 m at 80 km/h ≈ 150.41 s ≈ 2.507 min ≤ 3 → core zone
    nearby_s = drive_s(NEARBY, BIGCITY, 80.0) + MIN_EDGE_S
    nearby = run.row("Nearby")
    assert nearby["core_name"] == "Bigcity"
    assert nearby["core_time_min"] == pytest.approx(nearby_s / 60.0, abs=TOL_MIN)
    assert nearby["access_class"] == "core_zone"
    # the core is an anchor as well, and the nearest one
    assert nearby["anchor_name"] == "Bigcity"
    assert nearby["anchor_time_min"] == pytest.approx(nearby_s / 60.0, abs=TOL_MIN)

    # Remote → Smalltown: 3 342.4 m at 80 km/h ≈ 150.41 s ≈ 2.507 min (its anchor)
    # Remote → Bigcity: + track 5 580.0 m at 20 km/h (5.556 m/s) ≈ 1 004.40 s → ≈ 19.25 min
    remote_anchor_s = drive_s(REMOTE, SMALLTOWN, 80.0) + MIN_EDGE_S
    remote_core_s = (
        drive_s(REMOTE, SMALLTOWN, 80.0) + drive_s(SMALLTOWN, BIGCITY, 20.0) + MIN_EDGE_S
    )
    assert remote_core_s == pytest.approx(1154.81, abs=0.01)
    remote = run.row("Remote")
    assert remote["anchor_name"] == "Smalltown"
    assert remote["anchor_time_min"] == pytest.approx(remote_anchor_s / 60.0, abs=TOL_MIN)
    assert remote["core_name"] == "Bigcity"
    assert remote["core_time_min"] == pytest.approx(remote_core_s / 60.0, abs=TOL_MIN)
    assert remote["access_class"] == "anchor_zone"  # 19.25 min > 3 min, 2.5 min ≤ 60 min

    big = run.row("Bigcity")
    assert big["core_time_min"] == 0.0
    assert big["anchor_time_min"] == 0.0
    assert big["access_class"] == "core_zone"
    assert bool(big["is_core"])
    assert bool(big["is_anchor"])
    assert run.raster_at("Nearby", "core_time_min") == pytest.approx(
        nearby["core_time_min"], abs=CELL_M * math.sqrt(2) / (OFFROAD_KPH / 3.6) / 60.0
    )


# --- (f) an anchor name that matches nothing -------------------------------------------------


def test_unknown_anchor_name_lists_the_nearest_names(tmp_path):
    with pytest.raises(AnchorNotFoundError) as info:
        run_pipeline(tmp_path, oneway_region(), anchors=["Onetown"])
    message = str(info.value)
    assert "'Onetown'" in message
    assert "Oneton" in message  # the closest real name
    assert "\n" not in message


def test_all_settlement_times_are_consistent_with_their_class(island_run):
    s = island_run.settlements
    reachable = s["anchor_time_min"].notna()
    assert (s.loc[~reachable, "access_class"] == "unreachable").all()
    assert (s.loc[reachable, "anchor_time_min"] >= 0).all()
    assert np.array_equal(s["gap"].to_numpy(dtype=bool), ~(s["anchor_time_min"] <= 60).to_numpy())


# --- the extract's road buffer ---------------------------------------------------------------

NORTH_ROAD = [(39.05, 60.155), (39.05, 60.16)]  # 0.055° ≈ 6.1 km north of the region's edge


def buffer_region() -> OsmBuilder:
    b = OsmBuilder()
    # Another admin boundary, far away (30 °S), with a lower relation id: read first.
    b.admin_boundary((38.90, -30.10, 39.20, -29.90), admin_level=4, name="Faraway", rid=1)
    b.admin_boundary(BBOX, admin_level=4, name="Synthetica", rid=REGION_RELATION)
    b.road([PORT, PIER_SOUTH], highway="primary")
    b.road(NORTH_ROAD, highway="primary")
    b.place(*PORT, "Porthaven", place="town")
    return b


def kept_road_count(tmp_path: Path, crs: str | None) -> int:
    cfg, paths = prepare_region(
        tmp_path, buffer_region(), anchors=["Porthaven"], crs=crs, boundary="clip_buffer_m = 5000"
    )
    stages.run_extract(cfg, paths)
    assert cfg.boundary.clip_buffer_m == 5000.0
    return len(gpd.read_file(paths.osm_gpkg, layer="roads"))


def test_roads_beyond_the_clip_buffer_are_dropped(tmp_path):
    # 6.1 km > clip_buffer_m (5 km): only the road inside the region is kept.
    assert kept_road_count(tmp_path, "EPSG:32637") == 1


def test_clip_buffer_without_a_crs_is_measured_around_the_region(tmp_path):
    # No crs in the region file: the buffer must be metres in a LAEA centred on the region.
    assert kept_road_count(tmp_path, None) == 1
