"""What-if scenarios: add roads or bridges, close ways, add or remove anchors.

A scenario is a file `regions/<region>/scenarios/<name>.toml`, validated like a region file:

```toml
description = "A bridge over the Sukhona at Opoki"
[[add_roads]]
geojson = "new_bridge.geojson"   # LineStrings in EPSG:4326, beside the scenario file
highway = "primary"              # speed from the region's profile; or speed_kph = 60
[close]
osm_ids = [123456]               # OSM way ids
polygon = "flooded.geojson"      # every road with an end inside is closed
[anchors]
add = ["Опоки"]
remove = ["Нюксеница"]
```

Changes are edits of the edge list before the graph is searched; the routing never learns
what a scenario is.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pyproj import CRS, Geod, Transformer
from scipy.spatial import cKDTree

from pipeline.config import RegionConfig, did_you_mean
from pipeline.errors import ConfigError, InputDataError
from pipeline.network import FLAG_ADDED, MIN_EDGE_TIME_S, RoadGraph

__all__ = ["Scenario", "apply_scenario", "load_scenario", "scenario_dir"]

_GEOD = Geod(ellps="WGS84")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddRoads(_Strict):
    geojson: Path  # LineStrings, EPSG:4326
    highway: str = "primary"  # road class for the speed, unless speed_kph is given
    speed_kph: float | None = Field(default=None, gt=0)
    oneway: bool = False
    snap_m: float = Field(default=50.0, ge=0)  # a vertex this close to a road node joins it


class Close(_Strict):
    osm_ids: list[int] = []
    polygon: Path | None = None


class AnchorChanges(_Strict):
    add: list[str] = []
    remove: list[str] = []


class Scenario(_Strict):
    name: str = ""
    description: str = ""
    add_roads: list[AddRoads] = []
    close: Close = Close()
    anchors: AnchorChanges = AnchorChanges()
    folder: Path = Path()


def scenario_dir(cfg: RegionConfig) -> Path:
    return cfg.region_file.parent / cfg.name / "scenarios"


def load_scenario(cfg: RegionConfig, name: str) -> Scenario:
    """Read and validate `regions/<region>/scenarios/<name>.toml`."""
    folder = scenario_dir(cfg)
    known = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
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


def _read_lines(path: Path, what: str) -> gpd.GeoDataFrame:
    if not path.is_file():
        raise InputDataError(f"{what} {str(path)!r} not found; put the file beside the scenario")
    try:
        frame = gpd.read_file(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputDataError(f"{what} {str(path)!r} is unreadable ({exc})") from None
    return frame.set_crs("EPSG:4326") if frame.crs is None else frame.to_crs("EPSG:4326")


def apply_scenario(graph: RoadGraph, scenario: Scenario, cfg: RegionConfig, crs: CRS) -> RoadGraph:
    """The graph with the scenario's roads added and its closures removed."""
    for spec in scenario.add_roads:
        lines = _read_lines(scenario.folder / spec.geojson, "add_roads.geojson")
        graph = _add_lines(graph, lines, spec, cfg, crs)
    closed = np.isin(graph.edge_way, np.asarray(scenario.close.osm_ids, dtype=np.int64))
    if scenario.close.polygon is not None:
        area = _read_lines(scenario.folder / scenario.close.polygon, "close.polygon").to_crs(crs)
        zone = shapely.union_all(area.geometry.values)
        shapely.prepare(zone)
        inside = shapely.contains_xy(zone, graph.node_xy[:, 0], graph.node_xy[:, 1])
        closed |= inside[graph.edge_u] | inside[graph.edge_v]
    return graph.select(~closed)


def _add_lines(
    graph: RoadGraph, lines: gpd.GeoDataFrame, spec: AddRoads, cfg: RegionConfig, crs: CRS
) -> RoadGraph:
    speed_kph = spec.speed_kph or cfg.network.speed_table().get(spec.highway)
    if speed_kph is None:
        raise ConfigError(f"add_roads: highway {spec.highway!r} has no speed; give speed_kph")
    coords, part = shapely.get_coordinates(lines.geometry.values, return_index=True)
    if len(coords) < 2:
        return graph
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(
        coords[:, 0], coords[:, 1]
    )
    xy = np.column_stack([x, y])
    dist, near = cKDTree(graph.node_xy).query(xy, k=1)
    joins = dist <= spec.snap_m
    new_ids = graph.n_nodes + np.cumsum(~joins) - 1
    node_of_vertex = np.where(joins, near, new_ids)
    fresh = ~joins
    same = part[1:] == part[:-1]
    u, v = node_of_vertex[:-1][same], node_of_vertex[1:][same]
    a, b = coords[:-1][same], coords[1:][same]
    length_m = np.abs(_GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2])
    keep = u != v
    u, v, length_m, way = u[keep], v[keep], length_m[keep], -(part[:-1][same][keep] + 1)
    if not spec.oneway:
        u, v, length_m, way = np.r_[u, v], np.r_[v, u], np.r_[length_m, length_m], np.r_[way, way]
    time_s = np.maximum(length_m / (speed_kph / 3.6), MIN_EDGE_TIME_S)
    n = len(u)

    def grow(old, extra):
        return None if old is None else np.concatenate([old, extra])

    return RoadGraph(
        crs_wkt=graph.crs_wkt,
        node_xy=np.vstack([graph.node_xy, xy[fresh]]),
        node_lonlat=np.vstack([graph.node_lonlat, coords[fresh]]),
        edge_u=np.concatenate([graph.edge_u, u]).astype(np.int64),
        edge_v=np.concatenate([graph.edge_v, v]).astype(np.int64),
        edge_time_s=np.concatenate([graph.edge_time_s, time_s]),
        edge_length_m=np.concatenate([graph.edge_length_m, length_m]),
        edge_way=np.concatenate([graph.edge_way, way]).astype(np.int64),
        edge_flags=grow(graph.flags(), np.full(n, FLAG_ADDED, dtype=np.uint8)),
        edge_wait_share=grow(graph.edge_wait_share, np.zeros(n)),
        edge_months=grow(graph.edge_months, np.zeros(n, dtype=np.uint16)),
    )
