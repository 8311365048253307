"""The one CRS rule: raw data stays in EPSG:4326; metric work happens in one projected CRS per
region, from the region file or an equal-area CRS centred on the region."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shapely
from pyproj import CRS, Transformer

from pipeline.config import RegionConfig
from pipeline.errors import ConfigError
from pipeline.machine import CORES

__all__ = ["MAX_SCALE_ERROR", "project_geometries", "project_xy", "region_crs"]

MAX_SCALE_ERROR = 0.01  # a CRS that stretches distances at the region's centre more is refused


def region_crs(cfg: RegionConfig, region_4326) -> CRS:
    """The region's projected CRS: from the region file, else Lambert equal-area centred on it.

    A CRS whose scale error at the region's centre exceeds 1 % (Web Mercator at 60 °N doubles
    every walk) is refused with a suggestion: walks, raster cells and areas are measured in it.
    """
    c = region_4326.centroid
    if cfg.crs:
        crs = CRS.from_user_input(cfg.crs)
        _check_scale(cfg, crs, c.x, c.y)
        return crs
    return CRS.from_proj4(
        f"+proj=laea +lat_0={c.y:.4f} +lon_0={c.x:.4f} +datum=WGS84 +units=m +no_defs"
    )


def _check_scale(cfg: RegionConfig, crs: CRS, lon: float, lat: float) -> None:
    from pyproj import Proj

    factors = Proj(crs).get_factors(lon, lat)
    worst = max(abs(factors.meridional_scale - 1), abs(factors.parallel_scale - 1))
    if worst > MAX_SCALE_ERROR:
        zone = int((lon + 180) // 6) + 1
        utm = (32600 if lat >= 0 else 32700) + zone
        raise ConfigError(
            f"{cfg.region_file}: crs = {cfg.crs!r} stretches distances by {worst:.1%} at the "
            f"region's centre ({lat:.2f}°N, {lon:.2f}°E), which would distort every walk and "
            f'area; use a UTM zone (crs = "EPSG:{utm}") or leave crs out for an equal-area '
            "CRS centred on the region"
        )


def project_xy(xy: np.ndarray, source, target) -> np.ndarray:
    """(n, 2) coordinates from CRS `source` to `target` (x, y: longitude first), one chunk per
    core: PROJ runs without the GIL, so two cores take half the time."""
    to_target = Transformer.from_crs(source, target, always_xy=True)
    out = np.empty_like(xy, dtype=float)
    bounds = np.linspace(0, len(xy), CORES + 1).astype(int)

    def part(a: int, b: int) -> None:
        out[a:b, 0], out[a:b, 1] = to_target.transform(xy[a:b, 0], xy[a:b, 1])

    with ThreadPoolExecutor(CORES) as pool:
        list(pool.map(part, bounds[:-1], bounds[1:]))
    return out


def project_geometries(geoms: np.ndarray, source, target) -> np.ndarray:
    """Shapely geometries from CRS `source` to `target`: what GeoSeries.to_crs gives (the same
    coordinates), on every core (:func:`project_xy`). The input array is left as it was."""
    geoms = np.asarray(geoms, dtype=object)
    return shapely.set_coordinates(
        geoms.copy(), project_xy(shapely.get_coordinates(geoms), source, target)
    )
