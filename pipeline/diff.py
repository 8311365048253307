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

    Columns: name, population, district, anchor_a/b, time_a/b_min, delta_min (b − a; NaN when
    either is unreachable), gap_a/b, change: `gained` (now within the gap threshold),
    `lost` (no longer), `faster`, `slower`, `anchor changed`.
    """
    left = a[
        [
            *_KEY,
            "name",
            "population",
            "district",
            "anchor_name",
            "anchor_time_min",
            "gap",
            "geometry",
        ]
    ]
    right = b[[*_KEY, "anchor_name", "anchor_time_min", "gap"]]
    both = left.merge(right, on=_KEY, how="inner", suffixes=("_a", "_b"))
    t_a = both["anchor_time_min_a"].to_numpy(dtype=float)
    t_b = both["anchor_time_min_b"].to_numpy(dtype=float)
    served_a, served_b = t_a <= gap_min, t_b <= gap_min
    delta = t_b - t_a
    anchor_changed = both["anchor_name_a"].fillna("") != both["anchor_name_b"].fillna("")
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


def diff_figures(changes: pd.DataFrame) -> dict:
    """Counts and population by kind of change."""
    pop = changes["population"].astype("Float64").fillna(0)
    figures = {}
    for kind in ("gained", "lost", "faster", "slower", "anchor changed"):
        hit = changes["change"] == kind
        figures[kind] = {"settlements": int(hit.sum()), "population": int(pop[hit].sum())}
    return figures
