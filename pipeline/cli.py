"""`python -m pipeline <stage> --region NAME | --config PATH`: the thin entry point the Makefile calls.

It reads the region, sets up logging (console + `logs/<region>/<stage>.log`), runs one stage
and turns a user mistake into one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

from pipeline import stages
from pipeline._io import RegionPaths, region_paths, sha256_of
from pipeline.config import RegionConfig, available_regions, load_region
from pipeline.errors import ConfigError, OutputError, PipelineError

__all__ = ["main"]

STAGES = {
    "fetch": stages.run_fetch,
    "extract": stages.run_extract,
    "network": stages.run_network,
    "catchments": stages.run_catchments,
    "maps": stages.run_maps,
    "report": stages.run_report,
    "qgis": stages.run_qgis,
}
ALL = tuple(STAGES)
RUN_STAGES = {"catchments", "maps", "report", "qgis"}  # these take a season and a scenario
EXTRA_STAGES = {
    "seasons": stages.run_seasons,
    "diff": stages.run_diff,
    "plan": stages.run_plan,
}  # not part of `all`

logger = logging.getLogger("pipeline")
_FILE_ONLY = {"file_only": True}  # `extra` of records for the log file, not the console


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    parser.add_argument(
        "stage",
        choices=[*STAGES, *EXTRA_STAGES, "all", "check", "regions", "many"],
        help="what to run (many: several regions on Dask, see `python -m pipeline many --help`)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--region", default=None, help="a region in regions/ (default: vologda)")
    where.add_argument("--config", default=None, help="path to a region .toml file anywhere")
    parser.add_argument(
        "--quiet", action="store_true", help="only warnings and errors on the console"
    )
    parser.add_argument(
        "--season", default=None, help="a season of the region (default: its default season)"
    )
    parser.add_argument(
        "--scenario", default=None, help="a what-if scenario in regions/<region>/scenarios/"
    )
    parser.add_argument("--a", default="baseline", help="diff: the first run (scenario[@season])")
    parser.add_argument("--b", default=None, help="diff: the second run (scenario[@season])")
    parser.add_argument(
        "--k",
        type=_positive_int,
        default=None,
        help="plan: anchors to propose (default: [planning] k)",
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def _configure_logging(log_file, quiet: bool) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if isinstance(handler, logging.FileHandler):  # the previous stage's log (`all`)
            handler.close()
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    root.addHandler(console)
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(
                f"cannot write the log {log_file}: {exc.strerror}; check that folder is writable"
            ) from None
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # one line per layer written is noise
    logging.captureWarnings(True)
    warnings.simplefilter("default")


def _stage_inputs(stage: str, cfg: RegionConfig, paths: RegionPaths) -> list[Path]:
    """The files a stage reads: the region file, then what earlier stages (or the user) made."""
    files = [cfg.region_file]
    if stage == "fetch":
        return files + ([cfg.resolve(cfg.source.local_pbf)] if cfg.source.local_pbf else [])
    if stage == "extract":
        try:
            record = json.loads(paths.sources.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = {}
        off = cfg.offline
        bundled = (
            [off.districts, off.outline, off.settlements, off.towns, off.population_grid]
            if off is not None and record.get("mode") == "fallback"
            else []
        )
        extract = [Path(record["file"])] if isinstance(record.get("file"), str) else []
        return [*files, paths.sources, *extract, *(cfg.resolve(p) for p in bundled if p)]
    if stage == "network":
        return [*files, paths.osm_gpkg]
    if stage == "catchments":
        csvs = [cfg.anchors.csv, cfg.services.csv]
        return [*files, paths.osm_gpkg, paths.network, *(cfg.resolve(p) for p in csvs if p)]
    if stage == "plan":
        return [*files, paths.gpkg(cfg.name), paths.network, paths.osm_gpkg]
    return [*files, paths.gpkg(cfg.name)]  # maps and later: the results GeoPackage


def _log_inputs(stage: str, cfg: RegionConfig, paths: RegionPaths) -> None:
    """Each input with its size and sha256 (log file only): what exactly a figure was made from."""
    for path in _stage_inputs(stage, cfg, paths):
        if path.is_file():
            size, digest = path.stat().st_size, sha256_of(path)
            logger.info("input: %s (%d bytes, sha256 %s)", path, size, digest, extra=_FILE_ONLY)
        else:
            logger.info("input: %s (not there)", path, extra=_FILE_ONLY)


def _log_to_file_only(exc: Exception) -> None:
    """Record the error in the stage log; the console gets exactly one line from main()."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
    if root.handlers:
        logger.error("%s", exc)


def _check_run_names(cfg: RegionConfig, args) -> None:
    """Unknown seasons and scenarios stop here, before any folder is named after them."""
    from pipeline.scenarios import load_scenario

    if args.season is not None:
        cfg.season(args.season)
    if args.scenario is not None:
        load_scenario(cfg, args.scenario)


def _check(cfg: RegionConfig) -> int:
    """`check`: the region file (already loaded) and every scenario file of the region."""
    from pipeline.scenarios import check_scenarios, scenario_dir

    print(f"{cfg.region_file}: valid region {cfg.name!r} ({cfg.display_name})")
    checked, errors = check_scenarios(cfg)
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    bad = f", {len(errors)} invalid" if errors else ", all valid" if checked else ""
    print(f"{scenario_dir(cfg)}: {checked} scenario file(s) checked{bad}")
    return ConfigError.exit_code if errors else 0


def _run_stage(stage: str, cfg: RegionConfig, paths: RegionPaths, args) -> None:
    if stage == "diff":
        if not args.b:
            raise ConfigError(
                "diff needs two runs: b=<scenario>[@season] (and a=, default baseline)"
            )
        stages.run_diff(cfg, paths, args.a, args.b)
    elif stage == "seasons":
        stages.run_seasons(cfg, paths)
    elif stage == "plan":
        if args.k is not None:
            cfg = cfg.model_copy(update={"planning": cfg.planning.model_copy(update={"k": args.k})})
        stages.run_plan(cfg, paths)
    elif stage == "catchments":
        run_paths = paths.for_run(args.scenario, args.season)
        stages.run_catchments(cfg, run_paths, season=args.season, scenario=args.scenario)
    elif stage in RUN_STAGES:
        STAGES[stage](cfg, paths.for_run(args.scenario, args.season))
    else:
        STAGES[stage](cfg, paths)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["many"]:  # several regions in parallel on Dask, with options of its own
        from pipeline.regions_runner import main as run_many

        return run_many(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.stage == "regions":
            print("\n".join(available_regions()))
            return 0
        cfg = load_region(args.region, args.config)
        paths = region_paths(cfg)
        if args.stage == "check":
            return _check(cfg)
        _check_run_names(cfg, args)
        for stage in ALL if args.stage == "all" else (args.stage,):
            log_dir = (
                paths.for_run(args.scenario, args.season).logs
                if stage in RUN_STAGES
                else paths.logs
            )
            _configure_logging(log_dir / f"{stage}.log", args.quiet)
            logger.info("%s: region %s from %s", stage, cfg.name, cfg.region_file)
            logger.info("parameters: %s", cfg.model_dump_json(), extra={"file_only": True})
            _log_inputs(stage, cfg, paths)
            started = time.perf_counter()
            _run_stage(stage, cfg, paths, args)
            logger.debug("%s finished in %.1f s", stage, time.perf_counter() - started)
    except PipelineError as exc:
        _log_to_file_only(exc)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "error: interrupted; outputs written so far are complete, re-run to continue",
            file=sys.stderr,
        )
        return 130
    return 0
