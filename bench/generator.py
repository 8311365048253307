"""A seeded generator of *synthetic* OSM regions (.osm.pbf) for the benchmark and the tests.

Nothing written here is real OpenStreetMap data. A region is a rectangle in a Lambert
equal-area projection centred on 60 °N 40 °E (Vologda Oblast's latitude) with:

* settlements as ``place`` nodes with Cyrillic names made from syllables, ``population`` tags
  (some missing), a few cities and towns and many villages and hamlets; some villages lie
  3–10 km inside roadless forest ("holes"), off any road;
* a hierarchical road network: the settlements' Delaunay graph, thinned to its minimum
  spanning tree plus some loops; trunk/primary roads along the paths between towns,
  secondary/tertiary roads from the larger villages to the nearest town, the rest
  unclassified; tracks (``tracktype``/``surface``) as extra links and dead-end forest stubs;
  street grids in towns with one-way streets, short residential streets in villages;
* rivers that cut the network: main roads bridge them, some minor roads end at the bank,
  a few cross by ferry (``route=ferry`` with a ``duration``) or by a winter ice road;
* an admin_level 4 boundary relation for the region and a grid of admin_level 6 districts
  (with ``admin_centre`` members), so the pipeline finds them like a real extract.

Everything is vectorised with numpy (the geometry) and written in one pass with pyosmium's
``SimpleWriter``; the same seed gives a byte-identical PBF.

Usage::

    python -m bench.generator district --seed 1 --out bench/out/district
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import osmium
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import Delaunay, cKDTree

__all__ = ["CRS_PROJ", "SIZES", "Size", "generate", "region_name"]

CRS_PROJ = "+proj=laea +lat_0=60 +lon_0=40 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"


@dataclass(frozen=True)
class Size:
    """Targets for one benchmark size."""

    settlements: int
    road_nodes: int
    area_km2: float
    districts: tuple[int, int]  # columns × rows of the district grid


SIZES: dict[str, Size] = {
    "tiny": Size(settlements=60, road_nodes=8_000, area_km2=1_200.0, districts=(2, 1)),
    "district": Size(settlements=500, road_nodes=100_000, area_km2=9_000.0, districts=(2, 2)),
    "oblast": Size(settlements=8_000, road_nodes=2_000_000, area_km2=145_000.0, districts=(6, 5)),
    "macro": Size(
        settlements=40_000, road_nodes=10_000_000, area_km2=725_000.0, districts=(12, 10)
    ),
}

# Road levels: index into _LEVEL_HIGHWAY.
_UNCL, _TERT, _SEC, _PRIM, _TRUNK = 0, 1, 2, 3, 4
_LEVEL_HIGHWAY = ("unclassified", "tertiary", "secondary", "primary", "trunk")

_SYLLABLES = [
    "ба",
    "ва",
    "ве",
    "ви",
    "во",
    "га",
    "го",
    "да",
    "де",
    "ду",
    "жа",
    "за",
    "зе",
    "ка",
    "ко",
    "ку",
    "ла",
    "ле",
    "ли",
    "ло",
    "лу",
    "ма",
    "ме",
    "ми",
    "мо",
    "на",
    "не",
    "ни",
    "но",
    "па",
    "пе",
    "по",
    "ра",
    "ре",
    "ри",
    "ро",
    "ру",
    "са",
    "се",
    "си",
    "со",
    "су",
    "та",
    "те",
    "ти",
    "то",
    "ту",
    "ха",
    "ча",
    "ше",
    "шу",
    "я",
    "ю",
    "бор",
    "гор",
    "дол",
    "мох",
    "лес",
    "сел",
    "рет",
    "ным",
    "кур",
    "ков",
    "вер",
    "бел",
    "чер",
    "крас",
]
_SUFFIXES = ("ово", "ево", "ино", "ка", "ское", "ица", "овка", "ье", "ки", "ха", "ец", "ня")
_PREFIXES = ("Ново", "Старо", "Верхне", "Нижне", "Больше", "Мало", "Усть-", "Красно")

Tags = dict[str, str]


# --- small geometry helpers ----------------------------------------------------------------


def _seg_point_dist(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Distance from each point p[j] to each segment a[i]–b[i]: (n_seg, n_pts)."""
    ab = b - a
    ap = p[None, :, :] - a[:, None, :]
    denom = np.maximum((ab**2).sum(axis=1), 1e-9)[:, None]
    t = np.clip((ap * ab[:, None, :]).sum(axis=2) / denom, 0.0, 1.0)
    closest = a[:, None, :] + t[..., None] * ab[:, None, :]
    return np.hypot(*(p[None, :, :] - closest).transpose(2, 0, 1))


def _crosses_holes(
    a: np.ndarray, b: np.ndarray, holes_xy: np.ndarray, holes_r: np.ndarray
) -> np.ndarray:
    """Mask of segments passing within a hole's radius (+ 500 m), computed in chunks."""
    out = np.zeros(len(a), dtype=bool)
    for start in range(0, len(a), 20_000):
        sl = slice(start, start + 20_000)
        d = _seg_point_dist(a[sl], b[sl], holes_xy)
        out[sl] = (d < holes_r[None, :] + 500.0).any(axis=1)
    return out


def _names(rng: np.random.Generator, n: int, *, prefix_share: float = 0.2) -> list[str]:
    """Cyrillic place names from syllables: root of 1–3 syllables, a suffix, sometimes a prefix."""
    n_syl = rng.integers(1, 4, size=n)
    syl = rng.integers(0, len(_SYLLABLES), size=(n, 3))
    suf = rng.integers(0, len(_SUFFIXES), size=n)
    pre = np.where(rng.random(n) < prefix_share, rng.integers(0, len(_PREFIXES), size=n), -1)
    names = []
    for i in range(n):
        root = "".join(_SYLLABLES[s] for s in syl[i, : n_syl[i]]) + _SUFFIXES[suf[i]]
        head = _PREFIXES[pre[i]] if pre[i] >= 0 else ""
        word = head + root
        names.append(word[0].upper() + word[1:])
    return names


def _unique_names(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    """n names distinct from each other and from `taken` (towns: anchors are found by name)."""
    out: list[str] = []
    while len(out) < n:
        for name in _names(rng, 2 * (n - len(out)), prefix_share=0.0):
            if name not in taken and len(out) < n:
                taken.add(name)
                out.append(name)
    return out


# --- the OSM objects -----------------------------------------------------------------------


@dataclass
class _Osm:
    """Nodes (projected x, y; ids 1.. in order), ways and relations as they will be written."""

    xs: list[np.ndarray] = field(default_factory=list)
    ys: list[np.ndarray] = field(default_factory=list)
    n_nodes: int = 0
    node_tags: dict[int, Tags] = field(default_factory=dict)
    ways: list[tuple[np.ndarray, Tags]] = field(default_factory=list)
    relations: list[tuple[int, list[tuple[str, int, str]], Tags]] = field(default_factory=list)

    def add_nodes(self, xy: np.ndarray) -> np.ndarray:
        """Append nodes; return their ids."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        ids = np.arange(self.n_nodes + 1, self.n_nodes + 1 + len(xy), dtype=np.int64)
        self.xs.append(xy[:, 0])
        self.ys.append(xy[:, 1])
        self.n_nodes += len(xy)
        return ids

    def add_way(self, node_ids: np.ndarray, tags: Tags) -> int:
        self.ways.append((np.asarray(node_ids, dtype=np.int64), tags))
        return len(self.ways)

    def xy(self) -> np.ndarray:
        return np.column_stack([np.concatenate(self.xs), np.concatenate(self.ys)])


@dataclass
class _Settlements:
    xy: np.ndarray  # junction position (road node) per settlement
    place_xy: np.ndarray  # where the place node sits
    place: np.ndarray  # str
    population: np.ndarray  # int
    pop_tagged: np.ndarray  # bool
    name: list[str]
    connected: np.ndarray  # bool: False for villages deep in roadless forest
    is_town: np.ndarray  # bool: city or town


# --- the generator -------------------------------------------------------------------------


def region_name(size: str) -> str:
    return f"synth-{size}"


def generate(size: str, out_dir: Path, seed: int = 1, name: str | None = None) -> dict:
    """Write ``<out_dir>/<name>.osm.pbf`` and its region file ``<name>.toml``.

    `name` defaults to ``synth-<size>``. Returns statistics of what was written (also saved as
    ``<name>.stats.json``).
    """
    spec = SIZES[size]
    started = time.perf_counter()
    rng = np.random.default_rng([seed, list(SIZES).index(size)])
    width_m = math.sqrt(spec.area_km2 * 1e6 * 1.2)
    height_m = spec.area_km2 * 1e6 / width_m
    bounds = (-width_m / 2, -height_m / 2, width_m / 2, height_m / 2)
    osm = _Osm()

    towns = _towns(rng, spec, bounds)
    holes_xy, holes_r = _holes(rng, spec, bounds, towns)
    st = _settlements(rng, spec, bounds, towns, holes_xy, holes_r)
    junction = np.full(len(st.xy), -1, dtype=np.int64)
    junction[st.connected] = osm.add_nodes(st.xy[st.connected])

    edges, level, kind = _road_topology(rng, st, spec, holes_xy, holes_r)
    rivers = _rivers(rng, spec, bounds)
    stubs_a, stubs_b = _stubs(rng, st, bounds, holes_xy, holes_r)
    town_nodes, street_nodes = _estimate_local_nodes(st)
    rural_len = np.hypot(*(st.xy[edges[:, 0]] - st.xy[edges[:, 1]]).T).sum()
    rural_len += np.hypot(*(st.xy[stubs_a] - stubs_b).T).sum()
    budget = max(spec.road_nodes - len(st.xy) - town_nodes - street_nodes, len(edges) * 2)
    spacing_m = float(np.clip(rural_len / budget, 8.0, 500.0))

    counts = _write_rural(
        rng, osm, st, junction, edges, level, kind, rivers, spacing_m, (stubs_a, stubs_b)
    )
    _write_towns(rng, osm, st, junction)
    _write_village_streets(rng, osm, st, junction)
    road_node_count = osm.n_nodes
    place_ids = _write_places(osm, st)
    _write_rivers(rng, osm, rivers)
    district_names, anchors, cores = _write_boundaries(rng, osm, st, place_ids, spec, bounds, size)

    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or region_name(size)
    pbf = out_dir / f"{name}.osm.pbf"
    _write_pbf(osm, pbf)
    _write_region_file(out_dir / f"{name}.toml", name, size, seed, anchors, cores)
    stats = _stats(osm, st, road_node_count, counts, spec, size, seed, spacing_m)
    stats.update(
        districts=len(district_names),
        anchors=len(anchors),
        cores=cores,
        pbf_bytes=pbf.stat().st_size,
        generate_s=round(time.perf_counter() - started, 2),
    )
    (out_dir / f"{name}.stats.json").write_text(
        json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return stats


def _towns(rng, spec: Size, bounds) -> np.ndarray:
    """Towns on a jittered grid, so they spread over the region."""
    x0, y0, x1, y1 = bounds
    n_towns = max(5, round(spec.settlements / 200))
    gx = math.ceil(math.sqrt(n_towns * (x1 - x0) / (y1 - y0)))
    gy = math.ceil(n_towns / gx)
    cells = np.sort(rng.choice(gx * gy, size=n_towns, replace=False))
    cw, ch = (x1 - x0 - 8_000) / gx, (y1 - y0 - 8_000) / gy
    return np.column_stack(
        [
            x0 + 4_000 + (cells % gx + 0.5 + rng.uniform(-0.35, 0.35, n_towns)) * cw,
            y0 + 4_000 + (cells // gx + 0.5 + rng.uniform(-0.35, 0.35, n_towns)) * ch,
        ]
    )


def _holes(rng, spec: Size, bounds, towns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Roadless forest: circles of 12–18 km radius (smaller in small regions), away from towns."""
    n = max(1, round(spec.area_km2 / 9_000.0))
    x0, y0, x1, y1 = bounds
    scale = min(1.0, math.sqrt(spec.area_km2) / 150.0)
    r_lo, r_hi = max(5_000.0, 12_000.0 * scale), max(6_000.0, 18_000.0 * scale)
    margin = min(15_000.0, (x1 - x0) / 4, (y1 - y0) / 4)
    xy, r = np.empty((0, 2)), np.empty(0)
    for _ in range(200):
        if len(xy) >= n:
            break
        m = 4 * n
        cand = np.column_stack(
            [rng.uniform(x0 + margin, x1 - margin, m), rng.uniform(y0 + margin, y1 - margin, m)]
        )
        rad = rng.uniform(r_lo, r_hi, m)
        d = np.hypot(*(cand[:, None, :] - towns[None, :, :]).transpose(2, 0, 1)).min(axis=1)
        ok = d > rad + 5_000.0
        xy, r = np.vstack([xy, cand[ok]]), np.concatenate([r, rad[ok]])
    if len(xy) == 0:  # a small region: the clearing farthest from every town
        best = int(np.argmax(d))
        xy, r = cand[best : best + 1], np.array([max(4_500.0, d[best] - 3_000.0)])
    return xy[:n], r[:n]


def _settlements(rng, spec: Size, bounds, towns, holes_xy, holes_r) -> _Settlements:
    n_towns = len(towns)
    n_cities = max(1, round(n_towns / 20))
    n_vil = spec.settlements - n_towns
    n_off = max(2, round(0.015 * n_vil))
    on = _village_points(rng, n_vil - n_off, bounds, towns, holes_xy, holes_r)
    hole = rng.integers(0, len(holes_xy), size=n_off)
    depth = np.minimum(rng.uniform(3_500.0, 10_000.0, n_off), holes_r[hole] - 500.0)
    angle = rng.uniform(0, 2 * np.pi, n_off)
    off = holes_xy[hole] + (holes_r[hole] - depth)[:, None] * np.column_stack(
        [np.cos(angle), np.sin(angle)]
    )
    xy = np.vstack([towns, on, off])
    n = len(xy)

    pop = np.empty(n, dtype=np.int64)
    pop[:n_cities] = rng.integers(90_000, 320_000, n_cities)
    pop[n_cities:n_towns] = np.clip(
        rng.lognormal(math.log(9_000), 0.7, n_towns - n_cities), 3_000, 60_000
    )
    pop[n_towns:] = np.clip(rng.lognormal(math.log(45), 1.4, n - n_towns), 1, 4_000)
    place = np.where(pop >= 40, "village", "hamlet").astype(object)
    place[rng.random(n) < 0.04] = "isolated_dwelling"
    pop = np.where(place == "isolated_dwelling", np.minimum(pop, 8), pop)
    place[:n_cities], place[n_cities:n_towns] = "city", "town"
    tagged = rng.random(n) >= 0.12
    tagged[:n_towns] = True
    taken: set[str] = set()
    names = _unique_names(rng, n_towns, taken) + _names(rng, n - n_towns)
    names = [nm if nm not in taken or i < n_towns else nm + "ка" for i, nm in enumerate(names)]
    offset = rng.uniform(30.0, 250.0, n)
    ang = rng.uniform(0, 2 * np.pi, n)
    place_xy = xy + offset[:, None] * np.column_stack([np.cos(ang), np.sin(ang)])
    connected = np.ones(n, dtype=bool)
    connected[n - n_off :] = False
    is_town = np.zeros(n, dtype=bool)
    is_town[:n_towns] = True
    return _Settlements(xy, place_xy, place, pop, tagged, names, connected, is_town)


def _village_points(rng, n, bounds, towns, holes_xy, holes_r) -> np.ndarray:
    """Villages: a third clustered around towns, the rest spread out; none in the holes."""
    x0, y0, x1, y1 = bounds
    out = np.empty((0, 2))
    while len(out) < n:
        m = 2 * (n - len(out)) + 16
        near = rng.random(m) < 0.35
        base = towns[rng.integers(0, len(towns), m)]
        pts = np.where(
            near[:, None],
            base + rng.normal(0, 9_000.0, (m, 2)),
            np.column_stack([rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)]),
        )
        inside = (
            (pts[:, 0] > x0 + 1_500)
            & (pts[:, 0] < x1 - 1_500)
            & (pts[:, 1] > y0 + 1_500)
            & (pts[:, 1] < y1 - 1_500)
        )
        d = np.hypot(*(pts[:, None, :] - holes_xy[None, :, :]).transpose(2, 0, 1))
        clear = (d > holes_r[None, :] + 2_500.0).all(axis=1)
        out = np.vstack([out, pts[inside & clear]])
    return out[:n]


def _road_topology(rng, st: _Settlements, spec: Size, holes_xy, holes_r):
    """Edges between connected settlements (indices into st), their road level and kind.

    kind: 0 main road, 1 track.
    """
    idx = np.flatnonzero(st.connected)
    tri = Delaunay(st.xy[idx])
    s = tri.simplices
    pairs = np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    a, b = st.xy[idx[pairs[:, 0]]], st.xy[idx[pairs[:, 1]]]
    length = np.hypot(*(a - b).T)
    spacing = math.sqrt(spec.area_km2 * 1e6 / spec.settlements)
    keep = (length < 4.0 * spacing) & ~_crosses_holes(a, b, holes_xy, holes_r)
    pairs, length = pairs[keep], length[keep]
    n = len(idx)
    graph = sparse.coo_matrix((length, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    mst = csgraph.minimum_spanning_tree(graph).tocoo()
    in_mst = set(
        zip(
            np.minimum(mst.row, mst.col).tolist(),
            np.maximum(mst.row, mst.col).tolist(),
            strict=True,
        )
    )
    is_mst = np.array([(p, q) in in_mst for p, q in pairs.tolist()], dtype=bool)
    rest = np.flatnonzero(~is_mst)
    rest = rest[rng.permutation(len(rest))]
    n_loop, n_track = int(0.30 * len(rest)), int(0.25 * len(rest))
    main = np.sort(np.concatenate([np.flatnonzero(is_mst), rest[:n_loop]]))
    track = np.sort(rest[n_loop : n_loop + n_track])
    level = _road_levels(st, idx, pairs[main], length[main])
    edges = np.vstack([idx[pairs[main]], idx[pairs[track]]])
    levels = np.concatenate([level, np.zeros(len(track), dtype=np.int64)])
    kind = np.concatenate(
        [np.zeros(len(main), dtype=np.int64), np.ones(len(track), dtype=np.int64)]
    )
    return edges, levels, kind


def _road_levels(st: _Settlements, idx, pairs, length) -> np.ndarray:
    """Trunk/primary along the paths between towns, secondary/tertiary from larger villages."""
    n = len(idx)
    g = sparse.coo_matrix(
        (
            np.concatenate([length, length]),
            (np.concatenate(pairs.T[::-1]), np.concatenate(pairs.T)),
        ),
        shape=(n, n),
    ).tocsr()
    edge_of = {(p, q): i for i, (p, q) in enumerate(pairs.tolist())}
    level = np.zeros(len(pairs), dtype=np.int64)

    def raise_edge(u: int, v: int, lv: int) -> None:
        e = edge_of[(min(u, v), max(u, v))]
        level[e] = max(level[e], lv)

    towns = np.flatnonzero(st.is_town[idx])
    pop = st.population[idx]
    # Secondary / tertiary: each larger village's path to its nearest town.
    dist, pred, _ = csgraph.dijkstra(
        g, directed=False, indices=towns, min_only=True, return_predecessors=True
    )
    need = np.where(pop >= 600, _SEC, np.where(pop >= 120, _TERT, _UNCL))
    need[towns] = _UNCL
    for v in np.argsort(-np.where(np.isfinite(dist), dist, -1.0), kind="stable").tolist():
        p = pred[v]
        if p >= 0 and need[v] > _UNCL:
            raise_edge(v, p, need[v])
            need[p] = max(need[p], need[v])
    # Trunk / primary: the road paths between neighbouring towns (a minimum spanning tree).
    t_xy = st.xy[idx[towns]]
    t_len = np.hypot(*(t_xy[:, None, :] - t_xy[None, :, :]).transpose(2, 0, 1))
    t_mst = csgraph.minimum_spanning_tree(sparse.csr_matrix(t_len)).tocoo()
    _, t_pred = csgraph.dijkstra(g, directed=False, indices=towns, return_predecessors=True)
    major = pop[towns] >= np.quantile(pop[towns], 0.7)
    for i, j in zip(t_mst.row.tolist(), t_mst.col.tolist(), strict=True):
        lv = _TRUNK if major[i] and major[j] else _PRIM
        v = towns[j]
        while t_pred[i, v] >= 0:
            raise_edge(v, t_pred[i, v], lv)
            v = t_pred[i, v]
    return level


def _rivers(rng, spec: Size, bounds) -> list[shapely.LineString]:
    """Meandering rivers across the region, alternately west–east and south–north."""
    x0, y0, x1, y1 = bounds
    n = max(1, round(math.sqrt(spec.area_km2) / 120))
    out = []
    for i in range(n):
        t = np.linspace(0, 1, 60)
        wiggle = np.cumsum(rng.normal(0, 0.015, 60))
        if i % 2 == 0:
            base = rng.uniform(0.2, 0.8)
            xy = np.column_stack(
                [x0 - 1_000 + t * (x1 - x0 + 2_000), y0 + (base + wiggle) * (y1 - y0)]
            )
        else:
            base = rng.uniform(0.2, 0.8)
            xy = np.column_stack(
                [x0 + (base + wiggle) * (x1 - x0), y0 - 1_000 + t * (y1 - y0 + 2_000)]
            )
        out.append(shapely.LineString(xy))
    return out


def _stubs(rng, st: _Settlements, bounds, holes_xy, holes_r):
    """Dead-end forest tracks from villages: 1–5 km, never into the holes or out of the region."""
    x0, y0, x1, y1 = bounds
    idx = np.flatnonzero(st.connected)
    origin = idx[rng.integers(0, len(idx), size=int(0.6 * len(idx)))]
    ang = rng.uniform(0, 2 * np.pi, len(origin))
    length = rng.uniform(1_000.0, 5_000.0, len(origin))
    a = st.xy[origin]
    b = a + length[:, None] * np.column_stack([np.cos(ang), np.sin(ang)])
    ok = (b[:, 0] > x0 + 500) & (b[:, 0] < x1 - 500) & (b[:, 1] > y0 + 500) & (b[:, 1] < y1 - 500)
    ok &= ~_crosses_holes(a, b, holes_xy, holes_r + 1_500.0)
    order = np.argsort(origin[ok], kind="stable")
    return origin[ok][order], b[ok][order]


def _grid_size(pop: np.ndarray) -> np.ndarray:
    """Street-grid intersections per side of a town (odd, so the centre is an intersection)."""
    g = np.clip(np.round(np.sqrt(pop) / 12), 4, 30).astype(np.int64)
    return g + (g % 2 == 0)


def _estimate_local_nodes(st: _Settlements) -> tuple[int, int]:
    g = _grid_size(st.population[st.is_town])
    fine = 2 * g - 1
    town = int((fine * fine - (g - 1) ** 2).sum())
    vil = (~st.is_town) & st.connected & (st.population >= 30)
    spokes = 1 + (st.population[vil] >= 150) + (st.population[vil] >= 600)
    return town, int(spokes.sum() * 9)


def _polylines(rng, a, b, spacing_m):
    """Vertices of wiggly roads from a[i] to b[i], about `spacing_m` apart.

    Returns (xy of all vertices, offsets: road i has vertices offsets[i]..offsets[i+1]-1).
    """
    length = np.hypot(*(b - a).T)
    m = np.maximum(1, np.round(length / spacing_m).astype(np.int64))
    offsets = np.concatenate([[0], np.cumsum(m + 1)])
    road = np.repeat(np.arange(len(a)), m + 1)
    j = np.arange(offsets[-1]) - offsets[road]
    t = j / m[road]
    amp = np.minimum(rng.uniform(0.01, 0.04, len(a)) * length, 400.0)
    freq = rng.integers(1, 4, len(a))
    normal = np.column_stack([-(b - a)[:, 1], (b - a)[:, 0]]) / np.maximum(length, 1e-9)[:, None]
    w = amp[road] * np.sin(np.pi * freq[road] * t)
    xy = a[road] + t[:, None] * (b - a)[road] + w[:, None] * normal[road]
    return xy, offsets


def _write_rural(rng, osm: _Osm, st, junction, edges, level, kind, rivers, spacing_m, stubs):
    """Roads between settlements, forest stubs, and what happens where they cross rivers."""
    a, b = st.xy[edges[:, 0]], st.xy[edges[:, 1]]
    xy, off = _polylines(rng, a, b, spacing_m)
    m = np.diff(off) - 1
    ids = np.empty(len(xy), dtype=np.int64)
    ids[off[:-1]] = junction[edges[:, 0]]
    ids[off[1:] - 1] = junction[edges[:, 1]]
    interior = np.ones(len(xy), dtype=bool)
    interior[off[:-1]] = interior[off[1:] - 1] = False
    ids[interior] = osm.add_nodes(xy[interior])

    crossing = _river_crossings(a, b, rivers)  # edge -> t of the first crossing
    n_ferries = max(2, round(len(st.xy) / 1_500))
    minor_cross = [e for e in sorted(crossing) if kind[e] == 0 and level[e] == _UNCL]
    minor_cross = [minor_cross[i] for i in rng.permutation(len(minor_cross))]
    ferry = set(minor_cross[:n_ferries])
    bridged_minor = set(minor_cross[n_ferries : n_ferries + int(0.3 * len(minor_cross))])
    track_cross = [e for e in sorted(crossing) if kind[e] == 1]
    ice = set(track_cross[: max(1, len(track_cross) // 5)])
    counts = {"ferries": 0, "bridges": 0, "cut_at_rivers": 0, "ice_roads": 0}
    tags_of = _rural_tags(rng, level, kind)
    for e in range(len(edges)):
        nodes = ids[off[e] : off[e + 1]]
        tags = tags_of[e]
        if e not in crossing:
            osm.add_way(nodes, tags)
            continue
        i = min(max(1, round(crossing[e] * m[e])), m[e] - 1) if m[e] >= 2 else 1
        half = max(1, math.ceil(150.0 / max(spacing_m, 1.0)))
        lo, hi = max(0, i - half), min(m[e], i + half)
        if kind[e] == 0 and (level[e] > _UNCL or e in bridged_minor):
            parts = [
                (nodes[: lo + 1], tags),
                (nodes[lo : hi + 1], {**tags, "bridge": "yes", "layer": "1"}),
                (nodes[hi:], tags),
            ]
            counts["bridges"] += 1
        elif e in ferry:
            minutes = int(rng.integers(8, 35))
            fmt = ("00:%02d", "PT%dM", "%d")[counts["ferries"] % 3]
            ferry_tags = {"route": "ferry", "duration": fmt % minutes, "name": "Переправа"}
            parts = [(nodes[: lo + 1], tags), (nodes[lo : hi + 1], ferry_tags), (nodes[hi:], tags)]
            counts["ferries"] += 1
        elif e in ice:
            parts = [
                (nodes[: lo + 1], tags),
                (nodes[lo : hi + 1], {"highway": "track", "ice_road": "yes", "winter_road": "yes"}),
                (nodes[hi:], tags),
            ]
            counts["ice_roads"] += 1
        else:  # the road ends at each bank
            parts = [(nodes[: lo + 1], tags), (nodes[hi:], tags)]
            counts["cut_at_rivers"] += 1
        for part, t in parts:
            if len(part) >= 2:
                osm.add_way(part, t)
    _write_stubs(rng, osm, st, junction, stubs, spacing_m)
    return counts


def _river_crossings(a, b, rivers) -> dict[int, float]:
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    tree = shapely.STRtree(lines)
    out: dict[int, float] = {}
    for river in rivers:
        hit = tree.query(river, predicate="intersects")
        for e in sorted(hit.tolist()):
            if e in out:
                continue
            point = shapely.intersection(lines[e], river)
            p = np.asarray(shapely.get_coordinates(point))[0]
            seg = b[e] - a[e]
            out[e] = float(np.clip(np.dot(p - a[e], seg) / max(np.dot(seg, seg), 1e-9), 0, 1))
    return out


def _rural_tags(rng, level, kind) -> list[Tags]:
    r = rng.random((len(level), 4))
    out: list[Tags] = []
    surf_uncl = ("asphalt", "gravel", "gravel", "unpaved", "dirt", "asphalt", "compacted")
    grades = (
        "grade1",
        "grade2",
        "grade2",
        "grade3",
        "grade3",
        "grade3",
        "grade4",
        "grade4",
        "grade5",
    )
    track_surface = ("ground", "dirt", "gravel", "sand", "grass", "unpaved")
    for e in range(len(level)):
        if kind[e] == 1:
            tags = {"highway": "track", "tracktype": grades[int(r[e, 0] * len(grades))]}
            if r[e, 1] < 0.6:
                tags["surface"] = track_surface[int(r[e, 2] * len(track_surface))]
            out.append(tags)
            continue
        lv = int(level[e])
        tags = {"highway": _LEVEL_HIGHWAY[lv]}
        if lv >= _SEC:
            tags["surface"] = "asphalt"
            tags["ref"] = ("35Н-", "35К-", "Р-", "А-")[lv - _SEC] + str(100 + int(r[e, 3] * 900))
            if r[e, 0] < 0.08:
                tags["maxspeed"] = ("60", "70", "RU:urban", "90")[int(r[e, 1] * 4)]
        elif lv == _TERT:
            tags["surface"] = "asphalt" if r[e, 0] < 0.75 else "gravel"
        else:
            tags["surface"] = surf_uncl[int(r[e, 0] * len(surf_uncl))]
            if r[e, 1] < 0.05:
                tags["maxspeed"] = "40"
        out.append(tags)
    return out


def _write_stubs(rng, osm: _Osm, st, junction, stubs, spacing_m) -> None:
    origin, b = stubs
    if not len(origin):
        return
    a = st.xy[origin]
    xy, off = _polylines(rng, a, b, spacing_m)
    start = junction[origin]
    first = np.zeros(len(xy), dtype=bool)
    first[off[:-1]] = True
    ids = np.empty(len(xy), dtype=np.int64)
    ids[first] = start
    ids[~first] = osm.add_nodes(xy[~first])
    grades = np.array(["grade2", "grade3", "grade4", "grade5"])
    g = grades[rng.integers(0, 4, len(a))]
    for i in range(len(a)):
        osm.add_way(ids[off[i] : off[i + 1]], {"highway": "track", "tracktype": str(g[i])})


def _write_towns(rng, osm: _Osm, st: _Settlements, junction) -> None:
    """A street grid per town, 150 m blocks, alternate rows one-way; the centre is the junction."""
    towns = np.flatnonzero(st.is_town)
    for t, g in zip(towns.tolist(), _grid_size(st.population[towns]).tolist(), strict=True):
        f = 2 * g - 1
        r, c = np.divmod(np.arange(f * f), f)
        used = (r % 2 == 0) | (c % 2 == 0)
        centre = (g - 1) * f + (g - 1)
        grid = np.full(f * f, -1, dtype=np.int64)
        new = used.copy()
        new[centre] = False
        xy = st.xy[t] + np.column_stack([(c - (g - 1)) * 75.0, (r - (g - 1)) * 75.0])
        grid[new] = osm.add_nodes(xy[new])
        grid[centre] = junction[t]
        grid = grid.reshape(f, f)
        street_names = _names(rng, 2 * g, prefix_share=0.0)
        for k in range(g):
            line = 2 * k
            main = line == g - 1
            hw = "tertiary" if main else "residential"
            row_tags: Tags = {
                "highway": hw,
                "name": f"улица {street_names[k]}",
                "surface": "asphalt",
            }
            row = grid[line, :]
            if not main and k % 2 == 1:
                row_tags["oneway"] = "yes"
                row = row[::-1] if k % 4 == 3 else row
            osm.add_way(row, row_tags)
            col_tags: Tags = {
                "highway": hw,
                "name": f"проспект {street_names[g + k]}",
                "surface": "asphalt",
            }
            osm.add_way(grid[:, line], col_tags)


def _write_village_streets(rng, osm: _Osm, st: _Settlements, junction) -> None:
    """One to three dead-end streets from each village's junction, nodes every 50 m."""
    vil = np.flatnonzero((~st.is_town) & st.connected & (st.population >= 30))
    n_spokes = 1 + (st.population[vil] >= 150) + (st.population[vil] >= 600)
    origin = np.repeat(vil, n_spokes)
    length = rng.uniform(200.0, 700.0, len(origin))
    ang = rng.uniform(0, 2 * np.pi, len(origin))
    m = np.maximum(1, np.round(length / 50.0).astype(np.int64))
    off = np.concatenate([[0], np.cumsum(m)])
    spoke = np.repeat(np.arange(len(origin)), m)
    j = np.arange(off[-1]) - off[spoke] + 1
    step = (length / m)[spoke] * j
    xy = st.xy[origin[spoke]] + step[:, None] * np.column_stack(
        [np.cos(ang[spoke]), np.sin(ang[spoke])]
    )
    ids = osm.add_nodes(xy)
    unpaved = rng.random(len(origin)) < 0.5
    for i in range(len(origin)):
        tags: Tags = {"highway": "residential"}
        if unpaved[i]:
            tags["surface"] = "unpaved"
        osm.add_way(np.concatenate([[junction[origin[i]]], ids[off[i] : off[i + 1]]]), tags)


def _write_places(osm: _Osm, st: _Settlements) -> np.ndarray:
    ids = osm.add_nodes(st.place_xy)
    for i, nid in enumerate(ids.tolist()):
        tags = {"place": str(st.place[i]), "name": st.name[i]}
        if st.is_town[i]:
            tags["name:ru"] = st.name[i]
        if st.pop_tagged[i]:
            tags["population"] = str(int(st.population[i]))
        osm.node_tags[nid] = tags
    return ids


def _write_rivers(rng, osm: _Osm, rivers) -> None:
    names = _names(rng, len(rivers), prefix_share=0.0)
    for river, name in zip(rivers, names, strict=True):
        ids = osm.add_nodes(shapely.get_coordinates(river))
        osm.add_way(ids, {"waterway": "river", "name": f"река {name}"})


def _ring(osm: _Osm, x0, y0, x1, y1, step_m: float = 5_000.0) -> int:
    """A closed way around a rectangle (projected), vertices every `step_m`."""
    nx, ny = max(1, math.ceil((x1 - x0) / step_m)), max(1, math.ceil((y1 - y0) / step_m))
    bottom = np.column_stack([np.linspace(x0, x1, nx + 1)[:-1], np.full(nx, y0)])
    right = np.column_stack([np.full(ny, x1), np.linspace(y0, y1, ny + 1)[:-1]])
    top = np.column_stack([np.linspace(x1, x0, nx + 1)[:-1], np.full(nx, y1)])
    left = np.column_stack([np.full(ny, x0), np.linspace(y1, y0, ny + 1)[:-1]])
    ids = osm.add_nodes(np.vstack([bottom, right, top, left]))
    return osm.add_way(np.concatenate([ids, ids[:1]]), {})


def _write_boundaries(rng, osm: _Osm, st: _Settlements, place_ids, spec: Size, bounds, size: str):
    """The region (relation 1, admin_level 4) and a grid of districts (admin_level 6)."""
    x0, y0, x1, y1 = bounds
    outer = _ring(osm, x0, y0, x1, y1)
    osm.relations.append(
        (
            1,
            [("w", outer, "outer")],
            {
                "type": "boundary",
                "boundary": "administrative",
                "admin_level": "4",
                "name": f"Синтетическая область ({size})",
                "name:en": f"Synthetic region ({size})",
            },
        )
    )
    nx, ny = spec.districts
    xs, ys = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    names = _unique_names(rng, nx * ny, set())
    towns = np.flatnonzero(st.is_town)
    for k in range(nx * ny):
        i, j = k % nx, k // nx
        ring = _ring(osm, xs[i], ys[j], xs[i + 1], ys[j + 1])
        members = [("w", ring, "outer")]
        inside = towns[
            (st.xy[towns, 0] >= xs[i])
            & (st.xy[towns, 0] < xs[i + 1])
            & (st.xy[towns, 1] >= ys[j])
            & (st.xy[towns, 1] < ys[j + 1])
        ]
        if len(inside):
            centre = inside[np.argmax(st.population[inside])]
            members.append(("n", int(place_ids[centre]), "admin_centre"))
        osm.relations.append(
            (
                2 + k,
                members,
                {
                    "type": "boundary",
                    "boundary": "administrative",
                    "admin_level": "6",
                    "name": f"{names[k]} район",
                },
            )
        )
    anchors = [st.name[i] for i in towns]
    order = towns[np.argsort(-st.population[towns], kind="stable")]
    cores = [st.name[i] for i in order[: 2 if len(st.xy) >= 2_000 else 1]]
    return names, anchors, cores


def _write_pbf(osm: _Osm, path: Path) -> None:
    """Write every object in id order with pyosmium (nodes, then ways, then relations)."""
    to_lonlat = Transformer.from_crs(CRS_PROJ, "EPSG:4326", always_xy=True)
    xy = osm.xy()
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    lon, lat = np.round(lon, 7).tolist(), np.round(lat, 7).tolist()
    path.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(path))
    node, way, rel = osmium.osm.mutable.Node, osmium.osm.mutable.Way, osmium.osm.mutable.Relation
    try:
        tags = osm.node_tags
        for i in range(osm.n_nodes):
            t = tags.get(i + 1)
            if t is None:
                writer.add_node(node(id=i + 1, location=(lon[i], lat[i])))
            else:
                writer.add_node(node(id=i + 1, location=(lon[i], lat[i]), tags=t))
        for wid, (nodes, t) in enumerate(osm.ways, start=1):
            writer.add_way(way(id=wid, nodes=nodes.tolist(), tags=t))
        for rid, members, t in osm.relations:
            writer.add_relation(rel(id=rid, members=members, tags=t))
    finally:
        writer.close()


def _write_region_file(path: Path, name: str, size: str, seed: int, anchors, cores) -> None:
    quoted = ", ".join(json.dumps(a, ensure_ascii=False) for a in anchors)
    text = f"""# A SYNTHETIC region written by bench/generator.py (size {size}, seed {seed}): not real OSM data.
name = "{name}"
display_name = "Синтетическая область ({size})"
language = "ru"
crs = "{CRS_PROJ}"

[source]
local_pbf = "{name}.osm.pbf"

[boundary]
relation_id = 1
admin_level = 4
district_admin_level = 6

[anchors]
names = [{quoted}]

[cores]
names = [{", ".join(json.dumps(c, ensure_ascii=False) for c in cores)}]
"""
    path.write_text(text, encoding="utf-8")


def _stats(osm: _Osm, st: _Settlements, road_nodes: int, counts, spec, size, seed, spacing_m):
    xy = osm.xy()
    by_class: dict[str, dict[str, float]] = {}
    road_vertex = np.zeros(osm.n_nodes + 1, dtype=bool)
    oneway = 0
    for nodes, tags in osm.ways:
        hw = tags.get("highway") or ("ferry" if tags.get("route") == "ferry" else None)
        if hw is None:
            continue
        p = xy[nodes - 1]
        km = float(np.hypot(*np.diff(p, axis=0).T).sum()) / 1e3
        row = by_class.setdefault(hw, {"ways": 0, "km": 0.0})
        row["ways"] += 1
        row["km"] += km
        road_vertex[nodes] = True
        oneway += tags.get("oneway") == "yes"
    total_km = sum(r["km"] for r in by_class.values())
    for row in by_class.values():
        row["km"] = round(row["km"], 1)
        row["share_km"] = round(row["km"] / total_km, 3)
    road_xy = xy[np.flatnonzero(road_vertex[1:])]
    off = ~st.connected
    off_km = cKDTree(road_xy).query(st.place_xy[off])[0] / 1e3 if off.any() else np.array([])
    places, n_places = np.unique(st.place.astype(str), return_counts=True)
    return {
        "size": size,
        "seed": seed,
        "area_km2": spec.area_km2,
        "road_nodes": int(road_vertex.sum()),
        "road_nodes_target": spec.road_nodes,
        "vertex_spacing_m": round(spacing_m, 1),
        "settlements": len(st.xy),
        "settlements_by_place": dict(zip(places.tolist(), n_places.tolist(), strict=True)),
        "population_untagged": int((~st.pop_tagged).sum()),
        "villages_off_road": int(off.sum()),
        "off_road_km_min_max": [round(float(off_km.min()), 2), round(float(off_km.max()), 2)]
        if len(off_km)
        else [],
        "oneway_ways": int(oneway),
        "ways_by_highway": dict(sorted(by_class.items())),
        **counts,
        "nodes_written": osm.n_nodes,
        "ways_written": len(osm.ways),
        "relations_written": len(osm.relations),
        "road_node_ids_allocated": road_nodes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generator", description=__doc__.splitlines()[0]
    )
    parser.add_argument("size", choices=list(SIZES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="folder (default bench/out/<size>)")
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent / "out" / args.size
    stats = generate(args.size, out, seed=args.seed)
    print(json.dumps(stats, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
