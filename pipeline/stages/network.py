"""`make network`: the routable road graph (network.npz) from the extract's roads."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipeline._io import RegionPaths, atomic_path
from pipeline.config import RegionConfig
from pipeline.errors import ExtractError
from pipeline.machine import on_a_thread
from pipeline.outputs.export import read_layer, read_metadata
from pipeline.stages._common import keep_network, read_roads, region_and_crs, summary_line

__all__ = ["run_network"]


def run_network(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """Build the road graph in the region's CRS and write network.npz; return its path."""
    from pipeline.network.graph import build_graph

    started = time.perf_counter()
    meta = read_metadata(paths.osm_gpkg)
    boundaries = read_layer(paths.osm_gpkg, "boundaries")
    _, crs = region_and_crs(cfg, boundaries)
    graph = None
    with atomic_path(paths.network) as tmp:
        if meta.get("mode") == "straight_line":
            with tmp.open("wb") as fh:
                np.savez_compressed(
                    fh, mode=np.array("straight_line"), crs_wkt=np.array(crs.to_wkt())
                )
            counts = "no road network (straight-line model)"
        else:
            roads = read_roads(paths.osm_gpkg)
            graph = build_graph(roads, cfg.network, crs)
            if graph.n_nodes == 0:
                raise ExtractError(
                    f"{paths.osm_gpkg}: no driveable roads in {cfg.display_name}; check the extract"
                )
            # Written on a thread (copying and checksumming let go of the GIL) while the parts
            # are counted: at oblast size 0.5 s and 0.3 s, one beside the other.
            writing = on_a_thread(_write_road_npz, tmp, graph)
            try:
                parts = graph.n_parts()
            finally:
                writing.result()  # the file whole (or the writer's error) before it is renamed
            counts = (
                f"{graph.n_nodes} nodes, {len(graph.edge_u)} directed edges, "
                f"{parts} disconnected parts"
            )
    if graph is not None:  # for the next stage of this process (`pipeline all`)
        keep_network(paths.network, graph)
    summary_line("network", started, counts, paths.network)
    return paths.network


def _write_road_npz(path: Path, graph) -> None:
    with path.open("wb") as fh:
        # Uncompressed: zlib on ~10^8 bytes of edge arrays took 2/3 of the stage (oblast).
        np.savez(fh, mode=np.array("road"), **graph.to_npz_dict())
