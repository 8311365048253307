"""Anchors, cores, and who reaches them how fast: settlement times, catchment polygons, gaps, figures.

A travel model (:mod:`pipeline.access`: the road model, or the straight-line one offline) gives
the *field* of a set of sources — anchors or cores — and times every settlement and every raster
cell to its nearest source by the one rule of that module, so settlements and cells agree.
Anchors and cores are told apart by their position in the anchors table (``anchor_id``) and their
OSM identity, never by name.
"""

from __future__ import annotations

import difflib
import functools
import logging
import unicodedata
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.access.surface import Grid, band_labels, cell_centres, make_grid, polygonise
from pipeline.access.walk_and_drive import TravelModel, Trips
from pipeline.config import AnchorRule, RegionConfig
from pipeline.errors import AnchorNotFoundError, InputDataError
from pipeline.inputs.settlement_table import normalise_name

__all__ = [
    "ACCESS_CLASSES",
    "Accessibility",
    "assign_districts",
    "compute_accessibility",
    "coverage_summary",
    "read_anchor_csv",
    "resolve_names",
    "rule_anchors",
]

logger = logging.getLogger(__name__)

ACCESS_CLASSES = ("core_zone", "anchor_zone", "gap", "unreachable")
CATCHMENT_COLUMNS = (
    "anchor_id", "anchor_osm_type", "anchor_osm_id", "anchor_name", "anchor_label", "area_km2",
)  # fmt: skip


# --- choosing anchors and cores ------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)  # anchors and cores look up the same settlements
def _norm(name: object) -> str:
    text = unicodedata.normalize("NFC", str(name)).casefold().replace("ё", "е").strip()
    return " ".join(text.split())


def resolve_names(
    settlements: pd.DataFrame,
    names: list[str],
    what: str,
    source: str = "the region file",
    districts: list[str | None] | None = None,
) -> np.ndarray:
    """Row positions of the settlements named in `names` (name, name:ru or name:en; case-blind).

    Where a name is shared, the most populous settlement of the highest place class wins.
    `districts` (optional, one per name; empty: none) looks each name up among the
    settlements of that district first, so two villages of one name in two districts can
    both be listed; district names are compared loosely (case, ё/е, and the words район,
    муниципальный, округ, городской ignored: "Кадуйский район" is "Кадуйский муниципальный
    округ"). A name not in its district is looked up in the whole region (logged).

    Raises :class:`AnchorNotFoundError` listing every name not found, each with its closest
    names, and :class:`InputDataError` for a settlement listed twice (`source` is where the
    list is).
    """
    ignored = {"район", "муниципальный", "округ", "городской"}

    def district_key(name: object) -> str:
        if not isinstance(name, str):
            return ""
        words = _norm(name.replace("-", " ")).split()
        return " ".join(w for w in words if w not in ignored)

    order = _importance_order(settlements)
    in_district = (
        [district_key(d) for d in settlements["district"].to_numpy(dtype=object)]
        if "district" in settlements
        else [""] * len(settlements)
    )
    # Exact names first; failing that, names without type words and punctuation, as the
    # census table is matched («им Бабушкина» of a registry is OSM's «имени Бабушкина»).
    lookup: dict[str, int] = {}
    by_district: dict[tuple[str, str], int] = {}
    loose: dict[str, int] = {}
    loose_by_district: dict[tuple[str, str], int] = {}
    for col in ("name_en", "name_ru", "name"):  # later columns override: `name` wins
        if col in settlements:
            values = settlements[col].to_numpy(dtype=object)  # not .iloc per row: 1000x slower
            for pos in order[::-1]:  # most important last, so it wins
                value = values[pos]
                if isinstance(value, str) and value:
                    exact, loose_key = _norm(value), normalise_name(value)
                    lookup[exact] = pos
                    by_district[(in_district[pos], exact)] = pos
                    loose[loose_key] = pos
                    loose_by_district[(in_district[pos], loose_key)] = pos
    known_districts = (
        dict(zip(in_district, settlements["district"], strict=True))
        if "district" in settlements
        else {}
    )
    wanted = list(districts) if districts is not None else [None] * len(names)
    found, missing = [], []
    for name, district in zip(names, wanted, strict=True):
        key = district_key(district)
        pos = by_district.get((key, _norm(name))) if key else None
        if pos is None:
            pos = lookup.get(_norm(name))
            loose_key = normalise_name(name)
            if pos is None and loose_key:
                pos = loose_by_district.get((key, loose_key)) if key else None
                if pos is not None:
                    key = ""  # found in its district: nothing to say about the district
                else:
                    pos = loose.get(loose_key)
                if pos is not None:
                    logger.info(
                        "%s %r: no settlement of exactly that name; took %r",
                        what, name, settlements["name"].iloc[pos],
                    )  # fmt: skip
            if key and pos is not None:
                actual = settlements["district"].iloc[pos] if "district" in settlements else None
                if key in known_districts:
                    logger.info(
                        "%s %r: none of that name in district %r; took the one in %s",
                        what, name, district, repr(actual) if actual else "no district",
                    )  # fmt: skip
                else:
                    close = difflib.get_close_matches(
                        str(district), sorted(str(d) for d in known_districts.values() if d), n=2
                    )
                    logger.warning(
                        "%s %r: %r is not a district of the region%s; took the %r of %s",
                        what, name, district,
                        f" (closest: {', '.join(close)})" if close else "",
                        name, repr(actual) if actual else "no district",
                    )  # fmt: skip
        if pos is None:
            missing.append((name, district))
        else:
            found.append(pos)
    if missing:
        known = sorted({v for v in settlements["name"].dropna()})

        def described(name: str, district: str | None) -> tuple[str, str]:
            where = f" (district {district!r})" if district_key(district) else ""
            hints = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            return f"{name!r}{where}", ", ".join(hints)

        if len(missing) == 1:
            label, hints = described(*missing[0])
            raise AnchorNotFoundError(
                f"{what} {label} matches no settlement of the region"
                + (f"; closest: {hints}" if hints else "")
                + f" — fix the name in {source}"
            )
        parts = []
        for name, district in missing:
            label, hints = described(name, district)
            parts.append(f"{label} (closest: {hints})" if hints else f"{label} (no close name)")
        raise AnchorNotFoundError(
            f"{len(missing)} {what}s match no settlement of the region: {', '.join(parts)} — "
            f"fix the names in {source}"
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
                "(two places of one name: give each its district in a `district` column of "
                "anchors.csv, or list them by osm_id)"
            )
        first_name[pos] = name
    return np.unique(np.asarray(found, dtype=np.int64))


def _importance_order(settlements: pd.DataFrame) -> np.ndarray:
    """The region's own settlements first, then by place class, then by population."""
    rank = {"city": 0, "town": 1, "village": 2, "hamlet": 3, "isolated_dwelling": 4}
    place_rank = settlements["place"].map(rank).fillna(9).to_numpy()
    population = settlements["population"].astype("Float64").fillna(-1).to_numpy(dtype=float)
    return np.lexsort((-population, place_rank, ~_in_region(settlements)))


def rule_anchors(
    settlements: pd.DataFrame, rule: AnchorRule, district_level: int, beyond_border: bool = True
) -> np.ndarray:
    """Row positions of the settlements that a rule makes anchors (those beyond the border
    too, unless `beyond_border` is False)."""
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
    if not beyond_border:
        chosen &= _in_region(settlements)
    return np.flatnonzero(chosen)


def read_anchor_csv(path, settlements: pd.DataFrame) -> np.ndarray:
    """Anchors from a planner's CSV (:mod:`pipeline.planner_csv`: UTF-8, Windows-1251 or
    UTF-16; `,`, `;` or tab) with a `name` column (and optionally `district`, where two
    settlements share a name) or an `osm_id` column."""
    from pipeline.inputs.planner_csv import read_planner_csv

    csv = read_planner_csv(path, "anchor", "name")
    table = csv.table
    if "osm_id" in table:
        column = table["osm_id"]
        listed = np.flatnonzero(column.ne("").to_numpy())
        if len(listed) == 0:
            raise InputDataError(
                f"{path}: lists no anchors; add one osm_id per line under the header"
            )
        ids = pd.to_numeric(column.iloc[listed], errors="coerce")
        if ids.isna().any():
            row = listed[int(np.flatnonzero(ids.isna().to_numpy())[0])]
            raise InputDataError(
                f"{path}, line {csv.line(row)}: osm_id {column.iloc[row]!r} is not a number; fix that row"
            )
        twice = np.flatnonzero(ids.duplicated().to_numpy())
        if len(twice):
            raise InputDataError(
                f"{path}, line {csv.line(listed[twice[0]])}: osm_id {int(ids.iloc[twice[0]])} "
                "is listed twice; remove the duplicate"
            )
        positions = settlements.reset_index(drop=True).index[settlements["osm_id"].isin(ids)]
        missing = sorted(set(ids.astype(int)) - set(settlements["osm_id"]))
        if missing:
            which = ", ".join(str(i) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
            raise AnchorNotFoundError(
                f"{path}: osm_id {which} {'is not a settlement' if len(missing) == 1 else 'are not settlements'} "
                "of the region; fix the CSV"
            )
        return np.asarray(positions, dtype=np.int64)
    if "name" in table:
        listed = np.flatnonzero(table["name"].ne("").to_numpy())
        if len(listed) == 0:
            raise InputDataError(
                f"{path}: lists no anchors; add one anchor per line under the header"
            )
        names = table["name"].iloc[listed].tolist()
        districts = table["district"].iloc[listed].tolist() if "district" in table else None
        return resolve_names(settlements, names, "anchor", str(path), districts)
    raise InputDataError(
        f"{path}: needs a column 'name' or 'osm_id' (found: {', '.join(csv.header)}); rename the header"
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
    anchor_trips: Trips | None = None  # each settlement's trip to its anchor (exit node, way)


def assign_districts(points: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> pd.Series:
    """Name of the district each point lies in (None outside every district)."""
    joined = gpd.sjoin(
        points[["geometry"]], districts[["name", "geometry"]], how="left", predicate="within"
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["name"].reindex(points.index)


def compute_accessibility(
    places: gpd.GeoDataFrame,
    region: gpd.GeoSeries,
    anchor_pos: np.ndarray,
    core_pos: np.ndarray,
    model: TravelModel,
    cfg: RegionConfig,
) -> Accessibility:
    """Time every settlement of the region and every raster cell to its nearest anchor and core.

    Parameters
    ----------
    places : gpd.GeoDataFrame
        Projected points with name, population, district and `in_region` (False: beyond the
        border, there only to serve as an anchor, core or service host). The settlements are the
        places in the region.
    region : gpd.GeoSeries
        The region polygon, projected.
    anchor_pos, core_pos : np.ndarray
        Row positions of anchors and cores in `places`; an anchor's ``anchor_id`` is its
        position in `anchor_pos`.
    model : TravelModel
        The road model or the straight-line one (:mod:`pipeline.access`).
    cfg : RegionConfig
        The region (thresholds, raster cell size, walk limit).
    """
    places = places.reset_index(drop=True)
    in_region = _in_region(places)
    xy_all = np.column_stack([places.geometry.x, places.geometry.y])
    s = places[in_region].copy()
    xy = xy_all[in_region]
    # The anchors' and the cores' fields are made at once (RoadAccess.fields: both cores).
    fields = model.fields([xy_all[anchor_pos]] + ([xy_all[core_pos]] if len(core_pos) else []))
    core_field = fields[1] if len(core_pos) else None
    grid = make_grid(region.iloc[0], places.crs, cfg.surface.cell_m)
    (rows, cols), centres = cell_centres(grid)
    # Settlements and raster cells in one search: each field's bounds are built once.
    points = np.vstack([xy, centres])
    del centres  # the search's peak memory is the stage's (186 MB at the bench's macro size)
    both = model.trips(points, fields)
    del points
    trips = [t.take(slice(0, len(xy))) for t in both]
    cell_trips = [t.take(slice(len(xy), None)) for t in both]
    near_m = model.road_distance_m(xy)
    _warn_stranded(places, anchor_pos, model, cfg)
    _put_source(s, "anchor", trips[0], places.iloc[anchor_pos])
    anchor_outside = ~in_region[anchor_pos]
    s["anchor_beyond_border"] = (trips[0].source >= 0) & anchor_outside[
        np.maximum(trips[0].source, 0)
    ]
    if core_field is not None:
        _put_source(s, "core", trips[1], places.iloc[core_pos])
    else:
        _put_source(s, "core", None, places.iloc[core_pos])
    s["is_anchor"] = np.isin(np.flatnonzero(in_region), anchor_pos)
    s["is_core"] = np.isin(np.flatnonzero(in_region), core_pos)
    s["road_distance_m"] = near_m
    s["no_road"] = ~(near_m <= cfg.network.snap_max_m) if not model.approximate else False
    s["gap"] = ~(s["anchor_time_min"] <= cfg.thresholds.gap_min)
    s["access_class"] = _access_class(s, cfg)
    s["abandoned"] = _abandoned(s)
    if "population_source" not in s:
        s["population_source"] = np.where(s["population"].notna(), "osm", None)

    rasters = {
        name: np.full((grid.height, grid.width), np.nan)
        for name in ("anchor_time_min", "core_time_min", "anchor_id", "core_id")
    }
    for name, found in zip(("anchor", "core"), cell_trips, strict=False):
        rasters[f"{name}_time_min"][rows, cols] = found.time_s / 60.0
        rasters[f"{name}_id"][rows, cols] = np.where(found.source >= 0, found.source, np.nan)

    anchors = _anchor_table(places, s, anchor_pos, grid, rasters)
    return Accessibility(
        settlements=s,
        anchors=anchors,
        catchments=_catchment_polygons(rasters, grid, anchors),
        isochrones=_isochrone_polygons(rasters, grid, cfg.thresholds.bands_min),
        gaps=_gap_polygons(rasters, grid, cfg.thresholds.gap_min),
        agglomeration_zones=_core_zone_polygons(
            rasters, grid, places.iloc[core_pos], cfg.cores.zone_min
        ),
        grid=grid,
        rasters=rasters,
        anchor_trips=trips[0],
    )


def _abandoned(s: pd.DataFrame) -> np.ndarray:
    """Settlements known to have no people (not: whose people are unknown)."""
    return (s["population"].astype("Float64") == 0).fillna(False).to_numpy(dtype=bool)


def _in_region(places: pd.DataFrame) -> np.ndarray:
    if "in_region" not in places:
        return np.ones(len(places), dtype=bool)
    return places["in_region"].fillna(True).to_numpy(dtype=bool)


SOURCE_ID_COLUMNS = ("id", "osm_type", "osm_id", "name", "time_min")


def _put_source(s: pd.DataFrame, kind: str, trips: Trips | None, sources: pd.DataFrame) -> None:
    """`<kind>_id`, `_osm_type`, `_osm_id`, `_name`, `_time_min` of each settlement's nearest
    source (anchor or core); empty where none is reachable."""
    n = len(s)
    if trips is None or len(sources) == 0:
        s[f"{kind}_id"] = pd.array([pd.NA] * n, dtype="Int64")
        s[f"{kind}_osm_type"], s[f"{kind}_osm_id"] = None, pd.array([pd.NA] * n, dtype="Int64")
        s[f"{kind}_name"], s[f"{kind}_time_min"] = None, np.nan
        return
    found = trips.source >= 0
    pick = np.maximum(trips.source, 0)
    s[f"{kind}_id"] = pd.array(np.where(found, trips.source, 0), dtype="Int64")
    s.loc[~found, f"{kind}_id"] = pd.NA
    for column in ("osm_type", "name"):
        values = sources[column].to_numpy(dtype=object)[pick]
        s[f"{kind}_{column}"] = np.where(found, values, None)
    osm_id = pd.array(sources["osm_id"].to_numpy(dtype=np.int64)[pick], dtype="Int64")
    s[f"{kind}_osm_id"] = osm_id
    s.loc[~found, f"{kind}_osm_id"] = pd.NA
    s[f"{kind}_time_min"] = np.where(np.isfinite(trips.time_s), trips.time_s / 60.0, np.nan)


def source_labels(sources: pd.DataFrame) -> list[str]:
    """Each source's name, with its district where another has the same name (two «Никольское»
    stay two), and its OSM id where even that does not tell them apart."""
    names = sources["name"].astype(str)
    district = sources["district"] if "district" in sources else pd.Series(None, sources.index)
    shared = names.duplicated(keep=False)
    with_district = names + district.map(lambda d: f" ({d})" if isinstance(d, str) else "")
    labels = names.where(~shared, with_district)
    still = labels.duplicated(keep=False)
    return labels.where(~still, labels + " #" + sources["osm_id"].astype(str)).tolist()


def _warn_stranded(places, anchor_pos, model, cfg) -> None:
    if model.approximate or len(anchor_pos) == 0:
        return
    xy = np.column_stack([places.geometry.x, places.geometry.y])[anchor_pos]
    far = model.road_distance_m(xy) > cfg.network.snap_max_m
    if far.any():  # it serves only who can walk to it
        logger.warning(
            "anchor %r has no road within network.snap_max_m = %g m, so it serves only those "
            "within walking reach (%d such anchors); check its position in OSM or raise snap_max_m",
            places["name"].iloc[anchor_pos[far][0]],
            cfg.network.snap_max_m,
            int(far.sum()),
        )


def _access_class(s: pd.DataFrame, cfg: RegionConfig) -> pd.Series:
    """unreachable, else gap (beyond the gap threshold), else core_zone (within the largest
    core zone), else anchor_zone: a gap is never hidden behind a core zone."""
    core_limit = max(cfg.cores.zone_min)
    reachable = s["anchor_time_min"].notna()
    klass = np.select(
        [
            ~reachable,
            ~(s["anchor_time_min"] <= cfg.thresholds.gap_min),
            s["core_time_min"] <= core_limit,
        ],
        ["unreachable", "gap", "core_zone"],
        default="anchor_zone",
    )
    return pd.Series(klass, index=s.index)


def _anchor_table(
    places: gpd.GeoDataFrame, s: gpd.GeoDataFrame, anchor_pos: np.ndarray, grid: Grid, rasters
) -> gpd.GeoDataFrame:
    columns = ["osm_type", "osm_id", "name", "place", "population", "district", "geometry"]
    anchors = places.iloc[anchor_pos][[c for c in columns if c in places]].reset_index(drop=True)
    anchors.insert(0, "anchor_id", np.arange(len(anchors)))
    anchors["label"] = source_labels(anchors)
    anchors["in_region"] = _in_region(places)[anchor_pos]
    anchors["is_core"] = False  # set by the caller, who knows the cores
    served = s[s["anchor_id"].notna()]
    pop = served["population"].astype("Float64").fillna(0)
    by_anchor = served.assign(_pop=pop).groupby("anchor_id")
    anchors["settlements_served"] = anchors["anchor_id"].map(by_anchor.size()).fillna(0).astype(int)
    anchors["population_served"] = (
        anchors["anchor_id"].map(by_anchor["_pop"].sum()).fillna(0).astype(int)
    )
    ids = rasters["anchor_id"]
    counts = np.bincount(ids[np.isfinite(ids)].astype(int), minlength=len(anchors))
    anchors["catchment_km2"] = counts[: len(anchors)] * grid.cell_area_km2
    return gpd.GeoDataFrame(anchors, geometry="geometry", crs=places.crs)


def _empty(crs, columns: list[str]) -> gpd.GeoDataFrame:
    data = {c: pd.Series(dtype=float) for c in columns if c != "geometry"}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _catchment_polygons(rasters, grid: Grid, anchors: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    ids = rasters["anchor_id"]
    poly = polygonise(np.nan_to_num(ids, nan=-1), grid, np.isfinite(ids))
    if poly.empty:
        return _empty(
            poly.crs,
            [
                "anchor_id",
                "anchor_osm_type",
                "anchor_osm_id",
                "anchor_name",
                "area_km2",
                "geometry",
            ],
        )
    poly = poly.rename(columns={"value": "anchor_id"})
    by_id = anchors.set_index("anchor_id")
    for column in ("osm_type", "osm_id", "name"):
        poly[f"anchor_{column}"] = by_id[column].reindex(poly["anchor_id"]).to_numpy()
    poly["area_km2"] = poly.geometry.area / 1e6
    return poly[
        ["anchor_id", "anchor_osm_type", "anchor_osm_id", "anchor_name", "area_km2", "geometry"]
    ]


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
        return _empty(poly.crs, ["core_id", "core_name", "zone", "to_min", "area_km2", "geometry"])
    core_idx, zone_idx = np.divmod(poly["value"].to_numpy(), len(zone_min))
    names = cores["name"].to_numpy(dtype=object)
    labels = np.asarray(band_labels(zone_min))
    poly["core_id"] = core_idx
    poly["core_name"] = names[core_idx] if len(names) else []
    poly["zone"] = labels[zone_idx]
    poly["to_min"] = np.asarray(zone_min)[zone_idx]
    poly["area_km2"] = poly.geometry.area / 1e6
    return poly[["core_id", "core_name", "zone", "to_min", "area_km2", "geometry"]]


# --- figures -------------------------------------------------------------------------------


def coverage_summary(s: pd.DataFrame, cfg: RegionConfig) -> pd.DataFrame:
    """Settlements and population by district (and a region total row): within each band
    limit, in gaps, unreachable, in a core zone. Population counts only settlements whose
    population is known; `settlements_no_population` says how many are not. Abandoned
    settlements (0 people) have their own columns, `settlements_abandoned` and
    `settlements_abandoned_gap`, and are left out of the other settlement counts: a deserted
    village is not a village in a gap."""
    pop = s["population"].astype("Float64").fillna(0).to_numpy(dtype=float)
    t = s["anchor_time_min"].to_numpy(dtype=float)
    abandoned = _abandoned(s)
    lived = (~abandoned).astype(float)
    columns = {
        "settlements": lived,
        "population": pop,
        "settlements_no_population": s["population"].isna().to_numpy(dtype=float),
        "settlements_abandoned": abandoned.astype(float),
        "settlements_abandoned_gap": (abandoned & s["gap"].to_numpy(dtype=bool)).astype(float),
    }
    for limit in cfg.thresholds.bands_min:
        within = t <= limit
        columns[f"settlements_within_{limit:g}min"] = within * lived
        columns[f"population_within_{limit:g}min"] = pop * within
    for klass in ACCESS_CLASSES:
        hit = (s["access_class"] == klass).to_numpy()
        columns[f"settlements_{klass}"] = hit * lived
        columns[f"population_{klass}"] = pop * hit
    # Served from across the border: the nearest anchor, or hospital, lies in another region.
    if "anchor_beyond_border" in s:
        columns["settlements_anchor_beyond_border"] = s["anchor_beyond_border"].to_numpy(float)
    if "services_beyond_border" in s:
        hospital = (
            s["services_beyond_border"]
            .fillna("")
            .str.split(", ")
            .map(lambda types: "hospital" in types)
        )
        columns["settlements_hospital_beyond_border"] = hospital.to_numpy(dtype=float)
    table = pd.DataFrame(columns)
    table["district"] = s["district"].fillna("(outside districts)").to_numpy()
    by_district = table.groupby("district", sort=True).sum()
    total = by_district.sum().to_frame(cfg.display_name).T
    out = pd.concat([total, by_district]).astype(np.int64)
    out.index.name = "area"
    out.insert(0, "level", ["region"] + ["district"] * len(by_district))
    return out.reset_index()
