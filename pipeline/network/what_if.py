"""A what-if run's graph: the region's graph with a season's rules and a scenario's road
changes applied to its edge list (the graph itself never learns what either is)."""

from __future__ import annotations

import logging

from pyproj import CRS

from pipeline.config import RegionConfig
from pipeline.network.graph import RoadGraph, apply_season

__all__ = ["what_if_graph"]

logger = logging.getLogger(__name__)


def what_if_graph(
    cfg: RegionConfig,
    graph: RoadGraph | None,
    crs: CRS,
    season: str | None,
    scenario: str | None,
    *,
    consume: bool = False,
):
    """Apply a season and a scenario to the graph.

    Parameters
    ----------
    cfg : RegionConfig
        The region (its seasons, ferry months and wait, scenarios folder).
    graph : RoadGraph or None
        The network stage's graph; None offline (the straight-line model has no roads, so a
        season or a road change is reported and ignored).
    crs : CRS
        The region's projected CRS (added roads are projected into it).
    season, scenario : str or None
        Names from the region; None: the default season, no scenario.
    consume : bool
        The caller drops `graph` after this: the season is applied in its own arrays
        (:func:`pipeline.network.graph.apply_season`).

    Returns
    -------
    graph : RoadGraph or None
        The edited graph.
    season_name : str
        The season applied.
    plan : Scenario or None
        The scenario read (None without one).
    """
    from pipeline.network.scenarios import apply_scenario, load_scenario

    season_name, rules = cfg.season(season)
    plan = load_scenario(cfg, scenario) if scenario else None
    if graph is not None:
        graph = apply_season(
            graph, rules, cfg.ferry_months, cfg.network.ferry_wait_min, consume=consume
        )
        if plan is not None:
            graph = apply_scenario(graph, plan, cfg, crs)
    elif season or (
        plan is not None and (plan.add_roads or plan.close.osm_ids or plan.close.polygon)
    ):
        logger.warning(
            "the straight-line model has no roads: the season and road changes do not apply"
        )
    return graph, season_name, plan
