"""The road network: OSM road lines become a directed graph with a travel time on every edge.

Nodes are the distinct vertices of the driveable road lines (OSM stores coordinates at 1e-7
degree, so a node shared by two ways has identical coordinates in both). Every segment between
consecutive vertices is an edge; its time comes from the speed profile in :mod:`pipeline.config`.
Disconnected parts are kept: whoever cannot reach an anchor is reported unreachable later.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod, Transformer
from scipy import sparse

from pipeline.config import NetworkConfig

__all__ = [
    "RoadGraph",
    "build_graph",
    "driveable",
    "edge_speeds_kph",
    "parse_duration_s",
    "parse_maxspeed_kph",
]

logger = logging.getLogger(__name__)

_GEOD = Geod(ellps="WGS84")
_BLOCKED = {"no", "private", "agricultural", "forestry", "delivery"}
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

    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    def csr(
        self,
        extra_u: np.ndarray | None = None,
        extra_v: np.ndarray | None = None,
        extra_time_s: np.ndarray | None = None,
        extra_nodes: int = 0,
    ) -> sparse.csr_matrix:
        """Adjacency matrix u→v weighted by seconds; parallel edges keep the fastest.

        `extra_*` add edges to `extra_nodes` virtual nodes numbered after the road nodes.
        """
        n = self.n_nodes + extra_nodes
        u, v, t = self.edge_u, self.edge_v, self.edge_time_s
        if extra_u is not None:
            u, v, t = (
                np.concatenate([u, extra_u]),
                np.concatenate([v, extra_v]),
                np.concatenate([t, extra_time_s]),
            )
        order = np.lexsort((t, v, u))
        u, v, t = u[order], v[order], t[order]
        first = np.ones(len(u), dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        return sparse.csr_matrix((t[first], (u[first], v[first])), shape=(n, n))

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        return {
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
        return cls(
            **{k: (str(data[k]) if k == "crs_wkt" else data[k]) for k in cls.__dataclass_fields__}
        )


def driveable(roads: pd.DataFrame, net: NetworkConfig) -> np.ndarray:
    """Mask of roads a car may use: a known road class or a ferry, not closed by access tags.

    Winter roads and ice roads are open only when `include_winter_roads` is set.
    """
    known = roads["highway"].isin(list(net.speed_table())) | roads["ferry"].astype(bool)
    vehicle = roads["motorcar"].fillna(roads["motor_vehicle"])  # the more specific tag wins
    blocked = roads["access"].isin(_BLOCKED) & ~vehicle.isin(_ALLOWED)
    blocked |= vehicle.isin(_BLOCKED)
    if not net.include_winter_roads:
        blocked |= roads["winter_road"].eq("yes") | roads["ice_road"].eq("yes")
    return (known & ~blocked).to_numpy()


def parse_maxspeed_kph(values: pd.Series) -> np.ndarray:
    """Tagged maxspeed in km/h (NaN where absent or unreadable); handles mph and RU:* zones."""
    text = values.fillna("").astype(str).str.strip().str.lower()
    number = pd.to_numeric(text.str.extract(r"^(\d+(?:\.\d+)?)")[0], errors="coerce")
    mph = text.str.contains("mph")
    kph = number.where(~mph, number * 1.609344)
    zones = text.map(_MAXSPEED_ZONES)
    return kph.fillna(zones).to_numpy(dtype=float)


def parse_duration_s(values: pd.Series) -> np.ndarray:
    """OSM `duration` (HH:MM, HH:MM:SS, minutes, or ISO 8601 PT1H30M) in seconds; NaN if absent."""
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
    """Speed of each road, km/h: class speed, capped by a lower maxspeed, slowed on poor surfaces."""
    base = roads["highway"].map(net.speed_table()).to_numpy(dtype=float)
    tagged = parse_maxspeed_kph(roads["maxspeed"])
    speed = np.where(np.isfinite(tagged) & (tagged > 0), np.fmin(base, tagged), base)
    surface = roads["surface"].map(net.surface_table()).fillna(1.0).to_numpy(dtype=float)
    tracktype = roads["tracktype"].map(net.tracktype_table()).fillna(1.0).to_numpy(dtype=float)
    return speed * np.minimum(surface, tracktype)


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

    Parameters
    ----------
    roads : roads layer of the extract, one row per OSM way.
    net : the region's speed profile and ferry settings.
    crs : the region's projected CRS (node coordinates in metres).
    """
    roads = roads[driveable(roads, net)].reset_index(drop=True)
    coords, way = shapely.get_coordinates(roads.geometry.values, return_index=True)
    key = _coord_key(coords)
    unique_keys, node_of_vertex = np.unique(key, return_inverse=True)
    first_vertex = np.zeros(len(unique_keys), dtype=np.int64)
    first_vertex[node_of_vertex[::-1]] = np.arange(len(key))[::-1]
    node_lonlat = coords[first_vertex]

    same_way = way[1:] == way[:-1]
    u, v, seg_way = node_of_vertex[:-1][same_way], node_of_vertex[1:][same_way], way[:-1][same_way]
    a, b = coords[:-1][same_way], coords[1:][same_way]
    _, _, length_m = _GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    keep = u != v
    u, v, seg_way, length_m = u[keep], v[keep], seg_way[keep], np.abs(length_m[keep])

    time_s = _segment_times_s(roads, net, seg_way, length_m)
    forward, backward = _direction_flags(roads)
    fw, bw = forward[seg_way], backward[seg_way]
    edge_u = np.concatenate([u[fw], v[bw]])
    edge_v = np.concatenate([v[fw], u[bw]])
    pick = np.concatenate([np.flatnonzero(fw), np.flatnonzero(bw)])

    to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_xy.transform(node_lonlat[:, 0], node_lonlat[:, 1])
    return RoadGraph(
        crs_wkt=crs.to_wkt(),
        node_xy=np.column_stack([x, y]),
        node_lonlat=node_lonlat,
        edge_u=edge_u.astype(np.int64),
        edge_v=edge_v.astype(np.int64),
        edge_time_s=np.maximum(time_s[pick], MIN_EDGE_TIME_S),
        edge_length_m=length_m[pick],
        edge_way=roads["osm_id"].to_numpy()[seg_way[pick]],
    )


def _coord_key(coords: np.ndarray) -> np.ndarray:
    """One int64 per coordinate at OSM's 1e-7 degree precision."""
    lon = np.rint(coords[:, 0] * 1e7).astype(np.int64) + (1 << 31)
    lat = np.rint(coords[:, 1] * 1e7).astype(np.int64) + (1 << 31)
    return (lon << 32) | lat


def _segment_times_s(
    roads: pd.DataFrame, net: NetworkConfig, seg_way: np.ndarray, length_m: np.ndarray
) -> np.ndarray:
    """Seconds per segment. A ferry's duration (tagged, or at ferry speed) plus the wait is
    shared among its segments by length, so crossing the whole route costs exactly that."""
    speed_mps = edge_speeds_kph(roads, net) / 3.6
    time_s = length_m / speed_mps[seg_way]
    ferry = roads["ferry"].to_numpy(dtype=bool)
    if ferry.any():
        way_length = np.bincount(seg_way, weights=length_m, minlength=len(roads))
        tagged = np.full(len(roads), np.nan)
        tagged[ferry] = parse_duration_s(roads.loc[ferry, "duration"])
        at_speed = way_length / (net.ferry_speed_kph / 3.6)
        total = np.where(np.isfinite(tagged), tagged, at_speed) + net.ferry_wait_min * 60.0
        share = length_m / np.maximum(way_length[seg_way], 1e-9)
        on_ferry = ferry[seg_way]
        time_s[on_ferry] = (total[seg_way] * share)[on_ferry]
    return time_s
