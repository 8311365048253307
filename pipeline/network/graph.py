"""The road network: OSM road lines become a directed graph with a travel time on every edge.

Nodes are the distinct vertices of the driveable road lines (OSM stores coordinates at 1e-7
degree, so a node shared by two ways has identical coordinates in both). Every segment between
consecutive vertices is an edge; its time comes from the speed profile in :mod:`pipeline.config`.
Disconnected parts are kept: whoever cannot reach an anchor is reported unreachable later.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod

from pipeline.config import NetworkConfig
from pipeline.crs import project_xy
from pipeline.machine import CORES
from pipeline.units import kph_to_mps

if TYPE_CHECKING:  # scipy is imported where a graph is solved: the map and QGIS stages never do
    from scipy import sparse

__all__ = [
    "CLOSING_ACCESS",
    "FLAG_ADDED",
    "FLAG_BOARDING",
    "FLAG_FERRY",
    "FLAG_GRAVEL",
    "FLAG_NO_JOIN",
    "FLAG_SOFT",
    "FLAG_WINTER",
    "RoadGraph",
    "apply_season",
    "build_graph",
    "driveable",
    "edge_speeds_kph",
    "effective_surface",
    "ferry_months",
    "parse_duration_s",
    "parse_maxspeed_kph",
    "season_flags",
]

logger = logging.getLogger(__name__)

_GEOD = Geod(ellps="WGS84")
# access=* values that close a road to cars (as OSRM's car profile does; `delivery` too: a
# villager does not deliver); `destination`, `permissive` and `customers` leave it open.
CLOSING_ACCESS = frozenset({"no", "private", "agricultural", "forestry", "delivery", "emergency"})
_ALLOWED = {"yes", "designated", "destination", "permissive"}
_ONEWAY_FORWARD = {"yes", "true", "1"}
_ONEWAY_REVERSE = {"-1", "reverse"}
# Russian implicit limits (RU:*) and a few common words, km/h.
_MAXSPEED_ZONES = {
    "ru:urban": 60.0,
    "ru:rural": 90.0,
    "ru:motorway": 110.0,
    "ru:living_street": 20.0,
    "living_street": 20.0,
    "walk": 5.0,
}
MIN_EDGE_TIME_S = 1e-3  # scipy's csgraph would read an explicit 0 as "no edge"

# Edge flags: what a season may close or slow. A way can have several.
FLAG_FERRY = 1
FLAG_WINTER = 2  # winter_road=yes or ice_road=yes: a зимник or an ice crossing
FLAG_SOFT = 4  # dirt-like surface, tracktype grade3-5, or an untagged track: impassable in the thaw
FLAG_GRAVEL = 8  # gravel, compacted, fine_gravel, pebblestone: slower in the thaw
FLAG_ADDED = 16  # added by a scenario
FLAG_NO_JOIN = 32  # ferries and motorways: entered at their ends only, never walked onto
FLAG_BOARDING = 64  # road → ferry: the wait for the ferry, paid once per crossing
SOFT_SURFACES = frozenset({"unpaved", "dirt", "earth", "ground", "grass", "mud", "sand"})
GRAVEL_SURFACES = frozenset({"gravel", "compacted", "fine_gravel", "pebblestone"})
SOFT_TRACKTYPES = frozenset({"grade3", "grade4", "grade5"})
NO_JOIN_HIGHWAYS = frozenset({"motorway", "motorway_link"})  # controlled access: junctions only
ALL_MONTHS = 0xFFF
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}


def _fastest(
    u: np.ndarray, v: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, t) sorted by (u, v), keeping only the fastest of parallel edges."""
    from pipeline.network.edge_pairs import fastest_of_pairs  # compiled: only routing needs it

    return fastest_of_pairs(u, v, t)


@dataclass(frozen=True)
class RoadGraph:
    """A directed road graph in the region's projected CRS.

    Edge arrays are parallel; `edge_way` indexes the roads table the graph was built from.
    """

    crs_wkt: str
    node_xy: np.ndarray  # (n, 2) metres, projected
    node_lonlat: np.ndarray  # (n, 2) degrees, EPSG:4326
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_time_s: np.ndarray
    edge_length_m: np.ndarray
    edge_way: np.ndarray
    edge_flags: np.ndarray | None = None  # FLAG_* bits (uint8); None: no flags
    edge_wait_share: np.ndarray | None = None  # 1 on boarding edges (the ferry wait), else 0
    edge_months: np.ndarray | None = None  # ferries: bit m-1 set if it runs in month m; 0: unknown

    @property
    def n_nodes(self) -> int:
        """How many road nodes the graph has.

        Returns
        -------
        int
            The number of rows of `node_xy`.
        """
        return len(self.node_xy)

    def csr(
        self,
        extra_u: np.ndarray | None = None,
        extra_v: np.ndarray | None = None,
        extra_time_s: np.ndarray | None = None,
        extra_nodes: int = 0,
        reverse: bool = False,
    ) -> sparse.csr_matrix:
        """Adjacency matrix u→v weighted by seconds; parallel edges keep the fastest.

        `extra_*` add edges to `extra_nodes` virtual nodes numbered after the road nodes.
        `reverse`: the matrix of v→u instead (a search for the way *to* a place runs on it),
        built directly rather than by transposing.

        Parameters
        ----------
        extra_u, extra_v : np.ndarray, optional
            Start and end node of each extra edge; an end is a virtual node, numbered from
            `n_nodes` on. Parallel extra edges keep the fastest too.
        extra_time_s : np.ndarray, optional
            Seconds of each extra edge; must be above zero (an explicit 0 reads as no edge).
        extra_nodes : int
            How many virtual nodes to add.
        reverse : bool
            Entry (v, u) for each edge u→v.

        Returns
        -------
        scipy.sparse.csr_matrix
            Square, of side ``n_nodes + extra_nodes``; entry (u, v) is the fastest time u→v in
            seconds, and a missing entry means no edge.
        """
        from scipy import sparse

        n = self.n_nodes + extra_nodes
        u, v, t = self._fastest_edges
        if extra_u is not None:
            # Extra edges end at virtual nodes (>= n_nodes), so none is parallel to a road edge.
            eu, ev, et = _fastest(
                np.asarray(extra_u), np.asarray(extra_v), np.asarray(extra_time_s)
            )
            u, v, t = np.concatenate([u, eu]), np.concatenate([v, ev]), np.concatenate([t, et])
        return sparse.csr_matrix((t, (v, u) if reverse else (u, v)), shape=(n, n))

    def n_parts(self) -> int:
        """How many weakly connected parts the graph has (from its structure, not its times).

        Returns
        -------
        int
            The number of parts, edge directions ignored; a node with no edge is a part of its
            own.
        """
        from scipy import sparse
        from scipy.sparse import csgraph

        n = self.n_nodes
        structure = sparse.csr_matrix(
            (np.ones(len(self.edge_u), dtype=bool), (self.edge_u, self.edge_v)), shape=(n, n)
        )
        return int(csgraph.connected_components(structure, directed=True, connection="weak")[0])

    @cached_property
    def _fastest_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The road edges with parallel ones reduced to the fastest; sorted once, reused by csr()."""
        return _fastest(self.edge_u, self.edge_v, self.edge_time_s)

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        """The graph as named arrays, for ``np.savez`` (read back by :meth:`from_npz`).

        Returns
        -------
        dict of str to np.ndarray
            One entry per field; `crs_wkt` as a 0-d string array. The optional edge arrays
            (`edge_flags`, `edge_wait_share`, `edge_months`) are left out when None.
        """
        optional = {
            k: getattr(self, k)
            for k in ("edge_flags", "edge_wait_share", "edge_months")
            if getattr(self, k) is not None
        }
        return optional | {
            "crs_wkt": np.array(self.crs_wkt),
            "node_xy": self.node_xy,
            "node_lonlat": self.node_lonlat,
            "edge_u": self.edge_u,
            "edge_v": self.edge_v,
            "edge_time_s": self.edge_time_s,
            "edge_length_m": self.edge_length_m,
            "edge_way": self.edge_way,
        }

    @classmethod
    def from_npz(cls, data) -> RoadGraph:
        """The graph saved by :meth:`to_npz_dict`.

        Parameters
        ----------
        data : mapping of str to np.ndarray
            A loaded network.npz (``np.load``) or a dict of the same arrays. Names that are
            not fields are ignored; optional arrays that are missing become None.

        Returns
        -------
        RoadGraph
            The graph, not checked (see :meth:`problems`).

        Raises
        ------
        TypeError
            If a required array (anything but the optional edge arrays) is missing.
        """
        fields = [k for k in cls.__dataclass_fields__ if k in data]
        return cls(**{k: (str(data[k]) if k == "crs_wkt" else data[k]) for k in fields})

    def problems(self, crs: CRS | None = None) -> list[str]:
        """What is wrong with the graph's arrays (empty: nothing): lengths that differ, node
        indices out of range, times that are not positive and finite, another CRS than the
        region's. A damaged or stale network.npz shows here, not as a wrong answer.

        Parameters
        ----------
        crs : CRS, optional
            The region's projected CRS; None skips the CRS check, as does an empty `crs_wkt`.

        Returns
        -------
        list of str
            One plain-English line per problem found; empty if the graph is sound.

        Raises
        ------
        pyproj.exceptions.CRSError
            If `crs` is given and `crs_wkt` is not valid WKT.
        """
        n_edges = len(self.edge_u)
        found = []
        if self.node_xy.ndim != 2 or self.node_xy.shape[1:] != (2,):
            found.append(f"node_xy has shape {self.node_xy.shape}, not (n, 2)")
        if len(self.node_lonlat) != len(self.node_xy):
            found.append(f"{len(self.node_lonlat)} node_lonlat for {len(self.node_xy)} nodes")
        for name in ("edge_v", "edge_time_s", "edge_length_m", "edge_way", "edge_flags",
                     "edge_wait_share", "edge_months"):  # fmt: skip
            values = getattr(self, name)
            if values is not None and len(values) != n_edges:
                found.append(f"{len(values)} {name} for {n_edges} edges")
        if not found and n_edges:
            low = min(self.edge_u.min(), self.edge_v.min())
            high = max(self.edge_u.max(), self.edge_v.max())
            if low < 0 or high >= self.n_nodes:
                found.append(f"edge ends {low}..{high} outside the {self.n_nodes} nodes")
            if not (np.isfinite(self.edge_time_s).all() and (self.edge_time_s > 0).all()):
                found.append("edge times that are not positive and finite")
        if not np.isfinite(self.node_xy).all():
            found.append("node coordinates that are not finite")
        if crs is not None and self.crs_wkt and not CRS.from_wkt(self.crs_wkt).equals(crs):
            found.append(
                f"its CRS is {CRS.from_wkt(self.crs_wkt).name!r}, the region's {crs.name!r}"
            )
        return found

    def flags(self) -> np.ndarray:
        """The FLAG_* bits of every edge.

        Returns
        -------
        np.ndarray
            (n_edges,) `edge_flags`, or uint8 zeros when the graph has no flags.
        """
        return (
            self.edge_flags if self.edge_flags is not None else np.zeros(len(self.edge_u), np.uint8)
        )

    def select(
        self, keep: np.ndarray, time_s: np.ndarray | None = None, *, in_place: bool = False
    ) -> RoadGraph:
        """The same nodes with only the edges in `keep` (and, optionally, new edge times).

        Parameters
        ----------
        keep : np.ndarray
            Boolean mask of shape (n_edges,), or edge indices, of the edges to keep.
        time_s : np.ndarray, optional
            New seconds for every edge, shape (n_edges,) (before `keep` is applied); None
            keeps `edge_time_s`.

        in_place : bool
            With a mask: write the kept edges over the front of this graph's own arrays
            (and of `time_s`) instead of new ones, for a caller that drops this graph: no
            new memory, which at the bench's macro size was 2 s of first touches. This graph
            is spoilt after it.

        Returns
        -------
        RoadGraph
            A new graph with the same nodes and node numbers; every edge array, optional ones
            included, reduced to the kept edges.
        """
        times = self.edge_time_s if time_s is None else time_s
        keep = np.asarray(keep)  # a mask is used as it is: indices would be 8 bytes per edge
        if in_place and keep.dtype != bool:
            raise ValueError("select(in_place=True) takes a mask of the edges to keep")

        def pick(a):
            if a is None:
                return None
            return _compacted(a, keep) if in_place else a[keep]

        return replace(
            self,
            edge_u=pick(self.edge_u),
            edge_v=pick(self.edge_v),
            edge_time_s=pick(times),
            edge_length_m=pick(self.edge_length_m),
            edge_way=pick(self.edge_way),
            edge_flags=pick(self.edge_flags),
            edge_wait_share=pick(self.edge_wait_share),
            edge_months=pick(self.edge_months),
        )


def driveable(roads: pd.DataFrame, net: NetworkConfig) -> np.ndarray:
    """Mask of roads a car may use: a known road class or a ferry, not closed by access tags
    (:data:`CLOSING_ACCESS`, unless motorcar/motor_vehicle allows it) nor `smoothness=impassable`.

    Winter roads and ice roads are kept (flagged); seasons decide when they are open.

    Parameters
    ----------
    roads : pd.DataFrame
        One row per OSM way, with columns `highway`, `ferry`, `access`, `motorcar`,
        `motor_vehicle` and, optionally, `smoothness`.
    net : NetworkConfig
        The region's network settings (its road classes are those of the speed table).

    Returns
    -------
    np.ndarray
        Boolean, one per road: True where a car may use it.
    """
    known = roads["highway"].isin(list(net.speed_table())) | roads["ferry"].astype(bool)
    vehicle = roads["motorcar"].fillna(roads["motor_vehicle"])  # the more specific tag wins
    blocked = roads["access"].isin(CLOSING_ACCESS) & ~vehicle.isin(_ALLOWED)
    blocked |= vehicle.isin(CLOSING_ACCESS)
    if "smoothness" in roads:
        blocked |= roads["smoothness"].eq("impassable")
    return (known & ~blocked).to_numpy()


def effective_surface(roads: pd.DataFrame, net: NetworkConfig) -> pd.Series:
    """Each road's surface: its `surface` tag, or, for a minor road with neither `surface` nor
    `tracktype` (`network.untagged_surface_classes`), what the region takes an untagged minor
    road to be (`network.untagged_surface`; in the North most are dirt).

    Parameters
    ----------
    roads : pd.DataFrame
        One row per OSM way, with columns `surface`, `tracktype` and `highway`.
    net : NetworkConfig
        The region's network settings; with no `untagged_surface`, the tag is returned as is.

    Returns
    -------
    pd.Series
        The surface per road, on the index of `roads`; NaN where still unknown.
    """
    surface = roads["surface"]
    if net.untagged_surface is None:
        return surface
    untagged = surface.isna() & roads["tracktype"].isna()
    untagged &= roads["highway"].isin(net.untagged_surface_classes)
    return surface.where(~untagged, net.untagged_surface)


def parse_maxspeed_kph(values: pd.Series) -> np.ndarray:
    """Tagged maxspeed in km/h (NaN where absent or unreadable); handles mph and RU:* zones.

    Parameters
    ----------
    values : pd.Series
        The `maxspeed` tag per road ('60', '40 mph', 'RU:rural', 'walk'...).

    Returns
    -------
    np.ndarray
        Float km/h, one per value. The leading number is read (in mph if the text says so);
        otherwise a known zone word gives its implicit limit. '0' gives 0 (ignored by
        :func:`edge_speeds_kph`).
    """
    text = values.fillna("").astype(str).str.strip().str.lower()
    number = pd.to_numeric(text.str.extract(r"^(\d+(?:\.\d+)?)")[0], errors="coerce")
    mph = text.str.contains("mph")
    kph = number.where(~mph, number * 1.609344)
    zones = text.map(_MAXSPEED_ZONES)
    return kph.fillna(zones).to_numpy(dtype=float)


def parse_duration_s(values: pd.Series) -> np.ndarray:
    """OSM `duration` (HH:MM, HH:MM:SS, minutes, or ISO 8601 PT1H30M) in seconds; NaN if absent.

    Parameters
    ----------
    values : pd.Series
        The `duration` tag per ferry way; a value that is not a string counts as absent.

    Returns
    -------
    np.ndarray
        Float seconds, one per value; a plain number is minutes. NaN where absent or
        unreadable.
    """
    return np.array([_duration_s(v) for v in values], dtype=float)  # one value per ferry way


def _duration_s(value) -> float:
    if not isinstance(value, str):
        return np.nan
    value = value.strip()
    if m := re.fullmatch(r"(\d+):(\d{1,2})(?::(\d{1,2}))?", value):
        h, mi, s = (int(g or 0) for g in m.groups())
        return h * 3600.0 + mi * 60.0 + s
    if m := re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", value.upper()):
        h, mi, s = (int(g or 0) for g in m.groups())
        return h * 3600.0 + mi * 60.0 + s
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value) * 60.0
    return np.nan


def edge_speeds_kph(roads: pd.DataFrame, net: NetworkConfig) -> np.ndarray:
    """Speed of each road, km/h: class speed, capped by a lower maxspeed, times the smallest of
    its surface, tracktype and smoothness factors (see :mod:`pipeline.config` for the tables).

    Parameters
    ----------
    roads : pd.DataFrame
        One row per OSM way, with columns `highway`, `maxspeed`, `surface`, `tracktype` and,
        optionally, `smoothness`.
    net : NetworkConfig
        The region's speed profile: class speeds and surface, tracktype and smoothness factors.

    Returns
    -------
    np.ndarray
        Float km/h, one per road. A maxspeed of 0 or below, or unreadable, is ignored; a
        missing factor counts as 1. NaN where the class is not in the speed table, as for a
        ferry with no `highway` tag (ferries are timed from their duration or the ferry speed,
        not from this).
    """
    base = roads["highway"].map(net.speed_table()).to_numpy(dtype=float)
    tagged = parse_maxspeed_kph(roads["maxspeed"])
    speed = np.where(np.isfinite(tagged) & (tagged > 0), np.fmin(base, tagged), base)
    factors = [
        effective_surface(roads, net).map(net.surface_table()),
        roads["tracktype"].map(net.tracktype_table()),
    ]
    if "smoothness" in roads:
        factors.append(roads["smoothness"].map(net.smoothness_table()))
    factor = np.min([f.fillna(1.0).to_numpy(dtype=float) for f in factors], axis=0)
    return speed * factor


def _direction_flags(roads: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(forward allowed, backward allowed) per road."""
    oneway = roads["oneway"].fillna("").astype(str).str.lower()
    implied = roads["junction"].isin(["roundabout", "circular"]) | roads["highway"].eq("motorway")
    reverse_only = oneway.isin(_ONEWAY_REVERSE)
    forward_only = oneway.isin(_ONEWAY_FORWARD) | (implied & ~oneway.eq("no") & ~reverse_only)
    ferry = roads["ferry"].astype(bool)
    forward = (~reverse_only | ferry).to_numpy()
    backward = (~forward_only | ferry).to_numpy()
    return forward, backward


def build_graph(roads: gpd.GeoDataFrame, net: NetworkConfig, crs: CRS) -> RoadGraph:
    """Build the directed road graph from the extract's roads (EPSG:4326 lines).

    Ferries get nodes of their own, one per ferry vertex, joined to the road node at the same
    place by a boarding edge that costs the wait (and a free one back): a crossing drawn as
    several ferry ways end to end waits once, as a passenger who stays on board does.

    Parameters
    ----------
    roads : gpd.GeoDataFrame
        Roads layer of the extract, one row per OSM way.
    net : NetworkConfig
        The region's speed profile and ferry settings.
    crs : CRS
        The region's projected CRS (node coordinates in metres).
    """
    roads = roads[driveable(roads, net)].reset_index(drop=True)
    coords, way = shapely.get_coordinates(roads.geometry.values, return_index=True)
    on_ferry = roads["ferry"].to_numpy(dtype=bool)[way]
    # Ferry vertices are keyed apart from road vertices (the last bit), so they get own nodes.
    node_keys, node_of_vertex, first_vertex = _nodes(_coord_key(coords) * 2 + on_ferry)
    # Nodes are numbered in a space-filling order, so that nodes near each other on the map are
    # near each other in memory: a Dijkstra run, whose frontier is a ring on the map, then reads
    # neighbouring memory (about 3 times faster on the bench oblast than in coordinate order).
    order = _z_order(coords[first_vertex], _Z_CELL_DEG)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    node_lonlat = coords[first_vertex[order]]

    # A segment joins consecutive vertices of one way at two different nodes.
    step_m = _geodesic_steps_m(coords)
    seg = np.flatnonzero((way[1:] == way[:-1]) & (node_of_vertex[1:] != node_of_vertex[:-1]))
    u, v = rank[node_of_vertex[seg]], rank[node_of_vertex[seg + 1]]
    seg_way, length_m = way[seg], step_m[seg]
    del step_m, node_of_vertex

    time_s = _segment_times_s(roads, net, seg_way, length_m)
    forward, backward = _direction_flags(roads)
    fw, bw = np.flatnonzero(forward[seg_way]), np.flatnonzero(backward[seg_way])
    pick = np.concatenate([fw, bw])  # the segments driven forward, then those driven backward
    pick_way = seg_way[pick]
    on_road, on_ferry = _boarding(node_keys)  # a boarding edge's nodes, before numbering
    n_board = len(on_road)
    # The edges: the segments driven forward, those driven backward, the boarding edges onto
    # the ferries, and the ones back. Each edge array is written part by part in place: the
    # gathered copies that were concatenated were each array once more in fresh memory.
    wait_s = net.ferry_wait_min * 60.0
    edge_time_s = _edges_of(np.float64, (time_s, pick), (wait_s, n_board), (0.0, n_board))
    np.maximum(edge_time_s, MIN_EDGE_TIME_S, out=edge_time_s)
    no_join = FLAG_BOARDING | FLAG_NO_JOIN
    return RoadGraph(
        crs_wkt=crs.to_wkt(),
        node_xy=project_xy(node_lonlat, "EPSG:4326", crs),
        node_lonlat=node_lonlat,
        edge_u=_edges_of(np.int64, (u, fw), (v, bw), (rank, on_road), (rank, on_ferry)),
        edge_v=_edges_of(np.int64, (v, fw), (u, bw), (rank, on_ferry), (rank, on_road)),
        edge_time_s=edge_time_s,
        edge_length_m=_edges_of(np.float64, (length_m, pick), (0.0, 2 * n_board)),
        edge_way=_edges_of(
            np.int64, (roads["osm_id"].to_numpy(dtype=np.int64), pick_way), (0, 2 * n_board)
        ),
        edge_flags=_edges_of(
            np.uint8, (season_flags(roads, net).astype(np.uint8), pick_way), (no_join, 2 * n_board)
        ),
        edge_wait_share=_edges_of(np.float64, (0.0, len(pick)), (1.0, n_board), (0.0, n_board)),
        edge_months=_edges_of(
            np.uint16, (ferry_months(roads).astype(np.uint16), pick_way), (ALL_MONTHS, 2 * n_board)
        ),
    )


def _edges_of(dtype, *parts: tuple) -> np.ndarray:
    """One array of consecutive parts, each written in place: (values, rows), the values at
    those rows, or (value, n), one value n times."""
    sizes = [len(rows) if isinstance(rows, np.ndarray) else rows for _, rows in parts]
    out = np.empty(sum(sizes), dtype)
    start = 0
    for (values, rows), n in zip(parts, sizes, strict=True):
        if isinstance(rows, np.ndarray):
            # mode="clip": the rows are in range, and "raise" would buffer a copy of the part
            np.take(values, rows, out=out[start : start + n], mode="clip")
        else:
            out[start : start + n] = values
        start += n
    return out


_Z_CELL_DEG = 1e-3  # cell of the space-filling order of nodes (about 110 × 50 m at 60° N)


def _z_order(xy: np.ndarray, cell: float) -> np.ndarray:
    """The order of points along the Z curve (Morton order) of square cells of side `cell`:
    the bits of a cell's column and row interleaved; stable within a cell."""
    n = len(xy)
    if n == 0:
        return np.zeros(0, np.int64)
    origin = xy.min(axis=0)
    # The largest cell, from the largest coordinates: floor division keeps the order.
    largest = _floor_divide(xy.max(axis=0) - origin, cell).max()
    code = _in_chunks(n, np.uint64, lambda rows: _morton(xy[rows], origin, cell))
    index_bits = max(n - 1, 1).bit_length()
    if 2 * max(int(largest), 1).bit_length() + index_bits > 64:
        return np.argsort(code, kind="stable")
    # Each point's index below its code makes every key distinct, so a plain sort of the keys
    # (SIMD in NumPy) gives the stable order: several times faster than a stable argsort.
    shift, low = np.uint64(index_bits), np.uint64((1 << index_bits) - 1)
    keys = _in_chunks(
        n,
        np.uint64,
        lambda rows: (code[rows] << shift) | np.arange(rows.start, rows.stop, dtype=np.uint64),
    )
    keys.sort()
    return _in_chunks(n, np.int64, lambda rows: keys[rows] & low)


def _morton(xy: np.ndarray, origin: np.ndarray, cell: float) -> np.ndarray:
    """The Morton code of the cell of each point: the bits of column and row interleaved."""
    col_row = _floor_divide(xy - origin, cell).astype(np.uint64)

    def spread(bits: np.ndarray) -> np.ndarray:  # 32 bits → the even bits of 64
        bits = bits & np.uint64(0xFFFFFFFF)
        for shift, mask in (
            (16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
            (2, 0x3333333333333333), (1, 0x5555555555555555),
        ):  # fmt: skip
            bits = (bits | (bits << np.uint64(shift))) & np.uint64(mask)
        return bits

    return spread(col_row[:, 0]) | (spread(col_row[:, 1]) << np.uint64(1))


# Rows per chunk of the element-wise work on vertex and node arrays (:func:`_in_chunks`).
_CHUNK_ROWS = 1 << 18


def _compacted(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``values[keep]`` written over the front of `values` itself, chunk by chunk, and returned
    as a view of that front. A kept value only ever moves to a place already read, so each
    chunk's copy of its kept values can be written before the next chunk is read."""
    kept = 0
    for start in range(0, len(values), _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        part = values[rows][keep[rows]]
        values[kept : kept + len(part)] = part
        kept += len(part)
    return values[:kept]


def _in_chunks(n: int, dtype, part: Callable[[slice], np.ndarray]) -> np.ndarray:
    """An array of `n` values made chunk by chunk, ``part(rows)`` giving those of a slice of
    rows: the same values as one call over all rows, but its temporary arrays are a chunk's
    (2 MB), reused from one chunk to the next. Memory new to a process costs a page fault at
    its first touch, about 2 ms per MB on the bench's VM: at the macro-region's 10 M nodes one
    temporary array over all rows is 80 MB, and a dozen of them took seconds of the build."""
    out = np.empty(n, dtype)
    for start in range(0, n, _CHUNK_ROWS):
        rows = slice(start, min(start + _CHUNK_ROWS, n))
        out[rows] = part(rows)
    return out


def _floor_divide(a: np.ndarray, b: float) -> np.ndarray:
    """``a // b``, the same values, faster: floor(a / b) wherever a / b is not within rounding
    of a whole number (NumPy's float // works through fmod, several times slower). Exact for
    quotients below 2^32 (the cells :func:`_z_order` keeps), where the rounding of a / b
    stays under the 1e-6 margin."""
    quotient = a / b
    out = np.floor(quotient)
    near = np.abs(quotient - np.rint(quotient)) < 1e-6
    out[near] = a[near] // b
    return out


def _nodes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted distinct keys, node of each vertex, first vertex of each node) of vertex keys."""
    order = np.argsort(keys)
    sorted_keys = keys[order]
    new = np.ones(len(keys), dtype=bool)
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    node_of_vertex = np.empty(len(keys), dtype=np.int64)
    node_of_vertex[order] = np.cumsum(new) - 1
    # A node's first vertex is the least index among its equal keys (the sort is not stable).
    first_vertex = np.minimum.reduceat(order, np.flatnonzero(new)) if len(keys) else order
    return sorted_keys[new], node_of_vertex, first_vertex


def _geodesic_steps_m(lonlat: np.ndarray) -> np.ndarray:
    """Length on the WGS84 ellipsoid of each step between consecutive points (n - 1 values),
    metres; chunk by chunk (:func:`_in_chunks`) on every core, as pyproj computes without the
    GIL."""
    n = len(lonlat) - 1
    if n < 1:
        return np.zeros(0)
    out = np.empty(n)

    def steps(start: int) -> None:
        rows = slice(start, min(start + _CHUNK_ROWS, n) + 1)  # a chunk's points and the next
        lon, lat = np.ascontiguousarray(lonlat[rows, 0]), np.ascontiguousarray(lonlat[rows, 1])
        out[rows.start : rows.stop - 1] = _GEOD.line_lengths(lon, lat)

    with ThreadPoolExecutor(CORES) as pool:
        list(pool.map(steps, range(0, n, _CHUNK_ROWS)))
    return out


def _boarding(layer_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(road node, ferry node) pairs at the same place: where a ferry can be boarded.

    `layer_keys` are the sorted node keys (coordinate key × 2 + 1 for ferry vertices).
    """
    ferry = np.flatnonzero(layer_keys & 1)  # (& and >> floor as % and // do, and faster)
    road = ferry - 1  # sorted keys: a road node at the same place comes just before
    has_road = road >= 0
    ferry, road = ferry[has_road], road[has_road]
    road_key, ferry_key = layer_keys[road], layer_keys[ferry]
    ok = (road_key >> 1 == ferry_key >> 1) & (road_key & 1 == 0)
    return road[ok], ferry[ok]


def _coord_key(coords: np.ndarray) -> np.ndarray:
    """One int64 per coordinate at OSM's 1e-7 degree precision."""

    def keys(rows: slice) -> np.ndarray:
        lon = np.rint(coords[rows, 0] * 1e7).astype(np.int64) + (1 << 31)
        lat = np.rint(coords[rows, 1] * 1e7).astype(np.int64) + (1 << 31)
        return (lon << 32) | lat

    return _in_chunks(len(coords), np.int64, keys)


def _segment_times_s(
    roads: pd.DataFrame, net: NetworkConfig, seg_way: np.ndarray, length_m: np.ndarray
) -> np.ndarray:
    """Seconds per segment. A ferry's duration (tagged, or its length at ferry speed) is shared
    among its segments by length, so the whole way costs exactly that; the wait is paid on
    boarding (:func:`build_graph`)."""
    speed_mps = kph_to_mps(edge_speeds_kph(roads, net))
    time_s = length_m / speed_mps[seg_way]
    ferry = roads["ferry"].to_numpy(dtype=bool)
    if ferry.any():
        way_length = np.bincount(seg_way, weights=length_m, minlength=len(roads))
        tagged = np.full(len(roads), np.nan)
        tagged[ferry] = parse_duration_s(roads.loc[ferry, "duration"])
        at_speed = way_length / kph_to_mps(net.ferry_speed_kph)
        total = np.where(np.isfinite(tagged), tagged, at_speed)
        share = length_m / np.maximum(way_length[seg_way], 1e-9)
        on_ferry = ferry[seg_way]
        time_s[on_ferry] = (total[seg_way] * share)[on_ferry]
    return time_s


def season_flags(roads: pd.DataFrame, net: NetworkConfig | None = None) -> np.ndarray:
    """FLAG_* bits per road: ferry, winter road, soft or gravel surface (the region's
    `untagged_surface` counting for untagged minor roads).

    Ferries and motorways also get FLAG_NO_JOIN.

    Parameters
    ----------
    roads : pd.DataFrame
        One row per OSM way, with columns `surface`, `tracktype`, `highway`, `winter_road`,
        `ice_road` and `ferry`.
    net : NetworkConfig, optional
        The region's network settings, for :func:`effective_surface`; None uses the
        `surface` tag alone.

    Returns
    -------
    np.ndarray
        uint8, one per road: FLAG_FERRY, FLAG_NO_JOIN, FLAG_WINTER, FLAG_SOFT and FLAG_GRAVEL
        bits (a soft road is never also gravel).
    """
    surface = (roads["surface"] if net is None else effective_surface(roads, net)).fillna("")
    tracktype = roads["tracktype"].fillna("")
    untagged_track = roads["highway"].eq("track") & surface.eq("") & tracktype.eq("")
    soft = surface.isin(SOFT_SURFACES) | tracktype.isin(SOFT_TRACKTYPES) | untagged_track
    gravel = surface.isin(GRAVEL_SURFACES) & ~soft
    winter = roads["winter_road"].eq("yes") | roads["ice_road"].eq("yes")
    ferry = roads["ferry"].astype(bool).to_numpy()
    no_join = ferry | roads["highway"].isin(NO_JOIN_HIGHWAYS).to_numpy()
    flags = (
        ferry * FLAG_FERRY
        + no_join * FLAG_NO_JOIN
        + winter.to_numpy() * FLAG_WINTER
        + soft.to_numpy() * FLAG_SOFT
        + gravel.to_numpy() * FLAG_GRAVEL
    )
    return flags.astype(np.uint8)


def ferry_months(roads: pd.DataFrame) -> np.ndarray:
    """Months a ferry runs (bit m-1 for month m) from `opening_hours` month ranges or `seasonal`;
    0 where unknown (the region's navigation months apply).

    Parameters
    ----------
    roads : pd.DataFrame
        One row per OSM way, with columns `ferry`, `seasonal` and, optionally,
        `opening_hours`.

    Returns
    -------
    np.ndarray
        uint16 month bits, one per road; 0 for every road that is not a ferry. Month ranges
        in `opening_hours` (or '24/7') come first; without them, ``seasonal=no`` means every
        month and ``seasonal=winter`` November to March.
    """
    hours = (
        roads["opening_hours"] if "opening_hours" in roads else pd.Series(None, index=roads.index)
    )
    seasonal = roads["seasonal"].fillna("").str.lower()
    ferry = roads["ferry"].astype(bool).to_numpy()
    months = np.zeros(len(roads), dtype=np.uint16)
    months[ferry] = [_months_of(h) for h in hours[ferry]]  # ferries: a handful of ways
    months = np.where((months == 0) & seasonal.eq("no").to_numpy(), ALL_MONTHS, months)
    winter_only = 0b1100_0000_0111  # Nov–Mar
    months = np.where((months == 0) & seasonal.eq("winter").to_numpy(), winter_only, months)
    return np.where(ferry, months, 0).astype(np.uint16)


def _months_of(opening_hours) -> int:
    """Month bits from the month ranges of an opening_hours value ('May-Oct', 'Jun 01-Sep 30')."""
    if not isinstance(opening_hours, str):
        return 0
    text = opening_hours.lower()
    if text.strip() == "24/7":
        return ALL_MONTHS
    bits = 0
    for first, last in re.findall(r"\b([a-z]{3})(?:\s*\d{1,2})?\s*-\s*([a-z]{3})\b", text):
        if first in _MONTHS and last in _MONTHS:
            a, b = _MONTHS[first], _MONTHS[last]
            span = range(a, b + 1) if a <= b else [*range(a, 12), *range(b + 1)]
            for m in span:
                bits |= 1 << m
    return bits


def apply_season(
    graph: RoadGraph,
    season,
    navigation_months: list[int],
    ferry_wait_min: float,
    *,
    consume: bool = False,
) -> RoadGraph:
    """The graph as it is in one season: closed ways dropped, slowed ways re-timed.

    Parameters
    ----------
    season : a :class:`pipeline.config.SeasonConfig`.
    navigation_months : months ferries run when their tags say nothing.
    ferry_wait_min : the network's ferry wait, which a season may replace.
    consume : the season's graph is made in the given graph's own arrays, which the caller
        no longer uses (see :meth:`RoadGraph.select`).
    """
    # Edge arrays are worked on in place, and the ferry rules only on the ferry edges: at the
    # bench's oblast size each temporary edge array is 32 MB of fresh memory (and time).
    flags = graph.flags()
    time_s = graph.edge_time_s if consume else graph.edge_time_s.copy()
    closed = (
        (0 if season.soft_unpaved_open else FLAG_SOFT)
        | (0 if season.winter_roads else FLAG_WINTER)
        | (0 if season.ferries else FLAG_BOARDING | FLAG_FERRY)
    )
    keep = (flags & closed) == 0
    soft = np.flatnonzero(flags & FLAG_SOFT)
    time_s[soft] /= season.soft_unpaved_factor
    gravel = np.flatnonzero(flags & FLAG_GRAVEL)
    time_s[gravel] /= season.gravel_factor
    winter = np.flatnonzero(flags & FLAG_WINTER)
    time_s[winter] = graph.edge_length_m[winter] / kph_to_mps(season.winter_road_speed_kph)

    ferry = np.flatnonzero(flags & FLAG_FERRY)
    if len(ferry) and season.ferries:
        default_bits = sum(1 << (m - 1) for m in navigation_months)
        months = (
            graph.edge_months[ferry].astype(np.int64)
            if graph.edge_months is not None
            else np.zeros(len(ferry), np.int64)
        )
        months[months == 0] = default_bits
        keep[ferry[((months >> (season.mid_month() - 1)) & 1) == 0]] = False
    if season.ferry_wait_min is not None and graph.edge_wait_share is not None:
        boarding = np.flatnonzero(flags & FLAG_BOARDING)
        delta_s = (season.ferry_wait_min - ferry_wait_min) * 60.0
        time_s[boarding] += delta_s * graph.edge_wait_share[boarding]
    np.maximum(time_s, MIN_EDGE_TIME_S, out=time_s)
    return graph.select(keep, time_s, in_place=consume)
