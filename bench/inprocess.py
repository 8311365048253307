"""Time the catchment computation inside the catchments stage, without start-up and file I/O.

Runs ``stages.run_catchments`` in this process with timers wrapped around
``catchments.compute_accessibility`` (routing for anchors and cores, every settlement's time,
the raster, and the catchment/isochrone/gap/zone polygons) and ``catchments.road_field`` (the
multi-source Dijkstra runs), and prints them as JSON. This is the pipeline's side of the
benchmark's "catchment step" comparison with the networkx baseline.

Usage::

    PIPELINE_ROOT=bench/out/district python -m bench.inprocess --config bench/out/district/synth-district.toml
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import time
from pathlib import Path

from pipeline import catchments as ca
from pipeline import stages
from pipeline._io import region_paths
from pipeline.config import load_region

__all__ = ["time_catchments"]


def _timed(store: dict[str, float], name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            store[name] = store.get(name, 0.0) + time.perf_counter() - started

    return wrapper


def time_catchments(config: Path) -> dict[str, float]:
    """Seconds spent in the catchments stage, in total and in its analytical core."""
    cfg = load_region(config=config)
    paths = region_paths(cfg)
    timers: dict[str, float] = {}
    originals = ca.compute_accessibility, ca.road_field
    ca.compute_accessibility = _timed(timers, "compute_accessibility_s", ca.compute_accessibility)
    ca.road_field = _timed(timers, "road_field_s (Dijkstra, inside compute)", ca.road_field)
    try:
        started = time.perf_counter()
        stages.run_catchments(cfg, paths)
        timers["run_catchments_s (in process, with I/O)"] = time.perf_counter() - started
    finally:
        ca.compute_accessibility, ca.road_field = originals
    return {k: round(v, 3) for k, v in timers.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inprocess", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(time_catchments(args.config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
