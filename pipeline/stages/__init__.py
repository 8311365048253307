"""The stages as the Makefile runs them: read inputs, call the pure functions, write outputs.

Each `run_*` function logs its inputs, one summary line (counts, seconds, output path) and
returns the path it wrote. They hold no analysis of their own.
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS
from scipy.sparse import csgraph

from pipeline._io import RegionPaths, atomic_path, sha256_of
from pipeline.access import catchments as ca
from pipeline.access.services import (
    anchor_profile,
    coverage_by_service,
    desert_list,
    link_to_settlements,
    read_service_csv,
    service_times,
)
from pipeline.access.surface import write_geotiff
from pipeline.access.walk_and_drive import RoadAccess, StraightLineAccess, TravelModel
from pipeline.config import RegionConfig
from pipeline.errors import ConfigError, ExtractError, InputDataError
from pipeline.network.graph import RoadGraph, build_graph, driveable, edge_speeds_kph
from pipeline.outputs.export import (
    layer_names,
    read_layer,
    read_metadata,
    write_csv,
    write_gpkg,
    write_html,
    write_json,
)

__all__ = [
    "region_crs",
    "run_catchments",
    "run_extract",
    "run_fetch",
    "run_maps",
    "run_network",
    "run_plan",
    "run_qgis",
    "run_report",
]

logger = logging.getLogger(__name__)

APPROXIMATE_NOTE = (
    "APPROXIMATE: no OpenStreetMap road network was available, so times use a straight-line model "
    "(distance x {detour:g} / {speed:g} km/h) from the bundled reference data (settlements, districts; no roads). "
    "For road-based results put the region's .osm.pbf at {pbf} (or run `make fetch region={name}` "
    "with internet) and run `make region={name}` again."
)


MAX_SCALE_ERROR = 0.01  # a CRS that stretches distances at the region's centre more is refused


def region_crs(cfg: RegionConfig, region_4326) -> CRS:
    """The region's projected CRS: from the region file, else Lambert equal-area centred on it.

    A CRS whose scale error at the region's centre exceeds 1 % (Web Mercator at 60 °N doubles
    every walk) is refused with a suggestion: walks, raster cells and areas are measured in it.
    """
    c = region_4326.centroid
    if cfg.crs:
        crs = CRS.from_user_input(cfg.crs)
        _check_scale(cfg, crs, c.x, c.y)
        return crs
    return CRS.from_proj4(
        f"+proj=laea +lat_0={c.y:.4f} +lon_0={c.x:.4f} +datum=WGS84 +units=m +no_defs"
    )


def _check_scale(cfg: RegionConfig, crs: CRS, lon: float, lat: float) -> None:
    from pyproj import Proj

    factors = Proj(crs).get_factors(lon, lat)
    worst = max(abs(factors.meridional_scale - 1), abs(factors.parallel_scale - 1))
    if worst > MAX_SCALE_ERROR:
        zone = int((lon + 180) // 6) + 1
        utm = (32600 if lat >= 0 else 32700) + zone
        raise ConfigError(
            f"{cfg.region_file}: crs = {cfg.crs!r} stretches distances by {worst:.1%} at the "
            f"region's centre ({lat:.2f}°N, {lon:.2f}°E), which would distort every walk and "
            f'area; use a UTM zone (crs = "EPSG:{utm}") or leave crs out for an equal-area '
            "CRS centred on the region"
        )


def _sources(paths: RegionPaths) -> dict:
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


def _summary(stage: str, started: float, counts: str, output: Path) -> None:
    logger.info("%s: %s in %.1f s -> %s", stage, counts, time.perf_counter() - started, output)


# --- fetch ---------------------------------------------------------------------------------


def run_fetch(cfg: RegionConfig, paths: RegionPaths) -> Path:
    from pipeline.inputs.fetch import fetch_extract

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
    from pipeline.inputs.osm import clip_to_region, find_region, read_pbf
    from pipeline.inputs.reference import load_reference

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
        layers.places = _census_population(cfg, layers.places, layers.boundaries, crs)
    services = _service_points(cfg, layers.services)
    tables = {"roads": layers.roads, "places": layers.places, "boundaries": layers.boundaries}
    if services is not None:
        tables["services"] = services
    if layers.place_areas is not None and len(layers.place_areas):
        tables["place_areas"] = layers.place_areas
    write_gpkg(paths.osm_gpkg, tables, meta)
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
    _summary(
        "extract",
        started,
        f"{len(layers.roads)} roads, {len(layers.places)} settlements, {districts} districts, "
        + service_count,
        paths.osm_gpkg,
    )
    return paths.osm_gpkg


def _census_population(cfg: RegionConfig, places, boundaries, crs) -> gpd.GeoDataFrame:
    """OSM places with their `population_source`, filled in from the region's census table."""
    places = places.copy()
    places["population_source"] = np.where(places["population"].notna(), "osm", None)
    if cfg.census is None:
        return places
    from pipeline.inputs.settlement_table import census_population, read_settlement_table

    path = cfg.resolve(cfg.census.table)
    districts = boundaries[boundaries["role"] == "district"]
    if districts.empty:  # no district level: the region itself places the table's rows
        districts = boundaries[boundaries["role"] == "region"]
    districts = districts.assign(_name=lambda b: b["name"])
    table, report = read_settlement_table(path, districts, "_name", crs)
    report.log(path)
    population, source, figures = census_population(
        places.to_crs(crs), table.to_crs(crs), cfg.census.match_m
    )
    places["population"], places["population_source"] = population.to_numpy(), source.to_numpy()
    logger.info(
        "population: %d of %d places tagged in OSM, %d more from %s (of %d untagged: %.0f %%), "
        "%d still unknown",
        figures["tagged"],
        figures["places"],
        figures["matched"],
        path.name,
        figures["places"] - figures["tagged"],
        100.0 * figures["matched"] / max(figures["places"] - figures["tagged"], 1),
        figures["unknown"],
    )
    return places


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
                # Uncompressed: zlib on ~10^8 bytes of edge arrays took 2/3 of the stage (oblast).
                np.savez(fh, mode=np.array("road"), **graph.to_npz_dict())
            n_parts, _ = csgraph.connected_components(graph.csr(), directed=True, connection="weak")
            counts = (
                f"{graph.n_nodes} nodes, {len(graph.edge_u)} directed edges, "
                f"{n_parts} disconnected parts"
            )
    _summary("network", started, counts, paths.network)
    return paths.network


def _load_network(path: Path, crs: CRS | None = None) -> tuple[str, RoadGraph | None]:
    """The network stage's graph, checked: a damaged or stale file is one clear line."""
    try:
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            mode = str(data["mode"])
            graph = RoadGraph.from_npz(data) if mode == "road" else None
    except FileNotFoundError:
        raise InputDataError(
            f"{path} not found; run the earlier stages first (`make` runs every stage in order)"
        ) from None
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
    ) as exc:
        raise InputDataError(
            f"{path} is damaged ({type(exc).__name__}: {exc}); delete it and run `make` again"
        ) from None
    problems = graph.problems(crs) if graph is not None else []
    if problems:
        raise InputDataError(
            f"{path} is damaged or out of date ({'; '.join(problems[:3])}); delete it and run "
            "`make` again to rebuild it"
        )
    return mode, graph


# --- catchments ----------------------------------------------------------------------------


@dataclass
class _Inputs:
    """What the catchments stage (and the seasons and plan stages) read before computing."""

    meta: dict
    approximate: bool
    region: gpd.GeoSeries
    crs: CRS
    districts: gpd.GeoDataFrame
    places: gpd.GeoDataFrame
    mode: str
    graph: RoadGraph | None


def _load_inputs(cfg: RegionConfig, paths: RegionPaths) -> _Inputs:
    meta = read_metadata(paths.osm_gpkg)
    boundaries = read_layer(paths.osm_gpkg, "boundaries")
    region, crs = _region_and_crs(cfg, boundaries)
    districts = boundaries[boundaries["role"] == "district"].to_crs(crs).reset_index(drop=True)
    places = read_layer(paths.osm_gpkg, "places").to_crs(crs)
    assigned = ca.assign_districts(places, districts)
    if "district" in places:  # a border village the coarse polygons miss keeps its own
        assigned = assigned.fillna(places["district"])
    places["district"] = assigned.to_numpy()
    places["population"] = places["population"].astype("Int64")
    mode, graph = _load_network(paths.network, crs)
    approximate = meta.get("mode") == "straight_line"
    return _Inputs(meta, approximate, region, crs, districts, places, mode, graph)


def _travel_model(cfg: RegionConfig, graph: RoadGraph | None) -> TravelModel:
    """The road model on `graph`, or the straight-line one offline (no graph)."""
    if graph is None:
        return StraightLineAccess(cfg.offline.detour_factor, cfg.offline.speed_kph)
    return RoadAccess.of(graph, cfg.network.offroad_speed_kph, cfg.network.snap_max_m)


def _what_if(cfg: RegionConfig, inputs: _Inputs, season: str | None, scenario: str | None):
    """Apply a season and a scenario to the graph; return (graph, season name, scenario)."""
    from pipeline.network.graph import apply_season
    from pipeline.network.scenarios import apply_scenario, load_scenario

    season_name, rules = cfg.season(season)
    plan = load_scenario(cfg, scenario) if scenario else None
    graph = inputs.graph
    if graph is not None:
        graph = apply_season(graph, rules, cfg.ferry_months, cfg.network.ferry_wait_min)
        if plan is not None:
            graph = apply_scenario(graph, plan, cfg, inputs.crs)
    elif season or (
        plan is not None and (plan.add_roads or plan.close.osm_ids or plan.close.polygon)
    ):
        logger.warning(
            "the straight-line model has no roads: the season and road changes do not apply"
        )
    return graph, season_name, plan


def _scenario_anchors(places, anchor_pos: np.ndarray, plan) -> np.ndarray:
    if plan is None:
        return anchor_pos
    if plan.anchors.add:
        anchor_pos = np.union1d(
            anchor_pos, ca.resolve_names(places, plan.anchors.add, "scenario anchor")
        )
    if plan.anchors.remove:
        anchor_pos = np.setdiff1d(
            anchor_pos, ca.resolve_names(places, plan.anchors.remove, "scenario anchor")
        )
    if len(anchor_pos) == 0:
        raise InputDataError(f"scenario {plan.name!r} removes every anchor; keep at least one")
    return anchor_pos


def run_catchments(
    cfg: RegionConfig, paths: RegionPaths, season: str | None = None, scenario: str | None = None
) -> Path:
    """Times, catchments, gaps and figures, for the default season or a season/scenario run
    (`paths` then is `paths.for_run(scenario, season)`)."""
    started = time.perf_counter()
    inputs = _load_inputs(cfg, paths)
    meta, approximate, region, crs = inputs.meta, inputs.approximate, inputs.region, inputs.crs
    districts, places, mode = inputs.districts, inputs.places, inputs.mode
    graph, season_name, plan = _what_if(cfg, inputs, season, scenario)

    anchor_pos, core_pos = _choose_anchors(cfg, places, approximate)
    anchor_pos = _scenario_anchors(places, anchor_pos, plan)
    model = _travel_model(cfg, graph)

    result = ca.compute_accessibility(places, region, anchor_pos, core_pos, model, cfg)
    result.anchors["is_core"] = np.isin(anchor_pos, core_pos)
    service_layer, service_summary = _add_service_access(cfg, paths, result, model, places, crs)
    summary = ca.coverage_summary(result.settlements, cfg)
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
        "season": season_name,
        "scenario": plan.name if plan is not None else "baseline",
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
    write_gpkg(paths.gpkg(cfg.name), layers, gpkg_meta, styles=_qgis_styles(cfg, layers))
    with atomic_path(paths.travel_time_tif) as tmp:
        write_geotiff(tmp, result.grid, result.rasters)
    write_csv(paths.summary_csv, summary)
    figures = _summary_json(cfg, result, summary, approximate, note)
    figures["grid_population"] = _grid_population(cfg, result)
    figures["season"] = season_name
    figures["scenario"] = plan.name if plan is not None else "baseline"
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


def _add_service_access(cfg: RegionConfig, paths: RegionPaths, result, model, places, crs):
    """Service columns on settlements and anchors; the services layer and per-type figures.

    Returns (None, None) when the region has no service data at all.
    """
    if "services" not in layer_names(paths.osm_gpkg):
        logger.warning("no service data for %s: service accessibility skipped", cfg.display_name)
        return None, None
    services = read_layer(paths.osm_gpkg, "services").to_crs(crs)
    types = list(cfg.services.table())
    s, anchors = result.settlements, result.anchors
    areas = (
        read_layer(paths.osm_gpkg, "place_areas").to_crs(crs)
        if "place_areas" in layer_names(paths.osm_gpkg)
        else None
    )
    link = link_to_settlements(services, places, cfg.services.reach_table(), areas)
    services = pd.concat([services.drop(columns="geometry"), link, services[["geometry"]]], axis=1)
    services = gpd.GeoDataFrame(services, geometry="geometry", crs=crs)
    times = service_times(s, services, model, types)
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


def _grid_population(cfg: RegionConfig, result) -> dict | None:
    """People by travel time from the region's population grid, if it names one."""
    from pipeline.access.population import people_per_cell, population_figures

    grid_file = cfg.offline.population_grid if cfg.offline is not None else None
    if grid_file is None:
        return None
    path = cfg.resolve(grid_file)
    people = people_per_cell(result.grid, path)
    figures = population_figures(
        people, result.rasters["anchor_time_min"], cfg.thresholds.bands_min, cfg.thresholds.gap_min
    )
    logger.info(
        "population grid %s: ~%d people, ~%d beyond %g min of an anchor (estimate)",
        path.name,
        figures["total"],
        figures["gap"],
        cfg.thresholds.gap_min,
    )
    return {
        **figures,
        "source": path.name,
        "note": "estimate: each grid cell's people spread evenly over the land of the cell",
    }


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


def _qgis_styles(cfg: RegionConfig, layers: dict[str, gpd.GeoDataFrame]) -> dict[str, str]:
    """Each layer's default QGIS style (QML), stored inside the GeoPackage."""
    from pipeline.outputs.qgis import layer_styles

    return {name: style.qml() for name, style in layer_styles(cfg, layers).items()}


def _choose_anchors(cfg: RegionConfig, places: gpd.GeoDataFrame, approximate: bool):
    """Row positions of the anchors and cores among `places`: the region file's [anchors]
    (names, a CSV or a rule) and [cores], offline too (matched among the bundled settlements);
    offline, `[offline] anchor_rule` / `cores` replace them where given."""
    if places.empty:
        raise InputDataError(f"no settlements found in {cfg.display_name}; check settlement_places")
    level = cfg.boundary.district_admin_level
    beyond = cfg.anchors.beyond_border
    a = cfg.anchors
    off = cfg.offline if approximate else None
    if off is not None and off.anchor_rule is not None:
        anchor_pos = ca.rule_anchors(places, off.anchor_rule, level, beyond)
    elif a.names:
        anchor_pos = ca.resolve_names(places, a.names, "anchor")
    elif a.csv:
        path = cfg.resolve(a.csv)
        if not path.is_file():
            raise InputDataError(
                f"anchors.csv {str(path)!r} not found; fix the path in the region file"
            )
        anchor_pos = ca.read_anchor_csv(path, places)
    else:
        if approximate and a.rule.admin_centres:
            logger.warning(
                "anchors.rule asks for administrative centres, which the bundled data does not "
                "mark; offline only the rule's place classes count — list the centres in an "
                "anchors CSV (anchors.csv) to use them offline"
            )
        anchor_pos = ca.rule_anchors(places, a.rule, level, beyond)
    core_names = off.cores if off is not None and off.cores else cfg.cores.names
    core_pos = (
        ca.resolve_names(places, core_names, "core") if core_names else np.array([], dtype=np.int64)
    )
    # An agglomeration core is always an anchor as well: it hosts every service an anchor does.
    anchor_pos = np.union1d(anchor_pos, core_pos)
    if len(anchor_pos) == 0:
        raise InputDataError(
            f"no anchor settlements found in {cfg.display_name}; widen anchors.rule or list anchors.names"
        )
    outside = int((~ca._in_region(places)[anchor_pos]).sum())
    logger.info(
        "anchors (%d%s): %s",
        len(anchor_pos),
        f", {outside} beyond the border" if outside else "",
        ", ".join(places["name"].iloc[anchor_pos].astype(str)),
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
    "population_source",
    "abandoned",
    "district",
    "is_anchor",
    "is_core",
    "anchor_id",
    "anchor_osm_type",
    "anchor_osm_id",
    "anchor_name",
    "anchor_time_min",
    "core_id",
    "core_osm_type",
    "core_osm_id",
    "core_name",
    "core_time_min",
    "gap",
    "access_class",
    "no_road",
    "road_distance_m",
    "anchor_beyond_border",
    "geometry",
)


def _settlement_columns(s: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    extra = [
        c
        for c in s.columns
        if c.startswith("time_") or c in ("service_deserts", "services_beyond_border")
    ]
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

# The result layers every map page draws (services, seasons, plans come as extra layers).
MAP_LAYERS = (
    "districts", "catchments", "isochrones", "gaps", "agglomeration_zones", "settlements", "anchors",
)  # fmt: skip


def _map_layers(gpkg: Path) -> dict[str, gpd.GeoDataFrame]:
    return {name: read_layer(gpkg, name) for name in MAP_LAYERS}


def _page_layers(gpkg: Path) -> dict[str, gpd.GeoDataFrame]:
    """The layers a map page draws: the result layers, and roads, water, services if present."""
    layers = _map_layers(gpkg)
    present = set(layer_names(gpkg))
    for name in ("roads", "water", "services"):
        if name in present:
            layers[name] = read_layer(gpkg, name)
    return layers


def _page_links(cfg: RegionConfig, paths: RegionPaths, target: Path) -> list[tuple[str, str]]:
    """Links from the page `target` to the region's other pages that exist (and the report)."""
    import os

    from pipeline.outputs.i18n import tr

    lang = cfg.language
    root = paths.maps if paths.shared is None else paths.maps.parents[2]
    pages = [
        (root / "index.html", tr(lang, "page_link_map")),
        (paths.report_html, tr(lang, "report_link")),
        (root / "seasons.html", tr(lang, "page_link_seasons")),
        (root / "plan.html", tr(lang, "page_link_plan")),
    ]
    # the plan page is written by the maps stage once `make plan` has run
    planned = ((paths.shared or paths.processed) / "plan" / "plan.gpkg").is_file()
    made = {paths.report_html, *([root / "plan.html"] if planned else [])}
    return [
        (Path(os.path.relpath(page, target.parent)).as_posix(), text)
        for page, text in pages
        if page != target and (page.is_file() or page in made)
    ]


def run_maps(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """The run's map page (index.html) and, for the baseline when `make plan` has run, the
    plan page (plan.html). A what-if run's page names its season and scenario and draws the
    roads the scenario changes."""
    from pipeline.outputs.maps import build_map, plan_layers, scenario_road_layers, service_layers

    started = time.perf_counter()
    gpkg = paths.gpkg(cfg.name)
    layers = _page_layers(gpkg)
    meta = read_metadata(gpkg)
    extra = service_layers(layers, cfg)
    extra += scenario_road_layers(cfg, meta.get("scenario", "baseline"), layers.get("roads"))
    links = _page_links(cfg, paths, paths.map_html)
    page = build_map(layers, cfg, meta, extra=extra, links=links)
    write_html(paths.map_html, page)
    written = [(paths.map_html, page)]
    plan_gpkg = paths.processed / "plan" / "plan.gpkg"
    if paths.shared is None and plan_gpkg.is_file():  # the planning answers on their own page
        from pipeline.analysis.planning import plan_map_layers
        from pipeline.outputs.i18n import tr

        target = paths.maps / "plan.html"
        k = read_metadata(plan_gpkg).get("k", str(cfg.planning.k))
        plan_page = build_map(
            layers, cfg, meta, extra=plan_layers(plan_map_layers(plan_gpkg), cfg),
            what=tr(cfg.language, "page_plan", k=k), links=_page_links(cfg, paths, target),
        )  # fmt: skip
        write_html(target, plan_page)
        written.append((target, plan_page))
    for page_path, text in written:
        logger.info("page: %s (%.2f MB)", page_path, len(text.encode("utf-8")) / 1e6)
    _summary("maps", started, f"{len(layers['settlements'])} settlements drawn", paths.map_html)
    return paths.map_html


# --- qgis ----------------------------------------------------------------------------------


def _result_layers(gpkg: Path) -> dict[str, gpd.GeoDataFrame]:
    """Every data layer of a result GeoPackage, in its stored order (not the styles table)."""
    names = [name for name in layer_names(gpkg) if name != "layer_styles"]
    return {name: read_layer(gpkg, name) for name in names}


def run_qgis(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """The QGIS project beside the GeoPackage, and the raster's default style beside the raster."""
    from pipeline.outputs.qgis import project_xml, raster_style, write_project

    started = time.perf_counter()
    gpkg = paths.gpkg(cfg.name)
    layers = _result_layers(gpkg)
    crs = CRS.from_user_input(layers["districts"].crs)
    # An empty layer without a geometry type (roads in the straight-line model) opens in QGIS
    # as a bare table: leave it out of the project.
    stored = dict(pyogrio.list_layers(gpkg))
    layers = {n: f for n, f in layers.items() if stored.get(n) not in (None, "Unknown")}
    frames = [f for f in layers.values() if len(f) and f.geometry.notna().any()]
    bounds = np.asarray([f.total_bounds for f in frames])
    lo, hi = bounds[:, :2].min(axis=0), bounds[:, 2:].max(axis=0)
    pad = 0.03 * (hi - lo)
    extent = (*(lo - pad), *(hi + pad))
    meta = read_metadata(gpkg)
    note = ""
    if meta.get("approximate") == "yes":
        from pipeline.outputs.maps import approximate_text

        note = approximate_text(cfg)
    xml = project_xml(cfg, gpkg.name, layers, crs, extent, paths.travel_time_tif.name, note=note)
    project = paths.qgis_project(cfg.name)
    with atomic_path(project) as tmp:
        write_project(tmp, xml, cfg.name)
    with atomic_path(paths.travel_time_tif.with_suffix(".qml")) as tmp:
        tmp.write_text(raster_style(cfg), encoding="utf-8")
    _summary("qgis", started, f"{len(layers)} layers and the travel-time raster", project)
    return project


# --- seasons -------------------------------------------------------------------------------


def _anchor_minutes(cfg: RegionConfig, graph: RoadGraph, places, anchor_pos: np.ndarray):
    """Minutes from each settlement of the region to its nearest anchor on `graph` (NaN:
    unreachable), with the field and the trips (for the ways they use)."""
    model = _travel_model(cfg, graph)
    xy = np.column_stack([places.geometry.x, places.geometry.y])
    field = model.field(xy[anchor_pos])
    [trips] = model.trips(xy[ca._in_region(places)], [field])
    minutes = np.where(np.isfinite(trips.time_s), trips.time_s / 60.0, np.nan)
    return minutes, field, trips


def _used_ways(graph: RoadGraph, field, trips) -> np.ndarray:
    """OSM ways on the settlements' fastest trips to their anchors: the segment each joins, the
    shortest-path tree from there on, and the stretch into the anchor."""
    n, next_node = graph.n_nodes, field.next_node
    frontier = np.unique(trips.exit_node[trips.exit_node >= 0])
    seen = np.zeros(n, dtype=bool)
    while len(frontier):  # one step along every path at once
        seen[frontier] = True
        step = next_node[frontier]
        step = step[(step >= 0) & (step < n)]
        frontier = np.unique(step[~seen[step]])
    on_path = seen[graph.edge_u] & (next_node[graph.edge_u] == graph.edge_v)
    last = np.flatnonzero(seen & (next_node >= n))  # nodes whose next step enters an anchor
    entry_key = field.entry_node * (field.n_sources + 1) + field.entry_source
    wanted = last * (field.n_sources + 1) + (next_node[last] - n)
    into_anchor = field.entry_way[np.isin(entry_key, wanted)]
    joined = trips.depart_way[trips.depart_way >= 0]
    return np.unique(np.concatenate([graph.edge_way[on_path], into_anchor, joined]))


def _write_extra_map(cfg: RegionConfig, paths: RegionPaths, base_gpkg: Path, target: Path,
                     extra, **page) -> None:  # fmt: skip
    """A map page: the result layers of `base_gpkg` plus `extra()` layers (seasons, changes);
    `page`: what it shows, its season and scenario (see :func:`pipeline.outputs.maps.new_map`)."""
    from pipeline.outputs.maps import build_map

    layers = _page_layers(base_gpkg)
    layers.pop("services", None)  # a seasons or diff page is about access, not services
    links = _page_links(cfg, paths, target)
    html_text = build_map(layers, cfg, read_metadata(base_gpkg), extra=extra(), links=links, **page)
    write_html(target, html_text)
    logger.info("page: %s (%.2f MB)", target, len(html_text.encode("utf-8")) / 1e6)


def run_seasons(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """Every season of the region, then each settlement's worst and best season, all-season
    access, and the crossings whose closure cuts people off."""
    from pipeline.analysis.seasons import (
        combine_seasons,
        crossing_dependence,
        crossing_state,
        crossings_table,
    )
    from pipeline.network.graph import apply_season
    from pipeline.outputs.i18n import season_label, tr
    from pipeline.outputs.maps import season_layers

    started = time.perf_counter()
    per_season = {}
    for season in cfg.seasons:
        run_paths = paths.for_run(None, season)
        run_catchments(cfg, run_paths, season=season)
        per_season[season] = read_layer(run_paths.gpkg(cfg.name), "settlements")
    gap = cfg.thresholds.gap_min
    combined = combine_seasons(per_season, gap)

    inputs = _load_inputs(cfg, paths)
    places = inputs.places
    crossings = None
    lost_names: dict[tuple, list[str]] = {}
    if inputs.graph is not None:
        graphs = {
            s: apply_season(inputs.graph, rules, cfg.ferry_months, cfg.network.ferry_wait_min)
            for s, rules in cfg.seasons.items()
        }
        state = crossing_state(inputs.graph, graphs)
        anchor_pos, _ = _choose_anchors(cfg, places, inputs.approximate)
        lost_by_season = {}
        for season, graph in graphs.items():
            base, field, trips = _anchor_minutes(cfg, graph, places, anchor_pos)
            used = _used_ways(graph, field, trips)
            open_here = state.loc[state[f"open_{season}"], "osm_id"].to_numpy()
            lost_by_season[season] = crossing_dependence(
                graph,
                open_here,
                used,
                lambda g: _anchor_minutes(cfg, g, places, anchor_pos)[0],
                base,
                gap,
            )
        roads = read_layer(paths.osm_gpkg, "roads").to_crs(inputs.crs)
        settlements = places[ca._in_region(places)].reset_index(drop=True)
        crossings = crossings_table(state, lost_by_season, settlements, roads)
        keys = list(zip(settlements["osm_type"], settlements["osm_id"], strict=True))
        for row in crossings.itertuples():  # crossings are few
            label = row.name if isinstance(row.name, str) else f"{row.kind} {row.osm_id}"
            for lost in lost_by_season.values():
                for i in np.flatnonzero(lost.get(int(row.osm_id), [])):
                    lost_names.setdefault(keys[i], [])
                    if label not in lost_names[keys[i]]:
                        lost_names[keys[i]].append(label)
    combined["crossings"] = [
        ", ".join(lost_names.get(key, []))
        for key in zip(combined["osm_type"], combined["osm_id"], strict=True)
    ]

    layers = {f"settlements_{s}": _settlement_columns(f) for s, f in per_season.items()}
    layers["settlement_seasons"] = combined
    if crossings is not None:
        layers["crossings"] = crossings
    target = paths.processed / "seasons.gpkg"
    write_gpkg(target, layers, {"region": cfg.display_name, "seasons": ", ".join(cfg.seasons)})
    write_json(
        paths.processed / "seasons.json", _seasons_json(cfg, per_season, combined, crossings)
    )
    _write_extra_map(
        cfg,
        paths,
        paths.for_run(None, cfg.default_season).gpkg(cfg.name),
        paths.maps / "seasons.html",
        lambda: season_layers(per_season, combined, crossings, cfg),
        what=tr(cfg.language, "page_seasons"),
        hidden=("settlements", "abandoned"),  # the season switcher shows them, season by season
        season_text=tr(
            cfg.language,
            "every_season",
            seasons=", ".join(season_label(cfg.language, s) for s in cfg.seasons),
        ),
    )
    dependent = combined[combined["season_dependent"]]
    _summary(
        "seasons",
        started,
        f"{len(cfg.seasons)} seasons, {len(dependent)} settlements whose access depends on the season "
        f"({int(dependent['population'].astype('Float64').fillna(0).sum())} people), "
        f"{0 if crossings is None else len(crossings)} crossings",
        target,
    )
    return target


def _seasons_json(cfg, per_season, combined, crossings) -> dict:
    gap = cfg.thresholds.gap_min
    pop = combined["population"].astype("Float64").fillna(0)
    seasons = {}
    for season, frame in per_season.items():
        t = frame["anchor_time_min"]
        p = frame["population"].astype("Float64").fillna(0)
        seasons[season] = {
            "dates": f"{cfg.seasons[season].start}..{cfg.seasons[season].end}",
            "settlements_served": int((t <= gap).sum()),
            "population_served": int(p[t <= gap].sum()),
            "settlements_unreachable": int(t.isna().sum()),
        }
    dependent = combined[combined["season_dependent"]].copy()
    dependent["_pop"] = pop[combined["season_dependent"]]
    dependent = dependent.sort_values("_pop", ascending=False, kind="stable")
    table = [
        {
            "name": r.name,
            "district": r.district,
            "population": None if pd.isna(r.population) else int(r.population),
            "seasons_served": r.seasons_served,
            "worst_season": r.worst_season,
            "worst_time_min": None
            if pd.isna(r.worst_time_min)
            else round(float(r.worst_time_min), 1),
            "crossings": r.crossings,
        }
        for r in dependent.itertuples()
    ]
    return {
        "region": cfg.name,
        "gap_threshold_min": gap,
        "seasons": seasons,
        "all_season_access": {
            "settlements": int(combined["all_season_access"].sum()),
            "population": int(pop[combined["all_season_access"]].sum()),
        },
        "season_dependent": {
            "settlements": len(table),
            "population": int(dependent["_pop"].sum()),
            "table": table,
        },
        "crossings": []
        if crossings is None
        else crossings.drop(columns="geometry").replace({np.nan: None}).to_dict(orient="records"),
    }


# --- diff ----------------------------------------------------------------------------------


def _run_paths(cfg: RegionConfig, paths: RegionPaths, spec: str) -> RegionPaths:
    """Paths of a run named `scenario[@season]` (`baseline` is no scenario)."""
    scenario, _, season = spec.partition("@")
    if season:
        cfg.season(season)
    if scenario != "baseline":
        from pipeline.network.scenarios import load_scenario

        load_scenario(cfg, scenario)
    return paths.for_run(None if scenario == "baseline" else scenario, season or None)


def _run_words(cfg: RegionConfig, spec: str) -> str:
    """A run `scenario[@season]` in words: the scenario's description, then its season."""
    from pipeline.outputs.i18n import season_label
    from pipeline.outputs.maps import scenario_text

    scenario, _, season = spec.partition("@")
    words = scenario_text(cfg, scenario, short=True)
    return f"{words} ({season_label(cfg.language, season)})" if season else words


def run_diff(cfg: RegionConfig, paths: RegionPaths, a: str, b: str) -> Path:
    """Compare two runs; write data_processed/<region>/diff/<a>__<b>.gpkg and .json."""
    from pipeline.analysis.diff import compare_runs, diff_figures
    from pipeline.outputs.i18n import tr
    from pipeline.outputs.maps import change_layers, scenario_road_layers

    started = time.perf_counter()
    layers = []
    for spec in (a, b):
        run = _run_paths(cfg, paths, spec)
        gpkg = run.gpkg(cfg.name)
        if not gpkg.is_file():
            scenario, _, season = spec.partition("@")
            how = (
                f"make catchments region={cfg.name}"
                + (f" scenario={scenario}" if scenario != "baseline" else "")
                + (f" season={season}" if season else "")
            )
            raise InputDataError(f"run {spec!r} has no results ({gpkg}); run `{how}` first")
        layers.append(read_layer(gpkg, "settlements"))
    changes = compare_runs(layers[0], layers[1], cfg.thresholds.gap_min)
    stem = f"{a}__{b}".replace("@", "-")
    target = paths.processed / "diff" / f"{stem}.gpkg"
    write_gpkg(target, {"changes": changes}, {"region": cfg.display_name, "a": a, "b": b})
    figures = {"region": cfg.name, "a": a, "b": b, **diff_figures(changes)}
    write_json(paths.processed / "diff" / f"{stem}.json", figures)
    run_b = _run_paths(cfg, paths, b)
    b_roads = read_layer(run_b.gpkg(cfg.name), "roads")
    diff_page = paths.maps / "diff" / f"{stem}.html"
    _write_extra_map(
        cfg,
        paths,
        run_b.gpkg(cfg.name),
        diff_page,
        lambda: [
            *scenario_road_layers(cfg, b.partition("@")[0], b_roads),
            *change_layers(changes, cfg),
        ],
        what=tr(cfg.language, "page_diff", a=_run_words(cfg, a), b=_run_words(cfg, b)),
        scenario_text=f"{_run_words(cfg, a)} → {_run_words(cfg, b)}",
    )
    _summary(
        "diff",
        started,
        f"{len(changes)} settlements change; gained {figures['gained']['population']} people, "
        f"lost {figures['lost']['population']}",
        target,
    )
    return target


# --- report --------------------------------------------------------------------------------


def _json_or_empty(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _plan_sections(cfg: RegionConfig, paths: RegionPaths) -> list:
    """The planning answers' report sections, when `make plan` has run."""
    plan = _json_or_empty(paths.processed / "plan" / "plan.json")
    if not plan:
        return []
    from pipeline.outputs.report import plan_html

    return [plan_html(plan, cfg.language)]


def run_report(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """The reviewer's report page and the settlement table for spreadsheets."""
    from pipeline.outputs.report import (
        build_report,
        seasons_section,
        services_section,
        settlements_table,
        write_settlements_csv,
    )

    started = time.perf_counter()
    gpkg = paths.gpkg(cfg.name)
    settlements = read_layer(gpkg, "settlements")
    anchors = read_layer(gpkg, "anchors")
    sources = _json_or_empty(paths.sources)
    credits = cfg.region_file.parent / cfg.name / "ATTRIBUTION.md"
    attribution = credits.read_text(encoding="utf-8") if credits.is_file() else ""
    extra = [services_section(_json_or_empty(paths.summary_json).get("services", {}), cfg)]
    if paths.shared is None:  # the baseline report also covers the seasons and the plan
        extra.append(seasons_section(_json_or_empty(paths.processed / "seasons.json"), cfg))
        extra.extend(_plan_sections(cfg, paths))
    links = [(href, text) for href, text in _page_links(cfg, paths, paths.report_html)]
    page = build_report(
        settlements, anchors, cfg, read_metadata(gpkg), sources, attribution,
        extra_sections=[x for x in extra if x], links=links,
    )  # fmt: skip
    with atomic_path(paths.report_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    with atomic_path(paths.settlements_csv) as tmp:
        write_settlements_csv(tmp, settlements_table(settlements), cfg.language)
    _summary("report", started, f"{len(settlements)} settlements", paths.report_html)
    return paths.report_html


# --- plan ----------------------------------------------------------------------------------


def run_plan(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """Planning answers from the catchments results (data_processed/<region>/plan/): anchors to
    add, inter-municipal ties, reach of single-industry towns. Same network and season as the
    catchments stage's baseline."""
    from pipeline.analysis import planning as pl

    started = time.perf_counter()
    results = paths.gpkg(cfg.name)
    if not results.is_file():
        raise ExtractError(f"{results} not found; run `make catchments region={cfg.name}` first")
    layers = {
        name: read_layer(results, name)
        for name in ("settlements", "anchors", "districts", "catchments")
    }
    meta = read_metadata(results)
    graph, _, _ = _what_if(cfg, _load_inputs(cfg, paths), None, None)
    model = _travel_model(cfg, graph)
    gap_min = cfg.planning.gap_min or cfg.thresholds.gap_min
    s = layers["settlements"]
    proposals = pl.propose_anchors(
        s, layers["anchors"], model, cfg.planning, gap_min, cfg.planning.k
    )
    links = pl.cross_border_links(s, layers["anchors"], model, gap_min)
    area = pl.cross_border_area(layers["catchments"], layers["anchors"], layers["districts"])
    pairs = pl.cross_border_pairs(links, layers["districts"], area)
    official = (
        pl.official_monotowns([cfg.display_name, cfg.boundary.region_name or ""])
        if cfg.planning.monotowns_from_list
        else None
    )
    if official is not None:
        logger.info(
            "monotowns on the government's list for %s: %s",
            cfg.display_name,
            ", ".join(
                f"{n} ({c})" for n, c in zip(official["name"], official["category"], strict=True)
            )
            or "none",
        )
    reach, reach_links = pl.monotown_reach(s, model, cfg.planning, official)
    mode = "straight_line" if graph is None else "road"
    figures = pl.plan_figures(
        cfg, proposals, links, pairs, reach, mode=mode, note=meta.get("note", "")
    )
    out = paths.processed / "plan"
    plan_meta = {
        key: meta[key] for key in ("region", "season", "mode", "approximate", "note") if key in meta
    }
    plan_meta.update(gap_threshold_min=f"{gap_min:g}", k=str(cfg.planning.k))
    plan_layers = {
        "cross_border_pairs": pairs,
        "cross_border": links,
        "monotown_reach": reach_links,
        "newly_covered": proposals.newly_covered,
        "proposals": proposals.table,
    }
    write_gpkg(out / "plan.gpkg", plan_layers, plan_meta)
    write_csv(out / "proposals.csv", pd.DataFrame(proposals.table.drop(columns="geometry")))
    write_csv(out / "cross_border.csv", pd.DataFrame(pairs.drop(columns="geometry")))
    write_csv(out / "monotown_reach.csv", reach)
    write_json(out / "plan.json", figures)
    p = figures["proposals"]
    _summary(
        "plan",
        started,
        f"{p['proposed']} of k={p['k']} anchors proposed (+{p['verified']['population']} people, "
        f"{p['verified']['settlements']} settlements within {gap_min:g} min; greedy "
        f"{'=' if p['greedy_gap']['population'] == 0 else '<'} {'exact' if p['exact']['ran'] else 'no exact'}), "
        f"{len(pairs)} cross-border district pairs ({len(links)} settlements), "
        f"{len(reach)} monotowns" + (" (APPROXIMATE)" if graph is None else ""),
        out / "plan.json",
    )
    return out / "plan.json"
