"""Colours and classes shared by the HTML map, the report and the QGIS styles, so all three agree.

Travel times use one green-to-red ramp over the region's bands (``thresholds.bands_min``); a
settlement in a gap is magenta whatever its time, and an unreachable one black.

>>> [c.label for c in settlement_classes([15, 30, 45, 60, 90], 60, "en")]
['0–15 min', '15–30 min', '30–45 min', '45–60 min', 'gap (> 60 min)', 'unreachable']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.i18n import tr

__all__ = [
    "CATEGORICAL",
    "CORE_ZONE_COLOUR",
    "DISTRICT_COLOUR",
    "GAP_COLOUR",
    "NO_ACCESS_COLOUR",
    "UNREACHABLE_COLOUR",
    "TimeClass",
    "band_classes",
    "categorical",
    "settlement_class",
    "settlement_classes",
    "time_colour",
]

GAP_COLOUR = "#d6007e"  # magenta: unmistakable against the green-to-red time ramp
UNREACHABLE_COLOUR = "#000000"
NO_ACCESS_COLOUR = "#555555"
DISTRICT_COLOUR = "#333333"
CORE_ZONE_COLOUR = "#08306b"
TIME_RAMP = (
    "#1a9850",
    "#66bd63",
    "#a6d96a",
    "#fee08b",
    "#fdae61",
    "#f46d43",
    "#d73027",
    "#a50026",
)
CATEGORICAL = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
)  # fmt: skip


@dataclass(frozen=True)
class TimeClass:
    """A legend entry: times in (`lo_min`, `hi_min`] get `colour`; NaN bounds mean 'unreachable'."""

    lo_min: float
    hi_min: float
    colour: str
    label: str


def time_colour(minutes: np.ndarray, limits: list[float]) -> np.ndarray:
    """Ramp colour of each time by its band; NaN (unreachable) is black."""
    minutes = np.asarray(minutes, dtype=float)
    band = np.searchsorted(np.asarray(limits), np.nan_to_num(minutes, nan=np.inf), side="left")
    ramp = np.asarray(TIME_RAMP)[
        np.linspace(0, len(TIME_RAMP) - 1, len(limits) + 1).round().astype(int)
    ]
    colours = ramp[np.minimum(band, len(limits))]
    return np.where(np.isfinite(minutes), colours, UNREACHABLE_COLOUR)


def band_classes(limits: list[float], language: str) -> list[TimeClass]:
    """One class per isochrone band (0–L1, L1–L2, …) in the ramp colours."""
    lows = [0.0, *limits[:-1]]
    colours = time_colour(np.asarray(limits, dtype=float) - 1e-9, limits)
    return [
        TimeClass(lo, hi, str(c), tr(language, "band", lo=lo, hi=hi))
        for lo, hi, c in zip(lows, limits, colours, strict=True)
    ]


def settlement_classes(limits: list[float], gap_min: float, language: str) -> list[TimeClass]:
    """Settlement colours: the bands up to the gap threshold, then gap, then unreachable."""
    below = sorted({float(x) for x in limits if x < gap_min} | {float(gap_min)})
    lows = [0.0, *below[:-1]]
    colours = time_colour(np.asarray(below) - 1e-9, limits)
    classes = [
        TimeClass(lo, hi, str(c), tr(language, "band", lo=lo, hi=hi))
        for lo, hi, c in zip(lows, below, colours, strict=True)
    ]
    classes.append(
        TimeClass(float(gap_min), np.inf, GAP_COLOUR, tr(language, "gap_over", minutes=gap_min))
    )
    classes.append(TimeClass(np.nan, np.nan, UNREACHABLE_COLOUR, tr(language, "unreachable")))
    return classes


def settlement_class(minutes: np.ndarray, classes: list[TimeClass]) -> np.ndarray:
    """Index into `classes` (from :func:`settlement_classes`) of each settlement's time."""
    minutes = np.asarray(minutes, dtype=float)
    upper = np.asarray([c.hi_min for c in classes[:-1]])
    index = np.searchsorted(upper, np.nan_to_num(minutes, nan=np.inf), side="left")
    return np.where(np.isfinite(minutes), index, len(classes) - 1)


def categorical(i: int) -> str:
    """The `i`-th colour of a repeating categorical palette (catchments by anchor id)."""
    return CATEGORICAL[int(i) % len(CATEGORICAL)]
