"""Valhalla against our times: every Andorra settlement to its nearest anchor.

An engine no one here wrote checks the routing core on real roads. One file, two sides:

* the **comparison** (the project's ``.venv``; ``python -m bench.valhalla``) runs
  ``python -m pipeline all --region andorra`` with ``PIPELINE_ROOT=bench/out/valhalla-andorra``,
  hands every settlement and anchor (lon/lat) to the engine side, compares both answers per
  settlement and writes ``bench/out/valhalla/andorra.json``;
* the **engine** (``bench/out/valhalla-venv``: Python 3.12, pyvalhalla pinned in
  ``bench/requirements-valhalla.txt``; ``python bench/valhalla.py engine …``; stdlib and
  ``valhalla`` only) builds Valhalla tiles from the region's PBF (once per PBF and pyvalhalla
  version), asks the ``sources_to_targets`` matrix with ``auto`` costing, snaps every point
  (``locate``) and routes each settlement to both engines' nearest anchors with the attributes
  of every edge driven (``route`` + ``trace_attributes``), for the diagnosis.

The venv is made on first use from ``bench/requirements-valhalla.txt`` with a Python 3.12 found
as ``$VALHALLA_PYTHON``, ``python3.12`` on the PATH or ``~/.pyenv/versions/3.12*``.

Usage::

    python -m bench.run --sizes valhalla     # `make bench-valhalla`: + results.json, README.md
    python -m bench.valhalla                 # this part alone: andorra.json, figures printed
    python -m bench.valhalla --rev HEAD      # the pipeline/ of a commit, not the work tree's
    python -m bench.valhalla --no-pipeline   # reuse the results in bench/out/valhalla-andorra
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
REGION = "andorra"
ROOT = BENCH / "out" / "valhalla-andorra"  # PIPELINE_ROOT of the pipeline's run
WORK = BENCH / "out" / "valhalla"  # tiles, the engine's answers, andorra.json
VENV = BENCH / "out" / "valhalla-venv"
REQUIREMENTS = BENCH / "requirements-valhalla.txt"
TARGET_SAME_ANCHOR = 0.99  # share of settlements with the same nearest anchor in both engines
TOP = 5  # largest differences diagnosed
ANCHOR_NODES = 8  # road nodes an anchor was joined to by the old nearest-node rule (rev= only)
UTURN_MANEUVERS = (12, 13)  # Valhalla's maneuver types kUturnRight, kUturnLeft
EDGE_ATTRIBUTES = [
    "edge.way_id",
    "edge.use",
    "edge.road_class",
    "edge.surface",
    "edge.speed",
    "edge.length",
]

__all__ = ["compare", "ensure_venv", "render_markdown", "run"]


# --- the engine side: Python 3.12, stdlib and valhalla only ---------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tiles(valhalla, pbf: Path, work: Path) -> tuple[Path, float | None]:
    """Valhalla's config (quiet) and tiles for `pbf`, built again when it or pyvalhalla changes."""
    tiles, stamp_file = work / "tiles", work / "tiles.json"
    config_path, build_config = work / "valhalla.json", work / "valhalla-build.json"
    stamp = {"pbf": pbf.name, "pbf_sha256": _sha256(pbf), "pyvalhalla": valhalla.__version__}
    if (
        stamp_file.is_file()
        and config_path.is_file()
        and json.loads(stamp_file.read_text(encoding="utf-8")) == stamp
    ):
        return config_path, None
    shutil.rmtree(tiles, ignore_errors=True)
    tiles.mkdir(parents=True)
    # valhalla_build_config's defaults, as pyvalhalla gives them; no admin, time-zone, traffic,
    # landmark or transit databases here (left empty: Valhalla's defaults, right-hand traffic).
    config = valhalla.get_config(tile_extract="", tile_dir=tiles, verbose=True)
    for key in ("admin", "timezone", "traffic_extract", "landmarks", "transit_dir"):
        if key in config["mjolnir"]:
            config["mjolnir"][key] = ""
    build_config.write_text(json.dumps(config, indent=1), encoding="utf-8")
    started = time.perf_counter()
    binary = Path(valhalla.__file__).parent / "bin" / "valhalla_build_tiles"
    with (work / "build_tiles.log").open("w", encoding="utf-8") as log:
        subprocess.run(
            [str(binary), "-c", str(build_config), str(pbf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    build_s = time.perf_counter() - started
    config["logging"]["type"] = ""  # the actor: quiet
    config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    stamp_file.write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
    return config_path, round(build_s, 2)


def _argmin(row: list) -> int | None:
    times = [(t, k) for k, t in enumerate(row) if t is not None]
    return min(times)[1] if times else None


def _snap(located: dict) -> dict:
    """Where Valhalla puts a point: its nearest edge that `auto` may use."""
    edges = located.get("edges") or []
    if not edges:
        return {"snap_m": None}
    e = min(edges, key=lambda e: e.get("distance", float("inf")))
    edge = e.get("edge", {})
    return {
        "snap_m": e.get("distance"),
        "way_id": e.get("edge_info", {}).get("way_id"),
        "use": edge.get("classification", {}).get("use"),
        "road_class": edge.get("classification", {}).get("classification"),
        "speed_kph": edge.get("speeds", {}).get("default"),
        "destination_only": edge.get("destination_only"),
    }


def _ways(edges: list[dict]) -> list[dict]:
    """Edges driven, merged while way, use, class, surface and speed stay the same."""
    ways: list[dict] = []
    for e in edges:
        key = (
            e.get("way_id"),
            e.get("use"),
            e.get("road_class"),
            e.get("surface"),
            e.get("speed"),
        )
        length_m = 1000.0 * float(e.get("length") or 0.0)
        speed = float(e.get("speed") or 0.0)
        time_s = length_m / (speed / 3.6) if speed > 0 else 0.0
        if ways and ways[-1]["key"] == key:
            ways[-1]["length_m"] += length_m
            ways[-1]["time_s"] += time_s
            continue
        ways.append({"key": key, "length_m": length_m, "time_s": time_s})
    return [
        {
            "way_id": w["key"][0],
            "use": w["key"][1],
            "road_class": w["key"][2],
            "surface": w["key"][3],
            "speed_kph": w["key"][4],
            "length_m": round(w["length_m"], 1),
            "time_s": round(w["time_s"], 1),
        }
        for w in ways
    ]


def _route(valhalla, actor, a: dict, b: dict) -> dict:
    try:
        answer = actor.route({"locations": [a, b], "costing": "auto"})
    except valhalla.ValhallaError as exc:
        return {"error": str(exc)}
    leg = answer["trip"]["legs"][0]
    out = {
        "time_s": leg["summary"]["time"],
        "length_m": round(1000.0 * leg["summary"]["length"], 1),
        "uturns": sum(m["type"] in UTURN_MANEUVERS for m in leg["maneuvers"]),
    }
    try:
        attrs = actor.trace_attributes(
            {
                "encoded_polyline": leg["shape"],
                "costing": "auto",
                "shape_match": "edge_walk",
                "filters": {"attributes": EDGE_ATTRIBUTES, "action": "include"},
            }
        )
        out["ways"] = _ways(attrs.get("edges", []))
    except valhalla.ValhallaError as exc:
        out["ways"], out["ways_error"] = None, str(exc)
    return out


def _engine(argv: list[str]) -> int:
    # Run as a script, this file's folder comes first on sys.path and `import valhalla` would
    # find this very file: look for pyvalhalla's package elsewhere.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
    import valhalla

    parser = argparse.ArgumentParser(prog="bench/valhalla.py engine")
    parser.add_argument("--pbf", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--locations", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config_path, build_s = _tiles(valhalla, args.pbf.resolve(), args.work.resolve())
    actor = valhalla.Actor(config_path)
    loc = json.loads(args.locations.read_text(encoding="utf-8"))
    sources = [{"lon": p["lon"], "lat": p["lat"]} for p in loc["settlements"]]
    targets = [{"lon": p["lon"], "lat": p["lat"]} for p in loc["anchors"]]
    t = time.perf_counter()
    answer = actor.matrix({"sources": sources, "targets": targets, "costing": "auto"})
    matrix_s = time.perf_counter() - t
    times: list[list] = [[None] * len(targets) for _ in sources]
    for row in answer["sources_to_targets"]:
        for cell in row:
            times[cell["from_index"]][cell["to_index"]] = cell.get("time")
    how = ["matrix"] * len(sources)
    for i, row in enumerate(times):
        if all(x is None for x in row):  # the matrix found nothing: ask route, pair by pair
            routed = [_route(valhalla, actor, sources[i], b) for b in targets]
            times[i] = [r.get("time_s") for r in routed]
            how[i] = "route (matrix gave no time)"
    located = actor.locate({"locations": sources + targets, "costing": "auto", "verbose": True})
    snaps = [_snap(x) for x in located]
    routes = []
    for i, p in enumerate(loc["settlements"]):
        wanted = {_argmin(times[i]), p.get("ours_anchor")} - {None}
        routes.append({str(k): _route(valhalla, actor, sources[i], targets[k]) for k in wanted})
    out = {
        "pyvalhalla": valhalla.__version__,
        "python": sys.version.split()[0],
        "costing": "auto",
        "algorithm": answer.get("algorithm"),
        "tiles_build_s": build_s,
        "matrix_s": round(matrix_s, 3),
        "engine_s": round(time.perf_counter() - started, 2),
        "times_s": times,
        "how": how,
        "snap_settlements": snaps[: len(sources)],
        "snap_anchors": snaps[len(sources) :],
        "routes": routes,
    }
    args.out.write_text(json.dumps(out, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


# --- the comparison side: the project's .venv -----------------------------------------------


def _python312() -> str:
    """A Python >= 3.12 that runs: $VALHALLA_PYTHON, python3.12 on the PATH, or pyenv's 3.12.*."""

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.parent.parent.name.split(".") if x.isdigit())

    pyenv = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python"), key=version, reverse=True)
    candidates = [os.environ.get("VALHALLA_PYTHON"), shutil.which("python3.12"), *map(str, pyenv)]
    check = "import sys; raise SystemExit(sys.version_info < (3, 12))"
    for python in filter(None, candidates):
        try:  # a pyenv shim for a version not selected exits 127
            if subprocess.run([python, "-c", check], capture_output=True).returncode == 0:
                return python
        except OSError:
            continue
    raise SystemExit(
        "bench/valhalla.py: pyvalhalla's wheels need Python 3.12; none found (python3.12 on "
        "the PATH or ~/.pyenv/versions/3.12*). Install it or set VALHALLA_PYTHON=/path/to/python3.12"
    )


def ensure_venv() -> Path:
    """The Valhalla venv's python, made or updated from bench/requirements-valhalla.txt."""
    python, stamp = VENV / "bin" / "python", VENV / ".requirements"
    wanted = REQUIREMENTS.read_text(encoding="utf-8")
    if python.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return python
    if not python.is_file():
        print(f"[valhalla] creating {VENV.relative_to(PROJECT)}", flush=True)
        subprocess.run([_python312(), "-m", "venv", str(VENV)], check=True)
    print(f"[valhalla] pip install -r {REQUIREMENTS.relative_to(PROJECT)}", flush=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True
    )
    stamp.write_text(wanted, encoding="utf-8")
    return python


def _region_pbf() -> Path:
    import tomllib

    region_file = PROJECT / "regions" / f"{REGION}.toml"
    source = tomllib.loads(region_file.read_text(encoding="utf-8"))["source"]
    return (region_file.parent / source["local_pbf"]).resolve()


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=PROJECT, capture_output=True, text=True)
    return done.stdout.strip()


def _code_of(rev: str) -> Path:
    """pipeline/ and regions/ as committed in `rev`, unpacked under bench/out/valhalla/."""
    sha = _git("rev-parse", "--short", rev)
    if not sha:
        raise SystemExit(f"--rev {rev}: not a commit of this repository")
    dest = WORK / f"code-{sha}"
    if not (dest / "pipeline" / "__main__.py").is_file():
        archive = subprocess.run(
            ["git", "archive", sha, "pipeline", "regions"],
            cwd=PROJECT,
            capture_output=True,
            check=True,
        ).stdout
        shutil.rmtree(dest, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    return dest


def _run_pipeline(rev: str | None) -> dict:
    """`python -m pipeline all --region andorra` into ROOT: the work tree's code, or `rev`'s."""
    from bench.run import measure

    for folder in ("data_raw", "data_processed", "maps", "logs"):
        shutil.rmtree(ROOT / folder / REGION, ignore_errors=True)
    env = {**os.environ, "PIPELINE_ROOT": str(ROOT), "PYTHONWARNINGS": "ignore"}
    cwd = _code_of(rev) if rev else PROJECT  # `python -m pipeline` imports it from the cwd
    log = WORK / "pipeline.log"
    print(
        f"[valhalla] PIPELINE_ROOT={ROOT.relative_to(PROJECT)} python -m pipeline all "
        f"--region {REGION}" + (f" (code of {rev}: {cwd.relative_to(PROJECT)})" if rev else ""),
        flush=True,
    )
    m = measure([sys.executable, "-m", "pipeline", "all", "--region", REGION], log, env, cwd)
    if m["returncode"] != 0:
        raise SystemExit(f"pipeline all exited {m['returncode']}; see {log}")
    return m


def _run_parameters(root: Path) -> dict:
    """The region's parameters as the catchments stage of this run logged them."""
    log = root / "logs" / REGION / "catchments.log"
    lines = [x for x in log.read_text(encoding="utf-8").splitlines() if " parameters: " in x]
    return json.loads(lines[-1].split(" parameters: ", 1)[1])


def _read_ours(root: Path):
    import geopandas as gpd

    out = root / "data_processed" / REGION
    gpkg = out / f"{REGION}.gpkg"
    settlements = gpd.read_file(gpkg, layer="settlements")
    anchors = gpd.read_file(gpkg, layer="anchors")
    roads = gpd.read_file(gpkg, layer="roads", ignore_geometry=True)
    osm_roads = gpd.read_file(out / "osm.gpkg", layer="roads", ignore_geometry=True)
    return settlements, anchors, roads, osm_roads


def _ours_anchor_index(settlements, anchors) -> tuple[list[int | None], str]:
    """Each settlement's nearest anchor in our answer, as a row of `anchors` (None: unreachable)."""
    import pandas as pd

    if "anchor_id" in settlements.columns and "anchor_id" in anchors.columns:
        key_s, key_a, by = settlements["anchor_id"], anchors["anchor_id"], "anchor_id"
    elif "anchor_osm_id" in settlements.columns:
        key_s, key_a, by = settlements["anchor_osm_id"], anchors["osm_id"], "anchor_osm_id"
    else:
        key_s, key_a, by = settlements["anchor_name"], anchors["name"], "anchor_name"
    lookup: dict = {}
    for k, key in enumerate(key_a):
        lookup.setdefault(key, k)
    return [None if pd.isna(key) else lookup.get(key) for key in key_s], by


def _our_paths(root: Path, settlements, anchors) -> tuple[list[dict | None], str]:
    """Our fastest path per settlement by the *old* nearest-node rule, for a ``rev=`` whose
    pipeline/ still had ``surface.k_nearest`` (the work tree's rule: :func:`_our_paths_exact`).

    One Dijkstra on the reversed graph from the anchors (each joined to its 8 nearest road
    nodes by the off-road walk), then each settlement takes the best of its k nearest reached
    nodes plus its walk, as documented in README.md. Only for the diagnosis (which ways our
    route drives, how long it walks); each path's time is checked against `anchor_time_min`.
    """
    import numpy as np
    from scipy import sparse
    from scipy.sparse import csgraph
    from scipy.spatial import cKDTree

    params = _run_parameters(root)
    snap_m, walk_kph = params["network"]["snap_max_m"], params["network"]["offroad_speed_kph"]
    walk_ms = walk_kph / 3.6
    # surface.k_nearest: nodes a settlement may walk to (without it: every node within snap_m)
    k_nearest = params.get("surface", {}).get("k_nearest") or 256
    z = np.load(root / "data_processed" / REGION / "network.npz")
    node_xy = z["node_xy"]
    n = len(node_xy)
    u, v, t = z["edge_u"], z["edge_v"], z["edge_time_s"]
    length, way = z["edge_length_m"], z["edge_way"]
    order = np.lexsort((t, v, u))  # parallel edges: the fastest first
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u[order][1:] != u[order][:-1]) | (v[order][1:] != v[order][:-1])
    keep = order[first]
    crs = str(z["crs_wkt"])
    s_xy = np.array([g.coords[0] for g in settlements.to_crs(crs).geometry])
    a_xy = np.array([g.coords[0] for g in anchors.to_crs(crs).geometry])
    tree = cKDTree(node_xy)
    d, idx = tree.query(a_xy, k=ANCHOR_NODES, distance_upper_bound=snap_m)
    ok = idx < n
    a_u = idx[ok]
    a_v = n + np.repeat(np.arange(len(a_xy)), ANCHOR_NODES)[ok.ravel()]
    a_t = np.maximum(d[ok] / walk_ms, 1e-3)
    size = n + len(a_xy)
    graph = sparse.csr_matrix(
        (
            np.concatenate([t[keep], a_t]),
            (np.concatenate([u[keep], a_u]), np.concatenate([v[keep], a_v])),
        ),
        shape=(size, size),
    )
    dist, next_node, _ = csgraph.dijkstra(
        graph.T.tocsr(),
        directed=True,
        indices=n + np.arange(len(a_xy)),
        min_only=True,
        return_predecessors=True,
    )
    reached = np.flatnonzero(np.isfinite(dist[:n]))
    edge_of = {(int(a), int(b)): int(e) for a, b, e in zip(u[keep], v[keep], keep, strict=True)}
    end_walk = {(int(a), int(b)): float(w) for a, b, w in zip(a_u, a_v, a_t, strict=True)}
    d, j = cKDTree(node_xy[reached]).query(s_xy, k=k_nearest, distance_upper_bound=snap_m)
    paths: list[dict | None] = []
    for i in range(len(s_xy)):
        found = j[i] < len(reached)
        if not found.any():
            paths.append(None)
            continue
        nodes = reached[np.where(found, j[i], 0)]
        total = np.where(found, dist[nodes] + d[i] / walk_ms, np.inf)
        best = int(np.argmin(total))
        x, ways, end_s = int(nodes[best]), [], 0.0
        while x < n:
            y = int(next_node[x])
            if y >= n:
                end_s = end_walk[(x, y)]
                anchor = y - n
                break
            e = edge_of[(x, y)]
            if ways and ways[-1]["way_id"] == int(way[e]):
                ways[-1]["length_m"] += float(length[e])
                ways[-1]["time_s"] += float(t[e])
            else:
                ways.append(
                    {"way_id": int(way[e]), "length_m": float(length[e]), "time_s": float(t[e])}
                )
            x = y
        start_s = float(d[i][best] / walk_ms)
        paths.append(
            {
                "anchor": anchor,
                "time_s": float(total[best]),
                "start_walk_m": round(float(d[i][best]), 1),
                "walk_s": round(start_s + end_s, 1),
                "drive_s": round(float(total[best]) - start_s - end_s, 1),
                "ways": [
                    {**w, "length_m": round(w["length_m"], 1), "time_s": round(w["time_s"], 1)}
                    for w in ways
                ],
            }
        )
    how = (
        f"rebuilt from network.npz (k={k_nearest} nearest nodes, {ANCHOR_NODES} per anchor, "
        f"walk {walk_kph:g} km/h within {snap_m:g} m)"
    )
    return paths, how


def _add_way(ways: list[dict], way_id: int, metres: float, seconds: float) -> None:
    """Append a stretch of a way to a route, merged with the last stretch of the same way."""
    if ways and ways[-1]["way_id"] == way_id:
        ways[-1]["length_m"] += metres
        ways[-1]["time_s"] += seconds
    elif metres > 0 or seconds > 0:
        ways.append({"way_id": way_id, "length_m": metres, "time_s": seconds})


class _TripParts:
    """A trip of the pipeline's rule taken apart: walks, drive and ways (for the diagnosis).

    The trip itself (time, source, exit node, way) comes from ``RoadAccess.trips``; this finds
    the join point on the trip's first segment and the leave point on its last one by the same
    closed formula (``pipeline.access._best_s``) and follows the shortest-path tree between.
    """

    def __init__(self, model, field) -> None:
        import numpy as np

        self.np = np
        self.model, self.field = model, field
        self.segs, self.v, self.n = model.segments, model.walk.speed_mps, model.graph.n_nodes
        self.max_m = model.walk.max_m
        g = model.graph
        self.edge: dict[tuple[int, int], tuple[float, int, float]] = {}
        for e in np.argsort(g.edge_time_s, kind="stable")[::-1]:  # the fastest edge wins
            self.edge[(int(g.edge_u[e]), int(g.edge_v[e]))] = (
                float(g.edge_time_s[e]),
                int(g.edge_way[e]),
                float(g.edge_length_m[e]),
            )
        self.entry = {
            (int(a), int(b)): (float(c), int(w))
            for a, b, c, w in zip(
                field.entry_node, field.entry_source, field.entry_time_s, field.entry_way,
                strict=True,
            )
        }  # fmt: skip

    def _geom(self, k: int, xy) -> tuple[float, float, float, float]:
        """(s0, d, lo, hi): the point's foot on segment k and the part of k within reach."""
        from pipeline.access.walk_and_drive import _reach

        s0, d = self.segs.foot(self.np.array([k]), self.np.asarray(xy, float).reshape(1, 2))
        lo, hi = _reach(float(s0[0]), float(d[0]), 0.0, float(self.segs.length_m[k]), self.max_m)
        return float(s0[0]), float(d[0]), lo, hi

    def _leg(self, k: int, node: int, xy, leaving: bool):
        """(walk s, walk m, drive s, drive m): from xy onto segment k and along it to `node`
        (leaving), or from `node` along k and off it to xy; None where k does not allow it."""
        from pipeline.access.walk_and_drive import _best_s

        s0, d, lo, hi = self._geom(k, xy)
        segs = self.segs
        at_b = node == segs.b[k]
        # Leaving towards b (or entering from b) drives a → b (b → a); the mirror otherwise.
        rate = float(segs.rate_ab[k] if at_b == leaving else segs.rate_ba[k])
        if lo > hi or not self.np.isfinite(rate):
            return None
        x = _best_s(s0, d, lo, hi, rate, self.v, at_b)
        walk_m = float(self.np.hypot(d, x - s0))
        drive_m = max(float(segs.length_m[k]) - x, 0.0) if at_b else x
        return walk_m / self.v, walk_m, drive_m * rate, drive_m

    def _segments_of(self, way: int, node: int | None = None):
        segs = self.segs
        hit = (segs.way_ab == way) | (segs.way_ba == way)
        if node is not None:
            hit &= (segs.a == node) | (segs.b == node)
        return self.np.flatnonzero(hit)

    def _closest(self, legs, target_s: float):
        found = [leg for leg in legs if leg is not None]
        return min(found, key=lambda leg: abs(leg[0] + leg[2] - target_s)) if found else None

    def _one_segment(self, way: int, p_xy, a_xy, total: float):
        """Walk onto a segment of `way`, drive along it, walk off to the anchor."""
        from pipeline.access.walk_and_drive import _best_s

        best = None
        for k in self._segments_of(way):
            p, a = self._geom(k, p_xy), self._geom(k, a_xy)
            if p[2] > p[3] or a[2] > a[3]:
                continue
            length = float(self.segs.length_m[k])
            for rate, flip in ((self.segs.rate_ab[k], False), (self.segs.rate_ba[k], True)):
                if not self.np.isfinite(rate):
                    continue
                pp = (length - p[0], p[1], length - p[3], length - p[2]) if flip else p
                aa = (length - a[0], a[1], length - a[3], length - a[2]) if flip else a
                x = _best_s(*pp, rate, self.v, True)
                y = _best_s(*aa, rate, self.v, False)
                if x > y:  # no drive: both walks meet the road at one point
                    meet = pp[0] + (aa[0] - pp[0]) * pp[1] / max(pp[1] + aa[1], 1e-12)
                    x = y = min(max(meet, max(pp[2], aa[2])), min(pp[3], aa[3]))
                w1 = float(self.np.hypot(pp[1], x - pp[0]))
                w2 = float(self.np.hypot(aa[1], y - aa[0]))
                parts = (w1 / self.v, w1, w2 / self.v, (y - x) * float(rate), y - x)
                if best is None or abs(sum(parts[::2]) - total) < abs(sum(best[::2]) - total):
                    best = parts
        return best

    def path(self, p_xy, a_xy, anchor: int, total: float, exit_node: int, way: int):
        """The trip's parts as the diagnosis reads them (None where they cannot be rebuilt)."""
        np, v = self.np, self.v
        if way < 0:  # a straight walk to the anchor
            walk_m = float(np.hypot(*(np.asarray(p_xy) - np.asarray(a_xy))))
            return {"anchor": anchor, "time_s": walk_m / v, "start_walk_m": round(walk_m, 1),
                    "walk_s": round(walk_m / v, 1), "drive_s": 0.0, "ways": []}  # fmt: skip
        ways: list[dict] = []
        if exit_node < 0:  # joins and leaves one segment
            parts = self._one_segment(way, p_xy, a_xy, total)
            if parts is None:
                return None
            walk1_s, walk1_m, walk2_s, drive_s, drive_m = parts
            _add_way(ways, way, drive_m, drive_s)
        else:
            start = self._closest(
                [self._leg(k, exit_node, p_xy, True) for k in self._segments_of(way, exit_node)],
                total - float(self.field.node_time_s[exit_node]),
            )
            if start is None:
                return None
            walk1_s, walk1_m, drive_s, drive_m = start
            _add_way(ways, way, drive_m, drive_s)
            x = exit_node
            while 0 <= (y := int(self.field.next_node[x])) < self.n:
                seconds, way_id, metres = self.edge[(x, y)]
                _add_way(ways, way_id, metres, seconds)
                drive_s, x = drive_s + seconds, y
            if y < 0:
                return None
            cost, in_way = self.entry[(x, y - self.n)]
            end = self._closest(
                [self._leg(k, x, a_xy, False) for k in self._segments_of(in_way, x)], cost
            )
            walk2_s = end[0] if end else cost
            if end:
                _add_way(ways, in_way, end[3], end[2])
                drive_s += end[2]
        return {
            "anchor": anchor,
            "time_s": walk1_s + drive_s + walk2_s,
            "start_walk_m": round(walk1_m, 1),
            "walk_s": round(walk1_s + walk2_s, 1),
            "drive_s": round(drive_s, 1),
            "ways": [
                {**w, "length_m": round(w["length_m"], 1), "time_s": round(w["time_s"], 1)}
                for w in ways
            ],
        }


def _our_paths_exact(root: Path, settlements, anchors) -> tuple[list[dict | None], str]:
    """Our fastest trip per settlement by the pipeline's own rule (``pipeline.access``), taken
    apart for the diagnosis: the walk to the road, the drive, the walk to the anchor.

    The road graph is network.npz in the run's default season; the field and every trip come
    from ``RoadAccess`` as in the catchments stage (sources in ``anchor_id`` order). Each trip's
    parts are rebuilt by :class:`_TripParts`; their sum is checked against ``anchor_time_min``.
    """
    import numpy as np

    from pipeline.access.walk_and_drive import RoadAccess
    from pipeline.config import SeasonConfig
    from pipeline.network.graph import RoadGraph, apply_season

    params = _run_parameters(root)
    net = params["network"]
    snap_m, walk_kph = float(net["snap_max_m"]), float(net["offroad_speed_kph"])
    with np.load(root / "data_processed" / REGION / "network.npz", allow_pickle=False) as z:
        graph = RoadGraph.from_npz(z)
    season = params.get("default_season", "summer")
    rules = SeasonConfig(**params["seasons"][season]) if "seasons" in params else SeasonConfig()
    graph = apply_season(graph, rules, params.get("ferry_months", []), net["ferry_wait_min"])
    model = RoadAccess.of(graph, walk_kph, snap_m)
    s_xy = np.array([g.coords[0] for g in settlements.to_crs(graph.crs_wkt).geometry])
    rows = (
        np.argsort(anchors["anchor_id"].to_numpy(), kind="stable")
        if "anchor_id" in anchors
        else np.arange(len(anchors))
    )
    a_xy = np.array([g.coords[0] for g in anchors.iloc[rows].to_crs(graph.crs_wkt).geometry])
    field = model.field(a_xy)
    [trips] = model.trips(s_xy, [field])
    parts = _TripParts(model, field)
    paths: list[dict | None] = []
    for i in range(len(s_xy)):
        src, total = int(trips.source[i]), float(trips.time_s[i])
        if src < 0 or not np.isfinite(total):
            paths.append(None)
            continue
        paths.append(
            parts.path(
                s_xy[i],
                a_xy[src],
                int(rows[src]),
                total,
                int(trips.exit_node[i]),
                int(trips.depart_way[i]),
            )
        )
    how = (
        f"rebuilt with pipeline.access: walk {walk_kph:g} km/h to the nearest point of any "
        f"segment within {snap_m:g} m, drive, walk to the anchor"
    )
    return paths, how


def _f(x, nd: int = 2):
    return None if x is None else round(float(x), nd)


def _tags(row) -> str:
    import pandas as pd

    parts = [f"highway={row['highway']}"]
    for key in ("tracktype", "surface", "smoothness", "access", "motor_vehicle", "oneway"):
        if key in row and pd.notna(row[key]) and str(row[key]):
            parts.append(f"{key}={row[key]}")
    return " ".join(parts)


def _diagnose(rec: dict, our_kph: dict, osm: dict, walk_kph: float) -> dict:
    """Split Valhalla − ours (minutes) into terms that add up to it, and say what drives each."""
    route, path = rec["route"], rec["ours"]["path"]
    v_min, o_min = rec["valhalla"]["time_min"], rec["ours"]["time_min"]
    walk_s = path["walk_s"] if path else rec["ours"]["walk_m"] / (walk_kph / 3.6)
    drive_s = o_min * 60.0 - walk_s
    facts: list[str] = []
    if not route or route.get("ways") is None:
        return {"terms_min": {}, "cause": "no Valhalla route to take apart", "facts": facts}
    ways = route["ways"]
    v_edges = sum(w["time_s"] for w in ways)
    at_ours = {"track": 0.0, "other": 0.0}
    v_time = {"track": 0.0, "other": 0.0}
    tracks: dict[str, dict] = {}
    not_ours: dict[int, float] = {}
    for w in ways:
        kind = "track" if w["use"] == "track" else "other"
        kph = our_kph.get(w["way_id"])
        if kph:
            v_time[kind] += w["time_s"]
            at_ours[kind] += w["length_m"] / (kph / 3.6)
        else:
            not_ours[w["way_id"]] = not_ours.get(w["way_id"], 0.0) + w["length_m"]
        if kind == "track":
            row = osm.get(w["way_id"])
            label = _tags(row) if row is not None else "not in our extract"
            t = tracks.setdefault(label, {"m": 0.0, "v": set(), "o": set()})
            t["m"] += w["length_m"]
            t["v"].add(w["speed_kph"])
            if kph:
                t["o"].add(round(kph, 1))
    not_ours_s = sum(w["time_s"] for w in ways if not our_kph.get(w["way_id"]))
    terms = {
        "track speeds": (v_time["track"] - at_ours["track"]) / 60.0,
        "other roads' speeds": (v_time["other"] - at_ours["other"]) / 60.0,
        "Valhalla's turn costs": (route["time_s"] - v_edges) / 60.0,
        "route and snapping": (at_ours["track"] + at_ours["other"] + not_ours_s - drive_s) / 60.0,
        "our off-road walk": -walk_s / 60.0,
        "matrix against route": v_min - route["time_s"] / 60.0,
    }
    terms = {k: round(x, 2) for k, x in terms.items()}
    cause = max(terms, key=lambda k: abs(terms[k]))
    for label, t in sorted(tracks.items(), key=lambda kv: -kv[1]["m"]):
        ours = "/".join(f"{x:g}" for x in sorted(t["o"])) or "–"
        valh = "/".join(f"{x:g}" for x in sorted(t["v"]))
        facts.append(
            f"Valhalla drives {t['m'] / 1000:.2f} km of track ({label}) at {valh} km/h; ours at {ours} km/h"
        )
    for way_id, m in not_ours.items():
        row = osm.get(way_id)
        what = _tags(row) if row is not None else "not in our extract"
        why = (
            " (Valhalla: destination-only, allowed at a trip's start or end; ours: closed)"
            if "access=private" in what
            else ""
        )
        facts.append(
            f"Valhalla drives {m:.0f} m of way {way_id} ({what}), which ours does not drive{why}"
        )
    if route.get("uturns"):
        facts.append(
            f"Valhalla's route has {route['uturns']} U-turn maneuver(s) (a turn of about 180°, "
            "which Valhalla charges most for)"
        )
    snap = rec["valhalla"]["snap"]
    if snap.get("snap_m") is not None:
        if path:
            ours = (
                f"ours walks {path['start_walk_m']:.0f} m to where its trip joins the road "
                f"(nearest road: {rec['ours']['walk_m']:.0f} m), {walk_s / 60:.1f} min of "
                "walking at both ends"
            )
        else:
            ours = f"ours walks at least {rec['ours']['walk_m']:.0f} m to the nearest road"
        facts.append(
            f"Valhalla snaps {snap['snap_m']:.0f} m to a {snap.get('use')} ({snap.get('road_class')}, "
            f"way {snap.get('way_id')}, {snap.get('speed_kph')} km/h) and counts no time for it; "
            + ours
        )
    if not rec["same_anchor"]:
        facts.append(
            f"nearest anchor differs: ours {rec['ours']['anchor']} ({o_min:.1f} min), Valhalla "
            f"{rec['valhalla']['anchor']} ({v_min:.1f} min; to {rec['ours']['anchor']}: "
            f"{rec['valhalla']['time_to_ours_min']} min)"
        )
    return {"terms_min": terms, "cause": cause, "facts": facts}


def _case(r: dict) -> dict:
    return {
        "name": r["name"],
        "place": r["place"],
        "ours": r["ours"]["anchor"],
        "ours_min": _f(r["ours"]["time_min"]),
        "valhalla": r["valhalla"]["anchor"],
        "valhalla_min": _f(r["valhalla"]["time_min"]),
        "diff_min": _f(r["diff_min"]),
        **r["diagnosis"],
    }


def compare(root: Path, answers: dict) -> dict:
    """Every settlement's two answers and the figures."""
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    settlements, anchors, roads, osm_roads = _read_ours(root)
    ours_k, matched_by = _ours_anchor_index(settlements, anchors)
    try:
        # The run's own rule: the nearest-node rebuild for a pipeline/ that still had
        # surface.k_nearest (rev= an older commit), the pipeline's exact rule otherwise.
        old_rule = "k_nearest" in _run_parameters(root).get("surface", {})
        rebuild = _our_paths if old_rule else _our_paths_exact
        paths, paths_how = rebuild(root, settlements, anchors)
    except (ImportError, KeyError, IndexError, OSError, ValueError, AttributeError) as exc:
        paths, paths_how = [None] * len(settlements), f"not available: {exc!r}"
    try:
        walk_kph = float(_run_parameters(root)["network"]["offroad_speed_kph"])
    except (OSError, KeyError, IndexError, ValueError):
        walk_kph = 5.0  # the documented default
    our_kph = dict(zip(roads["osm_id"].astype(int), roads["speed_kph"].astype(float), strict=True))
    osm = {int(r["osm_id"]): r for _, r in osm_roads.iterrows()}
    a_names = anchors["name"].tolist()
    records = []
    for i, s in enumerate(settlements.itertuples(index=False)):
        row = answers["times_s"][i]
        v_k = _argmin(row)
        o_t = float(s.anchor_time_min) if pd.notna(s.anchor_time_min) else None
        v_t = row[v_k] / 60.0 if v_k is not None else None
        path = paths[i]
        rec = {
            "osm_type": s.osm_type,
            "osm_id": int(s.osm_id),
            "name": s.name,
            "place": s.place,
            "is_anchor": bool(s.is_anchor),
            "ours": {
                "anchor": a_names[ours_k[i]] if ours_k[i] is not None else None,
                "anchor_osm_id": int(anchors["osm_id"].iloc[ours_k[i]])
                if ours_k[i] is not None
                else None,
                "time_min": _f(o_t, 3),
                "walk_m": _f(s.road_distance_m, 1),
                "path_time_min": _f(path["time_s"] / 60.0, 3) if path else None,
                "path": path,
            },
            "valhalla": {
                "anchor": a_names[v_k] if v_k is not None else None,
                "anchor_osm_id": int(anchors["osm_id"].iloc[v_k]) if v_k is not None else None,
                "time_min": _f(v_t, 3),
                "time_to_ours_min": _f(row[ours_k[i]] / 60.0, 2)
                if ours_k[i] is not None and row[ours_k[i]] is not None
                else None,
                "times_s": row,
                "how": answers["how"][i],
                "snap": answers["snap_settlements"][i],
            },
            "same_anchor": ours_k[i] == v_k,
            "diff_min": _f(v_t - o_t, 3) if v_t is not None and o_t is not None else None,
            "rel_diff": _f((v_t - o_t) / o_t, 4) if v_t is not None and o_t else None,
        }
        rec["route"] = answers["routes"][i].get(str(v_k)) if v_k is not None else None
        records.append(rec)
    both = [r for r in records if r["diff_min"] is not None]
    o = np.array([r["ours"]["time_min"] for r in both])
    v = np.array([r["valhalla"]["time_min"] for r in both])
    d = v - o
    rel = [r for r in both if r["rel_diff"] is not None]
    non_anchor = [r for r in records if not r["is_anchor"]]
    both_na = [r for r in both if not r["is_anchor"]]
    same = sum(r["same_anchor"] for r in records)
    largest = sorted(both, key=lambda r: -abs(r["diff_min"]))
    largest_rel = max(rel, key=lambda r: abs(r["rel_diff"])) if rel else None
    top = {id(r) for r in largest[:TOP]}
    others = [
        r
        for r in both
        if id(r) not in top and (not r["same_anchor"] or r["valhalla"]["how"] != "matrix")
    ]
    for r in records:
        r["diagnosis"] = None
    for r in largest[:TOP] + others:
        r["diagnosis"] = _diagnose(r, our_kph, osm, walk_kph)
    reproduced = [
        abs(r["ours"]["path_time_min"] - r["ours"]["time_min"]) * 60.0
        for r in both
        if r["ours"]["path_time_min"] is not None and not r["is_anchor"]
    ]
    track_speeds, not_ours_ways, uturn_routes, closed_routes = {}, {}, 0, 0
    turn_min = []
    for r in records:
        route = r["route"]
        if not route or not route.get("ways"):
            continue
        turn_min.append((route["time_s"] - sum(w["time_s"] for w in route["ways"])) / 60.0)
        uturn_routes += bool(route.get("uturns"))
        closed_routes += any(not our_kph.get(w["way_id"]) for w in route["ways"])
        for w in route["ways"]:
            row = osm.get(w["way_id"])
            if w["use"] == "track":
                label = _tags(row) if row is not None else "not in our extract"
                t = track_speeds.setdefault(
                    label, {"km": 0.0, "valhalla_kph": set(), "ours_kph": set()}
                )
                t["km"] += w["length_m"] / 1000.0
                t["valhalla_kph"].add(w["speed_kph"])
                if our_kph.get(w["way_id"]):
                    t["ours_kph"].add(round(our_kph[w["way_id"]], 1))
            if not our_kph.get(w["way_id"]):
                label = _tags(row) if row is not None else "not in our extract"
                not_ours_ways.setdefault(label, set()).add(r["name"])
    snap_v = [
        r["valhalla"]["snap"]["snap_m"]
        for r in records
        if r["valhalla"]["snap"].get("snap_m") is not None
    ]
    figures = {
        "settlements": len(records),
        "anchors": len(anchors),
        "ours_anchor_matched_by": matched_by,
        "reachable_both": len(both),
        "unreachable_ours": sum(r["ours"]["time_min"] is None for r in records),
        "unreachable_valhalla": sum(r["valhalla"]["time_min"] is None for r in records),
        "matrix_gave_no_time": [r["name"] for r in records if r["valhalla"]["how"] != "matrix"],
        "same_anchor": same,
        "same_anchor_share": round(same / len(records), 4),
        "same_anchor_non_anchor": sum(r["same_anchor"] for r in non_anchor),
        "non_anchor_settlements": len(non_anchor),
        "same_anchor_share_non_anchor": round(
            sum(r["same_anchor"] for r in non_anchor) / max(len(non_anchor), 1), 4
        ),
        "target_same_anchor_share": TARGET_SAME_ANCHOR,
        "meets_target": same / len(records) >= TARGET_SAME_ANCHOR,
        "anchor_differs": [
            {
                "name": r["name"],
                "ours": r["ours"]["anchor"],
                "ours_min": _f(r["ours"]["time_min"]),
                "valhalla": r["valhalla"]["anchor"],
                "valhalla_min": _f(r["valhalla"]["time_min"]),
                "valhalla_to_ours_min": r["valhalla"]["time_to_ours_min"],
            }
            for r in records
            if not r["same_anchor"]
        ],
        "spearman": round(float(spearmanr(o, v).statistic), 4),
        "spearman_non_anchor": round(
            float(
                spearmanr(
                    [r["ours"]["time_min"] for r in both_na],
                    [r["valhalla"]["time_min"] for r in both_na],
                ).statistic
            ),
            4,
        ),
        "median_abs_diff_min": round(float(np.median(np.abs(d))), 3),
        "mean_diff_min": round(float(np.mean(d)), 3),
        "median_diff_min": round(float(np.median(d)), 3),
        "median_abs_rel_diff": round(float(np.median([abs(r["rel_diff"]) for r in rel])), 4),
        "largest_abs_diff": {"name": largest[0]["name"], "diff_min": largest[0]["diff_min"]},
        "largest_rel_diff": {
            "name": largest_rel["name"],
            "rel_diff": largest_rel["rel_diff"],
            "ours_min": _f(largest_rel["ours"]["time_min"]),
            "valhalla_min": _f(largest_rel["valhalla"]["time_min"]),
        }
        if largest_rel
        else None,
        "over_1_min": int((np.abs(d) > 1).sum()),
        "over_5_min": int((np.abs(d) > 5).sum()),
        "valhalla_slower": int((d > 0).sum()),
        "snap_median_m": {
            "ours_road_distance": round(float(np.median(settlements["road_distance_m"])), 1),
            "valhalla_nearest_edge": round(float(np.median(snap_v)), 1) if snap_v else None,
        },
        "our_paths": paths_how,
        "our_paths_max_error_s": round(max(reproduced), 3) if reproduced else None,
        "routes_with_uturns": uturn_routes,
        "turn_costs_min": {
            "median": round(float(np.median(turn_min)), 2) if turn_min else None,
            "max": round(float(np.max(turn_min)), 2) if turn_min else None,
        },
        "routes_on_ways_ours_does_not_drive": closed_routes,
        "track_speeds": [
            {
                "tags": k,
                "km": round(t["km"], 2),
                "valhalla_kph": sorted(t["valhalla_kph"]),
                "ours_kph": sorted(t["ours_kph"]),
            }
            for k, t in sorted(track_speeds.items(), key=lambda kv: -kv[1]["km"])
        ],
        "ways_ours_does_not_drive": [
            {"tags": k, "settlements": sorted(v)} for k, v in sorted(not_ours_ways.items())
        ],
        "largest": [_case(r) for r in largest[:TOP]],
        "other_cases": [_case(r) for r in others],
    }
    return {"figures": figures, "settlements": records}


def run(*, pipeline: bool = True, rev: str | None = None) -> dict:
    """The whole Valhalla part: venv, pipeline on Andorra, engine, comparison. Returns the figures.

    `rev`: run the pipeline as committed in that revision instead of the work tree's pipeline/.
    """
    from bench.run import measure

    started = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    python = ensure_venv()
    run_info: dict = {"pipeline": _run_pipeline(rev) if pipeline else None}
    settlements, anchors, _, _ = _read_ours(ROOT)
    ours_k, _ = _ours_anchor_index(settlements, anchors)
    s_ll, a_ll = settlements.to_crs(4326), anchors.to_crs(4326)
    locations = {
        "settlements": [
            {"name": n, "lon": g.x, "lat": g.y, "ours_anchor": k}
            for n, g, k in zip(s_ll["name"], s_ll.geometry, ours_k, strict=True)
        ],
        "anchors": [
            {"name": n, "lon": g.x, "lat": g.y}
            for n, g in zip(a_ll["name"], a_ll.geometry, strict=True)
        ],
    }
    (WORK / "locations.json").write_text(
        json.dumps(locations, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print("[valhalla] engine: tiles, matrix, locate, routes", flush=True)
    answers_path, log = WORK / "valhalla_answers.json", WORK / "engine.log"
    pbf = _region_pbf()
    cmd = [str(python), str(Path(__file__).resolve()), "engine", "--pbf", str(pbf)]
    cmd += ["--work", str(WORK), "--locations", str(WORK / "locations.json")]
    run_info["engine"] = measure([*cmd, "--out", str(answers_path)], log)
    if run_info["engine"]["returncode"] != 0:
        raise SystemExit(f"the Valhalla side exited {run_info['engine']['returncode']}; see {log}")
    answers = json.loads(answers_path.read_text(encoding="utf-8"))
    result = compare(ROOT, answers)
    if not pipeline:
        code = "results already in " + str(ROOT.relative_to(PROJECT))
    elif rev:
        code = f"pipeline/ of commit {_git('rev-parse', '--short', rev)} ({rev})"
    else:
        dirty = _git("status", "--porcelain", "--", "pipeline")
        code = f"work tree at {_git('rev-parse', '--short', 'HEAD')}" + (
            ", pipeline/ with uncommitted changes" if dirty else ", pipeline/ as committed"
        )
    result["run"] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code": code,
        "pbf": str(pbf.relative_to(PROJECT)),
        "pipeline_root": str(ROOT.relative_to(PROJECT)),
        "pyvalhalla": answers["pyvalhalla"],
        "valhalla_python": answers["python"],
        "costing": answers["costing"],
        "algorithm": answers["algorithm"],
        "pipeline_s": run_info["pipeline"]["seconds"] if run_info["pipeline"] else None,
        "engine_process_s": run_info["engine"]["seconds"],
        "tiles_build_s": answers["tiles_build_s"],
        "matrix_s": answers["matrix_s"],
        "total_s": round(time.perf_counter() - started, 1),
    }
    (WORK / f"{REGION}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return {"run": result["run"], **result["figures"]}


# --- README section ---------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _case_line(c: dict) -> str:
    terms = ", ".join(f"{k} {x:+.1f}" for k, x in c["terms_min"].items() if abs(x) >= 0.05)
    return f"- **{c['name']}** ({c['diff_min']:+.1f} min): {terms}. " + "; ".join(c["facts"]) + "."


def render_markdown(v: dict) -> str:
    """The section of bench/README.md between the valhalla markers."""
    r = v["run"]
    tiles = "reused" if r["tiles_build_s"] is None else f"{r['tiles_build_s']} s"
    pipeline_s = "not run" if r["pipeline_s"] is None else f"{r['pipeline_s']} s"
    lines = [
        f"Run of {r['when']}, {r['code']}: pyvalhalla {r['pyvalhalla']} (Python "
        f"{r['valhalla_python']}), `{r['costing']}` costing, `{r['algorithm']}` matrix, tiles "
        f"from `{r['pbf']}`. Time: pipeline {pipeline_s}, Valhalla side "
        f"{r['engine_process_s']} s (tiles {tiles}, matrix {r['matrix_s']} s), whole part "
        f"{r['total_s']} s.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| settlements, anchors | {v['settlements']}, {v['anchors']} (our anchor read from "
        f"`{v['ours_anchor_matched_by']}`) |",
        f"| **same nearest anchor** | **{v['same_anchor']} of {v['settlements']} "
        f"({_pct(v['same_anchor_share'])})**; target ≥ {_pct(v['target_same_anchor_share'])}: "
        + ("met" if v["meets_target"] else "**missed**")
        + " |",
        f"| same nearest anchor, the anchors themselves left out | {v['same_anchor_non_anchor']} "
        f"of {v['non_anchor_settlements']} ({_pct(v['same_anchor_share_non_anchor'])}) |",
        f"| Spearman rank correlation of times ({v['reachable_both']} reached by both) | "
        f"{v['spearman']:.3f} (without the anchors: {v['spearman_non_anchor']:.3f}) |",
        f"| median absolute difference | {v['median_abs_diff_min']:.2f} min |",
        f"| median relative difference (absolute) | {_pct(v['median_abs_rel_diff'])} |",
        f"| median / mean difference, Valhalla − ours | {v['median_diff_min']:+.2f} / "
        f"{v['mean_diff_min']:+.2f} min; Valhalla slower for {v['valhalla_slower']} |",
        f"| largest absolute difference | {v['largest_abs_diff']['diff_min']:+.1f} min "
        f"({v['largest_abs_diff']['name']}) |",
    ]
    lr = v.get("largest_rel_diff")
    if lr:
        lines.append(
            f"| largest relative difference | {100 * lr['rel_diff']:+.0f} % ({lr['name']}: "
            f"{lr['ours_min']} → {lr['valhalla_min']} min) |"
        )
    lines += [
        f"| differences over 1 min / over 5 min | {v['over_1_min']} / {v['over_5_min']} |",
        f"| unreachable: ours / Valhalla | {v['unreachable_ours']} / {v['unreachable_valhalla']} |",
        "| Valhalla's matrix gave no time (asked `route` instead) | "
        + (", ".join(v["matrix_gave_no_time"]) or "none")
        + " |",
        f"| median distance to the road: ours (`road_distance_m`: nearest point of a joinable "
        f"segment) / Valhalla (nearest edge it may use) | {v['snap_median_m']['ours_road_distance']} m / "
        f"{v['snap_median_m']['valhalla_nearest_edge']} m |",
        f"| Valhalla routes with a U-turn / on a way ours does not drive | "
        f"{v['routes_with_uturns']} / {v['routes_on_ways_ours_does_not_drive']} |",
        f"| Valhalla's turn costs per route (route time less its edges' times): median / largest | "
        f"{v['turn_costs_min']['median']} / {v['turn_costs_min']['max']} min |",
        f"| our paths for the diagnosis | {v['our_paths']}; largest error against "
        f"`anchor_time_min`: {v['our_paths_max_error_s']} s"
        + (
            " (approximate: the pipeline no longer times settlements this way)"
            if (v["our_paths_max_error_s"] or 0) > 1
            else ""
        )
        + " |",
        "",
        "**Nearest anchor differs**:",
        "",
    ]
    for a in v["anchor_differs"]:
        lines.append(
            f"- {a['name']}: ours {a['ours']} {a['ours_min']} min; Valhalla {a['valhalla']} "
            f"{a['valhalla_min']} min (Valhalla to {a['ours']}: {a['valhalla_to_ours_min']} min)"
        )
    if not v["anchor_differs"]:
        lines.append("- none")
    lines += [
        "",
        f"**The {len(v['largest'])} largest differences**, Valhalla − ours split into terms that "
        "add up to it (min): tracks and other roads at Valhalla's speed against ours on the same "
        "ways, Valhalla's turn costs, route and snapping (Valhalla's ways at our speeds against "
        "our drive), our off-road walk (Valhalla counts none), matrix against route:",
        "",
        "| settlement | ours | Valhalla | difference | largest term |",
        "|---|---|---|---:|---|",
    ]
    for c in v["largest"]:
        term = c["terms_min"].get(c["cause"])
        lines.append(
            f"| {c['name']} ({c['place']}) | {c['ours']} {c['ours_min']} min | {c['valhalla']} "
            f"{c['valhalla_min']} min | {c['diff_min']:+.1f} | {c['cause']}"
            + (f" {term:+.1f}" if term is not None else "")
            + " |"
        )
    lines.append("")
    lines += [_case_line(c) for c in v["largest"]]
    if v.get("other_cases"):
        lines += [
            "",
            "Other settlements whose nearest anchor differs or that the matrix missed:",
            "",
        ]
        lines += [_case_line(c) for c in v["other_cases"]]
    lines += [
        "",
        "**Track speeds** on the tracks Valhalla's routes drive (km/h, km over all routes):",
        "",
        "| our tags | km | Valhalla | ours |",
        "|---|---:|---|---|",
    ]
    for t in v["track_speeds"]:
        valh = "/".join(f"{x:g}" for x in t["valhalla_kph"])
        ours = "/".join(f"{x:g}" for x in t["ours_kph"]) or "not driven"
        lines.append(f"| {t['tags']} | {t['km']:.2f} | {valh} | {ours} |")
    if v["ways_ours_does_not_drive"]:
        lines += ["", "**Ways Valhalla's routes drive that ours does not**:", ""]
        for w in v["ways_ours_does_not_drive"]:
            lines.append(f"- {w['tags']}: " + ", ".join(w["settlements"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["engine"]:
        return _engine(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m bench.valhalla", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--no-pipeline", action="store_true", help="reuse the results in bench/out/valhalla-andorra"
    )
    parser.add_argument(
        "--rev", help="run the pipeline/ of this commit (git archive), not the work tree's"
    )
    args = parser.parse_args(argv)
    figures = run(pipeline=not args.no_pipeline, rev=args.rev)
    print(render_markdown(figures))
    print(f"[valhalla] every settlement's answers: {WORK / (REGION + '.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
