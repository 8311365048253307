"""The run's figures (summary.json): region, mode, thresholds, anchors, region and district rows."""

from __future__ import annotations

import pandas as pd

from pipeline.config import RegionConfig

__all__ = ["summary_figures"]


def summary_figures(
    cfg: RegionConfig, result, summary: pd.DataFrame, approximate: bool, note: str
) -> dict:
    """summary.json of a catchments run (`result`: an
    :class:`~pipeline.access.catchments.Accessibility`; `summary`: its coverage table)."""
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
