"""Inter-municipal ties: settlements whose nearest anchor lies in another district, and the
district pairs they make (see :mod:`pipeline.analysis.planning`)."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.access.walk_and_drive import TravelModel
from pipeline.analysis.planning._shared import (
    _links,
    nearest,
)

__all__ = ["cross_border_area", "cross_border_links", "cross_border_pairs"]

logger = logging.getLogger(__name__)

LAND_ONLY_MIN_KM2 = 1.0  # a district pair with land but no settlement is listed from this area up


# --- 2. inter-municipal ties ---------------------------------------------------------------


def cross_border_links(
    settlements: gpd.GeoDataFrame, anchors: gpd.GeoDataFrame, model: TravelModel, gap_min: float
) -> gpd.GeoDataFrame:
    """Settlements whose nearest anchor lies in another district: a line to that anchor, the
    time to it and to the nearest anchor of their own district (NaN if none is reachable).

    One field of all anchors (as the catchments stage) and one per district for its own anchors.
    """
    s = settlements.reset_index(drop=True)
    xy = np.column_stack([s.geometry.x, s.geometry.y])
    a_xy = np.column_stack([anchors.geometry.x, anchors.geometry.y])
    time_s, src = nearest(model, a_xy, xy)
    is_anchor = s["is_anchor"].astype(bool).to_numpy()
    _check_same_model(s, np.where(is_anchor, 0.0, time_s / 60.0))
    a_district = anchors["district"].to_numpy(dtype=object)
    district = s["district"].to_numpy(dtype=object)
    reached = src >= 0
    across = reached & ~is_anchor & pd.notna(district)
    across &= pd.notna(a_district[np.maximum(src, 0)]) & (
        a_district[np.maximum(src, 0)] != district
    )
    pos = np.flatnonzero(across)
    own_s = np.full(len(pos), np.inf)
    own_name = np.full(len(pos), None, dtype=object)
    for d in sorted(set(district[pos])):  # one field per district with settlements across
        mine = np.flatnonzero(district[pos] == d)
        theirs = np.flatnonzero(a_district == d)
        if len(theirs) == 0:  # a district without an anchor of its own
            continue
        t, i = nearest(model, a_xy[theirs], xy[pos[mine]])
        own_s[mine] = t
        own_name[mine] = np.where(i >= 0, anchors["name"].to_numpy(dtype=object)[theirs[i]], None)
    return _link_frame(s, anchors, pos, src[pos], time_s[pos], own_s, own_name, gap_min)


def _check_same_model(s: pd.DataFrame, time_min: np.ndarray) -> None:
    """Warn if the model here does not give the catchments stage's anchor times."""
    layer = s["anchor_time_min"].to_numpy(dtype=float)
    mine = np.where(np.isfinite(time_min), time_min, np.nan)
    off = ~np.isclose(mine, layer, rtol=0.0, atol=1e-3, equal_nan=True)
    if off.any():
        logger.warning(
            "%d settlements' anchor times differ from the catchments results (e.g. %s): "
            "re-run `make catchments` so the plan and the results share one network",
            int(off.sum()),
            s["name"].iloc[int(np.argmax(off))],
        )


def _link_frame(s, anchors, pos, src, time_s, own_s, own_name, gap_min) -> gpd.GeoDataFrame:
    time_min, own_min = time_s / 60.0, np.where(np.isfinite(own_s), own_s / 60.0, np.nan)
    out = s.iloc[pos][["osm_id", "name", "population", "district"]].reset_index(drop=True)
    out["anchor_name"] = anchors["name"].to_numpy(dtype=object)[src]
    out["anchor_district"] = anchors["district"].to_numpy(dtype=object)[src]
    out["time_min"] = time_min
    out["own_district_anchor"] = own_name
    out["own_district_time_min"] = own_min
    out["time_saved_min"] = own_min - time_min
    # Within the threshold only thanks to the other district's anchor.
    out["gap_without_crossing"] = (time_min <= gap_min) & ~(own_min <= gap_min)
    lines = _links(s.geometry.iloc[pos], anchors.geometry.iloc[src])
    frame = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(lines, crs=s.crs), crs=s.crs)
    return frame.sort_values(["district", "anchor_district", "osm_id"], kind="stable").reset_index(
        drop=True
    )


def cross_border_area(
    catchments: gpd.GeoDataFrame, anchors: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Land (km²) of each district whose nearest anchor lies in another district."""
    cols = ["district", "anchor_district", "area_km2"]
    if catchments.empty or districts.empty:
        return pd.DataFrame(columns=cols)
    owner = anchors.set_index("anchor_id")["district"]
    c = catchments[["anchor_id", "geometry"]].assign(
        anchor_district=lambda f: owner.reindex(f["anchor_id"]).to_numpy()
    )
    pieces = gpd.overlay(
        c, districts[["name", "geometry"]], how="intersection", keep_geom_type=True
    )
    pieces = pieces[
        pieces["anchor_district"].notna() & (pieces["name"] != pieces["anchor_district"])
    ]
    area = pieces.assign(area_km2=pieces.geometry.area / 1e6).rename(columns={"name": "district"})
    return area.groupby(["district", "anchor_district"], as_index=False)["area_km2"].sum()[cols]


def cross_border_pairs(
    links: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    area: pd.DataFrame | None = None,
    min_land_km2: float = LAND_ONLY_MIN_KM2,
) -> gpd.GeoDataFrame:
    """One row per (district, district of the anchor it relies on): settlements, population,
    median times and time saved, land area; a line between the districts' inner points.

    A pair with land but no settlement is kept only from `min_land_km2` up: thinner strips
    are the raster's cells along the border, not a tie.
    """
    pop = pd.to_numeric(links["population"], errors="coerce")
    f = links.assign(
        _pop=pop.fillna(0),
        _nopop=pop.isna(),
        _noown=links["own_district_time_min"].isna(),
        _gappop=pop.fillna(0) * links["gap_without_crossing"],
    )
    by = f.groupby(["district", "anchor_district"], sort=True)
    table = pd.DataFrame(
        {
            "settlements": by.size(),
            "population": by["_pop"].sum().astype(np.int64),
            "settlements_no_population": by["_nopop"].sum().astype(np.int64),
            "median_time_min": by["time_min"].median(),
            "median_own_district_time_min": by["own_district_time_min"].median(),
            "median_time_saved_min": by["time_saved_min"].median(),
            "settlements_no_own_anchor": by["_noown"].sum().astype(np.int64),
            "settlements_gap_without_crossing": by["gap_without_crossing"].sum().astype(np.int64),
            "population_gap_without_crossing": by["_gappop"].sum().astype(np.int64),
            "anchors": by["anchor_name"].agg(lambda v: ", ".join(sorted(set(map(str, v))))),
        }
    ).reset_index()
    if area is not None and len(area):
        table = table.merge(area, on=["district", "anchor_district"], how="outer")
        table[_PAIR_COUNTS] = table[_PAIR_COUNTS].fillna(0).astype(np.int64)
    else:
        table["area_km2"] = 0.0
    table["area_km2"] = table["area_km2"].fillna(0.0)
    table = table[(table["settlements"] > 0) | (table["area_km2"] >= min_land_km2)]
    district_km2 = districts.set_index("name").geometry.area.groupby(level=0).sum() / 1e6
    table["area_share_pct"] = (
        100.0 * table["area_km2"] / district_km2.reindex(table["district"]).to_numpy()
    )
    table = table.sort_values(
        ["population", "settlements", "area_km2", "district", "anchor_district"],
        ascending=[False, False, False, True, True],
    )
    inner = districts.set_index("name").geometry.representative_point()
    a = inner.reindex(table["district"]).to_numpy()
    b = inner.reindex(table["anchor_district"]).to_numpy()
    lines = [
        shapely.LineString([p, q]) if p is not None and q is not None else None
        for p, q in zip(a, b, strict=True)
    ]
    return gpd.GeoDataFrame(table.reset_index(drop=True), geometry=lines, crs=districts.crs)


_PAIR_COUNTS = [
    "settlements",
    "population",
    "settlements_no_population",
    "settlements_no_own_anchor",
    "settlements_gap_without_crossing",
    "population_gap_without_crossing",
]
