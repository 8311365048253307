"""The travel-time surface: a raster over the region, and the polygons cut from it.

Every cell takes the time of its best nearby road node plus the walk to it (see
:func:`pipeline.access.routing.time_via_nearest_nodes`), so polygons never cover land that no road
reaches, and bands, catchments and gaps never overlap: each is a class of the same raster.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS

__all__ = ["Grid", "band_labels", "cell_centres", "make_grid", "polygonise", "write_geotiff"]

NODATA = -9999.0

# GDAL's polygonizer traces 4-connected patches into OGC-valid polygons since GDAL 3.7 (its
# two-arm chains algorithm, OSGeo/gdal#7344; self-touching rings were split since 3.3, #3337),
# so GEOS's make_valid, which costs as much as the tracing, is needed only with an older GDAL.
# tests/test_surface.py checks the polygons of random rasters with GEOS.
_POLYGONIZE_VALID = tuple(map(int, rasterio.__gdal_version__.split(".")[:2])) >= (3, 7)


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid in the region's projected CRS; `inside` marks cells in the region."""

    transform: Affine
    width: int
    height: int
    crs: CRS
    inside: np.ndarray  # (height, width) bool

    @property
    def cell_area_km2(self) -> float:
        return abs(self.transform.a * self.transform.e) / 1e6


def make_grid(region: shapely.Geometry, crs: CRS, cell_m: float) -> Grid:
    """A grid of `cell_m` cells aligned to multiples of the cell size, covering `region`.

    Parameters
    ----------
    region : shapely.Geometry
        The region polygon, projected.
    crs : CRS
        Its projected CRS.
    cell_m : float
        Cell side, metres (``surface.cell_m``).

    Returns
    -------
    Grid
        The grid: transform, shape, CRS and which cells lie inside the region.
    """
    xmin, ymin, xmax, ymax = region.bounds
    x0, y1 = np.floor(xmin / cell_m) * cell_m, np.ceil(ymax / cell_m) * cell_m
    width = int(np.ceil((xmax - x0) / cell_m))
    height = int(np.ceil((y1 - ymin) / cell_m))
    transform = Affine(cell_m, 0.0, x0, 0.0, -cell_m, y1)
    inside = rasterio.features.geometry_mask(
        [region], out_shape=(height, width), transform=transform, invert=True
    )
    return Grid(transform=transform, width=width, height=height, crs=crs, inside=inside)


def cell_centres(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """The cells inside the region: their indices and centres.

    Parameters
    ----------
    grid : Grid
        A grid from :func:`make_grid`.

    Returns
    -------
    (rows, cols) : tuple of np.ndarray
        Row and column index of each cell inside the region.
    centres : np.ndarray
        (n, 2) centre coordinates, metres in the grid's CRS.
    """
    rows, cols = np.nonzero(grid.inside)
    t = grid.transform
    x = t.c + (cols + 0.5) * t.a
    y = t.f + (rows + 0.5) * t.e
    return (rows, cols), np.column_stack([x, y])


def band_labels(limits: list[float]) -> list[str]:
    """'0–15 min', '15–30 min', … for band limits in minutes.

    Parameters
    ----------
    limits : list of float
        Ascending upper limits of the bands, minutes.

    Returns
    -------
    list of str
        One label per band.

    Examples
    --------
    >>> band_labels([15, 30])
    ['0–15 min', '15–30 min']
    """
    lows = [0.0, *limits[:-1]]
    return [f"{_fmt(lo)}–{_fmt(hi)} min" for lo, hi in zip(lows, limits, strict=True)]


def _fmt(value: float) -> str:
    return f"{value:g}"


def polygonise(classes: np.ndarray, grid: Grid, valid: np.ndarray) -> gpd.GeoDataFrame:
    """One (multi)polygon per class value among the `valid` cells.

    Parameters
    ----------
    classes : np.ndarray
        (height, width) class value of each cell.
    grid : Grid
        The grid the arrays belong to.
    valid : np.ndarray
        (height, width) booleans: the cells to draw.

    Returns
    -------
    gpd.GeoDataFrame
        Columns `value`, `geometry`, in the grid's CRS, sorted by value (a stable order).
        Polygons of different values never overlap.
    """
    shapes = rasterio.features.shapes(
        classes.astype(np.int32), mask=valid & grid.inside, transform=grid.transform, connectivity=4
    )
    rings, rings_per_patch, values = [], [], []
    for geom, value in shapes:  # one item per connected patch, not per cell
        rings.extend(geom["coordinates"])  # the outer ring, then the holes
        rings_per_patch.append(len(geom["coordinates"]))
        values.append(int(value))
    if not values:
        return gpd.GeoDataFrame({"value": values}, geometry=[], crs=grid.crs)
    # Every patch's rings into shapely at once, not one Polygon object per patch.
    points_per_ring = np.fromiter(map(len, rings), np.int64, len(rings))
    xy = np.fromiter(
        itertools.chain.from_iterable(itertools.chain.from_iterable(rings)),
        float,
        2 * int(points_per_ring.sum()),
    ).reshape(-1, 2)
    linear_rings = shapely.linearrings(
        xy, indices=np.repeat(np.arange(len(rings)), points_per_ring)
    )
    geoms = shapely.polygons(
        linear_rings, indices=np.repeat(np.arange(len(values)), rings_per_patch)
    )
    # Patches of one value are 4-connected components, so they share no edge (at most a
    # corner): a MultiPolygon of them is already their union, without the cost of union_all.
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    unique, start = np.unique(values[order], return_index=True)
    parts = np.split(np.asarray(geoms, dtype=object)[order], start[1:])
    merged = np.asarray(
        [p[0] if len(p) == 1 else shapely.multipolygons(list(p)) for p in parts], dtype=object
    )
    if not _POLYGONIZE_VALID:
        merged = shapely.make_valid(merged)
    return gpd.GeoDataFrame({"value": unique.astype(int)}, geometry=merged, crs=grid.crs)


def write_geotiff(path, grid: Grid, bands: dict[str, np.ndarray]) -> None:
    """Write float bands (NaN → nodata) as one GeoTIFF, their names as band descriptions.

    Parameters
    ----------
    path : path-like
        The file to write (the caller makes the write atomic).
    grid : Grid
        The grid of the bands (transform and CRS).
    bands : dict of str to np.ndarray
        Band name → (height, width) values, written in this order.
    """
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": len(bands),
        "dtype": "float32",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
        # Deflate at its fastest level after the floating-point predictor: twice as quick as
        # the default level 6 and a smaller file (oblast: 0.42 -> 0.19 s, 14.3 -> 13.4 MB).
        "compress": "deflate",
        "zlevel": 1,
        "predictor": 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "num_threads": "all_cpus",  # tiles compressed in parallel; the bytes are the same
    }
    with rasterio.open(path, "w", **profile) as dst:
        for i, (name, values) in enumerate(bands.items(), start=1):
            dst.write(np.where(np.isfinite(values), values, NODATA).astype(np.float32), i)
            dst.set_band_description(i, name)
