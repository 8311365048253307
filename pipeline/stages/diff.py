"""`make diff a=… b=…`: how settlements' access changes between two runs (a GeoPackage, figures
and a page)."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline._io import RegionPaths
from pipeline.config import RegionConfig
from pipeline.errors import InputDataError
from pipeline.outputs.export import read_layer, write_gpkg, write_json
from pipeline.stages._common import summary_line

__all__ = ["run_diff"]


def _run_paths(cfg: RegionConfig, paths: RegionPaths, spec: str) -> RegionPaths:
    """Paths of a run named `scenario[@season]` (`baseline` is no scenario)."""
    scenario, _, season = spec.partition("@")
    if season:
        cfg.season(season)
    if scenario != "baseline":
        from pipeline.network.scenarios import load_scenario

        load_scenario(cfg, scenario)
    return paths.for_run(None if scenario == "baseline" else scenario, season or None)


def _run_words(cfg: RegionConfig, spec: str) -> str:
    """A run `scenario[@season]` in words: the scenario's description, then its season."""
    from pipeline.outputs.i18n import scenario_text, season_label

    scenario, _, season = spec.partition("@")
    words = scenario_text(cfg, scenario, short=True)
    return f"{words} ({season_label(cfg.language, season)})" if season else words


def run_diff(cfg: RegionConfig, paths: RegionPaths, a: str, b: str) -> Path:
    """Compare two runs; write data_processed/<region>/diff/<a>__<b>.gpkg and .json."""
    from pipeline.analysis.diff import compare_runs, diff_figures
    from pipeline.outputs.i18n import tr
    from pipeline.outputs.maps import change_layers, scenario_road_layers
    from pipeline.stages.maps import write_extra_map

    started = time.perf_counter()
    layers = []
    for spec in (a, b):
        run = _run_paths(cfg, paths, spec)
        gpkg = run.gpkg(cfg.name)
        if not gpkg.is_file():
            scenario, _, season = spec.partition("@")
            how = (
                f"make catchments region={cfg.name}"
                + (f" scenario={scenario}" if scenario != "baseline" else "")
                + (f" season={season}" if season else "")
            )
            raise InputDataError(f"run {spec!r} has no results ({gpkg}); run `{how}` first")
        layers.append(read_layer(gpkg, "settlements"))
    changes = compare_runs(layers[0], layers[1], cfg.thresholds.gap_min)
    stem = f"{a}__{b}".replace("@", "-")
    target = paths.processed / "diff" / f"{stem}.gpkg"
    write_gpkg(target, {"changes": changes}, {"region": cfg.display_name, "a": a, "b": b})
    figures = {"region": cfg.name, "a": a, "b": b, **diff_figures(changes)}
    write_json(paths.processed / "diff" / f"{stem}.json", figures)
    run_b = _run_paths(cfg, paths, b)
    b_roads = read_layer(run_b.gpkg(cfg.name), "roads")
    diff_page = paths.maps / "diff" / f"{stem}.html"
    write_extra_map(
        cfg,
        paths,
        run_b.gpkg(cfg.name),
        diff_page,
        lambda: [
            *scenario_road_layers(cfg, b.partition("@")[0], b_roads),
            *change_layers(changes, cfg),
        ],
        what=tr(cfg.language, "page_diff", a=_run_words(cfg, a), b=_run_words(cfg, b)),
        scenario_text=f"{_run_words(cfg, a)} → {_run_words(cfg, b)}",
    )
    summary_line(
        "diff",
        started,
        f"{len(changes)} settlements change; gained {figures['gained']['population']} people, "
        f"lost {figures['lost']['population']}",
        target,
    )
    return target
