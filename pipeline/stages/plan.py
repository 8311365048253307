"""`make plan`: planning answers from the catchments results (data_processed/<region>/plan/):
anchors to add, inter-municipal ties, reach of single-industry towns."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from pipeline._io import RegionPaths
from pipeline.config import RegionConfig
from pipeline.errors import ExtractError
from pipeline.outputs.export import read_layer, read_metadata, write_csv, write_gpkg, write_json
from pipeline.stages._common import load_inputs, summary_line

__all__ = ["run_plan"]

logger = logging.getLogger(__name__)


def run_plan(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """Planning answers from the catchments results (data_processed/<region>/plan/): anchors to
    add, inter-municipal ties, reach of single-industry towns. Same network and season as the
    catchments stage's baseline."""
    from pipeline.access.travel_model import travel_model
    from pipeline.analysis import planning as pl
    from pipeline.network.what_if import what_if_graph

    started = time.perf_counter()
    results = paths.gpkg(cfg.name)
    if not results.is_file():
        raise ExtractError(f"{results} not found; run `make catchments region={cfg.name}` first")
    layers = {
        name: read_layer(results, name)
        for name in ("settlements", "anchors", "districts", "catchments")
    }
    meta = read_metadata(results)
    inputs = load_inputs(cfg, paths)
    graph, _, _ = what_if_graph(cfg, inputs.graph, inputs.crs, None, None)
    inputs.graph = None  # the season's copy of the edges replaces the region's
    model = travel_model(cfg, graph)
    gap_min = cfg.planning.gap_min or cfg.thresholds.gap_min
    s = layers["settlements"]
    proposals = pl.propose_anchors(
        s, layers["anchors"], model, cfg.planning, gap_min, cfg.planning.k
    )
    links = pl.cross_border_links(s, layers["anchors"], model, gap_min)
    area = pl.cross_border_area(layers["catchments"], layers["anchors"], layers["districts"])
    pairs = pl.cross_border_pairs(links, layers["districts"], area)
    official = (
        pl.official_monotowns([cfg.display_name, cfg.boundary.region_name or ""])
        if cfg.planning.monotowns_from_list
        else None
    )
    if official is not None:
        logger.info(
            "monotowns on the government's list for %s: %s",
            cfg.display_name,
            ", ".join(
                f"{n} ({c})" for n, c in zip(official["name"], official["category"], strict=True)
            )
            or "none",
        )
    reach, reach_links = pl.monotown_reach(s, model, cfg.planning, official)
    mode = "straight_line" if graph is None else "road"
    figures = pl.plan_figures(
        cfg, proposals, links, pairs, reach, mode=mode, note=meta.get("note", "")
    )
    out = paths.processed / "plan"
    plan_meta = {
        key: meta[key] for key in ("region", "season", "mode", "approximate", "note") if key in meta
    }
    plan_meta.update(gap_threshold_min=f"{gap_min:g}", k=str(cfg.planning.k))
    plan_layers = {
        "cross_border_pairs": pairs,
        "cross_border": links,
        "monotown_reach": reach_links,
        "newly_covered": proposals.newly_covered,
        "proposals": proposals.table,
    }
    write_gpkg(out / "plan.gpkg", plan_layers, plan_meta)
    write_csv(out / "proposals.csv", pd.DataFrame(proposals.table.drop(columns="geometry")))
    write_csv(out / "cross_border.csv", pd.DataFrame(pairs.drop(columns="geometry")))
    write_csv(out / "monotown_reach.csv", reach)
    write_json(out / "plan.json", figures)
    p = figures["proposals"]
    summary_line(
        "plan",
        started,
        f"{p['proposed']} of k={p['k']} anchors proposed (+{p['verified']['population']} people, "
        f"{p['verified']['settlements']} settlements within {gap_min:g} min; greedy "
        f"{'=' if p['greedy_gap']['population'] == 0 else '<'} {'exact' if p['exact']['ran'] else 'no exact'}), "
        f"{len(pairs)} cross-border district pairs ({len(links)} settlements), "
        f"{len(reach)} monotowns" + (" (APPROXIMATE)" if graph is None else ""),
        out / "plan.json",
    )
    return out / "plan.json"
