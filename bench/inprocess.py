"""Time the catchment computation inside the catchments stage, without start-up and file I/O.

Runs ``stages.run_catchments`` in this process with timers wrapped around
``catchments.compute_accessibility`` (the benchmark's "catchment step": routing to anchors and
cores, every settlement's and every raster cell's time, the catchment, isochrone, gap and
agglomeration polygons) and around the parts of it, and prints them as JSON (the last line).
This is the pipeline's side of the catchment-step comparison with the networkx baseline.

The parts (seconds of their own, a part nested in another is not counted twice):

* ``segments_s``: building the road model's joinable segments and their pieces
  (``access._Segments.of``: one per vertex pair, pieces of at most 100 m, a KD-tree of piece
  midpoints), of which ``tiles_s`` binning the pieces in 500 m tiles (``access._Tiles.of``);
  built once, on the first question asked of the model;
* ``reversed_csr_s``: the reversed road graph as a CSR matrix (``RoadGraph.csr``, once);
* ``fields_s``: ``RoadAccess.fields`` for anchors and cores, made at once on two threads —
  for each, the pieces within reach of its sources, their entry edges, and the multi-source
  Dijkstra; ``dijkstra_s`` is the Dijkstra runs themselves (``routing.nearest_entry_reversed``),
  summed over the threads, so it may exceed ``fields_s``;
* ``trips_s``: ``RoadAccess.trips`` for the settlements and every raster cell centre, in one
  call (each field's bounds are built once and one search serves both fields), of which
  ``bounds_s`` is the fields' lower bounds (``RoadAccess._bounds``) and ``search_s`` the
  compiled point search itself (``access._point_trips``);
* ``road_distance_s``: ``RoadAccess.road_distance_m`` (settlements, and the anchor check);
* ``grid_s``: the raster grid and its cell centres;
* ``polygons_s``: catchment, isochrone, gap and agglomeration-zone polygons (each also apart);
* ``other_s``: the rest of the step (settlement columns, the anchor table).

``step_system_s`` is the system CPU seconds of the whole step, over all its threads: on the
bench's VM mostly the kernel handing the process memory it touches for the first time.

The numba kernels are cached on disk (``cache=True``); a first run after an edit of
``pipeline/access/walk_and_drive.py`` compiles them, which shows in ``fields_s`` and the trips. ``counts``
gives the sizes (nodes, segments, pieces, tiles, settlements, cells).

Usage::

    PIPELINE_ROOT=bench/out/district python -m bench.inprocess --config bench/out/district/synth-district.toml
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import resource
import threading
import time
from pathlib import Path

from pipeline import stages
from pipeline._io import region_paths
from pipeline.access import catchments as ca
from pipeline.access import walk_and_drive as access
from pipeline.config import load_region
from pipeline.network.graph import RoadGraph

__all__ = ["time_catchments"]

POLYGONS = ("_catchment_polygons", "_isochrone_polygons", "_gap_polygons", "_core_zone_polygons")


class _Clock:
    """Own seconds per name (less the timed calls nested in it on the same thread), counted
    inside the step only; timed calls outside the step (other stage work) are kept apart under
    ``outside_step``. A call on a worker thread is nested in nothing: its seconds add up
    over the threads."""

    def __init__(self) -> None:
        self.own: dict[str, float] = {}
        self.outside: dict[str, float] = {}
        self.in_step = False
        self.system_s = 0.0  # the step's system CPU seconds (set by time_catchments)
        self._threads = threading.local()  # .stack per thread: per open call, its children's s
        self._lock = threading.Lock()

    def wrap(self, name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            key = name() if callable(name) else name
            store = self.own if self.in_step or key == STEP else self.outside
            stack = self._threads.__dict__.setdefault("stack", [])
            stack.append([0.0])
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                children = stack.pop()[0]
                if stack:
                    stack[-1][0] += spent
                with self._lock:
                    store[key] = store.get(key, 0.0) + spent - (children if key != STEP else 0.0)

        return wrapper


STEP = "compute_accessibility_s"


def time_catchments(config: Path) -> dict:
    """Seconds spent in the catchments stage, in total and in the parts of its catchment step."""
    cfg = load_region(config=config)
    paths = region_paths(cfg)
    clock = _Clock()
    counts: dict[str, int] = {}
    step = clock.wrap(STEP, ca.compute_accessibility)

    def compute(places, region, anchor_pos, core_pos, model, cfg_):
        clock.in_step = True
        system_before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        try:
            result = step(places, region, anchor_pos, core_pos, model, cfg_)
        finally:
            clock.in_step = False
            # the kernel's seconds in the step, over all threads: mostly memory touched first
            clock.system_s = resource.getrusage(resource.RUSAGE_SELF).ru_stime - system_before
        if isinstance(model, access.RoadAccess):
            segs = model.segments
            counts.update(
                road_nodes=int(model.graph.n_nodes),
                segments=len(segs.length_m),
                pieces=int(segs.n_pieces),
                tiles=int(segs.tiles.n_cols * segs.tiles.n_rows),
                tiles_with_pieces=int((segs.tiles.start[1:] > segs.tiles.start[:-1]).sum()),
            )
        counts.update(
            settlements=len(result.settlements),
            anchors=len(anchor_pos),
            cores=len(core_pos),
            raster_cells=int(result.grid.height * result.grid.width),
        )
        return result

    road = access.RoadAccess
    patches = [
        (ca, "compute_accessibility", compute),
        (access._Segments, "of", staticmethod(clock.wrap("segments_s", access._Segments.of))),
        (access._Tiles, "of", staticmethod(clock.wrap("tiles_s", access._Tiles.of))),
        (RoadGraph, "csr", clock.wrap("reversed_csr_s", RoadGraph.csr)),
        (road, "fields", clock.wrap("fields_s", road.fields)),
        (
            access,
            "nearest_entry_reversed",
            clock.wrap("dijkstra_s", access.nearest_entry_reversed),
        ),
        (road, "trips", clock.wrap("trips_s", road.trips)),
        (road, "_bounds", clock.wrap("bounds_s", road._bounds)),
        (access, "_point_trips", clock.wrap("search_s", access._point_trips)),
        (road, "road_distance_m", clock.wrap("road_distance_s", road.road_distance_m)),
        (ca, "make_grid", clock.wrap("grid_s", ca.make_grid)),
        (ca, "cell_centres", clock.wrap("grid_s", ca.cell_centres)),
    ] + [(ca, name, clock.wrap(name.strip("_") + "_s", getattr(ca, name))) for name in POLYGONS]
    originals = [(obj, attr, vars(obj)[attr]) for obj, attr, _ in patches]
    for obj, attr, new in patches:
        setattr(obj, attr, new)
    try:
        started = time.perf_counter()
        stages.run_catchments(cfg, paths)
        run_s = time.perf_counter() - started
    finally:
        for obj, attr, old in originals:
            setattr(obj, attr, old)
    own = clock.own
    polygons = {name.strip("_"): own.get(name.strip("_") + "_s", 0.0) for name in POLYGONS}
    parts = {  # own seconds; a part's nested parts (tiles, Dijkstra) are added back into it
        "segments_s": own.get("segments_s", 0.0) + own.get("tiles_s", 0.0),
        "tiles_s": own.get("tiles_s", 0.0),
        "reversed_csr_s": own.get("reversed_csr_s", 0.0),
        "fields_s": own.get("fields_s", 0.0),  # (its Dijkstra runs ran on its threads)
        "dijkstra_s": own.get("dijkstra_s", 0.0),
        "trips_s": sum(own.get(k, 0.0) for k in ("trips_s", "bounds_s", "search_s")),
        "bounds_s": own.get("bounds_s", 0.0),
        "search_s": own.get("search_s", 0.0),
        "road_distance_s": own.get("road_distance_s", 0.0),
        "grid_s": own.get("grid_s", 0.0),
        "polygons_s": sum(polygons.values()),
    }
    step_s = own.get(STEP, 0.0)
    nested = ("tiles_s", "dijkstra_s", "bounds_s", "search_s")
    named = sum(v for k, v in parts.items() if k not in nested)
    parts["other_s"] = step_s - named
    return _rounded(
        {
            STEP: step_s,
            "step_system_s": clock.system_s,
            "run_catchments_s (in process, with I/O)": run_s,
            "parts": parts,
            "polygons": polygons,
            "outside_step": clock.outside,
            "counts": counts,
        }
    )


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 3) if isinstance(value, float) else value


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
