"""People on the land from a population grid: area-proportional shares, figures by travel time."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry import box

from pipeline import stages
from pipeline.access.population import people_per_cell, population_figures
from pipeline.access.surface import make_grid
from tests.helpers.vologda import vologda_offline


def test_people_spread_by_area(tmp_path):
    # A synthetic 2 × 1 grid of 1° cells at 59–60 N, 30–32 E: 1 000 and 3 000 people.
    tif = tmp_path / "pop.tif"
    profile = {
        "driver": "GTiff", "width": 2, "height": 1, "count": 1, "dtype": "float32",
        "crs": "EPSG:4326", "transform": Affine(1.0, 0, 30.0, 0, -1.0, 60.0),
    }  # fmt: skip
    with rasterio.open(tif, "w", **profile) as dst:
        dst.write(np.array([[1000.0, 3000.0]], dtype=np.float32), 1)
    # A region covering the western half of the first cell (30.0–30.5 E), in an equal-area CRS.
    crs = CRS.from_proj4("+proj=laea +lat_0=59.5 +lon_0=30.5 +datum=WGS84 +units=m")
    to_laea = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xs, ys = to_laea.transform([30.0, 30.5, 30.5, 30.0], [59.0, 59.0, 60.0, 60.0])
    from shapely.geometry import Polygon

    region = Polygon(zip(xs, ys, strict=True))
    grid = make_grid(region, crs, 500.0)
    people = people_per_cell(grid, tif)
    # About half of the first cell's area: about 500 people (raster edges make it approximate).
    assert people.sum() == pytest.approx(500.0, rel=0.02)
    assert people[~grid.inside].sum() == 0
    assert box(*region.bounds).area > 0


def test_population_figures_by_time():
    people = np.array([[10.0, 20.0], [30.0, 40.0]])
    minutes = np.array([[5.0, 25.0], [70.0, np.nan]])
    figures = population_figures(people, minutes, [15.0, 30.0], gap_min=60.0)
    assert figures == {
        "total": 100,
        "within_15min": 10,
        "within_30min": 30,
        "gap": 70,
        "no_access": 40,
    }


def test_vologda_offline_grid_population(tmp_path):
    cfg, paths = vologda_offline(tmp_path)
    for stage in (stages.run_extract, stages.run_network, stages.run_catchments):
        stage(cfg, paths)
    grid = json.loads(paths.summary_json.read_text(encoding="utf-8"))["grid_population"]
    # The bundled data's README: the grid cells whose centre lies in the oblast hold 1.147 M
    # (Rosstat 2020: about 1.16 M). Area shares of the border cells land close to that.
    assert grid["total"] == pytest.approx(1_147_000, rel=0.05)
    assert (
        grid["within_60min"] + grid["gap"] == grid["total"]
        or abs(grid["within_60min"] + grid["gap"] - grid["total"]) <= 2
    )
    assert "estimate" in grid["note"]
