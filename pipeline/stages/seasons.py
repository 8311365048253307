"""`make seasons`: every season's run, then each settlement's worst and best season, all-season
access and the crossings whose closure cuts people off (seasons.gpkg, seasons.json, a page)."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline._io import RegionPaths
from pipeline.config import RegionConfig
from pipeline.outputs.export import read_layer, write_gpkg, write_json
from pipeline.people import population_or_zero
from pipeline.stages._common import load_inputs, summary_line

__all__ = ["run_seasons"]


def run_seasons(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """Every season of the region, then each settlement's worst and best season, all-season
    access, and the crossings whose closure cuts people off."""
    from pipeline.access.anchors import choose_anchors
    from pipeline.analysis.seasons import combine_seasons, season_crossings, seasons_figures
    from pipeline.outputs.i18n import season_label, tr
    from pipeline.outputs.layers import settlement_columns
    from pipeline.outputs.maps import season_layers
    from pipeline.stages.catchments import run_catchments
    from pipeline.stages.maps import write_extra_map

    started = time.perf_counter()
    per_season = {}
    for season in cfg.seasons:
        run_paths = paths.for_run(None, season)
        run_catchments(cfg, run_paths, season=season)
        per_season[season] = read_layer(run_paths.gpkg(cfg.name), "settlements")
    combined = combine_seasons(per_season, cfg.thresholds.gap_min)

    inputs = load_inputs(cfg, paths)
    crossings = None
    lost_names: dict[tuple, list[str]] = {}
    if inputs.graph is not None:
        anchor_pos, _ = choose_anchors(cfg, inputs.places, inputs.approximate)
        roads = read_layer(paths.osm_gpkg, "roads").to_crs(inputs.crs)
        crossings, lost_names = season_crossings(
            cfg, inputs.graph, inputs.places, anchor_pos, roads
        )
    combined["crossings"] = [
        ", ".join(lost_names.get(key, []))
        for key in zip(combined["osm_type"], combined["osm_id"], strict=True)
    ]

    layers = {f"settlements_{s}": settlement_columns(f) for s, f in per_season.items()}
    layers["settlement_seasons"] = combined
    if crossings is not None:
        layers["crossings"] = crossings
    target = paths.processed / "seasons.gpkg"
    write_gpkg(target, layers, {"region": cfg.display_name, "seasons": ", ".join(cfg.seasons)})
    write_json(
        paths.processed / "seasons.json", seasons_figures(cfg, per_season, combined, crossings)
    )
    write_extra_map(
        cfg,
        paths,
        paths.for_run(None, cfg.default_season).gpkg(cfg.name),
        paths.maps / "seasons.html",
        lambda: season_layers(per_season, combined, crossings, cfg),
        what=tr(cfg.language, "page_seasons"),
        hidden=("settlements", "abandoned"),  # the season switcher shows them, season by season
        season_text=tr(
            cfg.language,
            "every_season",
            seasons=", ".join(season_label(cfg.language, s) for s in cfg.seasons),
        ),
    )
    dependent = combined[combined["season_dependent"]]
    summary_line(
        "seasons",
        started,
        f"{len(cfg.seasons)} seasons, {len(dependent)} settlements whose access depends on the season "
        f"({int(population_or_zero(dependent['population']).sum())} people), "
        f"{0 if crossings is None else len(crossings)} crossings",
        target,
    )
    return target
