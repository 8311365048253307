"""`make qgis`: the QGIS project beside the GeoPackage and the raster's default style."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipeline._io import RegionPaths, atomic_path
from pipeline.config import RegionConfig
from pipeline.errors import damaged_input, missing_layer
from pipeline.stages._common import summary_line

__all__ = ["run_qgis"]


def run_qgis(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """The QGIS project beside the GeoPackage, and the raster's default style beside the raster."""
    from pyproj import CRS

    from pipeline.outputs.gpkg_catalogue import read_catalogue
    from pipeline.outputs.qgis import LayerStyle, project_xml, raster_style, write_project

    started = time.perf_counter()
    gpkg = paths.gpkg(cfg.name)
    # The layers' kinds, extents and CRS, and the styles the catchments stage made from them,
    # as the GeoPackage lists them: no feature is read.
    catalogue = read_catalogue(gpkg)
    if "districts" not in catalogue.layers:
        raise missing_layer(gpkg, "districts")
    # A layer without one geometry type (an empty services layer, the roads of the
    # straight-line model) opens in QGIS as a bare table: leave it out of the project.
    stored = [layer for layer in catalogue.layers.values() if layer.kind != "Unknown"]
    unstyled = [layer.name for layer in stored if layer.name not in catalogue.styles]
    if unstyled:
        raise damaged_input(
            gpkg, f"no default style for {', '.join(unstyled)}: made by another version?"
        )
    layers = {
        layer.name: (layer.kind, LayerStyle.from_qml(layer.name, catalogue.styles[layer.name]))
        for layer in stored
    }
    crs = CRS.from_wkt(catalogue.layers["districts"].crs_wkt)
    bounds = np.asarray([layer.extent for layer in stored if layer.extent is not None])
    lo, hi = bounds[:, :2].min(axis=0), bounds[:, 2:].max(axis=0)
    pad = 0.03 * (hi - lo)
    extent = (*(lo - pad), *(hi + pad))
    note = ""
    if catalogue.metadata.get("approximate") == "yes":
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
