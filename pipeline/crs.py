"""The one CRS rule: raw data stays in EPSG:4326; metric work happens in one projected CRS per
region, from the region file or an equal-area CRS centred on the region."""

from __future__ import annotations

from pyproj import CRS

from pipeline.config import RegionConfig
from pipeline.errors import ConfigError

__all__ = ["MAX_SCALE_ERROR", "region_crs"]

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
