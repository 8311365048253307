"""Reach of single-industry towns: employment centres within 30/45/60 minutes of each
monotown (see :mod:`pipeline.analysis.planning`)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.access.catchments import resolve_names
from pipeline.access.walk_and_drive import TravelModel
from pipeline.analysis.planning._shared import (
    _links,
    _population,
    times_within,
)
from pipeline.config import PlanningConfig

__all__ = ["MONOTOWN_LIST", "employment_centres", "monotown_reach", "official_monotowns"]

logger = logging.getLogger(__name__)

# --- 3. reach of single-industry towns -----------------------------------------------------


def employment_centres(settlements: pd.DataFrame, plan: PlanningConfig) -> np.ndarray:
    """Row positions of the employment centres: population ≥ the minimum, or named."""
    pop = np.nan_to_num(_population(settlements), nan=-1.0)
    chosen = pop >= plan.employment_min_population
    if plan.employment_centres:
        named = resolve_names(
            settlements,
            plan.employment_centres,
            "employment centre",
            "[planning] employment_centres",
        )
        chosen[named] = True
    return np.flatnonzero(chosen)


MONOTOWN_LIST = Path(__file__).resolve().parents[3] / "regions/russia/monotowns_1398r.csv"
_CENTRE_TYPE = re.compile(r"^\s*(г|пгт|рп|п|с|д|пос|село|посёлок|поселок)\.?\s+", re.IGNORECASE)


def official_monotowns(region_names: list[str], path: Path = MONOTOWN_LIST) -> pd.DataFrame:
    """The region's towns on the government's list of single-industry municipalities
    (распоряжение № 1398-р): columns `name` (the centre, without its г./пгт. prefix),
    `category` (1: the most difficult situation, 2: risk of worsening, 3: stable) and
    `municipality` (as the order names it). `region_names`: the region's names to look for."""
    empty = pd.DataFrame({"name": [], "category": [], "municipality": []})
    if not path.is_file():
        logger.warning("the monotown list %s is missing: only [planning] monotowns count", path)
        return empty
    table = pd.read_csv(path, dtype=str)
    wanted = {n.casefold().replace("ё", "е").strip() for n in region_names if n}
    region = table["region"].str.casefold().str.replace("ё", "е").str.strip()
    mine = table[region.isin(wanted)]
    return pd.DataFrame(
        {
            "name": mine["admin_center"].str.replace(_CENTRE_TYPE, "", regex=True).str.strip(),
            "category": pd.to_numeric(mine["category"], errors="coerce").astype("Int64"),
            "municipality": mine["mo_name_1398"],
        }
    ).reset_index(drop=True)


def monotown_reach(
    settlements: gpd.GeoDataFrame,
    model: TravelModel,
    plan: PlanningConfig,
    official: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """For each single-industry town — those of the government's list for the region
    (`official`, see :func:`official_monotowns`) and those the region file names — the
    employment centres within each band (minutes, from the town to the centre, as a commuter
    drives), their number and population, and the town's category on the list.

    Returns (one row per monotown, one line per monotown–centre pair within the largest band).
    """
    s = settlements.reset_index(drop=True)
    official = official if official is not None else pd.DataFrame({"name": [], "category": []})
    names = list(dict.fromkeys([*official["name"], *plan.monotowns]))
    if not names:
        return _reach_summary(s, np.array([], dtype=np.int64), None, plan), _empty_links(s.crs)
    towns = resolve_names(s, names, "monotown", "[planning] monotowns or the monotown list")
    towns = towns[np.argsort(s["name"].to_numpy(dtype=str)[towns], kind="stable")]
    centres = employment_centres(s, plan)
    xy = np.column_stack([s.geometry.x, s.geometry.y])
    pairs = times_within(model, xy[centres], xy[towns], max(plan.reach_bands_min) * 60.0)
    keep = centres[pairs.dest] != towns[pairs.point]
    links = _reach_links(
        s, towns[pairs.point[keep]], centres[pairs.dest[keep]], pairs.time_s[keep], plan
    )
    summary = _reach_summary(s, towns, links, plan)
    category = dict(zip(official["name"], official["category"], strict=True))
    summary.insert(1, "category", pd.array([category.get(n) for n in summary["monotown"]], "Int64"))
    return summary, links


def _reach_links(s, town_pos, centre_pos, time_s, plan) -> gpd.GeoDataFrame:
    bands = np.asarray(plan.reach_bands_min, dtype=float)
    time_min = time_s / 60.0
    out = pd.DataFrame(
        {
            "monotown": s["name"].to_numpy(dtype=object)[town_pos],
            "monotown_osm_id": s["osm_id"].to_numpy()[town_pos],
            "centre": s["name"].to_numpy(dtype=object)[centre_pos],
            "centre_osm_id": s["osm_id"].to_numpy()[centre_pos],
            "centre_district": s["district"].to_numpy(dtype=object)[centre_pos],
            "centre_population": _population(s)[centre_pos],
            "time_min": time_min,
            "band_min": bands[np.searchsorted(bands, time_min, side="left")]
            if len(time_min)
            else [],
        }
    )
    lines = _links(s.geometry.iloc[town_pos], s.geometry.iloc[centre_pos])
    frame = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(lines, crs=s.crs), crs=s.crs)
    return frame.sort_values(["monotown", "time_min", "centre"], kind="stable").reset_index(
        drop=True
    )


def _empty_links(crs) -> gpd.GeoDataFrame:
    columns = ["monotown", "monotown_osm_id", "centre", "centre_osm_id", "centre_district"]
    data = {c: pd.Series(dtype=object) for c in columns}
    data.update(
        centre_population=pd.Series(dtype=float),
        time_min=pd.Series(dtype=float),
        band_min=pd.Series(dtype=float),
    )
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _reach_summary(s, towns, links, plan) -> pd.DataFrame:
    rows = []
    for pos in towns:  # one row per monotown (a handful)
        mine = links[links["monotown_osm_id"] == s["osm_id"].iloc[pos]]
        row = {
            "monotown": s["name"].iloc[pos],
            "osm_id": s["osm_id"].iloc[pos],
            "district": s["district"].iloc[pos],
            "population": _population(s)[pos],
        }
        for band in plan.reach_bands_min:
            within = mine[mine["time_min"] <= band]
            row[f"centres_within_{band:g}min"] = len(within)
            row[f"centre_population_within_{band:g}min"] = int(
                np.nan_to_num(within["centre_population"].to_numpy(dtype=float)).sum()
            )
            row[f"centres_within_{band:g}min_names"] = "; ".join(
                f"{c} ({t:.0f} min)"
                for c, t in zip(within["centre"], within["time_min"], strict=True)
            )
        first = mine.iloc[0] if len(mine) else None
        row["nearest_centre"] = first["centre"] if first is not None else None
        row["nearest_centre_time_min"] = first["time_min"] if first is not None else np.nan
        rows.append(row)
    columns = ["monotown", "osm_id", "district", "population"]
    for band in plan.reach_bands_min:
        columns += [
            f"centres_within_{band:g}min",
            f"centre_population_within_{band:g}min",
            f"centres_within_{band:g}min_names",
        ]
    return pd.DataFrame(rows, columns=[*columns, "nearest_centre", "nearest_centre_time_min"])
