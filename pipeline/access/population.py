"""People on the land, from a population grid: who lives in the gaps, not only in named villages.

Settlement population tags (OSM) or a settlements list (GeoNames ≥ 500 people) miss the many
small villages; a population grid (such as GPWv4) does not. Each grid cell's people are spread
evenly over the travel-time cells whose centres fall in it, so the figures are estimates at the
grid's resolution, and say so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features
from pyproj import Transformer

from pipeline.access.surface import Grid
from pipeline.config import RegionConfig

logger = logging.getLogger(__name__)

__all__ = ["people_per_cell", "population_figures"]


def people_per_cell(grid: Grid, population_tif: Path) -> np.ndarray:
    """Estimated people in each travel-time cell (0 outside the region).

    Parameters
    ----------
    grid : Grid
        The travel-time grid (:func:`pipeline.access.surface.make_grid`).
    population_tif : Path
        A population count raster in geographic coordinates (degrees), as GPWv4 is; each of
        its cells' people are spread evenly over the land of the cell.

    Returns
    -------
    np.ndarray
        (height, width) people per travel-time cell.
    """
    rows, cols = np.nonzero(grid.inside)
    t = grid.transform
    x, y = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    with rasterio.open(population_tif) as src:
        people = src.read(1, masked=True).filled(0).astype(float)
        to_src = Transformer.from_crs(grid.crs, src.crs, always_xy=True)
        sx, sy = to_src.transform(x, y)
        src_rows, src_cols = rasterio.transform.rowcol(src.transform, sx, sy)
        cell_area_m2 = _cell_areas_m2(src)
    src_rows, src_cols = np.asarray(src_rows), np.asarray(src_cols)
    on_grid = (
        (src_rows >= 0)
        & (src_rows < people.shape[0])
        & (src_cols >= 0)
        & (src_cols < people.shape[1])
    )
    share = np.zeros(len(rows))
    r, c = src_rows[on_grid], src_cols[on_grid]
    # The fraction of the grid cell's area this travel-time cell covers, times its people.
    share[on_grid] = people[r, c] * (grid.cell_area_km2 * 1e6) / cell_area_m2[r]
    out = np.zeros((grid.height, grid.width))
    out[rows, cols] = share
    return out


def _cell_areas_m2(src) -> np.ndarray:
    """Area of one cell in each row of a geographic (degree) grid, on a sphere of Earth's mean radius."""
    radius_m = 6_371_008.8
    t = src.transform
    top = t.f + np.arange(src.height) * t.e
    bottom = top + t.e
    width_rad = np.radians(abs(t.a))
    return radius_m**2 * width_rad * np.abs(np.sin(np.radians(top)) - np.sin(np.radians(bottom)))


def population_figures(
    people: np.ndarray, anchor_time_min: np.ndarray, bands_min: list[float], gap_min: float
) -> dict[str, int]:
    """Estimated people within each band limit, beyond the gap threshold, and with no access.

    Parameters
    ----------
    people : np.ndarray
        People per cell (:func:`people_per_cell`).
    anchor_time_min : np.ndarray
        Minutes to the nearest anchor per cell (NaN: no access), same shape.
    bands_min : list of float
        Band limits, minutes.
    gap_min : float
        The gap threshold, minutes.

    Returns
    -------
    dict of str to int
        ``total``, ``within_<T>min`` for each band limit, ``gap`` and ``no_access``.
    """
    t = np.where(np.isfinite(anchor_time_min), anchor_time_min, np.inf)
    figures = {"total": int(np.rint(people.sum()))}
    for limit in bands_min:
        figures[f"within_{limit:g}min"] = int(np.rint(people[t <= limit].sum()))
    figures["gap"] = int(np.rint(people[t > gap_min].sum()))
    figures["no_access"] = int(np.rint(people[~np.isfinite(anchor_time_min) & (people > 0)].sum()))
    return figures


def grid_population(cfg: RegionConfig, result) -> dict | None:
    """People by travel time from the region's population grid, if it names one.

    `result` is the catchments result (its grid and anchor-time raster). None when the region
    names no grid (``[offline] population_grid``).
    """
    grid_file = cfg.offline.population_grid if cfg.offline is not None else None
    if grid_file is None:
        return None
    path = cfg.resolve(grid_file)
    people = people_per_cell(result.grid, path)
    figures = population_figures(
        people, result.rasters["anchor_time_min"], cfg.thresholds.bands_min, cfg.thresholds.gap_min
    )
    logger.info(
        "population grid %s: ~%d people, ~%d beyond %g min of an anchor (estimate)",
        path.name,
        figures["total"],
        figures["gap"],
        cfg.thresholds.gap_min,
    )
    return {
        **figures,
        "source": path.name,
        "note": "estimate: each grid cell's people spread evenly over the land of the cell",
    }
