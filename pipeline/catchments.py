"""Anchors, cores, and who reaches them how fast: settlement times, catchment polygons, gaps, figures.

A *travel field* says, for any point, how long the trip to the nearest source (anchor or core)
takes and which source it is. On roads it is one multi-source Dijkstra plus the off-road walk
to the road; offline it is the straight-line model (distance × detour ÷ speed). Settlements and
raster cells are both evaluated through the same field, so they always agree.
"""

from __future__ import annotations

import difflib
import io
import logging
import unicodedata
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from pipeline.config import AnchorRule, RegionConfig
from pipeline.errors import AnchorNotFoundError, InputDataError
from pipeline.network import MIN_EDGE_TIME_S, RoadGraph
from pipeline.routing import NearestSource, nearest_source, time_via_nearest_nodes
from pipeline.surface import Grid, band_labels, cell_centres, make_grid, polygonise

__all__ = [
    "Accessibility",
    "TravelField",
    "assign_districts",
    "compute_accessibility",
    "coverage_summary",
    "read_anchor_csv",
    "resolve_names",
    "road_field",
    "rule_anchors",
    "straight_line_field",
]

logger = logging.getLogger(__name__)

ACCESS_CLASSES = ("core_zone", "anchor_zone", "gap", "unreachable")
SOURCE_K_NEAREST = 8  # road nodes an anchor is joined to


@dataclass(frozen=True)
class TravelField:
    """Everything needed to time a trip from any point to its nearest source."""

    node_xy: np.ndarray
    tree: cKDTree
    node: NearestSource
    offroad_speed_kph: float
    k: int
    max_point_m: float  # settlements: beyond this from every node, no access
    max_cell_m: float  # raster cells: the same for land
    next_node: np.ndarray | None = None  # road graph: the shortest-path tree (see routing)

    def times(self, xy: np.ndarray, *, cells: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return time_via_nearest_nodes(
            xy,
            self.node_xy,
            self.node,
            k=self.k,
            offroad_speed_kph=self.offroad_speed_kph,
            max_offroad_m=self.max_cell_m if cells else self.max_point_m,
            tree=self.tree,
        )


def road_field(
    graph: RoadGraph, source_xy: np.ndarray, cfg: RegionConfig, tree: cKDTree
) -> TravelField:
    """Travel field over the road graph, from one Dijkstra run for all sources.

    Each source becomes a virtual node joined to its k nearest road nodes (within the snap
    distance) by the off-road walk, so a source next to a one-way street or a stray fragment
    is still reached from the main network. A source with no road near it serves nobody.
    """
    n_nodes, n_src = graph.n_nodes, len(source_xy)
    k = min(SOURCE_K_NEAREST, n_nodes)
    dist, idx = tree.query(source_xy, k=k, distance_upper_bound=cfg.network.snap_max_m)
    dist, idx = dist.reshape(n_src, k), idx.reshape(n_src, k)
    ok = idx < n_nodes
    src = np.repeat(np.arange(n_src), k)[ok.ravel()]
    walk_s = np.maximum(dist[ok] / (cfg.network.offroad_speed_kph / 3.6), MIN_EDGE_TIME_S)
    # Forward edges road node -> virtual source node: the last steps into the settlement.
    csr = graph.csr(extra_u=idx[ok], extra_v=n_nodes + src, extra_time_s=walk_s, extra_nodes=n_src)
    result = nearest_source(csr, n_nodes + np.arange(n_src))
    # People walk to the nearest road that leads to a source, not onto a stray fragment.
    reached = np.flatnonzero(np.isfinite(result.time_s[:n_nodes]))
    return TravelField(
        node_xy=graph.node_xy[reached],
        tree=cKDTree(graph.node_xy[reached]),
        node=NearestSource(result.time_s[reached], result.source[reached]),
        offroad_speed_kph=cfg.network.offroad_speed_kph,
        k=cfg.surface.k_nearest,
        max_point_m=cfg.network.snap_max_m,
        max_cell_m=cfg.network.snap_max_m,  # the same walk limit for land and settlements
        next_node=result.next_node[:n_nodes],
    )


def straight_line_field(
    source_xy: np.ndarray, detour_factor: float, speed_kph: float
) -> TravelField:
    """Straight-line model: time = distance × detour ÷ speed to the nearest source, no roads."""
    n = len(source_xy)
    return TravelField(
        node_xy=source_xy,
        tree=cKDTree(source_xy),
        node=NearestSource(np.zeros(n), np.arange(n)),
        offroad_speed_kph=speed_kph / detour_factor,
        k=1,
        max_point_m=np.inf,
        max_cell_m=np.inf,
    )


# --- choosing anchors and cores ------------------------------------------------------------


def _norm(name: object) -> str:
    text = unicodedata.normalize("NFC", str(name)).casefold().replace("ё", "е").strip()
    return " ".join(text.split())


def resolve_names(
    settlements: pd.DataFrame, names: list[str], what: str, source: str = "the region file"
) -> np.ndarray:
    """Row positions of the settlements named in `names` (name, name:ru or name:en; case-blind).

    Where a name is shared, the most populous settlement of the highest place class wins.
    Raises :class:`AnchorNotFoundError` listing the closest names for any name not found, and
    :class:`InputDataError` for a settlement listed twice (`source` is where the list is).
    """
    order = _importance_order(settlements)
    lookup: dict[str, int] = {}
    for col in ("name_en", "name_ru", "name"):  # later columns override: `name` wins
        if col in settlements:
            values = settlements[col].to_numpy(dtype=object)  # not .iloc per row: 1000x slower
            for pos in order[::-1]:  # most important last, so it wins
                value = values[pos]
                if isinstance(value, str) and value:
                    lookup[_norm(value)] = pos
    found, missing = [], []
    for name in names:
        pos = lookup.get(_norm(name))
        (missing if pos is None else found).append(name if pos is None else pos)
    if missing:
        known = sorted({v for v in settlements["name"].dropna()})
        hints = difflib.get_close_matches(missing[0], known, n=3, cutoff=0.5)
        hint = f"; closest: {', '.join(hints)}" if hints else ""
        raise AnchorNotFoundError(
            f"{what} {missing[0]!r} matches no settlement of the region{hint} — "
            f"fix the name in {source} ({len(missing)} not found in all)"
        )
    first_name: dict[int, str] = {}
    for name, pos in zip(names, found, strict=True):  # a duplicate is a typo, not a no-op
        if pos in first_name:
            same = (
                "is listed twice"
                if _norm(name) == _norm(first_name[pos])
                else f"and {first_name[pos]!r} are the same settlement"
            )
            raise InputDataError(
                f"{what} {name!r} {same} — remove the duplicate from {source} "
                "(two places of one name: list them by osm_id in anchors.csv)"
            )
        first_name[pos] = name
    return np.unique(np.asarray(found, dtype=np.int64))


def _importance_order(settlements: pd.DataFrame) -> np.ndarray:
    rank = {"city": 0, "town": 1, "village": 2, "hamlet": 3, "isolated_dwelling": 4}
    place_rank = settlements["place"].map(rank).fillna(9).to_numpy()
    population = settlements["population"].astype("Float64").fillna(-1).to_numpy(dtype=float)
    return np.lexsort((-population, place_rank))


def rule_anchors(settlements: pd.DataFrame, rule: AnchorRule, district_level: int) -> np.ndarray:
    """Row positions of the settlements that a rule makes anchors."""
    pop = settlements["population"].astype("Float64").fillna(0).to_numpy(dtype=float)
    chosen = settlements["place"].isin(rule.places).to_numpy() & (pop >= rule.min_population)
    if rule.admin_centres and "admin_centre_level" in settlements:
        level = settlements["admin_centre_level"].astype("Float64").fillna(99).to_numpy(dtype=float)
        chosen |= level <= district_level
    if rule.largest_per_district and "district" in settlements:
        has_anchor = set(settlements.loc[chosen, "district"].dropna())
        biggest = (
            settlements.assign(_pop=pop)
            .loc[lambda s: s["district"].notna() & ~s["district"].isin(has_anchor)]
            .sort_values("_pop", ascending=False, kind="stable")
            .drop_duplicates("district")
        )
        chosen[settlements.index.get_indexer(biggest.index)] = True
    return np.flatnonzero(chosen)


def read_anchor_csv(path, settlements: pd.DataFrame) -> np.ndarray:
    """Anchors from a CSV with a `name` or an `osm_id` column (UTF-8 or Windows-1251; `,` or `;`)."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        raise InputDataError(
            f"{path}: UTF-16 text (Excel's 'Unicode text'); save it as CSV in UTF-8 or Windows-1251"
        )
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputDataError(f"{path}: neither UTF-8 nor Windows-1251 text; save it as UTF-8")
    header = text.partition("\n")[0]
    sep = ";" if header.count(";") > header.count(",") else ","  # Excel in a Russian locale: ';'
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, sep=sep)
    except pd.errors.EmptyDataError:
        raise InputDataError(
            f"{path}: the file is empty; write a header line `name` and one anchor per line"
        ) from None
    except pd.errors.ParserError as exc:
        raise InputDataError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    columns = {c.strip().lower(): c for c in table.columns}
    listed = next((table[columns[c]].dropna() for c in ("osm_id", "name") if c in columns), None)
    if listed is not None and listed.str.strip().eq("").all():
        raise InputDataError(f"{path}: lists no anchors; add one anchor per line under the header")
    if "osm_id" in columns:
        ids = pd.to_numeric(table[columns["osm_id"]], errors="coerce")
        if ids.isna().any():
            bad = table[columns["osm_id"]][ids.isna()].iloc[0]
            raise InputDataError(f"{path}: osm_id {bad!r} is not a number; fix that row")
        if ids.duplicated().any():
            raise InputDataError(
                f"{path}: osm_id {int(ids[ids.duplicated()].iloc[0])} is listed twice; remove the duplicate"
            )
        positions = settlements.reset_index(drop=True).index[settlements["osm_id"].isin(ids)]
        missing = set(ids.astype(int)) - set(settlements["osm_id"])
        if missing:
            raise AnchorNotFoundError(
                f"{path}: osm_id {sorted(missing)[0]} is not a settlement of the region; fix the CSV"
            )
        return np.asarray(positions, dtype=np.int64)
    if "name" in columns:
        names = table[columns["name"]].dropna().str.strip().tolist()
        return resolve_names(settlements, [n for n in names if n], "anchor", str(path))
    raise InputDataError(
        f"{path}: needs a column 'name' or 'osm_id' (found: {', '.join(table.columns)}); rename the header"
    )


# --- the computation -----------------------------------------------------------------------


@dataclass
class Accessibility:
    """All results of the catchments stage (projected CRS), ready to export."""

    settlements: gpd.GeoDataFrame
    anchors: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    isochrones: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    agglomeration_zones: gpd.GeoDataFrame
    grid: Grid
    rasters: dict[str, np.ndarray]  # full-grid float arrays, NaN where no value


def assign_districts(points: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> pd.Series:
    """Name of the district each point lies in (None outside every district)."""
    joined = gpd.sjoin(
        points[["geometry"]], districts[["name", "geometry"]], how="left", predicate="within"
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["name"].reindex(points.index)


def compute_accessibility(
    settlements: gpd.GeoDataFrame,
    region: gpd.GeoSeries,
    anchor_pos: np.ndarray,
    core_pos: np.ndarray,
    make_field,
    cfg: RegionConfig,
    road_tree: cKDTree | None = None,
) -> Accessibility:
    """Time every settlement and every raster cell to its nearest anchor and nearest core.

    Parameters
    ----------
    settlements : projected points with name, population, district.
    region : the region polygon, projected.
    anchor_pos, core_pos : row positions of anchors and cores in `settlements`.
    make_field : callable(source_xy) -> TravelField (road or straight-line model).
    road_tree : KD-tree of all road nodes, for each settlement's distance to a road (None offline).
    """
    xy = np.column_stack([settlements.geometry.x, settlements.geometry.y])
    anchor_field = make_field(xy[anchor_pos])
    core_field = make_field(xy[core_pos]) if len(core_pos) else None

    s = settlements.copy()
    a_time, a_src, _ = anchor_field.times(xy, cells=False)
    near_m = road_tree.query(xy, k=1)[0] if road_tree is not None else np.full(len(xy), np.nan)
    a_time[anchor_pos] = 0.0  # services are in the anchor itself
    a_src[anchor_pos] = np.arange(len(anchor_pos))
    names = s["name"].to_numpy(dtype=object)
    stranded = anchor_pos[near_m[anchor_pos] > cfg.network.snap_max_m]  # NaN offline: none
    if len(stranded):  # it would quietly serve only itself
        logger.warning(
            "anchor %r has no road within network.snap_max_m = %g m, so it serves nobody but "
            "itself (%d such anchors); check its position in OSM or raise snap_max_m",
            names[stranded[0]],
            cfg.network.snap_max_m,
            len(stranded),
        )
    s["anchor_name"] = np.where(a_src >= 0, names[anchor_pos][np.maximum(a_src, 0)], None)
    s["anchor_time_min"] = np.where(np.isfinite(a_time), a_time / 60.0, np.nan)
    if core_field is not None:
        c_time, c_src, _ = core_field.times(xy, cells=False)
        c_time[core_pos] = 0.0
        c_src[core_pos] = np.arange(len(core_pos))
        s["core_name"] = np.where(c_src >= 0, names[core_pos][np.maximum(c_src, 0)], None)
        s["core_time_min"] = np.where(np.isfinite(c_time), c_time / 60.0, np.nan)
    else:
        s["core_name"], s["core_time_min"] = None, np.nan
    s["is_anchor"] = False
    s.iloc[anchor_pos, s.columns.get_loc("is_anchor")] = True
    s["is_core"] = False
    s.iloc[core_pos, s.columns.get_loc("is_core")] = True
    s["road_distance_m"] = near_m
    s["no_road"] = ~(near_m <= cfg.network.snap_max_m) if road_tree is not None else False
    s["gap"] = ~(s["anchor_time_min"] <= cfg.thresholds.gap_min)
    s["access_class"] = _access_class(s, cfg)

    grid = make_grid(region.iloc[0], settlements.crs, cfg.surface.cell_m)
    (rows, cols), centres = cell_centres(grid)
    rasters = {
        "anchor_time_min": np.full((grid.height, grid.width), np.nan),
        "core_time_min": np.full((grid.height, grid.width), np.nan),
        "anchor_id": np.full((grid.height, grid.width), np.nan),
        "core_id": np.full((grid.height, grid.width), np.nan),
    }
    t, src, _ = anchor_field.times(centres, cells=True)
    rasters["anchor_time_min"][rows, cols] = t / 60.0
    rasters["anchor_id"][rows, cols] = np.where(src >= 0, src, np.nan)
    if core_field is not None:
        t, src, _ = core_field.times(centres, cells=True)
        rasters["core_time_min"][rows, cols] = t / 60.0
        rasters["core_id"][rows, cols] = np.where(src >= 0, src, np.nan)

    anchors = _anchor_table(s, anchor_pos, grid, rasters)
    return Accessibility(
        settlements=s,
        anchors=anchors,
        catchments=_catchment_polygons(rasters, grid, anchors),
        isochrones=_isochrone_polygons(rasters, grid, cfg.thresholds.bands_min),
        gaps=_gap_polygons(rasters, grid, cfg.thresholds.gap_min),
        agglomeration_zones=_core_zone_polygons(
            rasters, grid, s.iloc[core_pos], cfg.cores.zone_min
        ),
        grid=grid,
        rasters=rasters,
    )


def _access_class(s: pd.DataFrame, cfg: RegionConfig) -> pd.Series:
    core_limit = max(cfg.cores.zone_min)
    reachable = s["anchor_time_min"].notna()
    klass = np.select(
        [
            ~reachable,
            s["core_time_min"] <= core_limit,
            s["anchor_time_min"] <= cfg.thresholds.gap_min,
        ],
        ["unreachable", "core_zone", "anchor_zone"],
        default="gap",
    )
    return pd.Series(klass, index=s.index)


def _anchor_table(
    s: gpd.GeoDataFrame, anchor_pos: np.ndarray, grid: Grid, rasters
) -> gpd.GeoDataFrame:
    anchors = s.iloc[anchor_pos][
        ["osm_id", "name", "place", "population", "district", "is_core", "geometry"]
    ]
    anchors = anchors.reset_index(drop=True)
    anchors.insert(0, "anchor_id", np.arange(len(anchors)))
    served = s[s["anchor_name"].notna()]
    pop = served["population"].astype("Float64").fillna(0)
    by_anchor = served.assign(_pop=pop).groupby("anchor_name")
    anchors["settlements_served"] = anchors["name"].map(by_anchor.size()).fillna(0).astype(int)
    anchors["population_served"] = (
        anchors["name"].map(by_anchor["_pop"].sum()).fillna(0).astype(int)
    )
    ids = rasters["anchor_id"]
    counts = np.bincount(ids[np.isfinite(ids)].astype(int), minlength=len(anchors))
    anchors["catchment_km2"] = counts[: len(anchors)] * grid.cell_area_km2
    return anchors


def _empty(crs, columns: list[str]) -> gpd.GeoDataFrame:
    data = {c: pd.Series(dtype=float) for c in columns if c != "geometry"}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _catchment_polygons(rasters, grid: Grid, anchors: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    ids = rasters["anchor_id"]
    poly = polygonise(np.nan_to_num(ids, nan=-1), grid, np.isfinite(ids))
    if poly.empty:
        return _empty(poly.crs, ["anchor_id", "anchor_name", "area_km2", "geometry"])
    poly = poly.rename(columns={"value": "anchor_id"})
    poly["anchor_name"] = (
        anchors.set_index("anchor_id")["name"].reindex(poly["anchor_id"]).to_numpy()
    )
    poly["area_km2"] = poly.geometry.area / 1e6
    return poly[["anchor_id", "anchor_name", "area_km2", "geometry"]]


def _isochrone_polygons(rasters, grid: Grid, bands_min: list[float]) -> gpd.GeoDataFrame:
    t = rasters["anchor_time_min"]
    band = np.searchsorted(np.asarray(bands_min), np.nan_to_num(t, nan=np.inf), side="left")
    valid = np.isfinite(t) & (band < len(bands_min))
    poly = polygonise(band, grid, valid).rename(columns={"value": "band"})
    if poly.empty:
        return _empty(poly.crs, ["band", "from_min", "to_min", "label", "area_km2", "geometry"])
    limits = np.asarray(bands_min)
    lows = np.concatenate([[0.0], limits[:-1]])
    labels = np.asarray(band_labels(bands_min))
    poly["from_min"], poly["to_min"] = lows[poly["band"]], limits[poly["band"]]
    poly["label"] = labels[poly["band"]]
    poly["area_km2"] = poly.geometry.area / 1e6
    return poly[["band", "from_min", "to_min", "label", "area_km2", "geometry"]]


def _gap_polygons(rasters, grid: Grid, gap_min: float) -> gpd.GeoDataFrame:
    t = rasters["anchor_time_min"]
    kind = np.where(np.isfinite(t), 0, 1)  # 0: beyond the threshold, 1: no road access at all
    valid = ~(t <= gap_min)
    poly = polygonise(kind, grid, valid)
    if poly.empty:
        return _empty(poly.crs, ["kind", "threshold_min", "area_km2", "geometry"])
    poly["kind"] = np.where(poly["value"] == 0, "beyond_threshold", "no_access")
    poly["threshold_min"] = gap_min
    poly["area_km2"] = poly.geometry.area / 1e6
    return poly[["kind", "threshold_min", "area_km2", "geometry"]]


def _core_zone_polygons(
    rasters, grid: Grid, cores: pd.DataFrame, zone_min: list[float]
) -> gpd.GeoDataFrame:
    t, ids = rasters["core_time_min"], rasters["core_id"]
    zone = np.searchsorted(np.asarray(zone_min), np.nan_to_num(t, nan=np.inf), side="left")
    valid = np.isfinite(t) & (zone < len(zone_min))
    key = np.where(valid, np.nan_to_num(ids, nan=0).astype(np.int64) * len(zone_min) + zone, -1)
    poly = polygonise(key, grid, valid)
    if poly.empty:
        return _empty(poly.crs, ["core_name", "zone", "to_min", "area_km2", "geometry"])
    core_idx, zone_idx = np.divmod(poly["value"].to_numpy(), len(zone_min))
    names = cores["name"].to_numpy(dtype=object)
    labels = np.asarray(band_labels(zone_min))
    poly["core_name"] = names[core_idx] if len(names) else []
    poly["zone"] = labels[zone_idx]
    poly["to_min"] = np.asarray(zone_min)[zone_idx]
    poly["area_km2"] = poly.geometry.area / 1e6
    return poly[["core_name", "zone", "to_min", "area_km2", "geometry"]]


# --- figures -------------------------------------------------------------------------------


def coverage_summary(s: pd.DataFrame, cfg: RegionConfig) -> pd.DataFrame:
    """Settlements and population by district (and a region total row): within each band
    limit, in gaps, unreachable, in a core zone. Population counts only settlements whose
    population is known; `settlements_no_population` says how many are not."""
    pop = s["population"].astype("Float64").fillna(0).to_numpy(dtype=float)
    t = s["anchor_time_min"].to_numpy(dtype=float)
    columns = {
        "settlements": np.ones(len(s)),
        "population": pop,
        "settlements_no_population": s["population"].isna().to_numpy(dtype=float),
    }
    for limit in cfg.thresholds.bands_min:
        within = t <= limit
        columns[f"settlements_within_{limit:g}min"] = within.astype(float)
        columns[f"population_within_{limit:g}min"] = pop * within
    for klass in ACCESS_CLASSES:
        hit = (s["access_class"] == klass).to_numpy()
        columns[f"settlements_{klass}"] = hit.astype(float)
        columns[f"population_{klass}"] = pop * hit
    table = pd.DataFrame(columns)
    table["district"] = s["district"].fillna("(outside districts)").to_numpy()
    by_district = table.groupby("district", sort=True).sum()
    total = by_district.sum().to_frame(cfg.display_name).T
    out = pd.concat([total, by_district]).astype(np.int64)
    out.index.name = "area"
    out.insert(0, "level", ["region"] + ["district"] * len(by_district))
    return out.reset_index()
