"""`make graphml` (pipeline/network/graphml.py): the road graph as GraphML that osmnx reads and networkx
routes on, with the pipeline's times.

On synthetic Testland (tests.fake_overpass.build_testland: a ferry, a winter road, gravel,
soft tracks, a one-way; nothing of it is real OSM data): ``osmnx.load_graphml`` reads the file,
and ``networkx.shortest_path_length(weight="travel_time")`` between road nodes equals scipy's
Dijkstra on the pipeline's own graph of the default season (to 1e-6 s), in summer and with a
winter default season.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
from pyproj import CRS
from scipy.sparse import csgraph

from pipeline import stages
from pipeline._io import RegionPaths, region_paths
from pipeline.config import PROJECT_ROOT, RegionConfig, load_region
from pipeline.errors import InputDataError
from pipeline.network import graphml
from pipeline.network.graph import (
    FLAG_BOARDING,
    FLAG_FERRY,
    FLAG_GRAVEL,
    FLAG_SOFT,
    FLAG_WINTER,
    RoadGraph,
)
from pipeline.outputs.export import read_layer
from pipeline.stages._common import load_network, region_and_crs
from tests.helpers.fake_overpass import TESTLAND_TOML, build_testland, serve
from tests.helpers.stage_trace import makefile_list, trace_stage

MAKE = shutil.which("make")
VOLOGDA_DIR = PROJECT_ROOT / "regions" / "vologda"
TOL_S = 1e-6


def _testland(folder: Path, source: str = 'local_pbf = "testland.osm.pbf"', extra: str = ""):
    folder.mkdir(parents=True, exist_ok=True)
    build_testland().write(folder / "testland.osm.pbf")
    boundary = "relation_id = 900\nadmin_level = 4"
    path = folder / "testland.toml"
    path.write_text(TESTLAND_TOML.format(source=source, boundary=boundary) + extra, "utf-8")
    cfg = load_region(config=path)
    return cfg, region_paths(cfg, root=folder / "out")


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> tuple[RegionConfig, RegionPaths]:
    """Testland (from its PBF) through fetch, extract and network."""
    cfg, paths = _testland(tmp_path_factory.mktemp("graphml"))
    for run in (stages.run_fetch, stages.run_extract, stages.run_network):
        run(cfg, paths)
    return cfg, paths


def _pipeline_graph(cfg: RegionConfig, paths: RegionPaths) -> RoadGraph:
    _, crs = region_and_crs(cfg, read_layer(paths.osm_gpkg, "boundaries"))
    _, graph = load_network(paths.network, crs)
    return graphml.season_graph(cfg, graph)[1]


@pytest.mark.parametrize("season", ["summer", "winter"])
def test_networkx_routes_on_it_in_the_pipelines_times(network, season: str) -> None:
    cfg, paths = network
    cfg = cfg.model_copy(update={"default_season": season})
    path = stages.run_graphml(cfg, paths)
    assert path == paths.processed / "testland.graphml"
    graph = _pipeline_graph(cfg, paths)
    plain = ox.load_graphml(path)  # osmnx alone, no extra arguments
    loaded = graphml.load_graphml(path)
    assert isinstance(loaded, nx.MultiDiGraph) and loaded.graph["crs"] == "EPSG:4326"
    assert loaded.graph["season"] == season and loaded.graph["simplified"] is False
    assert len(loaded) == len(plain) == graph.n_nodes and loaded.number_of_edges() == len(
        graph.edge_u
    )

    seconds = csgraph.dijkstra(graph.csr(), directed=True)
    reachable = np.argwhere(np.isfinite(seconds) & (seconds > 0))
    assert len(reachable) > 50
    for s, t in reachable[:: max(len(reachable) // 12, 1)]:  # a few pairs, as a user would
        time_s = nx.shortest_path_length(plain, int(s), int(t), weight="travel_time")
        assert abs(time_s - seconds[s, t]) <= TOL_S
    for s in range(graph.n_nodes):  # and every pair
        got = nx.single_source_dijkstra_path_length(loaded, s, weight="travel_time")
        finite = np.flatnonzero(np.isfinite(seconds[s]))
        assert set(got) == set(finite.tolist())
        assert np.abs(np.array([got[t] for t in finite]) - seconds[s, finite]).max() <= TOL_S


def test_its_nodes_and_edges_carry_the_pipelines_attributes(network) -> None:
    cfg, paths = network
    path = stages.run_graphml(cfg, paths)
    graph = _pipeline_graph(cfg, paths)
    loaded = graphml.load_graphml(path)
    assert CRS.from_wkt(loaded.graph["crs_proj"]).equals(CRS.from_user_input("EPSG:32637"))
    nodes, edges = ox.graph_to_gdfs(loaded)  # what osmnx users do next
    assert nodes.crs == "EPSG:4326"
    np.testing.assert_array_equal(nodes.loc[range(graph.n_nodes), ["x", "y"]], graph.node_lonlat)
    np.testing.assert_array_equal(
        nodes.loc[range(graph.n_nodes), ["x_proj", "y_proj"]], graph.node_xy
    )

    roads = read_layer(paths.osm_gpkg, "roads").set_index("osm_id")
    flags = graph.flags()
    written = {
        (u, v, d["travel_time"], d["length"]): d for u, v, d in loaded.edges(data=True)
    }  # fmt: skip
    for i in range(len(graph.edge_u)):
        key = (
            int(graph.edge_u[i]),
            int(graph.edge_v[i]),
            float(graph.edge_time_s[i]),
            float(graph.edge_length_m[i]),
        )
        d = written[key]
        for name, bit in (("ferry", FLAG_FERRY), ("winter_road", FLAG_WINTER),
                          ("soft", FLAG_SOFT), ("gravel", FLAG_GRAVEL),
                          ("boarding", FLAG_BOARDING)):  # fmt: skip
            assert d[name] is bool(flags[i] & bit), (name, d)
        if flags[i] & FLAG_BOARDING:
            assert "osmid" not in d and "highway" not in d
            continue
        assert d["osmid"] == graph.edge_way[i]
        tag = roads.loc[d["osmid"], "highway"]
        assert d.get("highway") == (None if pd.isna(tag) else tag)
    kinds = edges.groupby("highway", dropna=False).size()
    assert {"primary", "tertiary", "track", "residential"} <= set(kinds.index.dropna())
    assert edges["ferry"].any() and edges["gravel"].any() and edges["soft"].any()
    assert edges["boarding"].sum() == 4  # at each pier: on board (the wait), and off
    assert not edges["winter_road"].any()  # summer: the winter road is closed
    assert "footway" not in set(kinds.index.dropna())  # not driveable


def test_text_is_escaped_and_characters_xml_forbids_dropped(tmp_path: Path) -> None:
    graph = RoadGraph(
        crs_wkt="",
        node_xy=np.array([[0.0, 0.0], [100.0, 0.0]]),
        node_lonlat=np.array([[39.0, 60.0], [39.001, 60.0]]),
        edge_u=np.array([0, 1]),
        edge_v=np.array([1, 0]),
        edge_time_s=np.array([7.2, 0.1 + 0.2]),
        edge_length_m=np.array([100.0, 100.0]),
        edge_way=np.array([5, 6]),
    )
    highway = pd.Series(['a<b>&"c"\x01', "]]>"], index=[5, 6])
    path = tmp_path / "tricky.graphml"
    attrs = {"crs": "EPSG:4326", "name": "Ёлки & <Палки>\x0b"}
    graphml.write_graphml(path, graph, highway, attrs)
    loaded = graphml.load_graphml(path)
    assert loaded.graph["name"] == "Ёлки & <Палки>"
    assert loaded[0][1][0]["highway"] == 'a<b>&"c"' and loaded[1][0][0]["highway"] == "]]>"
    assert loaded[1][0][0]["travel_time"] == 0.1 + 0.2  # every float exactly as it was
    assert not list(tmp_path.glob(".tmp-*"))


def test_no_road_network_is_one_clear_error(tmp_path: Path) -> None:
    offline = (
        "[offline]\n"
        f"districts = {json.dumps(str(VOLOGDA_DIR / 'districts_osm_2020.geojson'))}\n"
        f"settlements = {json.dumps(str(VOLOGDA_DIR / 'settlements_geonames_2020.geojson'))}\n"
    )
    cfg, paths = _testland(tmp_path, source="urls = []", extra=offline)
    for run in (stages.run_fetch, stages.run_extract, stages.run_network):
        run(cfg, paths)
    with pytest.raises(InputDataError, match="straight-line model") as err:
        stages.run_graphml(cfg, paths)
    assert "make network region=testland" in str(err.value)
    assert not graphml.graphml_path(cfg, paths).exists()


@pytest.mark.skipif(MAKE is None, reason="needs GNU make")
def test_the_stage_reads_what_its_stamp_and_code_list_name(network) -> None:
    """run_graphml reads only the sections of its stamp (pipeline/cli.py STAGE_SECTIONS) and
    runs only the modules of the Makefile's CODE_graphml."""
    from pipeline import cli

    cfg, paths = network
    read, called = trace_stage(stages.run_graphml, cfg, paths)
    assert read <= cli._sections("graphml")
    listed = makefile_list("CODE_graphml")
    assert "pipeline/network/graphml.py" in called
    assert called <= listed, sorted(called - listed)


@pytest.mark.skipif(MAKE is None, reason="needs GNU make")
def test_make_graphml_from_overpass(tmp_path: Path) -> None:
    """`make graphml config=…` on an Overpass region (the fake server): fetch, extract, network
    and graphml run, once; the file loads; osmnx's log lines are in the fetch log only."""
    keep = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "region", "config", "PIPELINE_ROOT")
    env = {k: v for k, v in os.environ.items() if k not in keep and "proxy" not in k.lower()}
    env |= {"PIPELINE_ROOT": str(tmp_path / "out"), "NO_PROXY": "127.0.0.1,localhost"}
    with serve(build_testland()) as fake:
        cfg, paths = _testland(
            tmp_path / "regions", source=f'kind = "overpass"\noverpass_url = "{fake.api_url}"'
        )

        def make():
            return subprocess.run(
                [MAKE, "--no-print-directory", "graphml", f"config={cfg.region_file}",
                 f"PYTHON={sys.executable}"],
                cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
                check=False,
            )  # fmt: skip

        first = make()
        assert first.returncode == 0, first.stderr
        ran = [
            line.split()[3]
            for line in first.stdout.splitlines()
            if " -m pipeline " in line and not line.startswith("test -f")
        ]
        assert [stage for stage in ran if stage != "deps"] == [
            "fetch", "extract", "network", "graphml",
        ]  # fmt: skip
        again = make()
        assert again.returncode == 0, again.stderr
        assert "graphml --config" not in again.stdout and "fetch --config" not in again.stdout
        asked = len(fake.queries)
    assert asked == 3
    paths = region_paths(cfg, root=tmp_path / "out")
    loaded = graphml.load_graphml(paths.processed / "testland.graphml")
    assert loaded.number_of_edges() > 20
    assert "OSMnx" not in first.stderr
    assert "OSMnx: Post" in (paths.logs / "fetch.log").read_text(encoding="utf-8")
