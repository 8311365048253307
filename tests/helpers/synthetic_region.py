"""A tiny synthetic region to run the whole pipeline on (see tests/test_synthetic_osm.py).

A square of 38.90–39.20 °E × 59.95–60.10 °N in UTM 37N (EPSG:32637), whose central meridian
is 39 °E. At 60 °N, 0.01° of longitude ≈ 558 m and 0.01° of latitude ≈ 1 114 m. Tests draw
roads and places on it with :class:`tests.helpers.osm_builder.OsmBuilder`, write the region
file with :func:`prepare_region` and run the stages (:func:`run_pipeline`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pytest
import rasterio
from pyproj import Geod, Transformer

from pipeline import stages
from pipeline._io import RegionPaths, region_paths
from pipeline.config import RegionConfig, load_region
from tests.helpers.osm_builder import OsmBuilder

GEOD = Geod(ellps="WGS84")
BBOX = (38.90, 59.95, 39.20, 60.10)
REGION_RELATION = 900
SNAP_MAX_M = 1000.0
OFFROAD_KPH = 5.0
CELL_M = 250.0
MIN_EDGE_S = 1e-3  # the anchor's own road node → the anchor: one 0.001 s edge
TOL_MIN = 1e-4  # minutes (6 ms): float noise only
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32637", always_xy=True)


def geod_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def drive_s(a: tuple[float, float], b: tuple[float, float], speed_kph: float) -> float:
    """Seconds to drive the straight segment a–b at `speed_kph`."""
    return geod_m(a, b) / (speed_kph / 3.6)


def new_region() -> OsmBuilder:
    b = OsmBuilder()
    b.admin_boundary(BBOX, admin_level=4, name="Synthetica", rid=REGION_RELATION)
    return b


@dataclass
class Run:
    cfg: RegionConfig
    paths: RegionPaths
    settlements: gpd.GeoDataFrame  # indexed by name

    def row(self, name: str):
        return self.settlements.loc[name]

    def raster_at(self, name: str, band: str = "anchor_time_min") -> float:
        """Raster value (NaN for nodata) in the cell holding settlement `name`."""
        point = self.settlements.geometry[name]
        with rasterio.open(self.paths.travel_time_tif) as src:
            i = src.descriptions.index(band) + 1
            r, c = src.index(point.x, point.y)
            value = float(src.read(i)[r, c])
            return math.nan if value == src.nodata else value


def prepare_region(
    tmp_path: Path,
    builder: OsmBuilder,
    *,
    anchors: list[str],
    cores: list[str] = (),
    extra: str = "",
    surface: str = "",
    xml: bool = False,
    name: str = "synth",
    crs: str | None = "EPSG:32637",
    anchor_section: str | None = None,
    boundary: str = "",
) -> tuple[RegionConfig, RegionPaths]:
    """Write the OSM file and a region file under tmp_path and run the fetch stage.

    With `xml`, the extract is OSM XML: fetch only accepts a PBF as `local_pbf`, so the test
    writes SOURCES.json itself (as a fetch of an Overpass answer would).
    """
    osm = builder.write(tmp_path / ("synthetic.osm" if xml else "synthetic.osm.pbf"))
    toml = tmp_path / f"{name}.toml"
    toml.write_text(
        f"""
name = "{name}"
display_name = "Synthetica ({name})"
{f'crs = "{crs}"' if crs else ""}

[source]
local_pbf = "{osm.name}"

[boundary]
relation_id = {REGION_RELATION}
admin_level = 4
district_admin_level = 6
{boundary}

[anchors]
{anchor_section or f"names = {json.dumps(list(anchors))}"}

[cores]
names = {json.dumps(list(cores))}
{extra}

[network]
snap_max_m = {SNAP_MAX_M}
offroad_speed_kph = {OFFROAD_KPH}

[surface]
cell_m = {CELL_M}
{surface}
""",
        encoding="utf-8",
    )
    cfg = load_region(config=toml)
    paths = region_paths(cfg, root=tmp_path)
    if xml:
        paths.raw.mkdir(parents=True, exist_ok=True)
        record = {
            "mode": "osm",
            "format": "osm_xml",
            "file": str(osm),
            "sha256": "",
            "size_bytes": 0,
        }
        paths.sources.write_text(json.dumps(record), encoding="utf-8")
    else:
        stages.run_fetch(cfg, paths)
    return cfg, paths


def run_pipeline(tmp_path: Path, builder: OsmBuilder, **region) -> Run:
    """:func:`prepare_region`, then extract → network → catchments; read the settlements."""
    cfg, paths = prepare_region(tmp_path, builder, **region)
    for stage in (stages.run_extract, stages.run_network, stages.run_catchments):
        stage(cfg, paths)
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements")
    return Run(cfg, paths, s.set_index("name", drop=False))


def assert_raster_matches_settlement(run: Run, name: str) -> None:
    """The cell holding a settlement differs from it by at most a cell diagonal walked off-road."""
    slack_min = CELL_M * math.sqrt(2) / (OFFROAD_KPH / 3.6) / 60.0  # 353.6 m at 5 km/h ≈ 4.24 min
    expected = run.row(name)["anchor_time_min"]
    assert run.raster_at(name) == pytest.approx(expected, abs=slack_min)
