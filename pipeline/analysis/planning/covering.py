"""New anchors: a maximal covering location problem (see :mod:`pipeline.analysis.planning`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from pipeline.access.catchments import resolve_names
from pipeline.access.walk_and_drive import TravelModel
from pipeline.analysis.planning._shared import (
    Pairs,
    _population,
    nearest,
    times_within,
)
from pipeline.config import PlanningConfig

__all__ = [
    "ExactCover",
    "Proposals",
    "cover_matrix",
    "cover_weights",
    "exact_cover",
    "greedy_cover",
    "propose_anchors",
]

logger = logging.getLogger(__name__)

# --- 1. new anchors: the maximal covering location problem ---------------------------------


def cover_matrix(pairs: Pairs, n_dest: int, n_points: int) -> sparse.csr_matrix:
    """Boolean destination × point matrix of the pairs."""
    data = np.ones(len(pairs.dest), dtype=bool)
    return sparse.csr_matrix((data, (pairs.dest, pairs.point)), shape=(n_dest, n_points))


def cover_weights(population: np.ndarray) -> np.ndarray:
    """Integer weights that rank coverage by population first, then by number of settlements.

    population × (n + 1) + 1: any extra person outweighs every settlement count, so settlements
    of unknown population (0) still count, as tie-breakers.
    """
    pop = np.nan_to_num(np.asarray(population, dtype=float), nan=0.0).astype(np.int64)
    return pop * (len(pop) + 1) + 1


def greedy_cover(cover: sparse.csr_matrix, weight: np.ndarray, k: int) -> list[int]:
    """Greedy maximal covering: up to k rows, each adding the most weight not yet covered.

    Ties go to the lower row. Stops early when no row adds anything.
    """
    cover = sparse.csr_matrix(cover, dtype=np.int64)
    left = np.asarray(weight, dtype=np.int64).copy()
    picks: list[int] = []
    for _ in range(min(k, cover.shape[0])):
        gain = cover @ left
        gain[picks] = -1
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        picks.append(best)
        left[cover.indices[cover.indptr[best] : cover.indptr[best + 1]]] = 0
    return picks


@dataclass(frozen=True)
class ExactCover:
    """An exact maximal covering solution, as far as the solver got."""

    picks: list[int]
    status: str  # "optimal", or "time limit: best found, not proven optimal"
    seconds: float


def exact_cover(
    cover: sparse.csr_matrix, weight: np.ndarray, k: int, time_limit_s: float
) -> ExactCover:
    """Exact maximal covering with HiGHS (:func:`scipy.optimize.milp`): max Σ w·y subject to
    y_i ≤ Σ_{c covers i} x_c, Σ x ≤ k, x binary, 0 ≤ y ≤ 1. Rows that cover nothing and
    columns that nothing covers are dropped first."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    started = time.perf_counter()
    cover = sparse.csr_matrix(cover, dtype=bool)
    rows = np.flatnonzero(np.diff(cover.indptr) > 0)
    if len(rows) <= k:
        return ExactCover(rows.tolist(), "optimal", time.perf_counter() - started)
    sub = sparse.csr_matrix(cover[rows], dtype=float)
    cols = np.flatnonzero(np.asarray(sub.sum(axis=0)).ravel() > 0)
    sub = sub[:, cols]
    n_x, n_y = len(rows), len(cols)
    links = sparse.hstack([-sub.T, sparse.identity(n_y)], format="csr")  # y_i - Σ x_c ≤ 0
    budget = sparse.csr_matrix(np.concatenate([np.ones(n_x), np.zeros(n_y)]))  # Σ x ≤ k
    result = milp(
        c=np.concatenate([np.zeros(n_x), -np.asarray(weight, dtype=float)[cols]]),
        integrality=np.concatenate([np.ones(n_x), np.zeros(n_y)]),
        bounds=Bounds(0.0, 1.0),
        constraints=[LinearConstraint(links, -np.inf, 0.0), LinearConstraint(budget, 0.0, k)],
        options={"time_limit": time_limit_s, "mip_rel_gap": 0.0},
    )
    if result.x is None:
        return ExactCover([], f"no solution ({result.message})", time.perf_counter() - started)
    picks = [int(r) for r in rows[result.x[:n_x] > 0.5]]
    status = "optimal" if result.status == 0 else "time limit: best found, not proven optimal"
    return ExactCover(picks, status, time.perf_counter() - started)


def _rank(cover: sparse.csr_matrix, weight: np.ndarray, picks: list[int]) -> list[int]:
    """The picks in greedy order (largest marginal gain first); picks that add nothing dropped."""
    sub = sparse.csr_matrix(cover[picks], dtype=np.int64)
    order = greedy_cover(sub, weight, len(picks))
    return [picks[i] for i in order]


def _covered_value(cover: sparse.csr_matrix, weight: np.ndarray, picks: list[int]) -> int:
    hit = np.zeros(cover.shape[1], dtype=bool)
    if picks:
        hit[sparse.csr_matrix(cover[picks]).indices] = True
    return int(np.asarray(weight)[hit].sum())


@dataclass
class Proposals:
    """The answer to "which settlements to promote": ranked table, who they cover, figures."""

    table: gpd.GeoDataFrame  # one row per proposal, ranked
    newly_covered: gpd.GeoDataFrame  # gap settlements the proposals bring within the threshold
    figures: dict


def _candidates(settlements: gpd.GeoDataFrame, plan: PlanningConfig) -> np.ndarray:
    """Row positions of the candidates, most populous first (unknown population last), then osm_id."""
    pop = _population(settlements)
    ok = ~settlements["is_anchor"].astype(bool).to_numpy()
    ok &= settlements["place"].isin(plan.candidate_places).to_numpy()
    ok &= np.nan_to_num(pop, nan=0.0) >= plan.candidate_min_population
    if plan.candidates:
        listed = np.zeros(len(settlements), dtype=bool)
        listed[
            resolve_names(settlements, plan.candidates, "candidate", "[planning] candidates")
        ] = True
        ok &= listed
    pos = np.flatnonzero(ok)
    order = np.lexsort((settlements["osm_id"].to_numpy()[pos], -np.nan_to_num(pop[pos], nan=-1)))
    return pos[order]


def propose_anchors(
    settlements: gpd.GeoDataFrame,
    anchors: gpd.GeoDataFrame,
    model: TravelModel,
    plan: PlanningConfig,
    gap_min: float,
    k: int,
) -> Proposals:
    """The k settlements that, made anchors on top of the existing ones, bring the most gap
    population (then the most gap settlements) within `gap_min` minutes.

    `settlements` is the catchments layer (is_anchor, anchor_time_min, population, place,
    district, osm_id, name; projected points); `anchors` the anchors layer (also those beyond
    the border). With the exact rule a settlement is covered by a candidate exactly when its
    time to that candidate alone is within the threshold, so one bounded run per candidate
    gives the coverage matrix.
    """
    s = settlements.reset_index(drop=True)
    xy = np.column_stack([s.geometry.x, s.geometry.y])
    gap = np.flatnonzero(~(s["anchor_time_min"].to_numpy(dtype=float) <= gap_min))
    cand = _candidates(s, plan)
    anchor_xy = np.column_stack([anchors.geometry.x, anchors.geometry.y])
    started = time.perf_counter()
    pairs = times_within(model, xy[cand], xy[gap], gap_min * 60.0)
    setup_s = time.perf_counter() - started
    cover = cover_matrix(pairs, len(cand), len(gap))
    weight = cover_weights(_population(s.iloc[gap]))
    greedy = greedy_cover(cover, weight, k)
    useful = int((np.diff(cover.indptr) > 0).sum())
    exact = None
    if 0 < useful <= plan.exact_max_candidates:
        exact = exact_cover(cover, weight, k, plan.exact_time_limit_s)
    chosen = greedy
    if exact is not None:
        exact_value = _covered_value(cover, weight, exact.picks)
        greedy_value = _covered_value(cover, weight, greedy)
        if exact_value > greedy_value:
            chosen = _rank(cover, weight, exact.picks)
        elif exact_value == greedy_value and exact.status == "optimal":
            # Greedy reached the optimum: it *is* an exact solution (optima need not be unique),
            # so the table marks its picks as exact, as the log says "greedy = exact".
            exact = ExactCover(list(greedy), exact.status, exact.seconds)
    table = _proposal_table(s, cand, gap, cover, chosen, greedy, exact)
    newly = _newly_covered(s, model, anchor_xy, cand[chosen], gap_min)
    figures = _proposal_figures(s, cand, gap, cover, weight, greedy, exact, chosen, newly, k)
    figures.update(setup_seconds=round(setup_s, 2), gap_min=gap_min, pairs=len(pairs.dest))
    if exact is None:
        figures["exact"]["reason"] = (
            "no candidate brings anyone within the threshold"
            if useful == 0
            else f"{useful} useful candidates > exact_max_candidates ({plan.exact_max_candidates})"
        )
    logger.info(
        "proposals: %d candidates (%d useful) × %d gap settlements timed in %.1f s; %s",
        len(cand),
        useful,
        len(gap),
        setup_s,
        f"greedy misses {figures['greedy_gap']['population']} people against exact "
        f"({figures['exact']['status']})"
        if exact is not None
        else f"exact not run: {figures['exact']['reason']}",
    )
    return Proposals(table, newly, figures)


def _proposal_table(s, cand, gap, cover, chosen, greedy, exact) -> gpd.GeoDataFrame:
    gap_pop = np.nan_to_num(_population(s.iloc[gap]), nan=0.0)
    covered = np.zeros(len(gap), dtype=bool)
    rows = []
    for rank, c in enumerate(chosen, start=1):
        hit = sparse.csr_matrix(cover[c]).indices
        new = hit[~covered[hit]]
        covered[new] = True
        rows.append(
            {
                "rank": rank,
                "new_population": int(gap_pop[new].sum()),
                "new_settlements": len(new),
                "cumulative_population": int(gap_pop[covered].sum()),
                "cumulative_settlements": int(covered.sum()),
                "cumulative_share_pct": round(
                    100.0 * gap_pop[covered].sum() / max(gap_pop.sum(), 1.0), 1
                ),
                "newly_covered": ", ".join(
                    s["name"].iloc[gap[new]].fillna("?").astype(str).head(12).tolist()
                )
                + (" …" if len(new) > 12 else ""),
                "in_greedy": c in greedy,
                "in_exact": None if exact is None else c in exact.picks,  # None: not run
            }
        )
    columns = ["osm_id", "name", "place", "population", "district", "anchor_time_min", "geometry"]
    base = s.iloc[cand[chosen]][columns].reset_index(drop=True)
    base = base.rename(columns={"anchor_time_min": "own_anchor_time_min"})
    extra = pd.DataFrame(rows, columns=_PROPOSAL_EXTRA)
    out = pd.concat([extra[["rank"]], base, extra.drop(columns="rank")], axis=1)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=s.crs)


_PROPOSAL_EXTRA = [
    "rank",
    "new_population",
    "new_settlements",
    "cumulative_population",
    "cumulative_settlements",
    "cumulative_share_pct",
    "newly_covered",
    "in_greedy",
    "in_exact",
]


def _newly_covered(s, model, anchor_xy, chosen_pos, gap_min) -> gpd.GeoDataFrame:
    """Settlements within the threshold only once the proposals are anchors: every settlement
    re-timed by the catchments rule with one field of all anchors and proposals."""
    xy = np.column_stack([s.geometry.x, s.geometry.y])
    sources = np.concatenate([anchor_xy, xy[chosen_pos]])
    time_s, src = nearest(model, sources, xy)
    time_min = time_s / 60.0
    before = s["anchor_time_min"].to_numpy(dtype=float)
    hit = (time_min <= gap_min) & ~(before <= gap_min)
    out = s.iloc[np.flatnonzero(hit)][
        ["osm_id", "name", "population", "district", "anchor_time_min", "geometry"]
    ]
    out = out.rename(columns={"anchor_time_min": "before_time_min"}).reset_index(drop=True)
    out.insert(5, "time_min", time_min[hit])
    names = np.concatenate(
        [np.full(len(anchor_xy), None, dtype=object), s["name"].to_numpy(dtype=object)[chosen_pos]]
    )
    out.insert(5, "new_anchor", names[src[hit]])
    return gpd.GeoDataFrame(out, geometry="geometry", crs=s.crs)


def _proposal_figures(s, cand, gap, cover, weight, greedy, exact, chosen, newly, k) -> dict:
    gap_pop = np.nan_to_num(_population(s.iloc[gap]), nan=0.0)
    names = s["name"].to_numpy(dtype=object)

    def solution(picks):
        hit = np.zeros(len(gap), dtype=bool)
        if picks:
            hit[sparse.csr_matrix(cover[picks]).indices] = True
        return {
            "names": [str(names[cand[p]]) for p in picks],
            "population": int(gap_pop[hit].sum()),
            "settlements": int(hit.sum()),
        }

    reachable = np.zeros(len(gap), dtype=bool)
    reachable[cover.indices] = True
    greedy_sol = solution(greedy)
    exact_sol = {"ran": exact is not None}
    if exact is not None:
        exact_sol.update(
            solution(exact.picks), status=exact.status, seconds=round(exact.seconds, 2)
        )
    best = greedy_sol
    if exact is not None and (exact_sol["population"], exact_sol["settlements"]) > (
        greedy_sol["population"],
        greedy_sol["settlements"],
    ):
        best = exact_sol  # a time-limited exact run may fall short of greedy: then greedy is best
    return {
        "k": k,
        "candidates": len(cand),
        "useful_candidates": int((np.diff(cover.indptr) > 0).sum()),
        "gap_settlements": len(gap),
        "gap_population": int(gap_pop.sum()),
        "gap_settlements_no_population": int(np.isnan(_population(s.iloc[gap])).sum()),
        "coverable_population": int(gap_pop[reachable].sum()),
        "coverable_settlements": int(reachable.sum()),
        "greedy": greedy_sol,
        "exact": exact_sol,
        "greedy_gap": {
            "population": best["population"] - greedy_sol["population"],
            "settlements": best["settlements"] - greedy_sol["settlements"],
            "percent": round(
                100.0
                * (best["population"] - greedy_sol["population"])
                / max(best["population"], 1),
                2,
            ),
        },
        "chosen": "greedy" if chosen == greedy else "exact",
        "proposed": len(chosen),
        "verified": {
            "population": int(np.nan_to_num(_population(newly), nan=0.0).sum()),
            "settlements": len(newly),
        },
    }
