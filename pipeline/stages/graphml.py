"""`make graphml`: the default season's road graph as GraphML for osmnx and networkx."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from pipeline._io import RegionPaths
from pipeline.config import RegionConfig
from pipeline.errors import InputDataError
from pipeline.outputs.export import read_layer, read_metadata
from pipeline.stages._common import load_network, region_and_crs, summary_line

__all__ = ["run_graphml"]


def run_graphml(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """Write the default season's road graph as GraphML; return its path."""
    from pipeline.network.graphml import graphml_path, season_graph, write_graphml

    started = time.perf_counter()
    target = graphml_path(cfg, paths)
    if read_metadata(paths.osm_gpkg).get("mode") == "straight_line":
        raise InputDataError(_no_roads(cfg, paths))
    _, crs = region_and_crs(cfg, read_layer(paths.osm_gpkg, "boundaries"))
    _, graph = load_network(paths.network, crs)
    if graph is None:
        raise InputDataError(_no_roads(cfg, paths))
    season, graph = season_graph(cfg, graph)
    roads = read_layer(paths.osm_gpkg, "roads")
    highway = pd.Series(roads["highway"].to_numpy(dtype=object), index=roads["osm_id"].to_numpy())
    attrs = {
        "crs": "EPSG:4326",
        "crs_proj": crs.to_wkt(),
        "name": cfg.display_name,
        "season": season,
        "created_with": "anchor_access pipeline (make graphml)",
        "simplified": "False",
    }
    write_graphml(target, graph, highway, attrs)
    summary_line(
        "graphml",
        started,
        f"{graph.n_nodes} nodes, {len(graph.edge_u)} edges ({season})",
        target,
    )
    return target


def _no_roads(cfg: RegionConfig, paths: RegionPaths) -> str:
    return (
        f"{paths.network} holds no road network: {cfg.display_name} was computed with the "
        "straight-line model (no OSM extract); get an extract (`make fetch`) and run "
        f"`make network region={cfg.name}` first"
    )
