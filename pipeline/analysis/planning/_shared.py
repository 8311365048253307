"""What the three planning answers share: the plan's layers, nearest destinations and
trips within a time limit by the catchments rule, population as weights, JSON rows, link lines."""

from __future__ import annotations

from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.access.walk_and_drive import TravelModel
from pipeline.people import known_population

__all__ = ["PLAN_LAYERS", "Pairs", "nearest", "times_within"]


# The layers of data_processed/<region>/plan/plan.gpkg, in drawing order (bottom first).
PLAN_LAYERS = ("cross_border_pairs", "cross_border", "monotown_reach", "newly_covered", "proposals")


# --- the travel model -------------------------------------------------------------------


def nearest(model: TravelModel, dest_xy: np.ndarray, point_xy: np.ndarray):
    """(seconds, index of the destination) from each point to its nearest destination, by the
    catchments rule (:mod:`pipeline.access.walk_and_drive`)."""
    if len(dest_xy) == 0:
        return np.full(len(point_xy), np.inf), np.full(len(point_xy), -1)
    [trips] = model.trips(point_xy, [model.field(dest_xy)])
    return trips.time_s, trips.source


class Pairs(NamedTuple):
    """(destination, point) pairs within a time limit, with the trip point → destination."""

    dest: np.ndarray  # index into the destinations
    point: np.ndarray  # index into the points
    time_s: np.ndarray


def times_within(
    model: TravelModel, dest_xy: np.ndarray, point_xy: np.ndarray, limit_s: float
) -> Pairs:
    """Every (destination, point) pair whose trip point → destination takes at most `limit_s`,
    each destination alone: one Dijkstra run per destination stopped at the limit, each point
    timed by the catchments rule. A destination that is one of the points has time 0 there."""
    return Pairs(*model.times_within(dest_xy, point_xy, limit_s))


def _population(frame: pd.DataFrame) -> np.ndarray:
    return known_population(frame["population"])


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows (NaN becomes null), without geometry."""
    import json

    plain = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    return json.loads(plain.to_json(orient="records", force_ascii=False))


def _links(start: gpd.GeoSeries, end: gpd.GeoSeries):
    """Straight lines from each start point to the end point at the same position."""
    if len(start) == 0:
        return []
    a = np.column_stack([start.x.to_numpy(), start.y.to_numpy()])
    b = np.column_stack([end.x.to_numpy(), end.y.to_numpy()])
    return shapely.linestrings(np.stack([a, b], axis=1))
