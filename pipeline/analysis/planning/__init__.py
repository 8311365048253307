"""Planning answers: which settlements to promote to anchors, where municipalities already share
anchors, and which job centres a single-industry town can reach.

All three use the travel model of the catchments stage unchanged (:mod:`pipeline.access.walk_and_drive`: the
road model with its one walk-and-drive rule, or, offline, the straight-line model). Trips run from the settlement to the destination (the
reversed graph), as everywhere in the pipeline.

1. **New anchors** (:func:`propose_anchors`): a maximal covering location problem. Each
   candidate is timed to every gap settlement by a *bounded* Dijkstra run (stopped at the
   threshold); a sparse candidate × gap-settlement matrix says who would be within the
   threshold; greedy picks (with the marginal gain of each) and, for small problems, an exact
   optimum from HiGHS (scipy.optimize.milp) are compared; the chosen set is checked by re-running the model with
   the proposals as anchors.
2. **Inter-municipal ties** (:func:`cross_border_links`, :func:`cross_border_pairs`):
   settlements whose nearest anchor lies in another district, with the time to the nearest
   anchor of their own district.
3. **Reach of single-industry towns** (:func:`monotown_reach`): employment centres within
   30/45/60 minutes of each monotown.

Everything here is a pure function of frames and arrays; :func:`pipeline.stages.run_plan` reads
and writes; :func:`pipeline.outputs.report.plan_sections` and
:func:`pipeline.outputs.plan_layers.plan_map_layers` show the results in the report and the map.
"""

from pipeline.analysis.planning._shared import PLAN_LAYERS, Pairs, nearest, times_within
from pipeline.analysis.planning.covering import (
    ExactCover,
    Proposals,
    cover_matrix,
    cover_weights,
    exact_cover,
    greedy_cover,
    propose_anchors,
)
from pipeline.analysis.planning.figures import plan_figures
from pipeline.analysis.planning.monotowns import (
    MONOTOWN_LIST,
    employment_centres,
    monotown_reach,
    official_monotowns,
)
from pipeline.analysis.planning.ties import (
    LAND_ONLY_MIN_KM2,
    cross_border_area,
    cross_border_links,
    cross_border_pairs,
)

__all__ = [
    "LAND_ONLY_MIN_KM2",
    "MONOTOWN_LIST",
    "PLAN_LAYERS",
    "ExactCover",
    "Pairs",
    "Proposals",
    "cover_matrix",
    "cover_weights",
    "cross_border_area",
    "cross_border_links",
    "cross_border_pairs",
    "employment_centres",
    "exact_cover",
    "greedy_cover",
    "monotown_reach",
    "nearest",
    "official_monotowns",
    "plan_figures",
    "propose_anchors",
    "times_within",
]
