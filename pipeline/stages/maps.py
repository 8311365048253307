"""`make maps`: the run's map page (index.html) and, once `make plan` has run, the plan page."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pipeline._io import RegionPaths
from pipeline.config import RegionConfig
from pipeline.outputs.export import read_metadata, write_html
from pipeline.stages._common import summary_line

__all__ = ["run_maps", "write_extra_map"]

logger = logging.getLogger(__name__)


def run_maps(cfg: RegionConfig, paths: RegionPaths, road_overlays: list | None = None) -> Path:
    """The run's map page (index.html) and, for the baseline when `make plan` has run, the
    plan page (plan.html). A what-if run's page names its season and scenario and draws the
    roads the scenario changes. `road_overlays`: the baseline's roads drawn ahead of the page
    (:func:`pipeline.outputs.maps.road_overlays` of :func:`results_roads`), by `pipeline all`
    while the catchments are computed; otherwise they are read from the results."""
    from pipeline.outputs.export import layer_names, read_layer
    from pipeline.outputs.layers import page_layers
    from pipeline.outputs.maps import build_map, plan_layers, scenario_road_layers, service_layers
    from pipeline.outputs.pages import page_links

    started = time.perf_counter()
    gpkg = paths.gpkg(cfg.name)
    meta = read_metadata(gpkg)
    if meta.get("scenario", "baseline") != "baseline":  # its changes are drawn from its roads
        road_overlays = None
    layers = page_layers(gpkg, roads=road_overlays is None)
    if road_overlays is not None:
        logger.info("roads: drawn from the extract while the catchments were computed",
                    extra={"file_only": True})  # fmt: skip
    extra = service_layers(layers, cfg)
    extra += scenario_road_layers(cfg, meta.get("scenario", "baseline"), layers.get("roads"))
    links = page_links(cfg, paths, paths.map_html)
    page = build_map(layers, cfg, meta, extra=extra, links=links, road_overlays=road_overlays)
    write_html(paths.map_html, page)
    written = [(paths.map_html, page)]
    plan_gpkg = paths.processed / "plan" / "plan.gpkg"
    if paths.shared is None and plan_gpkg.is_file():  # the planning answers on their own page
        from pipeline.outputs.i18n import tr
        from pipeline.outputs.plan_layers import plan_map_layers

        if "roads" not in layers and "roads" in layer_names(gpkg):  # (drawn once per page)
            layers["roads"] = read_layer(gpkg, "roads")
        target = paths.maps / "plan.html"
        k = read_metadata(plan_gpkg).get("k", str(cfg.planning.k))
        plan_page = build_map(
            layers, cfg, meta, extra=plan_layers(plan_map_layers(plan_gpkg), cfg),
            what=tr(cfg.language, "page_plan", k=k), links=page_links(cfg, paths, target),
        )  # fmt: skip
        write_html(target, plan_page)
        written.append((target, plan_page))
    for page_path, text in written:
        logger.info("page: %s (%.2f MB)", page_path, len(text.encode("utf-8")) / 1e6)
    summary_line("maps", started, f"{len(layers['settlements'])} settlements drawn", paths.map_html)
    return paths.map_html


def write_extra_map(cfg: RegionConfig, paths: RegionPaths, base_gpkg: Path, target: Path,
                    extra, **page) -> None:  # fmt: skip
    """A map page: the result layers of `base_gpkg` plus `extra()` layers (seasons, changes);
    `page`: what it shows, its season and scenario (see :func:`pipeline.outputs.maps.new_map`)."""
    from pipeline.outputs.layers import page_layers
    from pipeline.outputs.maps import build_map
    from pipeline.outputs.pages import page_links

    layers = page_layers(base_gpkg)
    layers.pop("services", None)  # a seasons or diff page is about access, not services
    links = page_links(cfg, paths, target)
    html_text = build_map(layers, cfg, read_metadata(base_gpkg), extra=extra(), links=links, **page)
    write_html(target, html_text)
    logger.info("page: %s (%.2f MB)", target, len(html_text.encode("utf-8")) / 1e6)
