"""The raster's polygons: valid by GEOS's rules, and covering exactly the cells of their value."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import CRS

from pipeline.access.surface import Grid, polygonise

CELL_M = 250.0


def _grid(height: int, width: int, inside: np.ndarray | None = None) -> Grid:
    return Grid(
        transform=Affine(CELL_M, 0, 10_000.0, 0, -CELL_M, 90_000.0),
        width=width,
        height=height,
        crs=CRS.from_epsg(3857),
        inside=np.ones((height, width), bool) if inside is None else inside,
    )


def _check(classes: np.ndarray, valid: np.ndarray, grid: Grid) -> None:
    poly = polygonise(classes, grid, valid)
    drawn = valid & grid.inside
    assert sorted(poly["value"]) == sorted(np.unique(classes[drawn]).tolist())
    reasons = shapely.is_valid_reason(poly.geometry.to_numpy())
    assert (reasons == "Valid Geometry").all(), set(reasons)
    # Each value's polygon is exactly its cells: the same area, and it holds each cell's centre.
    rows, cols = np.nonzero(drawn)
    xs, ys = grid.transform @ (cols + 0.5, rows + 0.5)
    for value, geom in zip(poly["value"], poly.geometry, strict=True):
        cells = classes[drawn] == value
        assert geom.area == pytest.approx(cells.sum() * CELL_M**2)
        assert shapely.contains_xy(geom, xs[cells], ys[cells]).all()
        assert not shapely.contains_xy(geom, xs[~cells], ys[~cells]).any()


def test_random_rasters_give_valid_polygons_of_exactly_their_cells():
    """Random classes and holes make every diagonal touch a 4-connected tracing meets: patches
    touching themselves at a corner, holes touching their shell, islands in holes."""
    rng = np.random.default_rng(7)
    for _ in range(150):
        height, width = rng.integers(3, 30, size=2)
        classes = rng.integers(0, rng.integers(2, 5), size=(height, width))
        valid = rng.random((height, width)) < rng.uniform(0.4, 1.0)
        inside = rng.random((height, width)) < 0.95
        _check(classes, valid, _grid(height, width, inside))


def test_a_ring_touching_itself_at_a_corner():
    """One patch going round a hole that touches it at a corner (a self-touching ring to a naive
    tracer, invalid by OGC's rules), and a patch of one cell touching another only diagonally."""
    classes = np.array(
        [
            [1, 1, 1, 0],
            [1, 0, 1, 0],
            [1, 1, 0, 1],
            [0, 0, 1, 0],
        ]
    )
    _check(classes, np.ones_like(classes, bool), _grid(4, 4))


def test_no_cells_no_polygons():
    poly = polygonise(np.zeros((3, 3), int), _grid(3, 3), np.zeros((3, 3), bool))
    assert poly.empty
