"""`make catchments`: times, catchments, gaps and figures of a run (the default season, or a
season and/or scenario): <region>.gpkg, travel_time.tif, summary.json and summary.csv."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipeline._io import RegionPaths, atomic_path
from pipeline.config import RegionConfig
from pipeline.outputs.export import layer_names, read_layer, write_csv, write_gpkg, write_json
from pipeline.stages._common import load_inputs, results_roads, summary_line

__all__ = ["run_catchments"]


def run_catchments(
    cfg: RegionConfig, paths: RegionPaths, season: str | None = None, scenario: str | None = None
) -> Path:
    """Times, catchments, gaps and figures, for the default season or a season/scenario run
    (`paths` then is `paths.for_run(scenario, season)`)."""
    from pipeline.access import catchments as ca
    from pipeline.access.anchors import choose_anchors, scenario_anchors
    from pipeline.access.population import grid_population
    from pipeline.access.services import services_figures
    from pipeline.access.surface import write_geotiff
    from pipeline.access.travel_model import travel_model
    from pipeline.network.what_if import what_if_graph
    from pipeline.outputs.layers import settlement_columns
    from pipeline.outputs.qgis import gpkg_styles
    from pipeline.outputs.summary import summary_figures

    started = time.perf_counter()
    inputs = load_inputs(cfg, paths)
    meta, approximate, region, crs = inputs.meta, inputs.approximate, inputs.region, inputs.crs
    districts, places, mode = inputs.districts, inputs.places, inputs.mode
    # The season's edges are made in the region's graph's own arrays, which no one uses after.
    graph, season_name, plan = what_if_graph(cfg, inputs.graph, crs, season, scenario, consume=True)
    inputs.graph = None

    anchor_pos, core_pos = choose_anchors(cfg, places, approximate)
    anchor_pos = scenario_anchors(places, anchor_pos, plan)
    model = travel_model(cfg, graph)

    result = ca.compute_accessibility(places, region, anchor_pos, core_pos, model, cfg)
    result.anchors["is_core"] = np.isin(anchor_pos, core_pos)
    service_layer, service_summary = _service_access(cfg, paths, result, model, places, crs)
    summary = ca.coverage_summary(result.settlements, cfg)
    roads = results_roads(cfg, paths, crs, approximate)
    district_layer = (
        districts[["name", "admin_level", "geometry"]]
        .merge(summary.drop(columns="level"), left_on="name", right_on="area", how="left")
        .drop(columns="area")
    )
    note = meta.get("note", "")
    layers = {
        "districts": district_layer,
        "catchments": result.catchments,
        "isochrones": result.isochrones,
        "gaps": result.gaps,
        "agglomeration_zones": result.agglomeration_zones,
        "roads": roads,
        "settlements": settlement_columns(result.settlements),
        "anchors": result.anchors,
    }
    if service_layer is not None:
        layers["services"] = service_layer
    gpkg_meta = {
        "region": cfg.display_name,
        "season": season_name,
        "scenario": plan.name if plan is not None else "baseline",
        "mode": mode,
        "approximate": "yes" if approximate else "no",
        "gap_threshold_min": f"{cfg.thresholds.gap_min:g}",
        "source": meta.get("source", ""),
        "attribution": "© OpenStreetMap contributors (ODbL)"
        if not approximate
        else "see regions/README",
    }
    if note:
        gpkg_meta["note"] = note
    write_gpkg(paths.gpkg(cfg.name), layers, gpkg_meta, styles=gpkg_styles(cfg, layers))
    with atomic_path(paths.travel_time_tif) as tmp:
        write_geotiff(tmp, result.grid, result.rasters)
    write_csv(paths.summary_csv, summary)
    figures = summary_figures(cfg, result, summary, approximate, note)
    figures["grid_population"] = grid_population(cfg, result)
    figures["season"] = season_name
    figures["scenario"] = plan.name if plan is not None else "baseline"
    figures["services"] = services_figures(cfg, result.anchors, service_layer, service_summary)
    if service_summary is not None:
        write_csv(paths.processed / "services_summary.csv", service_summary)
    write_json(paths.summary_json, figures)
    s = result.settlements
    summary_line(
        "catchments",
        started,
        f"{len(s)} settlements, {len(anchor_pos)} anchors, {int(s['gap'].sum())} in gaps, "
        f"{int((s['access_class'] == 'unreachable').sum())} unreachable"
        + (" (APPROXIMATE)" if approximate else ""),
        paths.gpkg(cfg.name),
    )
    return paths.gpkg(cfg.name)


def _service_access(cfg: RegionConfig, paths: RegionPaths, result, model, places, crs):
    """Read the extract's services (and place areas) and put service access on `result`;
    (None, None) when the region has no service data at all."""
    import logging

    from pipeline.access.services import add_service_access

    present = layer_names(paths.osm_gpkg)
    if "services" not in present:
        logging.getLogger(__name__).warning(
            "no service data for %s: service accessibility skipped", cfg.display_name
        )
        return None, None
    services = read_layer(paths.osm_gpkg, "services").to_crs(crs)
    areas = (
        read_layer(paths.osm_gpkg, "place_areas").to_crs(crs) if "place_areas" in present else None
    )
    return add_service_access(cfg, result, model, places, services, areas)
