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
and writes. :func:`plan_sections` and :func:`plan_map_layers` hand the results to the report
and the map.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from pipeline.access.catchments import resolve_names
from pipeline.access.walk_and_drive import TravelModel
from pipeline.config import PlanningConfig, RegionConfig

__all__ = [
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
    "plan_figures",
    "plan_map_layers",
    "plan_sections",
    "propose_anchors",
    "times_within",
]

logger = logging.getLogger(__name__)

# The layers of data_processed/<region>/plan/plan.gpkg, in drawing order (bottom first).
PLAN_LAYERS = ("cross_border_pairs", "cross_border", "monotown_reach", "newly_covered", "proposals")

LAND_ONLY_MIN_KM2 = 1.0  # a district pair with land but no settlement is listed from this area up


# --- the travel model ----------------------------------------------------------------------


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


def _population(frame: pd.DataFrame) -> np.ndarray:
    return pd.to_numeric(frame["population"], errors="coerce").to_numpy(dtype=float)


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


# --- 2. inter-municipal ties ---------------------------------------------------------------


def cross_border_links(
    settlements: gpd.GeoDataFrame, anchors: gpd.GeoDataFrame, model: TravelModel, gap_min: float
) -> gpd.GeoDataFrame:
    """Settlements whose nearest anchor lies in another district: a line to that anchor, the
    time to it and to the nearest anchor of their own district (NaN if none is reachable).

    One field of all anchors (as the catchments stage) and one per district for its own anchors.
    """
    s = settlements.reset_index(drop=True)
    xy = np.column_stack([s.geometry.x, s.geometry.y])
    a_xy = np.column_stack([anchors.geometry.x, anchors.geometry.y])
    time_s, src = nearest(model, a_xy, xy)
    is_anchor = s["is_anchor"].astype(bool).to_numpy()
    _check_same_model(s, np.where(is_anchor, 0.0, time_s / 60.0))
    a_district = anchors["district"].to_numpy(dtype=object)
    district = s["district"].to_numpy(dtype=object)
    reached = src >= 0
    across = reached & ~is_anchor & pd.notna(district)
    across &= pd.notna(a_district[np.maximum(src, 0)]) & (
        a_district[np.maximum(src, 0)] != district
    )
    pos = np.flatnonzero(across)
    own_s = np.full(len(pos), np.inf)
    own_name = np.full(len(pos), None, dtype=object)
    for d in sorted(set(district[pos])):  # one field per district with settlements across
        mine = np.flatnonzero(district[pos] == d)
        theirs = np.flatnonzero(a_district == d)
        if len(theirs) == 0:  # a district without an anchor of its own
            continue
        t, i = nearest(model, a_xy[theirs], xy[pos[mine]])
        own_s[mine] = t
        own_name[mine] = np.where(i >= 0, anchors["name"].to_numpy(dtype=object)[theirs[i]], None)
    return _link_frame(s, anchors, pos, src[pos], time_s[pos], own_s, own_name, gap_min)


def _check_same_model(s: pd.DataFrame, time_min: np.ndarray) -> None:
    """Warn if the model here does not give the catchments stage's anchor times."""
    layer = s["anchor_time_min"].to_numpy(dtype=float)
    mine = np.where(np.isfinite(time_min), time_min, np.nan)
    off = ~np.isclose(mine, layer, rtol=0.0, atol=1e-3, equal_nan=True)
    if off.any():
        logger.warning(
            "%d settlements' anchor times differ from the catchments results (e.g. %s): "
            "re-run `make catchments` so the plan and the results share one network",
            int(off.sum()),
            s["name"].iloc[int(np.argmax(off))],
        )


def _link_frame(s, anchors, pos, src, time_s, own_s, own_name, gap_min) -> gpd.GeoDataFrame:
    time_min, own_min = time_s / 60.0, np.where(np.isfinite(own_s), own_s / 60.0, np.nan)
    out = s.iloc[pos][["osm_id", "name", "population", "district"]].reset_index(drop=True)
    out["anchor_name"] = anchors["name"].to_numpy(dtype=object)[src]
    out["anchor_district"] = anchors["district"].to_numpy(dtype=object)[src]
    out["time_min"] = time_min
    out["own_district_anchor"] = own_name
    out["own_district_time_min"] = own_min
    out["time_saved_min"] = own_min - time_min
    # Within the threshold only thanks to the other district's anchor.
    out["gap_without_crossing"] = (time_min <= gap_min) & ~(own_min <= gap_min)
    lines = _links(s.geometry.iloc[pos], anchors.geometry.iloc[src])
    frame = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(lines, crs=s.crs), crs=s.crs)
    return frame.sort_values(["district", "anchor_district", "osm_id"], kind="stable").reset_index(
        drop=True
    )


def cross_border_area(
    catchments: gpd.GeoDataFrame, anchors: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Land (km²) of each district whose nearest anchor lies in another district."""
    cols = ["district", "anchor_district", "area_km2"]
    if catchments.empty or districts.empty:
        return pd.DataFrame(columns=cols)
    owner = anchors.set_index("anchor_id")["district"]
    c = catchments[["anchor_id", "geometry"]].assign(
        anchor_district=lambda f: owner.reindex(f["anchor_id"]).to_numpy()
    )
    pieces = gpd.overlay(
        c, districts[["name", "geometry"]], how="intersection", keep_geom_type=True
    )
    pieces = pieces[
        pieces["anchor_district"].notna() & (pieces["name"] != pieces["anchor_district"])
    ]
    area = pieces.assign(area_km2=pieces.geometry.area / 1e6).rename(columns={"name": "district"})
    return area.groupby(["district", "anchor_district"], as_index=False)["area_km2"].sum()[cols]


def cross_border_pairs(
    links: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    area: pd.DataFrame | None = None,
    min_land_km2: float = LAND_ONLY_MIN_KM2,
) -> gpd.GeoDataFrame:
    """One row per (district, district of the anchor it relies on): settlements, population,
    median times and time saved, land area; a line between the districts' inner points.

    A pair with land but no settlement is kept only from `min_land_km2` up: thinner strips
    are the raster's cells along the border, not a tie.
    """
    pop = pd.to_numeric(links["population"], errors="coerce")
    f = links.assign(
        _pop=pop.fillna(0),
        _nopop=pop.isna(),
        _noown=links["own_district_time_min"].isna(),
        _gappop=pop.fillna(0) * links["gap_without_crossing"],
    )
    by = f.groupby(["district", "anchor_district"], sort=True)
    table = pd.DataFrame(
        {
            "settlements": by.size(),
            "population": by["_pop"].sum().astype(np.int64),
            "settlements_no_population": by["_nopop"].sum().astype(np.int64),
            "median_time_min": by["time_min"].median(),
            "median_own_district_time_min": by["own_district_time_min"].median(),
            "median_time_saved_min": by["time_saved_min"].median(),
            "settlements_no_own_anchor": by["_noown"].sum().astype(np.int64),
            "settlements_gap_without_crossing": by["gap_without_crossing"].sum().astype(np.int64),
            "population_gap_without_crossing": by["_gappop"].sum().astype(np.int64),
            "anchors": by["anchor_name"].agg(lambda v: ", ".join(sorted(set(map(str, v))))),
        }
    ).reset_index()
    if area is not None and len(area):
        table = table.merge(area, on=["district", "anchor_district"], how="outer")
        table[_PAIR_COUNTS] = table[_PAIR_COUNTS].fillna(0).astype(np.int64)
    else:
        table["area_km2"] = 0.0
    table["area_km2"] = table["area_km2"].fillna(0.0)
    table = table[(table["settlements"] > 0) | (table["area_km2"] >= min_land_km2)]
    district_km2 = districts.set_index("name").geometry.area.groupby(level=0).sum() / 1e6
    table["area_share_pct"] = (
        100.0 * table["area_km2"] / district_km2.reindex(table["district"]).to_numpy()
    )
    table = table.sort_values(
        ["population", "settlements", "area_km2", "district", "anchor_district"],
        ascending=[False, False, False, True, True],
    )
    inner = districts.set_index("name").geometry.representative_point()
    a = inner.reindex(table["district"]).to_numpy()
    b = inner.reindex(table["anchor_district"]).to_numpy()
    lines = [
        shapely.LineString([p, q]) if p is not None and q is not None else None
        for p, q in zip(a, b, strict=True)
    ]
    return gpd.GeoDataFrame(table.reset_index(drop=True), geometry=lines, crs=districts.crs)


_PAIR_COUNTS = [
    "settlements",
    "population",
    "settlements_no_population",
    "settlements_no_own_anchor",
    "settlements_gap_without_crossing",
    "population_gap_without_crossing",
]


# --- 3. reach of single-industry towns -----------------------------------------------------


def employment_centres(settlements: pd.DataFrame, plan: PlanningConfig) -> np.ndarray:
    """Row positions of the employment centres: population ≥ the minimum, or named."""
    pop = np.nan_to_num(_population(settlements), nan=-1.0)
    chosen = pop >= plan.employment_min_population
    if plan.employment_centres:
        named = resolve_names(
            settlements,
            plan.employment_centres,
            "employment centre",
            "[planning] employment_centres",
        )
        chosen[named] = True
    return np.flatnonzero(chosen)


MONOTOWN_LIST = Path(__file__).resolve().parents[2] / "regions/russia/monotowns_1398r.csv"
_CENTRE_TYPE = re.compile(r"^\s*(г|пгт|рп|п|с|д|пос|село|посёлок|поселок)\.?\s+", re.IGNORECASE)


def official_monotowns(region_names: list[str], path: Path = MONOTOWN_LIST) -> pd.DataFrame:
    """The region's towns on the government's list of single-industry municipalities
    (распоряжение № 1398-р): columns `name` (the centre, without its г./пгт. prefix),
    `category` (1: the most difficult situation, 2: risk of worsening, 3: stable) and
    `municipality` (as the order names it). `region_names`: the region's names to look for."""
    empty = pd.DataFrame({"name": [], "category": [], "municipality": []})
    if not path.is_file():
        logger.warning("the monotown list %s is missing: only [planning] monotowns count", path)
        return empty
    table = pd.read_csv(path, dtype=str)
    wanted = {n.casefold().replace("ё", "е").strip() for n in region_names if n}
    region = table["region"].str.casefold().str.replace("ё", "е").str.strip()
    mine = table[region.isin(wanted)]
    return pd.DataFrame(
        {
            "name": mine["admin_center"].str.replace(_CENTRE_TYPE, "", regex=True).str.strip(),
            "category": pd.to_numeric(mine["category"], errors="coerce").astype("Int64"),
            "municipality": mine["mo_name_1398"],
        }
    ).reset_index(drop=True)


def monotown_reach(
    settlements: gpd.GeoDataFrame,
    model: TravelModel,
    plan: PlanningConfig,
    official: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """For each single-industry town — those of the government's list for the region
    (`official`, see :func:`official_monotowns`) and those the region file names — the
    employment centres within each band (minutes, from the town to the centre, as a commuter
    drives), their number and population, and the town's category on the list.

    Returns (one row per monotown, one line per monotown–centre pair within the largest band).
    """
    s = settlements.reset_index(drop=True)
    official = official if official is not None else pd.DataFrame({"name": [], "category": []})
    names = list(dict.fromkeys([*official["name"], *plan.monotowns]))
    if not names:
        return _reach_summary(s, np.array([], dtype=np.int64), None, plan), _empty_links(s.crs)
    towns = resolve_names(s, names, "monotown", "[planning] monotowns or the monotown list")
    towns = towns[np.argsort(s["name"].to_numpy(dtype=str)[towns], kind="stable")]
    centres = employment_centres(s, plan)
    xy = np.column_stack([s.geometry.x, s.geometry.y])
    pairs = times_within(model, xy[centres], xy[towns], max(plan.reach_bands_min) * 60.0)
    keep = centres[pairs.dest] != towns[pairs.point]
    links = _reach_links(
        s, towns[pairs.point[keep]], centres[pairs.dest[keep]], pairs.time_s[keep], plan
    )
    summary = _reach_summary(s, towns, links, plan)
    category = dict(zip(official["name"], official["category"], strict=True))
    summary.insert(1, "category", pd.array([category.get(n) for n in summary["monotown"]], "Int64"))
    return summary, links


def _reach_links(s, town_pos, centre_pos, time_s, plan) -> gpd.GeoDataFrame:
    bands = np.asarray(plan.reach_bands_min, dtype=float)
    time_min = time_s / 60.0
    out = pd.DataFrame(
        {
            "monotown": s["name"].to_numpy(dtype=object)[town_pos],
            "monotown_osm_id": s["osm_id"].to_numpy()[town_pos],
            "centre": s["name"].to_numpy(dtype=object)[centre_pos],
            "centre_osm_id": s["osm_id"].to_numpy()[centre_pos],
            "centre_district": s["district"].to_numpy(dtype=object)[centre_pos],
            "centre_population": _population(s)[centre_pos],
            "time_min": time_min,
            "band_min": bands[np.searchsorted(bands, time_min, side="left")]
            if len(time_min)
            else [],
        }
    )
    lines = _links(s.geometry.iloc[town_pos], s.geometry.iloc[centre_pos])
    frame = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(lines, crs=s.crs), crs=s.crs)
    return frame.sort_values(["monotown", "time_min", "centre"], kind="stable").reset_index(
        drop=True
    )


def _empty_links(crs) -> gpd.GeoDataFrame:
    columns = ["monotown", "monotown_osm_id", "centre", "centre_osm_id", "centre_district"]
    data = {c: pd.Series(dtype=object) for c in columns}
    data.update(
        centre_population=pd.Series(dtype=float),
        time_min=pd.Series(dtype=float),
        band_min=pd.Series(dtype=float),
    )
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _reach_summary(s, towns, links, plan) -> pd.DataFrame:
    rows = []
    for pos in towns:  # one row per monotown (a handful)
        mine = links[links["monotown_osm_id"] == s["osm_id"].iloc[pos]]
        row = {
            "monotown": s["name"].iloc[pos],
            "osm_id": s["osm_id"].iloc[pos],
            "district": s["district"].iloc[pos],
            "population": _population(s)[pos],
        }
        for band in plan.reach_bands_min:
            within = mine[mine["time_min"] <= band]
            row[f"centres_within_{band:g}min"] = len(within)
            row[f"centre_population_within_{band:g}min"] = int(
                np.nan_to_num(within["centre_population"].to_numpy(dtype=float)).sum()
            )
            row[f"centres_within_{band:g}min_names"] = "; ".join(
                f"{c} ({t:.0f} min)"
                for c, t in zip(within["centre"], within["time_min"], strict=True)
            )
        first = mine.iloc[0] if len(mine) else None
        row["nearest_centre"] = first["centre"] if first is not None else None
        row["nearest_centre_time_min"] = first["time_min"] if first is not None else np.nan
        rows.append(row)
    columns = ["monotown", "osm_id", "district", "population"]
    for band in plan.reach_bands_min:
        columns += [
            f"centres_within_{band:g}min",
            f"centre_population_within_{band:g}min",
            f"centres_within_{band:g}min_names",
        ]
    return pd.DataFrame(rows, columns=[*columns, "nearest_centre", "nearest_centre_time_min"])


# --- figures, and what the report and the map need ------------------------------------------


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows (NaN becomes null), without geometry."""
    import json

    plain = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    return json.loads(plain.to_json(orient="records", force_ascii=False))


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


# --- for the report and the map ------------------------------------------------------------


def plan_sections(plan: dict, language: str = "en") -> list:
    """The report's planning sections from `plan.json`: (title, HTML body). Rendered from the
    report's templates (:func:`pipeline.outputs.report.plan_sections`), texts in :mod:`pipeline.outputs.i18n`."""
    from pipeline.outputs.report import plan_sections as sections

    return sections(plan, language)


def _links(start: gpd.GeoSeries, end: gpd.GeoSeries):
    """Straight lines from each start point to the end point at the same position."""
    if len(start) == 0:
        return []
    a = np.column_stack([start.x.to_numpy(), start.y.to_numpy()])
    b = np.column_stack([end.x.to_numpy(), end.y.to_numpy()])
    return shapely.linestrings(np.stack([a, b], axis=1))


def plan_map_layers(plan_gpkg: Path) -> dict[str, gpd.GeoDataFrame]:
    """The plan's layers in EPSG:4326 for the web map, each with a plain-text `label` column
    (escape it before it reaches HTML). Empty layers are left out."""
    from pipeline.outputs.export import layer_names

    present = set(layer_names(plan_gpkg))
    labels = {
        "proposals": lambda f: (
            f["rank"].astype(str)
            + ". "
            + f["name"].astype(str)
            + " (+"
            + f["new_population"].astype(str)
            + ")"
        ),
        "newly_covered": lambda f: (
            f["name"].astype(str)
            + " → "
            + f["new_anchor"].astype(str)
            + f["time_min"].map(lambda t: f" {t:.0f} min")
        ),
        "cross_border": lambda f: (
            f["name"].astype(str)
            + " → "
            + f["anchor_name"].astype(str)
            + f["time_min"].map(lambda t: f" {t:.0f} min")
        ),
        "cross_border_pairs": lambda f: (
            f["district"].astype(str)
            + " → "
            + f["anchor_district"].astype(str)
            + ": "
            + f["settlements"].astype(str)
        ),
        "monotown_reach": lambda f: (
            f["monotown"].astype(str)
            + " → "
            + f["centre"].astype(str)
            + f["time_min"].map(lambda t: f" {t:.0f} min")
        ),
    }
    out = {}
    for name in PLAN_LAYERS:
        if name not in present:
            continue
        frame = gpd.read_file(plan_gpkg, layer=name)
        if frame.empty:
            continue
        frame = frame.to_crs("EPSG:4326")
        frame["label"] = labels[name](frame)
        out[name] = frame
    return out
