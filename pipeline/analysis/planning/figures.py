"""plan.json: the three planning answers as figures and tables."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from pipeline.analysis.planning._shared import (
    _records,
)
from pipeline.analysis.planning.covering import Proposals
from pipeline.config import RegionConfig

__all__ = ["plan_figures"]


def plan_figures(
    cfg: RegionConfig,
    proposals: Proposals,
    links: gpd.GeoDataFrame,
    pairs: gpd.GeoDataFrame,
    reach: pd.DataFrame,
    *,
    mode: str,
    note: str = "",
) -> dict:
    """Everything the report says about the plan, as written to `plan.json`."""
    plan = cfg.planning
    pop = pd.to_numeric(links["population"], errors="coerce").fillna(0)
    return {
        "region": cfg.display_name,
        "language": cfg.language,
        "mode": mode,
        "approximate": mode == "straight_line",
        "note": note,
        "proposals": {
            **proposals.figures,
            "candidate_rule": {
                "min_population": plan.candidate_min_population,
                "places": list(plan.candidate_places),
                "only": list(plan.candidates),
            },
            "table": _records(proposals.table),
        },
        "cross_border": {
            "settlements": len(links),
            "population": int(pop.sum()),
            "settlements_gap_without_crossing": int(links["gap_without_crossing"].sum()),
            "pairs": _records(pairs),
        },
        "monotown_reach": {
            "bands_min": list(plan.reach_bands_min),
            "employment_min_population": plan.employment_min_population,
            "employment_centres": list(plan.employment_centres),
            "towns": _records(reach),
        },
    }
