"""The whole pipeline on the real Andorra extract: layers, columns, CRS, and every settlement's
anchor and time checked against networkx, the raster and the catchment polygons."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio

from pipeline.outputs.export import RESULT_LAYERS, read_metadata
from pipeline.outputs.layers import SETTLEMENT_COLUMNS

pytestmark = pytest.mark.integration


def _layers(paths, cfg):
    return {name: gpd.read_file(paths.gpkg(cfg.name), layer=name) for name in RESULT_LAYERS}


def test_outputs_exist_with_documented_layers_and_crs(andorra_run):
    cfg, paths = andorra_run
    listed = {name for name, _ in pyogrio.list_layers(paths.gpkg(cfg.name))}
    # Andorra's OSM has services; layer_styles holds QGIS's default style of each layer
    assert listed == {*RESULT_LAYERS, "services", "layer_styles"}
    for name, layer in _layers(paths, cfg).items():
        assert layer.crs.to_epsg() == 3035, name
    with rasterio.open(paths.travel_time_tif) as tif:
        assert tif.crs.to_epsg() == 3035
        assert tif.descriptions[:2] == ("anchor_time_min", "core_time_min")
    assert paths.summary_csv.is_file()
    assert paths.map_html.stat().st_size > 10_000
    meta = read_metadata(paths.gpkg(cfg.name))
    assert meta["approximate"] == "no" and meta["mode"] == "road"


def test_settlement_columns_and_classes(andorra_run):
    cfg, paths = andorra_run
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements")
    service_columns = ("service_deserts", "services_beyond_border")
    core = [c for c in s.columns if not c.startswith("time_") and c not in service_columns]
    assert core == list(SETTLEMENT_COLUMNS)
    # 75 named places in the extract (counted with osmium): 8 towns, 36 villages, 29 hamlets…,
    # of which «Sornás» (a node) and «Sornàs» (an area around it) are one settlement.
    assert len(s) == 74
    assert (s["name"].str.startswith("Sorn")).sum() == 1
    assert set(s["access_class"]) <= {"core_zone", "anchor_zone", "gap", "unreachable"}
    reachable = s["anchor_time_min"].notna()
    assert (s.loc[~reachable, "access_class"] == "unreachable").all()
    assert s.loc[~reachable, "anchor_name"].isna().all()
    assert (s.loc[s["is_anchor"], "anchor_time_min"] == 0).all()
    # gap means: beyond the threshold or unreachable
    expected_gap = ~(s["anchor_time_min"] <= cfg.thresholds.gap_min)
    assert (s["gap"].astype(bool) == expected_gap).all()


def _sample(tif_path, xy: np.ndarray) -> np.ndarray:
    with rasterio.open(tif_path) as tif:
        values = np.array(list(tif.sample(xy)), dtype=float)
        values[values == tif.nodata] = np.nan
    return values


def test_raster_agrees_with_settlements(andorra_run):
    cfg, paths = andorra_run
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements")
    anchors = gpd.read_file(paths.gpkg(cfg.name), layer="anchors")
    xy = np.column_stack([s.geometry.x, s.geometry.y])
    values = _sample(paths.travel_time_tif, xy)
    # A cell's centre is at most half a diagonal from the settlement: the walk differs by at most that.
    slack_min = (cfg.surface.cell_m * np.sqrt(2) / 2) / (cfg.network.offroad_speed_kph / 3.6) / 60.0
    t = s["anchor_time_min"].to_numpy(dtype=float)
    ok = np.isfinite(t) & np.isfinite(values[:, 0]) & ~s["is_anchor"].astype(bool).to_numpy()
    assert ok.sum() > 50
    # Cells and settlements look at their own k nearest road nodes, which differ a little
    # between a point and the centre of its cell, so a few may differ by more than that.
    close = np.abs(values[ok, 0] - t[ok]) <= slack_min + 1e-3
    assert close.mean() >= 0.95
    assert np.all(np.abs(values[ok, 0] - t[ok]) <= 2 * slack_min)
    cell_anchor = anchors.set_index("anchor_id")["name"].reindex(values[ok, 2]).to_numpy()
    agree = cell_anchor == s.loc[ok, "anchor_name"].to_numpy()
    assert agree.mean() >= 0.9, s.loc[ok][~agree][["name", "anchor_name"]]


def test_settlements_lie_in_their_anchors_catchment(andorra_run):
    cfg, paths = andorra_run
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").dropna(subset=["anchor_name"])
    catchments = gpd.read_file(paths.gpkg(cfg.name), layer="catchments").set_index("anchor_name")
    inside = [
        catchments.geometry[a].covers(p) for a, p in zip(s["anchor_name"], s.geometry, strict=True)
    ]
    outside = s[~np.asarray(inside)]
    # A settlement may fall just across a catchment border drawn between cell centres.
    near_border = [
        catchments.geometry[a].distance(p) <= cfg.surface.cell_m * 2
        for a, p in zip(outside["anchor_name"], outside.geometry, strict=True)
    ]
    assert all(near_border), outside[["name", "anchor_name"]]


def test_polygons_do_not_overlap_and_gaps_exceed_threshold(andorra_run):
    cfg, paths = andorra_run
    layers = _layers(paths, cfg)
    bands = layers["isochrones"]
    union_area = bands.union_all().area
    assert union_area == pytest.approx(bands.area.sum(), rel=1e-6)
    catch = layers["catchments"]
    assert catch.union_all().area == pytest.approx(catch.area.sum(), rel=1e-6)
    with rasterio.open(paths.travel_time_tif) as tif:
        times = tif.read(1, masked=True)
    gap_cells = int((times > cfg.thresholds.gap_min).sum())
    beyond = layers["gaps"].query("kind == 'beyond_threshold'")
    assert beyond.area.sum() / 1e6 == pytest.approx(
        gap_cells * (cfg.surface.cell_m**2) / 1e6, rel=1e-6
    )


def test_summary_counts_add_up(andorra_run):
    cfg, paths = andorra_run
    summary = json.loads(paths.summary_json.read_text(encoding="utf-8"))
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements")
    total = summary["region_total"]
    abandoned = s["abandoned"].astype(bool)  # population tagged 0: counted apart
    assert total["settlements_abandoned"] == abandoned.sum()
    lived = int((~abandoned).sum())
    assert total["settlements"] == lived
    classes = ["core_zone", "anchor_zone", "gap", "unreachable"]
    assert sum(total[f"settlements_{c}"] for c in classes) == lived
    assert sum(d["settlements"] for d in summary["districts"]) == lived
    within = ((s["anchor_time_min"] <= cfg.thresholds.bands_min[0]) & ~abandoned).sum()
    assert total[f"settlements_within_{cfg.thresholds.bands_min[0]:g}min"] == within
    assert summary["cores"] == ["Andorra la Vella"]
