"""What-if scenarios: add roads or bridges, close ways, add or remove anchors.

A scenario is a file `regions/<region>/scenarios/<name>.toml`, validated like a region file:

```toml
description = "A bridge over the Sukhona at Opoki"
[[add_roads]]
geojson = "new_bridge.geojson"   # (Multi)LineStrings in EPSG:4326, beside the scenario file
highway = "primary"              # speed from the region's profile; or speed_kph = 60
snap_m = 50                      # how far a line's end may be from the road it joins
[close]
osm_ids = [123456]               # OSM way ids
polygon = "flooded.geojson"      # every road with an end inside is closed
[anchors]
add = ["Опоки"]
remove = ["Нюксеница"]
```

Changes are edits of the edge list before the graph is searched; the routing never learns
what a scenario is.

How added roads join (:func:`apply_scenario`). Every LineString, and every part of a
MultiLineString, is a line of its own. Vertices of added lines that coincide (within
:data:`MERGE_M`) become one node, so lines that meet are connected. A line's *end* joins the
network at the nearest point of a joinable road segment (every driveable one but ferries and
motorways, as in :mod:`pipeline.access.walk_and_drive`) if that point is within `snap_m`: the segment is split
there (a new node; each of its edges is cut in pieces that keep its way, flags and months and
get their planar fraction of its time, length and wait share), unless the point is within
:data:`MERGE_M` of one of its ends, which is then joined. Interior vertices never join a road (a bridge crosses roads
without joining them). An end that joins neither a road nor another added line is an error.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pydantic import Field, ValidationError
from pyproj import CRS, Geod, Transformer

from pipeline.config import RegionConfig, StrictModel, did_you_mean
from pipeline.errors import ConfigError, InputDataError, PipelineError
from pipeline.network.graph import FLAG_ADDED, FLAG_NO_JOIN, MIN_EDGE_TIME_S, RoadGraph

__all__ = [
    "MERGE_M",
    "Scenario",
    "apply_scenario",
    "check_scenarios",
    "load_scenario",
    "scenario_dir",
    "validate_scenario_files",
]

_GEOD = Geod(ellps="WGS84")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MERGE_M = 1.0  # added vertices this close are one node; a join this close to a segment end uses it
_LINES = frozenset({"LineString", "MultiLineString"})
_POLYGONS = frozenset({"Polygon", "MultiPolygon"})


class AddRoads(StrictModel):
    geojson: Path  # LineStrings or MultiLineStrings, EPSG:4326
    highway: str = "primary"  # road class for the speed, unless speed_kph is given
    speed_kph: float | None = Field(default=None, gt=0)
    oneway: bool = False
    # A line's end this close to a joinable road joins it at the nearest point of the road.
    snap_m: float = Field(default=50.0, gt=0)


class Close(StrictModel):
    osm_ids: list[int] = Field(default_factory=list)
    polygon: Path | None = None


class AnchorChanges(StrictModel):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class Scenario(StrictModel):
    name: str = ""
    description: str = ""
    add_roads: list[AddRoads] = Field(default_factory=list)
    close: Close = Close()
    anchors: AnchorChanges = AnchorChanges()
    folder: Path = Path()


def scenario_dir(cfg: RegionConfig) -> Path:
    """The region's scenarios folder, ``regions/<region>/scenarios/``.

    Parameters
    ----------
    cfg : RegionConfig
        The region.

    Returns
    -------
    Path
        The folder (it may not exist).
    """
    return cfg.region_file.parent / cfg.name / "scenarios"


def load_scenario(cfg: RegionConfig, name: str) -> Scenario:
    """Read and validate `regions/<region>/scenarios/<name>.toml`.

    Parameters
    ----------
    cfg : RegionConfig
        The region.
    name : str
        The scenario's name (its file name without ``.toml``).

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ConfigError
        No such scenario (with the names there are), or a file that does not validate.
    """
    folder = scenario_dir(cfg)
    known = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
    if name in known and not _NAME.fullmatch(name):
        raise ConfigError(
            f"{folder / (name + '.toml')}: {name!r} is not a scenario name; rename the file to "
            "lowercase letters, digits, '_' and '-' (at most 64)"
        )
    if not _NAME.fullmatch(name) or name not in known:
        raise ConfigError(
            f"unknown scenario {name!r}{did_you_mean(name, known)}; scenarios of {cfg.name}: {', '.join(known) or 'none'} "
            f"(files in {folder})"
        )
    path = folder / f"{name}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return Scenario.model_validate({**raw, "name": name, "folder": folder})
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid UTF-8 TOML ({exc}); fix the syntax") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"{path}: {field} = {err.get('input')!r} is invalid: {err['msg']}"
        ) from None


def check_scenarios(cfg: RegionConfig) -> tuple[int, list[str]]:
    """(how many scenario files the region has, one message per bad one).

    Each file is loaded and validated and the GeoJSON files it names are read; anchor names
    are not checked (that needs the extract).

    Parameters
    ----------
    cfg : RegionConfig
        The region.

    Returns
    -------
    count : int
        How many scenario files the region has.
    problems : list of str
        One message per bad file.
    """
    folder = scenario_dir(cfg)
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    errors = []
    for path in files:
        try:
            validate_scenario_files(load_scenario(cfg, path.stem), cfg)
        except PipelineError as exc:
            errors.append(str(exc))
    return len(files), errors


def validate_scenario_files(scenario: Scenario, cfg: RegionConfig) -> None:
    """Raise if a road class has no speed or a file the scenario names is missing or unreadable.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.
    cfg : RegionConfig
        Its region (the speeds of its road classes).

    Raises
    ------
    InputDataError
        A file it names is missing or unreadable (the message names the file and the fix).
    ConfigError
        A road class with no speed.
    """
    for i, spec in enumerate(scenario.add_roads):
        _speed_kph(scenario, i, spec, cfg)
        _line_parts(scenario, i, spec)
    if scenario.close.polygon is not None:
        _zone(scenario)


def _where(scenario: Scenario, key: str) -> str:
    return f"scenario {scenario.name!r} ({scenario.folder / (scenario.name + '.toml')}): {key}"


def _read(path: Path, scenario: Scenario, key: str, kinds: frozenset[str]) -> gpd.GeoDataFrame:
    """A GeoJSON file beside the scenario in EPSG:4326, every feature of one of `kinds`."""
    if not path.is_file():
        raise InputDataError(
            f"{_where(scenario, key)}: {str(path)!r} not found; put the file beside the scenario"
        )
    try:
        frame = gpd.read_file(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0].split("; ")[0].rstrip(".")
        raise InputDataError(
            f"{_where(scenario, key)}: {str(path)!r} is unreadable ({reason}); write GeoJSON"
        ) from None
    types = frame.geometry.geom_type.to_numpy()
    bad = [i for i, t in enumerate(types) if t not in kinds]
    if bad:
        what = f"a {types[bad[0]]}" if types[bad[0]] else "no geometry"
        raise InputDataError(
            f"{_where(scenario, key)}: feature {bad[0] + 1} of {str(path)!r} has {what}; "
            f"only {' or '.join(sorted(kinds))} features are allowed there"
        )
    return frame.set_crs("EPSG:4326") if frame.crs is None else frame.to_crs("EPSG:4326")


def _speed_kph(scenario: Scenario, i: int, spec: AddRoads, cfg: RegionConfig) -> float:
    speed = spec.speed_kph or cfg.network.speed_table().get(spec.highway)
    if speed is None:
        raise ConfigError(
            f"{_where(scenario, f'add_roads[{i}]')}: highway {spec.highway!r} has no speed in the "
            "region's profile; give speed_kph or another highway"
        )
    return float(speed)


def _zone(scenario: Scenario) -> gpd.GeoDataFrame:
    path = scenario.folder / scenario.close.polygon
    return _read(path, scenario, "close.polygon", _POLYGONS)


@dataclass(frozen=True)
class _Lines:
    """The added lines (one per LineString or MultiLineString part) of one `[[add_roads]]`."""

    coords: np.ndarray  # (n, 2) lon, lat of every vertex
    line: np.ndarray  # the line of each vertex, 0.. within this file
    feature: np.ndarray  # per line: its feature in the file, 0..
    part: np.ndarray  # per line: its part of a MultiLineString, -1 for a LineString
    n_features: int
    path: Path


def _line_parts(scenario: Scenario, i: int, spec: AddRoads) -> _Lines:
    path = scenario.folder / spec.geojson
    frame = _read(path, scenario, f"add_roads[{i}].geojson", _LINES)
    geoms = frame.geometry.values
    parts, feature = shapely.get_parts(geoms, return_index=True)
    multi = shapely.get_type_id(geoms) == shapely.GeometryType.MULTILINESTRING
    first_part = np.searchsorted(feature, np.arange(len(geoms)))
    part = np.where(multi[feature], np.arange(len(parts)) - first_part[feature], -1)
    coords, line = shapely.get_coordinates(parts, return_index=True)
    return _Lines(coords, line, feature, part, len(geoms), path)


def apply_scenario(graph: RoadGraph, scenario: Scenario, cfg: RegionConfig, crs: CRS) -> RoadGraph:
    """The graph with the scenario's roads added and its closures removed.

    Parameters
    ----------
    graph : RoadGraph
        The (season's) road graph.
    scenario : Scenario
        The scenario (:func:`load_scenario`).
    cfg : RegionConfig
        The region (speeds of the added roads' classes, walk limit).
    crs : CRS
        The graph's projected CRS; the added roads are projected into it.

    Returns
    -------
    RoadGraph
        A new graph; `graph` is unchanged.
    """
    if scenario.add_roads:
        graph = _add_roads(graph, scenario, cfg, crs)
    closed = np.isin(graph.edge_way, np.asarray(scenario.close.osm_ids, dtype=np.int64))
    if scenario.close.polygon is not None:
        zone = shapely.transform(
            _zone(scenario),
            lambda xy: np.column_stack(
                Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(xy[:, 0], xy[:, 1])
            ),
        )
        shapely.prepare(zone)
        inside = shapely.contains_xy(zone, graph.node_xy[:, 0], graph.node_xy[:, 1])
        closed |= inside[graph.edge_u] | inside[graph.edge_v]
    return graph.select(~closed)


def _add_roads(graph: RoadGraph, scenario: Scenario, cfg: RegionConfig, crs: CRS) -> RoadGraph:
    """The graph with every added line of the scenario (see the module docstring)."""
    # The lines of every [[add_roads]], numbered across the scenario.
    lonlat, vertex_line, files = [], [], []
    per_line: dict[str, list[np.ndarray]] = {k: [] for k in ("spec", "feature", "part", "way")}
    speeds, n_lines, n_features = [], 0, 0
    for i, spec in enumerate(scenario.add_roads):
        speeds.append(_speed_kph(scenario, i, spec, cfg))
        lines = _line_parts(scenario, i, spec)
        files.append(lines.path)
        lonlat.append(lines.coords)
        vertex_line.append(lines.line + n_lines)
        per_line["spec"].append(np.full(len(lines.feature), i))
        per_line["feature"].append(lines.feature)
        per_line["part"].append(lines.part)
        per_line["way"].append(-(lines.feature + n_features + 1))
        n_lines += len(lines.feature)
        n_features += lines.n_features
    coords = np.concatenate(lonlat)
    if len(coords) == 0:
        return graph
    line = np.concatenate(vertex_line)
    spec_of, feature_of, part_of, way_of = (np.concatenate(per_line[k]) for k in per_line)
    snap_of = np.array([s.snap_m for s in scenario.add_roads])[spec_of]  # per line
    to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xy = np.column_stack(to_xy.transform(coords[:, 0], coords[:, 1]))

    # Coinciding vertices are one node (a cluster, named by its first vertex).
    starts = np.r_[True, line[1:] != line[:-1]]
    is_end = starts | np.r_[line[1:] != line[:-1], True]
    leaders, cluster = np.unique(_leaders(xy, MERGE_M), return_inverse=True)
    n_clusters = len(leaders)
    has_interior = np.zeros(n_clusters, dtype=bool)
    has_interior[cluster[~is_end]] = True
    lines_at = np.bincount(np.unique(cluster * n_lines + line) // n_lines, minlength=n_clusters)
    snap_at = np.zeros(n_clusters)
    np.maximum.at(snap_at, cluster[is_end], snap_of[line[is_end]])

    # Clusters of line ends only join the nearest point of a joinable segment within snap_m.
    node_of = np.full(n_clusters, -1, dtype=np.int64)
    seg_a, seg_b = _joinable_segments(graph)
    ends = np.flatnonzero(~has_interior)
    seg, dist = _nearest_segments(graph, seg_a, seg_b, xy[leaders[ends]])
    joins = dist <= snap_at[ends]
    loose = ~joins & (lines_at[ends] < 2)  # no road near and no other added line there
    if loose.any():
        first_loose = ends[loose]
        vertex = np.flatnonzero(is_end & (cluster == first_loose[0]))[0]
        raise _not_joined(
            scenario,
            files[spec_of[line[vertex]]],
            feature_of[line[vertex]],
            part_of[line[vertex]],
            bool(starts[vertex]),
            coords[vertex],
            float(dist[loose][0]),
            float(snap_at[first_loose[0]]),
            int(loose.sum()) - 1,
        )
    join_cluster, join_seg = ends[joins], seg[joins]
    a_xy, b_xy = graph.node_xy[seg_a[join_seg]], graph.node_xy[seg_b[join_seg]]
    ab = b_xy - a_xy
    seg_len = np.hypot(ab[:, 0], ab[:, 1])
    t = np.einsum("ij,ij->i", xy[leaders[join_cluster]] - a_xy, ab) / seg_len**2
    along = np.clip(t, 0.0, 1.0) * seg_len
    at_a = along <= MERGE_M
    at_b = ~at_a & (seg_len - along <= MERGE_M)
    node_of[join_cluster[at_a]] = seg_a[join_seg[at_a]]
    node_of[join_cluster[at_b]] = seg_b[join_seg[at_b]]

    # Split points on one segment closer than MERGE_M are one new node.
    split = np.flatnonzero(~at_a & ~at_b)
    split = split[np.lexsort((along[split], join_seg[split]))]
    # segment → [(fraction from a, node)], by fraction
    chains: dict[int, list[tuple[float, int]]] = {}
    split_xy, lead_seg, lead_along = [], -1, 0.0
    for k in split:
        s = int(join_seg[k])
        if s != lead_seg or along[k] - lead_along > MERGE_M:
            lead_seg, lead_along = s, float(along[k])
            fraction = lead_along / seg_len[k]
            chains.setdefault(s, []).append((fraction, graph.n_nodes + len(split_xy)))
            split_xy.append(a_xy[k] + fraction * ab[k])
        node_of[join_cluster[k]] = chains[s][-1][1]
    split_xy = np.asarray(split_xy, dtype=float).reshape(-1, 2)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    split_lonlat = np.column_stack(to_lonlat.transform(split_xy[:, 0], split_xy[:, 1]))
    free = np.flatnonzero(node_of < 0)
    node_of[free] = graph.n_nodes + len(split_xy) + np.arange(len(free))
    node_xy = np.vstack([graph.node_xy, split_xy, xy[leaders[free]]])
    node_lonlat = np.vstack([graph.node_lonlat, split_lonlat, coords[leaders[free]]])

    # The added lines' edges, from node to node (a joined end starts at its road point).
    same = line[1:] == line[:-1]
    u, v = node_of[cluster[:-1]][same], node_of[cluster[1:]][same]
    edge_line = line[:-1][same]
    keep = u != v
    u, v, edge_line = u[keep], v[keep], edge_line[keep]
    one_way = np.array([s.oneway for s in scenario.add_roads])[spec_of[edge_line]]
    u, v, edge_line = (
        np.r_[u, v[~one_way]],
        np.r_[v, u[~one_way]],
        np.r_[edge_line, edge_line[~one_way]],
    )
    pu, pv = node_lonlat[u], node_lonlat[v]
    length_m = np.abs(_GEOD.inv(pu[:, 0], pu[:, 1], pv[:, 0], pv[:, 1])[2])
    speed_mps = np.asarray(speeds)[spec_of[edge_line]] / 3.6
    added = {
        "u": u,
        "v": v,
        "time": np.maximum(length_m / speed_mps, MIN_EDGE_TIME_S),
        "length": length_m,
        "way": way_of[edge_line],
        "flags": np.full(len(u), FLAG_ADDED, dtype=np.uint8),
        "wait": np.zeros(len(u)),
        "months": np.zeros(len(u), dtype=np.uint16),
    }
    replaced, pieces = _split_edges(graph, seg_a, seg_b, chains)
    keep_edges = ~replaced

    def grow(old, key):
        if old is None:
            return None
        return np.concatenate([old[keep_edges], pieces[key], added[key]]).astype(old.dtype)

    return RoadGraph(
        crs_wkt=graph.crs_wkt,
        node_xy=node_xy,
        node_lonlat=node_lonlat,
        edge_u=grow(graph.edge_u.astype(np.int64), "u"),
        edge_v=grow(graph.edge_v.astype(np.int64), "v"),
        edge_time_s=grow(graph.edge_time_s, "time"),
        edge_length_m=grow(graph.edge_length_m, "length"),
        edge_way=grow(graph.edge_way.astype(np.int64), "way"),
        edge_flags=grow(graph.flags(), "flags"),
        edge_wait_share=grow(graph.edge_wait_share, "wait"),
        edge_months=grow(graph.edge_months, "months"),
    )


def _leaders(xy: np.ndarray, radius_m: float) -> np.ndarray:
    """Per point, the first point within `radius_m` that is not itself within reach of an
    earlier first point (itself if none): clusters that never chain beyond `radius_m`."""
    from scipy.spatial import cKDTree  # (here: the map stage reads scenarios, never solves them)

    leader = np.arange(len(xy))
    pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")
    claimed = np.zeros(len(xy), dtype=bool)
    for i, j in pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]:  # i < j, the earliest first
        if not claimed[i] and not claimed[j]:
            leader[j], claimed[j] = i, True
    return leader


def _joinable_segments(graph: RoadGraph) -> tuple[np.ndarray, np.ndarray]:
    """(a, b), a < b: the node pairs joined by a joinable edge, of planar length > 0."""
    join = (graph.flags() & FLAG_NO_JOIN) == 0
    u, v = graph.edge_u[join].astype(np.int64), graph.edge_v[join].astype(np.int64)
    n = max(graph.n_nodes, 1)
    key = np.sort(np.minimum(u, v) * n + np.maximum(u, v))
    key = key[np.r_[True, key[1:] != key[:-1]]]
    a, b = key // n, key % n
    d = graph.node_xy[b] - graph.node_xy[a]
    keep = np.hypot(d[:, 0], d[:, 1]) > 0
    return a[keep], b[keep]


def _nearest_segments(
    graph: RoadGraph, seg_a: np.ndarray, seg_b: np.ndarray, xy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per point, the nearest segment and its planar distance (inf without segments)."""
    seg, dist = np.zeros(len(xy), dtype=np.int64), np.full(len(xy), np.inf)
    if len(seg_a) == 0 or len(xy) == 0:
        return seg, dist
    # A segment end is at most as near as the nearest segment, so only segments whose box
    # comes that close to a point can be the nearest: a small tree for a local scenario.
    from scipy.spatial import cKDTree

    ends = np.unique(np.concatenate([seg_a, seg_b]))
    reach, _ = cKDTree(graph.node_xy[ends]).query(xy, k=1)
    lo, hi = (xy - reach[:, None]).min(axis=0), (xy + reach[:, None]).max(axis=0)
    pa, pb = graph.node_xy[seg_a], graph.node_xy[seg_b]
    near = np.flatnonzero(
        (np.maximum(pa, pb) >= lo).all(axis=1) & (np.minimum(pa, pb) <= hi).all(axis=1)
    )
    tree = shapely.STRtree(shapely.linestrings(np.stack([pa[near], pb[near]], axis=1)))
    (point, nearest), d = tree.query_nearest(
        shapely.points(xy), return_distance=True, all_matches=False
    )
    seg[point], dist[point] = near[nearest], d
    return seg, dist


def _split_edges(
    graph: RoadGraph,
    seg_a: np.ndarray,
    seg_b: np.ndarray,
    chains: dict[int, list[tuple[float, int]]],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(the joinable edges of the split segments, the pieces that replace them).

    Each edge a → b (or b → a) becomes one edge per stretch between consecutive split points,
    with its way, flags and months and the stretch's planar fraction of its time and length
    (and of its wait share, so the pieces share the wait the edge had).
    """
    n = max(graph.n_nodes, 1)
    u, v = graph.edge_u.astype(np.int64), graph.edge_v.astype(np.int64)
    key = np.minimum(u, v) * n + np.maximum(u, v)
    chain_of = {int(seg_a[s]) * n + int(seg_b[s]): s for s in chains}
    join = (graph.flags() & FLAG_NO_JOIN) == 0
    replaced = join & np.isin(key, np.fromiter(chain_of, dtype=np.int64, count=len(chain_of)))
    edge, pu, pv, share = [], [], [], []
    for e in np.flatnonzero(replaced):
        s = chain_of[int(key[e])]
        fractions = np.array([0.0, *(f for f, _ in chains[s]), 1.0])
        nodes = [int(seg_a[s]), *(node for _, node in chains[s]), int(seg_b[s])]
        steps = list(zip(nodes[:-1], nodes[1:], np.diff(fractions), strict=True))
        if u[e] != seg_a[s]:  # b → a: the same stretches, reversed
            steps = [(b, a, f) for a, b, f in reversed(steps)]
        for a, b, f in steps:
            edge.append(e)
            pu.append(a)
            pv.append(b)
            share.append(f)
    edge, share = np.asarray(edge, dtype=np.int64), np.asarray(share, dtype=float)

    def take(a, dtype):
        return (a[edge] if a is not None else np.zeros(len(edge))).astype(dtype)

    pieces = {
        "u": np.asarray(pu, dtype=np.int64),
        "v": np.asarray(pv, dtype=np.int64),
        "time": np.maximum(graph.edge_time_s[edge] * share, MIN_EDGE_TIME_S),
        "length": graph.edge_length_m[edge] * share,
        "way": graph.edge_way[edge].astype(np.int64),
        "flags": graph.flags()[edge],
        "wait": take(graph.edge_wait_share, float) * share,
        "months": take(graph.edge_months, np.uint16),
    }
    return replaced, pieces


def _not_joined(
    scenario: Scenario,
    path: Path,
    feature: int,
    part: int,
    is_start: bool,
    lonlat: np.ndarray,
    dist_m: float,
    snap_m: float,
    others: int,
) -> InputDataError:
    which = f"feature {feature + 1}" + (f", part {part + 1}," if part >= 0 else "")
    where = f"{'start' if is_start else 'end'} ({lonlat[0]:.6f}, {lonlat[1]:.6f})"
    far = (
        f"is {dist_m:.0f} m from the nearest road it can join"
        if np.isfinite(dist_m)
        else "has no road to join"
    )
    more = f"; {others} more line end(s) do not join either" if others else ""
    return InputDataError(
        f"scenario {scenario.name!r}: the {where} of added line {which} of {str(path)!r} {far} "
        f"(ferries and motorways are not joined; snap_m = {snap_m:g}): move that end onto a road "
        f"or onto another added line's vertex, or raise snap_m{more}"
    )
