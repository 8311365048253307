"""What several stages share: the summary line, the fetch record, the region's CRS, the
network file, the inputs of the catchments, seasons and plan stages, and the map pages'
layers and links. Reading and writing only."""

from __future__ import annotations

import io
import json
import logging
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only in annotations: `make fetch` need not import them (0.3 s)
    import geopandas as gpd
    import numpy as np
    from pyproj import CRS

    from pipeline.network.graph import RoadGraph

from pipeline._io import RegionPaths
from pipeline.config import RegionConfig
from pipeline.errors import ExtractError, InputDataError, damaged_input, missing_input

__all__ = [
    "Inputs",
    "json_or_empty",
    "keep_network",
    "load_inputs",
    "load_network",
    "read_sources",
    "region_and_crs",
    "summary_line",
]

# The summary line of every stage comes from the stages' own logger, `pipeline.stages`: the
# logs (and tests/test_stage_logs.py) find it by that name.
logger = logging.getLogger(__package__)


def summary_line(stage: str, started: float, counts: str, output: Path) -> None:
    """Log the stage's one summary line: its counts, the seconds since `started`, its output."""
    logger.info("%s: %s in %.1f s -> %s", stage, counts, time.perf_counter() - started, output)


def read_sources(paths: RegionPaths) -> dict:
    """The fetch stage's record (SOURCES.json), checked: missing or damaged is one clear line."""
    if not paths.sources.is_file():
        raise ExtractError(f"{paths.sources} not found; run `make fetch` first")
    try:
        record = json.loads(paths.sources.read_text(encoding="utf-8"))
    except ValueError as exc:
        record = f"{type(exc).__name__}: {exc}"
    if not isinstance(record, dict) or "mode" not in record:
        raise ExtractError(
            f"{paths.sources} is damaged ({str(record)[:100]}); delete it and run `make fetch` again"
        )
    return record


def json_or_empty(path: Path) -> dict:
    """A JSON file written by an earlier stage, or {} when that stage has not run."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def region_and_crs(cfg: RegionConfig, boundaries: gpd.GeoDataFrame) -> tuple[gpd.GeoSeries, CRS]:
    """The region polygon in its projected CRS, and that CRS."""
    from pipeline.crs import region_crs

    region = boundaries[boundaries["role"] == "region"].geometry
    crs = region_crs(cfg, region.iloc[0])
    return region.to_crs(crs), crs


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz, each stored member read straight from the file into its array
    and checked against the archive's CRC (np.load copies a member 256 KB at a time, and
    reading it into bytes first copies it twice more: 1.1 s against 0.4 s for the bench
    oblast's 270 MB network)."""
    import numpy as np

    arrays = {}
    with path.open("rb", buffering=0) as fh, zipfile.ZipFile(fh) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if info.compress_type != zipfile.ZIP_STORED:  # the straight-line file's two strings
                arrays[name] = np.load(io.BytesIO(archive.read(info)), allow_pickle=False)
                continue
            fh.seek(info.header_offset)
            local = fh.read(_LOCAL_HEADER.size)
            signature, *_, name_length, extra_length = _LOCAL_HEADER.unpack(local)
            if signature != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"{info.filename}: no local file header")
            start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
            fh.seek(start)
            head = io.BytesIO(fh.read(min(info.file_size, 1 << 16)))
            version = np.lib.format.read_magic(head)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(head)
            if dtype.hasobject:
                raise ValueError(f"{info.filename} holds Python objects")
            values = np.empty(int(np.prod(shape, dtype=np.int64)), dtype)
            if head.tell() + values.nbytes != info.file_size:
                raise ValueError(f"{info.filename}: its header does not match its size")
            fh.seek(start + head.tell())
            _read_into(fh, memoryview(values).cast("B"), info.filename)
            crc = zlib.crc32(values, zlib.crc32(head.getbuffer()[: head.tell()]))
            if crc != info.CRC:
                raise zipfile.BadZipFile(f"{info.filename}: its checksum does not match")
            arrays[name] = values.reshape(shape, order="F" if fortran else "C")
    return arrays


# A zip member's local header: signature, version, flags, method, time, date, CRC, sizes, and
# the lengths of the name and extra field that come before the member's data.
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def _read_into(fh, buffer: memoryview, name: str) -> None:
    """Fill `buffer` from the unbuffered file `fh` (a read may return less than asked)."""
    done = 0
    while done < len(buffer):
        got = fh.readinto(buffer[done:])
        if not got:
            raise EOFError(f"{name} is cut short")
        done += got


# What a stage has just written, handed to the next stage that reads it in the same process
# (`pipeline all`) instead of being read back: the network stage's graph (network.npz, 1.3 GB
# at the bench's macro size) and the extract's roads (2 s to read back at that size). Keyed by
# the file's identity, so a file written since by anyone else is read as usual; taken by the
# first reader, so it holds no memory after that.
_handed_over: dict[tuple[Path, str], tuple[tuple[int, int, int], object]] = {}


def _identity(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def hand_over(path: Path, name: str, value) -> None:
    """Hand `value`, just written to `path` (as its part `name`), to the next :func:`taken`."""
    _handed_over[path.absolute(), name] = (_identity(path), value)


def taken(path: Path, name: str):
    """What :func:`hand_over` left for `path` and `name` if the file is still the one written
    then, else None."""
    kept = _handed_over.pop((path.absolute(), name), None)
    try:
        return kept[1] if kept is not None and kept[0] == _identity(path) else None
    except OSError:  # gone since: the reader says so as it reads
        return None


def keep_network(path: Path, graph: RoadGraph) -> None:
    """Hand `graph`, just written to `path`, to the next :func:`load_network` of `path`."""
    hand_over(path, "graph", graph)


def read_roads(osm_gpkg: Path) -> gpd.GeoDataFrame:
    """The extract's roads layer: the frame the extract stage wrote, if it was handed over in
    this process, else read from the file (the same values and types: a test checks it)."""
    from pipeline.outputs.export import read_layer

    roads = taken(osm_gpkg, "roads")
    return roads if roads is not None else read_layer(osm_gpkg, "roads")


def load_network(path: Path, crs: CRS | None = None) -> tuple[str, RoadGraph | None]:
    """The network stage's graph, checked: a damaged or stale file is one clear line."""
    from pipeline.network.graph import RoadGraph

    try:
        graph = taken(path, "graph")
        if graph is not None:
            mode = "road"
        else:
            data = _read_npz(path)
            mode = str(data["mode"])
            graph = RoadGraph.from_npz(data) if mode == "road" else None
    except FileNotFoundError:
        raise missing_input(path) from None
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
    ) as exc:
        raise damaged_input(path, f"{type(exc).__name__}: {exc}") from None
    problems = graph.problems(crs) if graph is not None else []
    if problems:
        raise InputDataError(
            f"{path} is damaged or out of date ({'; '.join(problems[:3])}); delete it and run "
            "`make` again to rebuild it"
        )
    return mode, graph


@dataclass
class Inputs:
    """What the catchments stage (and the seasons and plan stages) read before computing."""

    meta: dict
    approximate: bool
    region: gpd.GeoSeries
    crs: CRS
    districts: gpd.GeoDataFrame
    places: gpd.GeoDataFrame
    mode: str
    graph: RoadGraph | None


def load_inputs(cfg: RegionConfig, paths: RegionPaths) -> Inputs:
    """The extract's boundaries and places (projected, with their districts) and the graph."""
    from pipeline.access.catchments import assign_districts
    from pipeline.outputs.export import read_layer, read_metadata

    meta = read_metadata(paths.osm_gpkg)
    boundaries = read_layer(paths.osm_gpkg, "boundaries")
    region, crs = region_and_crs(cfg, boundaries)
    districts = boundaries[boundaries["role"] == "district"].to_crs(crs).reset_index(drop=True)
    places = read_layer(paths.osm_gpkg, "places").to_crs(crs)
    assigned = assign_districts(places, districts)
    if "district" in places:  # a border village the coarse polygons miss keeps its own
        assigned = assigned.fillna(places["district"])
    places["district"] = assigned.to_numpy()
    places["population"] = places["population"].astype("Int64")
    mode, graph = load_network(paths.network, crs)
    approximate = meta.get("mode") == "straight_line"
    return Inputs(meta, approximate, region, crs, districts, places, mode, graph)


def results_roads(
    cfg: RegionConfig, paths: RegionPaths, crs: CRS | None = None, approximate: bool | None = None
) -> gpd.GeoDataFrame:
    """The roads layer of a run's results: the extract's driveable roads with their speeds, in
    the region's CRS (none for the straight-line model). The catchments stage writes it; the map
    process of `pipeline all` makes the same layer from the extract while the catchments are
    computed. `crs` and `approximate`: as :func:`load_inputs` finds them (read if not given)."""
    from pipeline.outputs.export import read_layer, read_metadata
    from pipeline.outputs.layers import empty_roads, roads_layer

    if crs is None:
        _, crs = region_and_crs(cfg, read_layer(paths.osm_gpkg, "boundaries"))
    if approximate is None:
        approximate = read_metadata(paths.osm_gpkg).get("mode") == "straight_line"
    if approximate:
        return empty_roads(crs)
    return roads_layer(read_layer(paths.osm_gpkg, "roads"), cfg, crs)
