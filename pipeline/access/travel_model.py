"""Which travel model a run uses: the walk-and-drive rule on the road graph, or offline (no
graph) the straight-line model of the bundled data."""

from __future__ import annotations

from pipeline.access.walk_and_drive import RoadAccess, StraightLineAccess, TravelModel
from pipeline.config import RegionConfig
from pipeline.network.graph import RoadGraph

__all__ = ["travel_model"]


def travel_model(cfg: RegionConfig, graph: RoadGraph | None) -> TravelModel:
    """The road model on `graph`, or the straight-line one offline.

    Parameters
    ----------
    cfg : RegionConfig
        The region: ``[network]`` walk speed and walk limit, ``[offline]`` detour and speed.
    graph : RoadGraph or None
        The (season's, scenario's) road graph; None when there is no road network.

    Returns
    -------
    TravelModel
        :class:`~pipeline.access.walk_and_drive.RoadAccess` on `graph`, or
        :class:`~pipeline.access.walk_and_drive.StraightLineAccess`.
    """
    if graph is None:
        return StraightLineAccess(cfg.offline.detour_factor, cfg.offline.speed_kph)
    return RoadAccess.of(graph, cfg.network.offroad_speed_kph, cfg.network.snap_max_m)
