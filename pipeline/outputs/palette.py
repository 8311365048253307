"""Colours and classes shared by the HTML map, the report and the QGIS styles, so all three agree.

Travel times use one sequential ramp (dark blue near an anchor, pale yellow at the gap
threshold); everything beyond the threshold is magenta (tints for the bands beyond it), a
settlement in a gap is magenta whatever its time, and an unreachable one black. Catchments get
their colours by graph colouring, so two neighbouring catchments never share one.

>>> [c.label for c in settlement_classes([15, 30, 45, 60, 90], 60, "en")]
['0–15 min', '15–30 min', '30–45 min', '45–60 min', 'gap (> 60 min)', 'unreachable']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.outputs.i18n import tr

__all__ = [
    "ABANDONED_COLOUR",
    "CATCHMENT_COLOURS",
    "CATEGORICAL",
    "CORE_ZONE_COLOUR",
    "DISTRICT_COLOUR",
    "GAP_COLOUR",
    "GAP_TINTS",
    "NO_ACCESS_COLOUR",
    "PROPOSAL_COLOUR",
    "ROAD_STYLE",
    "SERVED_RAMP",
    "TIME_RAMP",
    "UNREACHABLE_COLOUR",
    "WATER_COLOUR",
    "TimeClass",
    "band_classes",
    "catchment_colours",
    "categorical",
    "graph_colouring",
    "settlement_class",
    "settlement_classes",
    "time_colour",
    "touching_pairs",
]

GAP_COLOUR = "#d6007e"  # magenta: a hue the time ramp never uses
UNREACHABLE_COLOUR = "#000000"
NO_ACCESS_COLOUR = "#4d4d4d"
DISTRICT_COLOUR = "#333333"
CORE_ZONE_COLOUR = "#08306b"
ABANDONED_COLOUR = "#b0b0b0"  # abandoned villages (0 people): muted grey, drawn under the rest
PROPOSAL_COLOUR = "#ffc61a"  # planning proposals: gold, outside the time ramp and the gaps
WATER_COLOUR = "#9ecae1"
# Served times, near to far (YlGnBu, dark to pale): sequential, never pink or red.
SERVED_RAMP = ("#225ea8", "#1d91c0", "#41b6c4", "#7fcdbb", "#c7e9b4", "#edf8b1", "#ffffd9")
# Beyond the gap threshold: magenta tints, lighter to deeper the farther.
GAP_TINTS = ("#f7c4e0", "#ec8cc0", "#d6007e")
TIME_RAMP = SERVED_RAMP + GAP_TINTS  # the whole ramp, for gradients (QGIS legends)
# Catchment outlines: distinct, readable over the pale ramp, none magenta-like.
CATCHMENT_COLOURS = (
    "#1b7837", "#d95f02", "#5e3c99", "#a6761d", "#1f78b4", "#525252", "#b8860b", "#8c2d04",
)  # fmt: skip
CATEGORICAL = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
)  # fmt: skip
# Roads by class: (colour, width in px at the map's scale, casing colour); winter roads and
# ferries apart. Shared by the map and the QGIS style.
ROAD_STYLE = {
    "major": ("#c0392b", 2.6),
    "secondary": ("#e67e22", 1.8),
    "tertiary": ("#8a6d3b", 1.2),
    "minor": ("#9a9a9a", 0.8),
    "track": ("#a0815a", 0.8),
    "winter": ("#2b8cbe", 1.6),
    "ferry": ("#1f4e9a", 1.6),
}


@dataclass(frozen=True)
class TimeClass:
    """A legend entry: times in (`lo_min`, `hi_min`] get `colour`; NaN bounds mean 'unreachable'."""

    lo_min: float
    hi_min: float
    colour: str
    label: str


def _spread(ramp: tuple[str, ...], n: int) -> list[str]:
    """`n` colours picked evenly along `ramp` (its ends included)."""
    if n <= 0:
        return []
    if n == 1:
        return [ramp[0]]
    return [ramp[i] for i in np.linspace(0, len(ramp) - 1, n).round().astype(int)]


def _band_colours(limits: list[float], gap_min: float | None) -> list[str]:
    """One colour per band (0–L1, L1–L2, …, and one past the last limit): served bands along
    the sequential ramp, bands beyond `gap_min` in magenta tints."""
    limits = [float(x) for x in limits]
    gap = limits[-1] if gap_min is None else float(gap_min)
    served = sum(1 for x in limits if x <= gap)
    beyond = len(limits) + 1 - served
    served_colours = _spread(SERVED_RAMP[:-1] if beyond else SERVED_RAMP, served)
    return served_colours + _spread(GAP_TINTS, beyond)


def time_colour(
    minutes: np.ndarray, limits: list[float], gap_min: float | None = None
) -> np.ndarray:
    """Ramp colour of each time by its band; NaN (unreachable) is black."""
    minutes = np.asarray(minutes, dtype=float)
    band = np.searchsorted(np.asarray(limits), np.nan_to_num(minutes, nan=np.inf), side="left")
    colours = np.asarray(_band_colours(limits, gap_min))
    return np.where(
        np.isfinite(minutes), colours[np.minimum(band, len(limits))], UNREACHABLE_COLOUR
    )


def band_classes(
    limits: list[float], language: str, gap_min: float | None = None
) -> list[TimeClass]:
    """One class per isochrone band (0–L1, L1–L2, …): served bands on the ramp, the bands
    beyond `gap_min` in magenta tints."""
    lows = [0.0, *limits[:-1]]
    colours = _band_colours(limits, gap_min)
    return [
        TimeClass(float(lo), float(hi), colours[i], tr(language, "band", lo=lo, hi=hi))
        for i, (lo, hi) in enumerate(zip(lows, limits, strict=True))
    ]


def settlement_classes(limits: list[float], gap_min: float, language: str) -> list[TimeClass]:
    """Settlement colours: the bands up to the gap threshold, then gap, then unreachable."""
    below = sorted({float(x) for x in limits if x < gap_min} | {float(gap_min)})
    lows = [0.0, *below[:-1]]
    colours = time_colour(np.asarray(below) - 1e-9, limits, gap_min)
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
    """The `i`-th colour of a repeating categorical palette (service types)."""
    return CATEGORICAL[int(i) % len(CATEGORICAL)]


def graph_colouring(neighbours: list[set[int]], n_colours: int) -> list[int]:
    """A colour index for each node such that no two neighbours share one (DSatur: the node
    with the most differently coloured neighbours first, ties by degree, then by index).

    Uses colours beyond `n_colours` only when the graph needs them (never for a planar map
    with `n_colours` ≥ 4 in practice; DSatur needs at most 5 on planar graphs mostly)."""
    n = len(neighbours)
    colour = [-1] * n
    for _ in range(n):
        best, best_key = -1, None
        for v in range(n):
            if colour[v] >= 0:
                continue
            saturation = len({colour[u] for u in neighbours[v] if colour[u] >= 0})
            key = (saturation, len(neighbours[v]), -v)
            if best_key is None or key > best_key:
                best, best_key = v, key
        used = {colour[u] for u in neighbours[best] if colour[u] >= 0}
        # the least-used free colour keeps the palette balanced (stable: ties by index)
        free = [c for c in range(max(n_colours, len(used) + 1)) if c not in used]
        counts = {c: colour.count(c) for c in free}
        colour[best] = min(free, key=lambda c: (counts[c], c))
    return colour


def catchment_colours(catchments, touch_m: float = 0.0) -> dict[int, str]:
    """anchor_id -> outline colour, two catchments that touch never sharing a colour: two that
    would overlap if each grew by `touch_m` (metres, in the layer's projected CRS), that is,
    no more than 2 × `touch_m` apart (:func:`touching_pairs`)."""
    if len(catchments) == 0:
        return {}
    ids = [int(i) for i in catchments["anchor_id"]]
    neighbours: list[set[int]] = [set() for _ in ids]
    for a, b in touching_pairs(catchments.geometry.to_numpy(), touch_m):
        neighbours[a].add(b)
        neighbours[b].add(a)
    order = np.argsort(ids, kind="stable")  # colour by anchor id: reproducible
    rank = {int(p): r for r, p in enumerate(order)}
    ordered = [{rank[u] for u in neighbours[p]} for p in order]
    colours = graph_colouring(ordered, len(CATCHMENT_COLOURS))
    palette = CATCHMENT_COLOURS
    return {
        ids[int(p)]: palette[c % len(palette)] if c < len(palette) else _extra_colour(c)
        for p, c in zip(order, colours, strict=True)
    }


def touching_pairs(geoms, touch_m: float) -> list[tuple[int, int]]:
    """(i, j), i < j, of the geometries no more than 2 × `touch_m` apart: those that would
    overlap if each grew by `touch_m`."""
    import shapely

    # The distance itself, not buffers: buffering raster-traced outlines of thousands of
    # vertices took 0.35 s of an oblast's catchments stage and again of its map stage.
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=2 * touch_m)
    return sorted((a, b) for a, b in zip(left.tolist(), right.tolist(), strict=True) if a < b)


def _extra_colour(i: int) -> str:
    """A further distinct colour, should a graph ever need more than the palette has."""
    extra = ("#000000", "#7f3b08", "#2d004b", "#00441b")
    return extra[(i - len(CATCHMENT_COLOURS)) % len(extra)]
