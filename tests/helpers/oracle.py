"""An independent test oracle for the travel-time rule (definition, issue 11).

It is built from the written definition only (README "How times are computed" and the rule of
issue 11) and shares no code with the pipeline's routing: road geometry and tags go in, seconds
come out. The rule: planar geometry in the region's projected CRS; a segment u–v of a way costs
t = geodesic (WGS84) length / way speed in each direction the way allows, and a fraction f of
its planar length costs f·t. A point P walks (v_w = offroad_speed_kph) at most R = snap_max_m to
*any* point X of a joinable segment (every driveable segment but ferries and
highway=motorway/motorway_link), drives to any joinable point Y with |YA| ≤ R and walks to the
source A; or walks straight to a source within R. The minimum over all of that.

How the oracle computes it
--------------------------
* Every joinable segment is cut into n = ceil(planar length / step) equal pieces; the n − 1 cut
  points and both ends are the *join points*, each piece costs t / n. Motorways are edges
  between their vertices without join points (entered at junctions only); a ferry way is one
  edge between its end vertices. Vertices are shared between ways by their coordinates at OSM
  precision (1e-7°).
* Ferries: every ferry end vertex n has a copy n' "on board". n → n' costs the wait
  (ferry_wait_min), n' → n is free, ferry ways run between copies, so a crossing made of
  several ferry ways that meet end to end pays one wait.
* Each source A is a graph node; every join point X with |XA| ≤ R gets a walking edge X → A of
  |XA| / v_w. One multi-source Dijkstra (networkx, on the reversed graph) gives D(X), seconds
  from every join point to its nearest source (`t_strict`), and which source that is.
* time(P) = min( min over join points X with |PX| ≤ R of |PX| / v_w + D(X),
                 min over sources A with |PA| ≤ R of |PA| / v_w ), by brute force over the join
  points within R (a KD-tree only finds the candidates).

Error bound (the test tolerance)
--------------------------------
Let T be the rule's true minimum. Every oracle journey is a journey of the rule, so T ≤ O (the
strict oracle above). The rule's best walking points X*, Y* lie on pieces at most `step` long;
moving X* to the end of its piece *ahead* in the driving direction and Y* to the end of its
piece *behind* only shortens the drive and lengthens each walk by at most `step` (2·step in all
when X*, Y* share a piece). That is the usual "≈ step/2 per walking leg / v_w, plus as much
along the road", bounded without the ≈. So a *relaxed* oracle O⁺, the same but with walking
legs to and from join points allowed up to R + step, satisfies O⁺ − 2·step / v_w ≤ T ≤ O:
``tolerance_s`` = 2·step / v_w (step 1 m at 5 km/h: 1.44 s; 5 m: 7.2 s). Tests check
``relaxed − tolerance_s ≤ pipeline ≤ strict + FLOAT_NOISE_S``; where O is unreachable but O⁺
is not (a point R ± step from the nearest road) the pipeline may say either. Walking straight
to a source is exact. Candidate join points are pruned by a bound that provably drops none the
minimum needs (checked against plain brute force in tests/test_oracle.py).

Limits: ferries are two-way and always run (no navigation months, no seasons); winter and ice
roads are dropped when the default season closes them; speeds come from the caller.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from scipy.spatial import cKDTree

__all__ = [
    "FLOAT_NOISE_S",
    "NON_JOINABLE_HIGHWAYS",
    "ONEWAY_BACKWARD",
    "ONEWAY_FORWARD",
    "Oracle",
    "PointTimes",
    "Way",
    "cell_centres",
    "directions",
    "parse_duration_s",
    "way_length_m",
    "ways_from_run",
]

GEOD = Geod(ellps="WGS84")
NON_JOINABLE_HIGHWAYS = frozenset({"motorway", "motorway_link"})
ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
FLOAT_NOISE_S = 0.06  # the pipeline's 1 ms minimum edges, float32 rasters: far below a second


@dataclass(frozen=True)
class Way:
    """One driveable OSM way, as the oracle needs it.

    lonlat : (n, 2) vertices, degrees (EPSG:4326), in the way's order.
    kind : "road" (joinable), "motorway" (driven, not joinable) or "ferry".
    speed_kph : the way's speed (roads and motorways).
    forward, backward : directions a car may drive, relative to the vertex order.
    ferry_s : a ferry way's sailing time in seconds, without the wait.
    """

    lonlat: np.ndarray
    kind: str = "road"
    speed_kph: float = math.nan
    forward: bool = True
    backward: bool = True
    ferry_s: float = math.nan
    osm_id: int = 0

    def __post_init__(self):
        if self.kind not in ("road", "motorway", "ferry"):
            raise ValueError(f"unknown way kind {self.kind!r}")
        if self.kind != "ferry" and not (self.speed_kph > 0):
            raise ValueError(f"way {self.osm_id}: speed {self.speed_kph!r} km/h")
        if self.kind == "ferry" and not (self.ferry_s >= 0):
            raise ValueError(f"ferry {self.osm_id}: sailing time {self.ferry_s!r} s")


def directions(tags: dict) -> tuple[bool, bool]:
    """(forward, backward) a car may drive, from OSM tags as the README states them: oneway=
    yes/true/1 forward only, -1/reverse backward only; roundabouts (junction=roundabout, and
    junction=circular, which OSM defines the same way) and motorways are one-way forward unless
    oneway=no. Ferries run both ways."""
    if tags.get("route") == "ferry" or _truthy(tags.get("ferry")):
        return True, True
    oneway = str(tags.get("oneway") or "").strip().lower()
    if oneway in ONEWAY_BACKWARD:
        return False, True
    implied = tags.get("junction") in ("roundabout", "circular") or tags.get("highway") == (
        "motorway"
    )
    if oneway in ONEWAY_FORWARD or (implied and oneway != "no"):
        return True, False
    return True, True


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "1")
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def parse_duration_s(value) -> float:
    """OSM duration=* (HH:MM, HH:MM:SS, minutes, ISO 8601 PT…) in seconds; NaN if absent."""
    if not isinstance(value, str) or not value.strip():
        return math.nan
    value = value.strip()
    if m := re.fullmatch(r"(\d+):(\d\d)(?::(\d\d))?", value):
        return int(m[1]) * 3600.0 + int(m[2]) * 60.0 + int(m[3] or 0)
    if m := re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", value.upper()):
        return int(m[1] or 0) * 3600.0 + int(m[2] or 0) * 60.0 + int(m[3] or 0)
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value) * 60.0
    return math.nan


def way_length_m(lonlat: np.ndarray) -> float:
    """Geodesic length of a polyline, metres."""
    return float(np.sum(_geodesic_m(lonlat[:-1], lonlat[1:])))


def _geodesic_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2])


@dataclass
class PointTimes:
    """Seconds from points to the nearest source: `strict` (the oracle, an upper bound of the
    rule), `relaxed` (walking legs to join points up to R + step: a lower bound once
    `tolerance_s` is taken off), `source` (index of the strict nearest source, −1 if none)."""

    strict: np.ndarray
    relaxed: np.ndarray
    source: np.ndarray


@dataclass
class _Network:
    """The densified network: travel edges u → v (seconds) and the join points."""

    n_nodes: int
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    join_node: np.ndarray  # graph node of each join point
    join_xy: np.ndarray  # (m, 2) planar
    segments: np.ndarray  # joinable segments as shapely LineStrings (for road distance)


class Oracle:
    """Times to the nearest of `sources_xy` (region CRS metres) by the definition; see the module.

    Parameters
    ----------
    ways : the driveable ways.
    sources_xy : (k, 2) source points in `crs`.
    crs : the region's projected CRS.
    snap_max_m : R, the longest walking leg.
    walk_kph : v_w.
    ferry_wait_min : added once per ferry crossing.
    step_m : join-point spacing; the tolerance is 2·step / v_w.
    """

    def __init__(
        self,
        ways: Iterable[Way],
        sources_xy: np.ndarray,
        *,
        crs,
        snap_max_m: float,
        walk_kph: float,
        ferry_wait_min: float,
        step_m: float = 5.0,
    ):
        self.crs = CRS.from_user_input(crs)
        self.ways = list(ways)
        self.sources_xy = np.asarray(sources_xy, dtype=float).reshape(-1, 2)
        self.R = float(snap_max_m)
        self.far = self.R + float(step_m)  # the relaxed walking reach
        self.v_w = walk_kph / 3.6
        self.wait_s = ferry_wait_min * 60.0
        self.step = float(step_m)
        self.tolerance_s = 2.0 * self.step / self.v_w
        self._to_xy = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        self.net = self._densify()
        self._source_node = self.net.n_nodes + np.arange(len(self.sources_xy))
        self._join_tree = cKDTree(self.net.join_xy) if len(self.net.join_xy) else None
        self._graph = self._reversed_graph()
        self._per_source: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.t_strict, self.label = self._nearest_source(strict=True)
        self.t_relaxed, _ = self._nearest_source(strict=False)

    # --- the densified network --------------------------------------------------------------

    def project(self, lonlat: np.ndarray) -> np.ndarray:
        lonlat = np.asarray(lonlat, dtype=float).reshape(-1, 2)
        x, y = self._to_xy.transform(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([x, y])

    def _densify(self) -> _Network:
        ways = self.ways
        if not ways:
            empty = np.zeros(0, dtype=np.int64)
            return _Network(0, empty, empty, np.zeros(0), empty, np.zeros((0, 2)), np.zeros(0))
        lonlat = np.round(np.concatenate([np.asarray(w.lonlat, float) for w in ways]), 7)
        way_of = np.repeat(np.arange(len(ways)), [len(w.lonlat) for w in ways])
        xy = self.project(lonlat)
        # a vertex is a coordinate at OSM precision, shared by every way through it
        key = np.rint(lonlat * 1e7).astype(np.int64)
        _, first, vid = np.unique(key, axis=0, return_index=True, return_inverse=True)
        vid = vid.ravel()
        n_vertex = len(first)
        vertex_xy = xy[first]

        kind = np.array([w.kind for w in ways])
        speed_mps = np.array([w.speed_kph for w in ways]) / 3.6
        fwd_way = np.array([w.forward for w in ways])
        bwd_way = np.array([w.backward for w in ways])

        i = np.flatnonzero(way_of[:-1] == way_of[1:])
        i = i[vid[i] != vid[i + 1]]
        sw = way_of[i]
        driven = kind[sw] != "ferry"
        i, sw = i[driven], sw[driven]
        a, b = vid[i], vid[i + 1]
        seconds = _geodesic_m(lonlat[i], lonlat[i + 1]) / speed_mps[sw]
        fwd, bwd = fwd_way[sw], bwd_way[sw]
        road = kind[sw] == "road"

        us, vs, ws = [], [], []

        def add(p, q, t, f, r):
            us.extend([p[f], q[r]])
            vs.extend([q[f], p[r]])
            ws.extend([t[f], t[r]])

        # motorways: one edge per segment, no join points
        m = ~road
        add(a[m], b[m], seconds[m], fwd[m], bwd[m])

        # joinable segments: n equal pieces, n − 1 cut points
        ra, rb, rt, rf, rr = a[road], b[road], seconds[road], fwd[road], bwd[road]
        pa, pb = xy[i[road]], xy[i[road] + 1]
        n = np.maximum(1, np.ceil(np.hypot(*(pb - pa).T) / self.step).astype(np.int64))
        cut_start = n_vertex + np.concatenate([[0], np.cumsum(n - 1)[:-1]])
        cut_seg = np.repeat(np.arange(len(n)), n - 1)
        cut_k = np.arange(len(cut_seg)) - np.repeat(cut_start - n_vertex, n - 1) + 1
        frac = (cut_k / n[cut_seg])[:, None]
        cut_xy = pa[cut_seg] + (pb[cut_seg] - pa[cut_seg]) * frac
        piece_seg = np.repeat(np.arange(len(n)), n)
        k = np.arange(len(piece_seg)) - np.repeat(np.concatenate([[0], np.cumsum(n)[:-1]]), n)
        last = k == n[piece_seg] - 1
        start = np.where(k == 0, ra[piece_seg], cut_start[piece_seg] + k - 1)
        end = np.where(last, rb[piece_seg], cut_start[piece_seg] + k)
        add(start, end, rt[piece_seg] / n[piece_seg], rf[piece_seg], rr[piece_seg])
        n_nodes = n_vertex + len(cut_xy)

        # ferries: an "on board" copy of each ferry end vertex; boarding costs the wait, once
        board: dict[int, int] = {}
        fu, fv, fw = [], [], []
        for w_i in np.flatnonzero(kind == "ferry"):
            idx = np.flatnonzero(way_of == w_i)
            ends = int(vid[idx[0]]), int(vid[idx[-1]])
            if ends[0] == ends[1]:
                continue
            for e in ends:
                if e not in board:
                    board[e] = n_nodes
                    n_nodes += 1
                    fu += [e, board[e]]
                    fv += [board[e], e]
                    fw += [self.wait_s, 0.0]
            sail = ways[w_i].ferry_s
            fu += [board[ends[0]], board[ends[1]]]
            fv += [board[ends[1]], board[ends[0]]]
            fw += [sail, sail]
        us.append(np.array(fu, dtype=np.int64))
        vs.append(np.array(fv, dtype=np.int64))
        ws.append(np.array(fw, dtype=float))

        join_vertex = np.unique(np.concatenate([ra, rb]))
        return _Network(
            n_nodes=n_nodes,
            u=np.concatenate(us).astype(np.int64),
            v=np.concatenate(vs).astype(np.int64),
            w=np.concatenate(ws).astype(float),
            join_node=np.concatenate([join_vertex, n_vertex + np.arange(len(cut_xy))]),
            join_xy=np.concatenate([vertex_xy[join_vertex], cut_xy]).reshape(-1, 2),
            segments=shapely.linestrings(np.stack([pa, pb], axis=1)),
        )

    # --- shortest times from join points to the sources -------------------------------------

    def _reversed_graph(self) -> nx.DiGraph:
        """Edges v → u for every travel edge u → v (parallel ones: the fastest), plus walking
        edges source → X for every join point X within the relaxed reach of the source (those
        beyond R marked `far`, left out of strict runs)."""
        net = self.net
        u, v, w = [net.v], [net.u], [net.w]
        far_u, far_v, far_w = [], [], []
        for k, s in enumerate(self.sources_xy):
            if self._join_tree is None:
                break
            idx = np.array(self._join_tree.query_ball_point(s, self.far), dtype=np.int64)
            d = np.hypot(*(net.join_xy[idx] - s).T) if len(idx) else np.zeros(0)
            near = d <= self.R
            u.append(np.full(near.sum(), self._source_node[k]))
            v.append(net.join_node[idx[near]])
            w.append(d[near] / self.v_w)
            far = ~near & (d <= self.far)
            far_u += np.full(far.sum(), self._source_node[k]).tolist()
            far_v += net.join_node[idx[far]].tolist()
            far_w += (d[far] / self.v_w).tolist()
        u, v, w = np.concatenate(u), np.concatenate(v), np.concatenate(w)
        order = np.lexsort((w, v, u))  # the fastest of parallel edges comes first
        u, v, w = u[order], v[order], w[order]
        first = np.ones(len(u), dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        g = nx.DiGraph()
        g.add_nodes_from(range(self.net.n_nodes + len(self.sources_xy)))
        g.add_weighted_edges_from(
            zip(u[first].tolist(), v[first].tolist(), w[first].tolist(), strict=True)
        )
        # join points R < d <= R + step from a source: only for relaxed runs (never parallel to
        # a strict edge: a source has one edge to each join point)
        g.add_edges_from(
            (p, q, {"weight": t, "far": True}) for p, q, t in zip(far_u, far_v, far_w, strict=True)
        )
        return g

    @staticmethod
    def _weight(strict: bool):
        if strict:
            return lambda _u, _v, d: None if d.get("far") else d["weight"]
        return "weight"

    def _nearest_source(self, strict: bool) -> tuple[np.ndarray, np.ndarray]:
        """(D, index of the nearest source) at every join point; one multi-source Dijkstra."""
        g = self._graph
        root = -1
        g.add_edges_from((root, int(s), {"weight": 0.0}) for s in self._source_node)
        try:
            pred, dist = nx.dijkstra_predecessor_and_distance(g, root, weight=self._weight(strict))
        finally:
            g.remove_node(root)
        label = {int(s): k for k, s in enumerate(self._source_node)}
        for node in sorted(dist, key=dist.__getitem__):
            if node not in label and node != root:
                label[node] = label[pred[node][0]]
        nodes = self.net.join_node.tolist()
        t = np.array([dist.get(n, np.inf) for n in nodes], dtype=float)
        return t, np.array([label.get(n, -1) for n in nodes], dtype=np.int64)

    def _source_t(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(strict, relaxed) D from every join point to source k alone (cached)."""
        if k not in self._per_source:
            nodes = self.net.join_node.tolist()
            out = []
            for strict in (True, False):
                dist = nx.single_source_dijkstra_path_length(
                    self._graph, int(self._source_node[k]), weight=self._weight(strict)
                )
                out.append(np.array([dist.get(n, np.inf) for n in nodes], dtype=float))
            self._per_source[k] = (out[0], out[1])
        return self._per_source[k]

    # --- points ------------------------------------------------------------------------------

    def times(self, xy: np.ndarray) -> PointTimes:
        """Seconds from each point (region CRS) to its nearest source."""
        return self._times(xy, self.t_strict, self.t_relaxed, self.label, None)

    def times_to(self, xy: np.ndarray, k: int) -> PointTimes:
        """Seconds from each point to source k alone."""
        strict, relaxed = self._source_t(k)
        return self._times(xy, strict, relaxed, np.full(len(strict), k), k)

    def _times(self, xy, t_s, t_r, label, only, tile_m: float = 1000.0) -> PointTimes:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        n = len(xy)
        strict = np.full(n, np.inf)
        source = np.full(n, -1, dtype=np.int64)
        # (a) straight to a source within R
        src = np.arange(len(self.sources_xy)) if only is None else np.array([only])
        if len(src) and n:
            d = np.hypot(
                xy[:, None, 0] - self.sources_xy[None, src, 0],
                xy[:, None, 1] - self.sources_xy[None, src, 1],
            )
            walk = np.where(d <= self.R, d / self.v_w, np.inf)
            best = np.argmin(walk, axis=1)
            strict = walk[np.arange(n), best]
            source = np.where(np.isfinite(strict), src[best], -1)
        relaxed = strict.copy()
        # (b) walk to a join point X, drive, walk to the source: brute force over every X
        # within reach (a KD-tree finds the candidates)
        reach = np.isfinite(t_r)
        if self._join_tree is None or not reach.any() or not n:
            return PointTimes(strict, relaxed, source)
        jxy, ts, tr, lab = self.net.join_xy[reach], t_s[reach], t_r[reach], label[reach]
        tree = cKDTree(jxy)
        # An upper bound of each point's time (a few nearest join points): a candidate X can
        # only matter to a tile if D(X) + (its distance to the tile) / v_w is below the tile's
        # largest bound (+1 ms for rounding). This prunes nothing the minimum needs
        # (|PX| >= that distance).
        dk, ik = tree.query(xy, k=min(8, len(jxy)), distance_upper_bound=self.R)
        dk, ik = dk.reshape(n, -1), ik.reshape(n, -1)
        ok = ik < len(jxy)
        bound = np.where(ok, dk / self.v_w + ts[np.where(ok, ik, 0)], np.inf).min(axis=1)
        bound = np.minimum(bound, strict)
        tile = np.floor(xy / tile_m).astype(np.int64)
        _, tile_of = np.unique(tile, axis=0, return_inverse=True)
        tile_of = tile_of.ravel()
        order = np.argsort(tile_of, kind="stable")
        splits = np.flatnonzero(np.diff(tile_of[order])) + 1
        for rows in np.split(order, splits):
            pts = xy[rows]
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            centre, half = (lo + hi) / 2, float(np.hypot(*(hi - lo))) / 2
            cand = np.array(tree.query_ball_point(centre, self.far + half + 1e-6), np.int64)
            if not len(cand):
                continue
            gap = np.hypot(*np.maximum(np.maximum(lo - jxy[cand], jxy[cand] - hi), 0).T)
            cand = cand[(gap <= self.far) & (tr[cand] + gap / self.v_w <= bound[rows].max() + 1e-3)]
            if not len(cand):
                continue
            d = np.hypot(pts[:, None, 0] - jxy[None, cand, 0], pts[:, None, 1] - jxy[None, cand, 1])
            walk = d / self.v_w
            via_s = np.where(d <= self.R, walk + ts[None, cand], np.inf)
            best = np.argmin(via_s, axis=1)
            s_best = via_s[np.arange(len(rows)), best]
            better = s_best < strict[rows]
            strict[rows[better]] = s_best[better]
            source[rows[better]] = lab[cand[best[better]]]
            via_r = np.where(d <= self.far, walk + tr[None, cand], np.inf).min(axis=1)
            relaxed[rows] = np.minimum(relaxed[rows], via_r)
        return PointTimes(strict, relaxed, source)

    def road_distance_m(self, xy: np.ndarray) -> np.ndarray:
        """Planar distance from each point to the nearest point of a joinable segment (exact)."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if not len(self.net.segments):
            return np.full(len(xy), np.inf)
        tree = shapely.STRtree(self.net.segments)
        _, dist = tree.query_nearest(shapely.points(xy), return_distance=True, all_matches=False)
        return np.asarray(dist, dtype=float)


def cell_centres(transform, shape: tuple[int, int]) -> np.ndarray:
    """Cell-centre coordinates of a raster (rows × cols), row-major, as (n, 2)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    x = transform.c + transform.a * (cols + 0.5) + transform.b * (rows + 0.5)
    y = transform.f + transform.d * (cols + 0.5) + transform.e * (rows + 0.5)
    return np.column_stack([x.ravel(), y.ravel()])


def ways_from_run(cfg, paths) -> list[Way]:
    """The ways a finished run drove on: the `roads` layer of the result GeoPackage (which ways,
    and each way's speed_kph: the speed profile is tested elsewhere) with the extract's tags
    (oneway, junction, duration) and its EPSG:4326 geometry (the same vertices)."""
    import geopandas as gpd

    used = gpd.read_file(paths.gpkg(cfg.name), layer="roads", ignore_geometry=True)
    tags = gpd.read_file(paths.osm_gpkg, layer="roads").set_index("osm_id")
    _, season = cfg.season(None)
    ways = []
    for row in used.itertuples(index=False):
        t = tags.loc[row.osm_id]
        lonlat = shapely.get_coordinates(t.geometry)
        raw = {k: (None if _missing(t[k]) else t[k]) for k in ("oneway", "junction", "highway")}
        is_ferry = _truthy(row.ferry)
        winter = _truthy(t.get("winter_road")) or _truthy(t.get("ice_road"))
        if winter and not is_ferry and not season.winter_roads:
            continue
        forward, backward = directions({**raw, "ferry": is_ferry})
        if is_ferry:
            sail = parse_duration_s(t.get("duration"))
            if not math.isfinite(sail):
                sail = way_length_m(lonlat) / (cfg.network.ferry_speed_kph / 3.6)
            ways.append(Way(lonlat, "ferry", ferry_s=sail, osm_id=int(row.osm_id)))
            continue
        kind = "motorway" if raw["highway"] in NON_JOINABLE_HIGHWAYS else "road"
        ways.append(
            Way(lonlat, kind, float(row.speed_kph), forward, backward, osm_id=int(row.osm_id))
        )
    return ways


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
