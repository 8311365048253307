"""The stages as the Makefile runs them: read inputs, call the pure functions, write outputs.

Each `run_*` function logs its inputs, one summary line (counts, seconds, output path) and
returns the path it wrote. They hold no analysis of their own.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from pipeline import catchments as ca
from pipeline._io import RegionPaths, atomic_path, sha256_of
from pipeline.config import RegionConfig
from pipeline.errors import ExtractError, InputDataError
from pipeline.export import read_layer, read_metadata, write_csv, write_gpkg, write_json
from pipeline.network import RoadGraph, build_graph, driveable, edge_speeds_kph
from pipeline.services import (
    anchor_profile,
    coverage_by_service,
    desert_list,
    link_to_settlements,
    read_service_csv,
    service_times,
)
from pipeline.surface import write_geotiff

__all__ = ["region_crs", "run_catchments", "run_extract", "run_fetch", "run_maps", "run_network"]

logger = logging.getLogger(__name__)

APPROXIMATE_NOTE = (
    "APPROXIMATE: no OpenStreetMap road network was available, so times use a straight-line model "
    "(distance x {detour:g} / {speed:g} km/h) from bundled reference data (settlements >= 500 people). "
    "For road-based results put the region's .osm.pbf at {pbf} (or run `make fetch region={name}` "
    "with internet) and run `make region={name}` again."
)


def region_crs(cfg: RegionConfig, region_4326) -> CRS:
    """The region's projected CRS: from the region file, else Lambert equal-area centred on it."""
    if cfg.crs:
        return CRS.from_user_input(cfg.crs)
    c = region_4326.centroid
    return CRS.from_proj4(
        f"+proj=laea +lat_0={c.y:.4f} +lon_0={c.x:.4f} +datum=WGS84 +units=m +no_defs"
    )


def _sources(paths: RegionPaths) -> dict:
    if not paths.sources.is_file():
        raise ExtractError(f"{paths.sources} not found; run `make fetch` first")
    return json.loads(paths.sources.read_text(encoding="utf-8"))


def _summary(stage: str, started: float, counts: str, output: Path) -> None:
    logger.info("%s: %s in %.1f s -> %s", stage, counts, time.perf_counter() - started, output)


# --- fetch ---------------------------------------------------------------------------------


def run_fetch(cfg: RegionConfig, paths: RegionPaths) -> Path:
    from pipeline.fetch import fetch_extract

    started = time.perf_counter()
    record = fetch_extract(cfg, paths)
    what = (
        f"{record.get('format', 'pbf')} {record.get('size_bytes', 0) / 1e6:.1f} MB sha256 {record.get('sha256', '')[:12]}"
        if record["mode"] == "osm"
        else "no extract: bundled reference data will be used (APPROXIMATE)"
    )
    _summary("fetch", started, what, paths.sources)
    return paths.sources


# --- extract -------------------------------------------------------------------------------


def run_extract(cfg: RegionConfig, paths: RegionPaths) -> Path:
    from pipeline.osm import clip_to_region, find_region, read_pbf
    from pipeline.reference import load_reference

    started = time.perf_counter()
    source = _sources(paths)
    if source["mode"] == "osm":
        pbf = Path(source["file"])
        if not pbf.is_file():
            raise ExtractError(
                f"{pbf} (named in {paths.sources}) is missing; run `make fetch` again"
            )
        logger.info("reading %s (sha256 %s)", pbf, source.get("sha256"))
        layers = read_pbf(pbf, cfg.services.table())
        crs = region_crs(cfg, find_region(layers.boundaries, cfg).geometry)
        layers = clip_to_region(layers, cfg, crs)
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
    services = _service_points(cfg, layers.services)
    tables = {"roads": layers.roads, "places": layers.places, "boundaries": layers.boundaries}
    if services is not None:
        tables["services"] = services
    write_gpkg(paths.osm_gpkg, tables, meta)
    districts = int((layers.boundaries["role"] == "district").sum())
    service_count = (
        f"{len(services)} services of {services['service'].nunique()} types"
        if services is not None
        else "no service data"
    )
    _summary(
        "extract",
        started,
        f"{len(layers.roads)} roads, {len(layers.places)} settlements, {districts} districts, "
        + service_count,
        paths.osm_gpkg,
    )
    return paths.osm_gpkg


def _service_points(cfg: RegionConfig, from_osm: gpd.GeoDataFrame | None):
    """The region's service points: its services.csv if it names one, else those found in OSM."""
    if cfg.services.csv is not None:
        path = cfg.resolve(cfg.services.csv)
        points = read_service_csv(path, list(cfg.services.table()))
        logger.info(
            "service points from %s (%d rows, sha256 %s)", path, len(points), sha256_of(path)
        )
        return points
    if from_osm is None:
        logger.warning(
            "no service data (no OSM extract and no services.csv): service accessibility is skipped; "
            'set [services] csv = "services.csv" (name,type,lat,lon) in the region file to add it'
        )
    return from_osm


def _approximate_note(cfg: RegionConfig, paths: RegionPaths) -> str:
    off = cfg.offline
    return APPROXIMATE_NOTE.format(
        detour=off.detour_factor, speed=off.speed_kph, pbf=paths.extract_pbf, name=cfg.name
    )


# --- network -------------------------------------------------------------------------------


def _region_and_crs(cfg: RegionConfig, boundaries: gpd.GeoDataFrame) -> tuple[gpd.GeoSeries, CRS]:
    region = boundaries[boundaries["role"] == "region"].geometry
    crs = region_crs(cfg, region.iloc[0])
    return region.to_crs(crs), crs


def run_network(cfg: RegionConfig, paths: RegionPaths) -> Path:
    started = time.perf_counter()
    meta = read_metadata(paths.osm_gpkg)
    boundaries = read_layer(paths.osm_gpkg, "boundaries")
    _, crs = _region_and_crs(cfg, boundaries)
    with atomic_path(paths.network) as tmp:
        if meta.get("mode") == "straight_line":
            with tmp.open("wb") as fh:
                np.savez_compressed(
                    fh, mode=np.array("straight_line"), crs_wkt=np.array(crs.to_wkt())
                )
            counts = "no road network (straight-line model)"
        else:
            roads = read_layer(paths.osm_gpkg, "roads")
            graph = build_graph(roads, cfg.network, crs)
            if graph.n_nodes == 0:
                raise ExtractError(
                    f"{paths.osm_gpkg}: no driveable roads in {cfg.display_name}; check the extract"
                )
            with tmp.open("wb") as fh:
                np.savez_compressed(fh, mode=np.array("road"), **graph.to_npz_dict())
            n_parts, _ = csgraph.connected_components(graph.csr(), directed=True, connection="weak")
            counts = (
                f"{graph.n_nodes} nodes, {len(graph.edge_u)} directed edges, "
                f"{n_parts} disconnected parts"
            )
    _summary("network", started, counts, paths.network)
    return paths.network


def _load_network(path: Path) -> tuple[str, RoadGraph | None]:
    with np.load(path, allow_pickle=False) as data:
        mode = str(data["mode"])
        return mode, (RoadGraph.from_npz(data) if mode == "road" else None)


# --- catchments ----------------------------------------------------------------------------


def run_catchments(cfg: RegionConfig, paths: RegionPaths) -> Path:
    started = time.perf_counter()
    meta = read_metadata(paths.osm_gpkg)
    approximate = meta.get("mode") == "straight_line"
    boundaries = read_layer(paths.osm_gpkg, "boundaries")
    region, crs = _region_and_crs(cfg, boundaries)
    districts = boundaries[boundaries["role"] == "district"].to_crs(crs).reset_index(drop=True)
    places = read_layer(paths.osm_gpkg, "places").to_crs(crs)
    places["district"] = ca.assign_districts(places, districts).to_numpy()
    places["population"] = places["population"].astype("Int64")
    mode, graph = _load_network(paths.network)

    anchor_pos, core_pos = _choose_anchors(cfg, places, approximate)
    if approximate:
        off = cfg.offline

        def make_field(xy):
            return ca.straight_line_field(xy, off.detour_factor, off.speed_kph)

        tree = None
    else:
        tree = cKDTree(graph.node_xy)

        def make_field(xy):
            return ca.road_field(graph, xy, cfg, tree)

    result = ca.compute_accessibility(
        places, region, anchor_pos, core_pos, make_field, cfg, road_tree=tree
    )
    summary = ca.coverage_summary(result.settlements, cfg)
    service_layer, service_summary = _add_service_access(cfg, paths, result, make_field, crs)
    roads = _roads_layer(cfg, paths, crs) if not approximate else _empty_roads(crs)
    district_layer = (
        districts[["name", "admin_level", "geometry"]]
        .merge(summary.drop(columns="level"), left_on="name", right_on="area", how="left")
        .drop(columns="area")
    )
    note = meta.get("note", "")
    layers = {
        "districts": district_layer,
        "catchments": result.catchments,
        "isochrones": result.isochrones,
        "gaps": result.gaps,
        "agglomeration_zones": result.agglomeration_zones,
        "roads": roads,
        "settlements": _settlement_columns(result.settlements),
        "anchors": result.anchors,
    }
    if service_layer is not None:
        layers["services"] = service_layer
    gpkg_meta = {
        "region": cfg.display_name,
        "mode": mode,
        "approximate": "yes" if approximate else "no",
        "gap_threshold_min": f"{cfg.thresholds.gap_min:g}",
        "source": meta.get("source", ""),
        "attribution": "© OpenStreetMap contributors (ODbL)"
        if not approximate
        else "see regions/README",
    }
    if note:
        gpkg_meta["note"] = note
    write_gpkg(paths.gpkg(cfg.name), layers, gpkg_meta)
    with atomic_path(paths.travel_time_tif) as tmp:
        write_geotiff(tmp, result.grid, result.rasters)
    write_csv(paths.summary_csv, summary)
    figures = _summary_json(cfg, result, summary, approximate, note)
    figures["services"] = _services_json(cfg, result.anchors, service_layer, service_summary)
    if service_summary is not None:
        write_csv(paths.processed / "services_summary.csv", service_summary)
    write_json(paths.summary_json, figures)
    s = result.settlements
    _summary(
        "catchments",
        started,
        f"{len(s)} settlements, {len(anchor_pos)} anchors, {int(s['gap'].sum())} in gaps, "
        f"{int((s['access_class'] == 'unreachable').sum())} unreachable"
        + (" (APPROXIMATE)" if approximate else ""),
        paths.gpkg(cfg.name),
    )
    return paths.gpkg(cfg.name)


def _add_service_access(cfg: RegionConfig, paths: RegionPaths, result, make_field, crs):
    """Service columns on settlements and anchors; the services layer and per-type figures.

    Returns (None, None) when the region has no service data at all.
    """
    if "services" not in {name for name, _ in pyogrio.list_layers(paths.osm_gpkg)}:
        logger.warning("no service data for %s: service accessibility skipped", cfg.display_name)
        return None, None
    services = read_layer(paths.osm_gpkg, "services").to_crs(crs)
    types = list(cfg.services.table())
    s, anchors = result.settlements, result.anchors
    link = link_to_settlements(services, s, cfg.services.link_max_m)
    services = pd.concat([services.drop(columns="geometry"), link, services[["geometry"]]], axis=1)
    services = gpd.GeoDataFrame(services, geometry="geometry", crs=crs)
    times = service_times(s, services, make_field, types)
    for column in times.columns:
        s[column] = times[column].to_numpy()
    s["service_deserts"] = desert_list(times, cfg.services.desert_table(), types).to_numpy()
    profile = anchor_profile(anchors, services, types, cfg.services.core)
    for column in profile.columns:
        anchors[column] = profile[column].to_numpy()
    lacking = int(profile["lacks_core_services"].sum())
    logger.info(
        "services: %d points of %d types; %d of %d anchors lack a core service (%s)",
        len(services),
        services["service"].nunique(),
        lacking,
        len(anchors),
        " + ".join(cfg.services.core),
    )
    return services, coverage_by_service(s, types)


def _services_json(cfg: RegionConfig, anchors, services, service_summary) -> dict:
    if services is None:
        return {"available": False}
    profile_columns = ["name", "district", "core_services_missing"]
    return {
        "available": True,
        "source": "services.csv" if cfg.services.csv else "OpenStreetMap",
        "counts": services["service"].value_counts().sort_index().to_dict(),
        "core": cfg.services.core,
        "desert_min": cfg.services.desert_table(),
        "anchors_lacking_core": anchors.loc[
            anchors["lacks_core_services"], profile_columns
        ].to_dict(orient="records"),
        "coverage": service_summary.to_dict(orient="records"),
    }


def _choose_anchors(cfg: RegionConfig, places: gpd.GeoDataFrame, approximate: bool):
    if places.empty:
        raise InputDataError(f"no settlements found in {cfg.display_name}; check settlement_places")
    level = cfg.boundary.district_admin_level
    if approximate:
        anchor_pos = ca.rule_anchors(places, cfg.offline.anchor_rule, level)
        core_names = cfg.offline.cores
    else:
        a = cfg.anchors
        if a.names:
            anchor_pos = ca.resolve_names(places, a.names, "anchor")
        elif a.csv:
            path = cfg.resolve(a.csv)
            if not path.is_file():
                raise InputDataError(
                    f"anchors.csv {str(path)!r} not found; fix the path in the region file"
                )
            anchor_pos = ca.read_anchor_csv(path, places)
        else:
            anchor_pos = ca.rule_anchors(places, a.rule, level)
        core_names = cfg.cores.names
    core_pos = (
        ca.resolve_names(places, core_names, "core") if core_names else np.array([], dtype=np.int64)
    )
    # An agglomeration core is always an anchor as well: it hosts every service an anchor does.
    anchor_pos = np.union1d(anchor_pos, core_pos)
    if len(anchor_pos) == 0:
        raise InputDataError(
            f"no anchor settlements found in {cfg.display_name}; widen anchors.rule or list anchors.names"
        )
    logger.info(
        "anchors (%d): %s", len(anchor_pos), ", ".join(places["name"].iloc[anchor_pos].astype(str))
    )
    return anchor_pos, core_pos


def _roads_layer(cfg: RegionConfig, paths: RegionPaths, crs: CRS) -> gpd.GeoDataFrame:
    roads = read_layer(paths.osm_gpkg, "roads")
    roads = roads[driveable(roads, cfg.network)].reset_index(drop=True)
    speed = edge_speeds_kph(roads, cfg.network)
    out = roads[
        ["osm_id", "highway", "name", "ref", "surface", "ferry", "winter_road", "geometry"]
    ].copy()
    out["speed_kph"] = np.where(out["ferry"].astype(bool), cfg.network.ferry_speed_kph, speed)
    return out.to_crs(crs)


def _empty_roads(crs: CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "osm_id": pd.Series(dtype="int64"),
            "highway": pd.Series(dtype=str),
            "speed_kph": pd.Series(dtype=float),
        },
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


SETTLEMENT_COLUMNS = (
    "osm_type",
    "osm_id",
    "name",
    "name_ru",
    "name_en",
    "place",
    "population",
    "district",
    "is_anchor",
    "is_core",
    "anchor_name",
    "anchor_time_min",
    "core_name",
    "core_time_min",
    "gap",
    "access_class",
    "no_road",
    "road_distance_m",
    "geometry",
)


def _settlement_columns(s: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    extra = [c for c in s.columns if c.startswith("time_") or c == "service_deserts"]
    columns = [c for c in SETTLEMENT_COLUMNS if c != "geometry"] + extra + ["geometry"]
    return s[columns].sort_values(["osm_type", "osm_id"]).reset_index(drop=True)


def _summary_json(
    cfg, result: ca.Accessibility, summary: pd.DataFrame, approximate: bool, note: str
) -> dict:
    s = result.settlements
    rows = summary.to_dict(orient="records")
    return {
        "region": cfg.name,
        "display_name": cfg.display_name,
        "mode": "straight_line" if approximate else "road",
        "approximate": approximate,
        "note": note,
        "gap_threshold_min": cfg.thresholds.gap_min,
        "bands_min": cfg.thresholds.bands_min,
        "anchors": sorted(s.loc[s["is_anchor"], "name"].astype(str)),
        "cores": sorted(s.loc[s["is_core"], "name"].astype(str)),
        "region_total": rows[0],
        "districts": rows[1:],
        "gap_area_km2": round(float(result.gaps["area_km2"].sum()), 1) if len(result.gaps) else 0.0,
    }


# --- maps ----------------------------------------------------------------------------------


def run_maps(cfg: RegionConfig, paths: RegionPaths) -> Path:
    from pipeline.maps import build_map

    started = time.perf_counter()
    gpkg = paths.gpkg(cfg.name)
    layers = {
        name: read_layer(gpkg, name)
        for name in (
            "districts",
            "catchments",
            "isochrones",
            "gaps",
            "agglomeration_zones",
            "settlements",
            "anchors",
        )
    }
    meta = read_metadata(gpkg)
    html = build_map(layers, cfg, meta)
    with atomic_path(paths.map_html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    _summary("maps", started, f"{len(layers['settlements'])} settlements drawn", paths.map_html)
    return paths.map_html
