"""The difference between two runs (baseline, a scenario, a season): who gains, who loses."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = ["compare_runs", "diff_figures"]

_KEY = ["osm_type", "osm_id"]


def compare_runs(
    a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, gap_min: float, min_change_min: float = 0.5
) -> gpd.GeoDataFrame:
    """Settlements whose anchor, time (by at least `min_change_min`) or gap status differ.

    Columns: name, population, district, anchor_a/b (names), anchor_osm_id_a/b, time_a/b_min,
    delta_min (b − a; NaN when either is unreachable), gap_a/b, change: `gained` (now within
    the gap threshold), `lost` (no longer), `faster`, `slower`, `anchor changed`. Anchors are
    compared by their OSM identity: another town of the same name is another anchor.
    """
    anchor = ["anchor_name", "anchor_osm_type", "anchor_osm_id", "anchor_time_min", "gap"]
    left = a[[*_KEY, "name", "population", "district", *anchor, "geometry"]]
    right = b[[*_KEY, *anchor]]
    both = left.merge(right, on=_KEY, how="inner", suffixes=("_a", "_b"))
    t_a = both["anchor_time_min_a"].to_numpy(dtype=float)
    t_b = both["anchor_time_min_b"].to_numpy(dtype=float)
    served_a, served_b = t_a <= gap_min, t_b <= gap_min
    delta = t_b - t_a
    anchor_changed = _identity(both, "_a") != _identity(both, "_b")
    time_changed = ~(np.abs(delta) < min_change_min) & (np.isfinite(t_a) | np.isfinite(t_b))
    change = np.select(
        [
            served_b & ~served_a,
            served_a & ~served_b,
            time_changed & (delta < 0),
            time_changed & (delta > 0),
            anchor_changed,
        ],
        ["gained", "lost", "faster", "slower", "anchor changed"],
        default="",
    )
    out = pd.DataFrame(
        {
            **{k: both[k] for k in _KEY},
            "name": both["name"],
            "population": both["population"],
            "district": both["district"],
            "anchor_a": both["anchor_name_a"],
            "anchor_b": both["anchor_name_b"],
            "anchor_osm_id_a": both["anchor_osm_id_a"],
            "anchor_osm_id_b": both["anchor_osm_id_b"],
            "time_a_min": t_a,
            "time_b_min": t_b,
            "delta_min": delta,
            "gap_a": ~served_a,
            "gap_b": ~served_b,
            "change": change,
        }
    )
    keep = change != ""
    result = gpd.GeoDataFrame(out[keep], geometry=both.geometry[keep].to_numpy(), crs=a.crs)
    return result.sort_values(_KEY).reset_index(drop=True)


def _identity(frame: pd.DataFrame, suffix: str) -> pd.Series:
    """'node/123' per row ('' where no anchor is reached)."""
    kind = frame[f"anchor_osm_type{suffix}"].fillna("").astype(str)
    number = frame[f"anchor_osm_id{suffix}"].astype("Int64").astype(str).replace("<NA>", "")
    return kind + "/" + number


def diff_figures(changes: pd.DataFrame) -> dict:
    """Counts and population by kind of change."""
    pop = changes["population"].astype("Float64").fillna(0)
    figures = {}
    for kind in ("gained", "lost", "faster", "slower", "anchor changed"):
        hit = changes["change"] == kind
        figures[kind] = {"settlements": int(hit.sum()), "population": int(pop[hit].sum())}
    return figures
