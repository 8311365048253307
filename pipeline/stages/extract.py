"""`make extract`: roads, settlements, boundaries and services from the extract (or from the
bundled reference data offline) into osm.gpkg, in EPSG:4326."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pipeline._io import RegionPaths
from pipeline.config import RegionConfig
from pipeline.crs import region_crs
from pipeline.errors import ExtractError
from pipeline.outputs.export import write_gpkg
from pipeline.stages._common import hand_over, read_sources, summary_line

__all__ = ["APPROXIMATE_NOTE", "run_extract"]

logger = logging.getLogger(__name__)

APPROXIMATE_NOTE = (
    "APPROXIMATE: no OpenStreetMap road network was available, so times use a straight-line model "
    "(distance x {detour:g} / {speed:g} km/h) from the bundled reference data (settlements, districts; no roads). "
    "For road-based results put the region's .osm.pbf at {pbf} (or run `make fetch region={name}` "
    "with internet) and run `make region={name}` again."
)


def run_extract(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """Write osm.gpkg from the fetched extract or the bundled data; return its path."""
    from pipeline.inputs.osm import clip_to_region, find_region, read_pbf
    from pipeline.inputs.reference import load_reference
    from pipeline.inputs.service_points import service_points
    from pipeline.inputs.settlement_table import with_census_population

    started = time.perf_counter()
    source = read_sources(paths)
    if source["mode"] == "osm":
        pbf = Path(source["file"])
        if not pbf.is_file():
            raise ExtractError(
                f"{pbf} (named in {paths.sources}) is missing; run `make fetch` again"
            )
        logger.info("reading %s (sha256 %s)", pbf, source.get("sha256"))
        layers = read_pbf(pbf, cfg.services.table())
        try:
            crs = region_crs(cfg, find_region(layers.boundaries, cfg).geometry)
            layers = clip_to_region(layers, cfg, crs)
        except ExtractError as exc:  # the region is not in it: name the file
            raise ExtractError(f"{pbf}: {exc}") from None
        meta = {"mode": "road", "approximate": "no", "source": str(source.get("url") or pbf)}
    else:
        logger.warning("no OSM extract: using the bundled reference data of %s", cfg.display_name)
        layers = load_reference(cfg, lambda region: region_crs(cfg, region))
        note = _approximate_note(cfg, paths)
        logger.warning(note)
        meta = {
            "mode": "straight_line",
            "approximate": "yes",
            "note": note,
            "source": "bundled reference data",
        }
    if source["mode"] == "osm":
        layers.places = with_census_population(cfg, layers.places, layers.boundaries, crs)
    services = service_points(cfg, layers.services)
    tables = {"roads": layers.roads, "places": layers.places, "boundaries": layers.boundaries}
    if services is not None:
        tables["services"] = services
    if layers.place_areas is not None and len(layers.place_areas):
        tables["place_areas"] = layers.place_areas
    write_gpkg(paths.osm_gpkg, tables, meta)
    if source["mode"] == "osm":  # for the network stage of this process (`pipeline all`)
        hand_over(paths.osm_gpkg, "roads", layers.roads)
    districts = int((layers.boundaries["role"] == "district").sum())
    if districts == 0:  # a wrong level would silently drop every district figure
        logger.warning(
            "no district boundaries at admin_level %d in %s: figures are for the whole region "
            "only; check boundary.district_admin_level in %s",
            cfg.boundary.district_admin_level,
            cfg.display_name,
            cfg.region_file,
        )
    service_count = (
        f"{len(services)} services of {services['service'].nunique()} types"
        if services is not None
        else "no service data"
    )
    summary_line(
        "extract",
        started,
        f"{len(layers.roads)} roads, {len(layers.places)} settlements, {districts} districts, "
        + service_count,
        paths.osm_gpkg,
    )
    return paths.osm_gpkg


def _approximate_note(cfg: RegionConfig, paths: RegionPaths) -> str:
    off = cfg.offline
    return APPROXIMATE_NOTE.format(
        detour=off.detour_factor, speed=off.speed_kph, pbf=paths.extract_pbf, name=cfg.name
    )
