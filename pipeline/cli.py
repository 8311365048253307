"""`python -m pipeline <stage> --region NAME | --config PATH`: the thin entry point the Makefile calls.

It reads the region, sets up logging (console + `logs/<region>/<stage>.log`), runs one stage
and turns a user mistake into one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings

from pipeline import stages
from pipeline._io import region_paths
from pipeline.config import available_regions, load_region
from pipeline.errors import PipelineError

__all__ = ["main"]

STAGES = {
    "fetch": stages.run_fetch,
    "extract": stages.run_extract,
    "network": stages.run_network,
    "catchments": stages.run_catchments,
    "maps": stages.run_maps,
}
ALL = tuple(STAGES)

logger = logging.getLogger("pipeline")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=[*STAGES, "all", "check", "regions"], help="what to run")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--region", default=None, help="a region in regions/ (default: vologda)")
    where.add_argument("--config", default=None, help="path to a region .toml file anywhere")
    parser.add_argument(
        "--quiet", action="store_true", help="only warnings and errors on the console"
    )
    return parser


def _configure_logging(log_file, quiet: bool) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # one line per layer written is noise
    logging.captureWarnings(True)
    warnings.simplefilter("default")


def _log_to_file_only(exc: Exception) -> None:
    """Record the error in the stage log; the console gets exactly one line from main()."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
    if root.handlers:
        logger.error("%s", exc)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.stage == "regions":
            print("\n".join(available_regions()))
            return 0
        cfg = load_region(args.region, args.config)
        paths = region_paths(cfg)
        if args.stage == "check":
            print(f"{cfg.region_file}: valid region {cfg.name!r} ({cfg.display_name})")
            return 0
        for stage in ALL if args.stage == "all" else (args.stage,):
            _configure_logging(paths.logs / f"{stage}.log", args.quiet)
            logger.info("%s: region %s from %s", stage, cfg.name, cfg.region_file)
            logger.info("parameters: %s", cfg.model_dump_json(), extra={"file_only": True})
            started = time.perf_counter()
            STAGES[stage](cfg, paths)
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
