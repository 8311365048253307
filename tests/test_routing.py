"""Multi-source Dijkstra against networkx, on random graphs and on the real Andorra network.

networkx graphs are built here from the same edge lists, independently of
:meth:`pipeline.network.graph.RoadGraph.csr`; times are *from* each node *to* its nearest source, so
networkx runs on the reversed graph.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from pipeline.access.routing import NO_SOURCE, nearest_entry_reversed, nearest_source
from pipeline.config import load_region
from pipeline.inputs.osm import read_pbf
from pipeline.network.graph import RoadGraph, build_graph

ANDORRA_PBF = Path(__file__).resolve().parent.parent / "regions/andorra/andorra-2023-05-02.osm.pbf"

# Seeded and with no example database on disk: the same cases on every run.
SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def road_graph(n: int, edges: list[tuple[int, int, float]]) -> RoadGraph:
    """A RoadGraph over `n` nodes with the given directed edges (coordinates are dummies)."""
    u = np.array([e[0] for e in edges], dtype=np.int64)
    v = np.array([e[1] for e in edges], dtype=np.int64)
    t = np.array([e[2] for e in edges], dtype=float)
    zeros = np.zeros((n, 2))
    return RoadGraph("", zeros, zeros, u, v, t, np.ones(len(u)), np.zeros(len(u), dtype=np.int64))


def nx_reversed(n: int, edges) -> nx.MultiDiGraph:
    """The reversed graph in networkx: an edge u→v of time t becomes v→u (parallel edges kept)."""
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from((v, u, t) for u, v, t in edges)
    return g


def nx_times(n: int, edges, sources) -> np.ndarray:
    """Seconds from every node to its nearest source, per networkx (inf if none)."""
    lengths = nx.multi_source_dijkstra_path_length(nx_reversed(n, edges), set(sources))
    out = np.full(n, np.inf)
    for node, t in lengths.items():
        out[node] = t
    return out


@st.composite
def graphs_with_sources(draw, *, integer_weights: bool | None = None):
    """(n, edges, sources): 2–40 nodes, random directed edges (parallel edges and loops too)."""
    n = draw(st.integers(2, 40))
    node = st.integers(0, n - 1)
    ints = draw(st.booleans()) if integer_weights is None else integer_weights
    weight = (
        st.integers(1, 5).map(float)  # small integers: many ties between sources
        if ints
        else st.floats(0.01, 1000.0, allow_nan=False, allow_infinity=False)
    )
    edges = draw(st.lists(st.tuples(node, node, weight), max_size=4 * n))
    sources = draw(st.lists(node, min_size=1, max_size=min(n, 6)))
    return n, edges, sources


# --- random graphs against networkx ----------------------------------------------------------


@SETTINGS
@given(graphs_with_sources())
def test_times_match_networkx(case):
    n, edges, sources = case
    got = nearest_source(road_graph(n, edges).csr(), np.array(sources))
    want = nx_times(n, edges, sources)
    np.testing.assert_allclose(got.time_s, want, rtol=1e-12, atol=1e-9)
    assert np.array_equal(got.source == NO_SOURCE, np.isinf(want))


@SETTINGS
@given(graphs_with_sources())
def test_winning_source_is_one_of_the_nearest(case):
    n, edges, sources = case
    got = nearest_source(road_graph(n, edges).csr(), np.array(sources))
    rev = nx_reversed(n, edges)
    from_source = {s: nx.single_source_dijkstra_path_length(rev, s) for s in set(sources)}
    for node in range(n):
        pos = got.source[node]
        if pos == NO_SOURCE:
            assert np.isinf(got.time_s[node])
            continue
        assert 0 <= pos < len(sources)
        assert pos == sources.index(sources[pos])  # a source listed twice: the first wins
        best = min(d.get(node, np.inf) for d in from_source.values())
        assert from_source[sources[pos]][node] == pytest.approx(best, rel=1e-12, abs=1e-9)


@SETTINGS
@given(graphs_with_sources())
def test_next_node_is_a_fastest_way_to_the_winning_source(case):
    # The tree the seasons analysis walks: from every reached node, following next_node takes
    # a graph edge whose time is exactly the drop in time, and ends at its winning source.
    n, edges, sources = case
    got = nearest_source(road_graph(n, edges).csr(), np.array(sources))
    fastest = {}
    for u, v, t in edges:
        fastest[u, v] = min(t, fastest.get((u, v), np.inf))
    for node in range(n):
        if got.source[node] == NO_SOURCE:
            assert got.next_node[node] == -9999
            continue
        at, steps = node, 0
        while got.next_node[at] != -9999:
            nxt = int(got.next_node[at])
            assert got.source[nxt] == got.source[node]
            assert got.time_s[at] == pytest.approx(
                got.time_s[nxt] + fastest[at, nxt], rel=1e-12, abs=1e-9
            )
            at, steps = nxt, steps + 1
            assert steps <= n
        assert got.time_s[at] == 0.0 and at == sources[got.source[node]]


@SETTINGS
@given(graphs_with_sources(integer_weights=False))
def test_times_and_sources_match_scipy(case):
    # scipy's csgraph (an implementation no one here wrote) on the same reversed matrix; with
    # real-valued weights ties are rare enough that the winner must agree too.
    n, edges, sources = case
    graph = road_graph(n, edges).csr()
    got = nearest_source(graph, np.array(sources))
    unique = np.unique(sources)
    want, _, winner = csgraph.dijkstra(
        graph.T.tocsr(), directed=True, indices=unique, min_only=True, return_predecessors=True
    )
    np.testing.assert_allclose(got.time_s, want, rtol=1e-12, atol=1e-9)
    first = {s: sources.index(s) for s in unique}
    want_source = np.array([first[w] if w >= 0 else NO_SOURCE for w in winner])
    ties = np.zeros(n, bool)  # nodes two sources reach equally fast: either may win
    rev = nx_reversed(n, edges)
    times = [nx.single_source_dijkstra_path_length(rev, int(s)) for s in unique]
    for node in range(n):
        best = sorted(d[node] for d in times if node in d)
        ties[node] = len(best) > 1 and best[1] - best[0] <= 1e-9 * max(1.0, best[0])
    assert np.array_equal(got.source[~ties], want_source[~ties])


@SETTINGS
@given(graphs_with_sources(integer_weights=False), st.data())
def test_entries_are_sources_joined_to_the_road_by_an_edge_each(case, data):
    # nearest_entry_reversed against its definition: networkx on the reversed graph with one
    # virtual node per source, n + source, and an edge from it into each entry's node.
    n, edges, _ = case
    m = data.draw(st.integers(1, 4))
    entries = data.draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, m - 1), st.floats(0.01, 500.0)),
            min_size=1,
            max_size=3 * m,
            unique_by=lambda e: e[:2],  # one entry per (node, source), as RoadAccess.field makes
        )
    )
    node, source, cost = (np.array(x) for x in zip(*sorted(entries), strict=True))
    got = nearest_entry_reversed(road_graph(n, edges).csr(reverse=True), node, source, cost)
    rev = nx_reversed(n, edges)
    rev.add_nodes_from(range(n, n + m))  # (a source with no entry reaches nothing)
    rev.add_weighted_edges_from((n + s, v, t) for v, s, t in entries)
    from_source = [nx.single_source_dijkstra_path_length(rev, n + s) for s in range(m)]
    for v in range(n):
        best = min(d.get(v, np.inf) for d in from_source)
        assert got.time_s[v] == pytest.approx(best, rel=1e-12, abs=1e-9)
        if np.isinf(best):
            assert got.source[v] == NO_SOURCE and got.next_node[v] == -9999
            continue
        assert from_source[got.source[v]][v] == pytest.approx(best, rel=1e-12, abs=1e-9)
        step = int(got.next_node[v])  # the next node: a road node, or the source's own node
        if step >= n:
            assert step == n + got.source[v]
            assert (v, got.source[v]) in {(e[0], e[1]) for e in entries}
        else:
            assert got.source[step] == got.source[v]


@SETTINGS
@given(graphs_with_sources())
def test_times_are_nonnegative_and_zero_at_sources(case):
    n, edges, sources = case
    got = nearest_source(road_graph(n, edges).csr(), np.array(sources))
    assert (got.time_s >= 0).all()
    for pos, s in enumerate(sources):
        assert got.time_s[s] == 0.0
        assert got.source[s] == sources.index(s)  # itself (its first listing)
        assert pos >= got.source[s]


@SETTINGS
@given(graphs_with_sources(), st.data())
def test_adding_a_source_never_increases_a_time(case, data):
    n, edges, sources = case
    csr = road_graph(n, edges).csr()
    extra = data.draw(st.integers(0, n - 1))
    before = nearest_source(csr, np.array(sources)).time_s
    after = nearest_source(csr, np.array([*sources, extra])).time_s
    assert (after <= before).all()
    assert after[extra] == 0.0


@SETTINGS
@given(graphs_with_sources(), st.data())
def test_removing_an_edge_never_decreases_a_time(case, data):
    n, edges, sources = case
    if not edges:
        return
    drop = data.draw(st.integers(0, len(edges) - 1))
    fewer = edges[:drop] + edges[drop + 1 :]
    before = nearest_source(road_graph(n, edges).csr(), np.array(sources)).time_s
    after = nearest_source(road_graph(n, fewer).csr(), np.array(sources)).time_s
    assert (after >= before).all()


def test_no_sources_reaches_nobody():
    got = nearest_source(road_graph(3, [(0, 1, 1.0)]).csr(), np.array([], dtype=np.int64))
    assert np.isinf(got.time_s).all()
    assert (got.source == NO_SOURCE).all()


def test_direction_is_node_to_source():
    # 0 → 1 takes 10 s, 1 → 0 takes 100 s; the source is node 1.
    got = nearest_source(road_graph(2, [(0, 1, 10.0), (1, 0, 100.0)]).csr(), np.array([1]))
    assert got.time_s.tolist() == [10.0, 0.0]


def test_parallel_edges_keep_the_fastest():
    got = nearest_source(
        road_graph(2, [(0, 1, 9.0), (0, 1, 4.0), (0, 1, 7.0)]).csr(), np.array([1])
    )
    assert got.time_s[0] == 4.0


# --- the real Andorra network ----------------------------------------------------------------


@pytest.fixture(scope="module")
def andorra_graph():
    cfg = load_region("andorra")
    crs = CRS.from_user_input("EPSG:3035")
    layers = read_pbf(ANDORRA_PBF)
    graph = build_graph(layers.roads, cfg.network, crs)
    towns = layers.places[layers.places["place"] == "town"]
    to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_xy.transform(towns.geometry.x.to_numpy(), towns.geometry.y.to_numpy())
    _, town_nodes = cKDTree(graph.node_xy).query(np.column_stack([x, y]))
    return graph, np.asarray(town_nodes, dtype=np.int64)


def test_andorra_times_match_networkx(andorra_graph):
    graph, town_nodes = andorra_graph
    assert len(town_nodes) == 8  # the extract's place=town nodes and areas
    got = nearest_source(graph.csr(), town_nodes)

    edges = zip(
        graph.edge_u.tolist(), graph.edge_v.tolist(), graph.edge_time_s.tolist(), strict=True
    )
    want = nx_times(graph.n_nodes, list(edges), town_nodes.tolist())
    reached = np.isfinite(want)
    assert reached.mean() > 0.5  # most of the network leads to a town
    assert np.array_equal(np.isfinite(got.time_s), reached)
    np.testing.assert_allclose(got.time_s[reached], want[reached], rtol=0, atol=1e-6)
    assert (got.source[reached] >= 0).all()
    assert (got.source[~reached] == NO_SOURCE).all()
