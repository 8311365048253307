"""`make qgis`: the QGIS project beside the GeoPackage and the raster's default style."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipeline._io import RegionPaths, atomic_path
from pipeline.config import RegionConfig
from pipeline.outputs.export import read_metadata
from pipeline.stages._common import summary_line

__all__ = ["run_qgis"]


def run_qgis(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """The QGIS project beside the GeoPackage, and the raster's default style beside the raster."""
    import pyogrio
    from pyproj import CRS

    from pipeline.outputs.layers import result_layers
    from pipeline.outputs.qgis import project_xml, raster_style, write_project

    started = time.perf_counter()
    gpkg = paths.gpkg(cfg.name)
    layers = result_layers(gpkg)
    crs = CRS.from_user_input(layers["districts"].crs)
    # An empty layer without a geometry type (roads in the straight-line model) opens in QGIS
    # as a bare table: leave it out of the project.
    stored = dict(pyogrio.list_layers(gpkg))
    layers = {n: f for n, f in layers.items() if stored.get(n) not in (None, "Unknown")}
    frames = [f for f in layers.values() if len(f) and f.geometry.notna().any()]
    bounds = np.asarray([f.total_bounds for f in frames])
    lo, hi = bounds[:, :2].min(axis=0), bounds[:, 2:].max(axis=0)
    pad = 0.03 * (hi - lo)
    extent = (*(lo - pad), *(hi + pad))
    meta = read_metadata(gpkg)
    note = ""
    if meta.get("approximate") == "yes":
        from pipeline.outputs.i18n import approximate_text

        note = approximate_text(cfg)
    xml = project_xml(cfg, gpkg.name, layers, crs, extent, paths.travel_time_tif.name, note=note)
    project = paths.qgis_project(cfg.name)
    with atomic_path(project) as tmp:
        write_project(tmp, xml, cfg.name)
    with atomic_path(paths.travel_time_tif.with_suffix(".qml")) as tmp:
        tmp.write_text(raster_style(cfg), encoding="utf-8")
    summary_line("qgis", started, f"{len(layers)} layers and the travel-time raster", project)
    return project
