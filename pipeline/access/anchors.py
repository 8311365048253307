"""Which settlements are anchors and cores: the anchor policy of the region file.

Anchors come from ``[anchors]`` (names, a planners' CSV or a rule), offline from ``[offline]
anchor_rule`` / ``cores`` where given; every agglomeration core is an anchor as well; a
scenario adds and removes anchors by name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np

from pipeline.access import catchments as ca
from pipeline.config import AnchorRule, RegionConfig
from pipeline.errors import InputDataError

__all__ = ["AnchorSources", "anchor_sources", "choose_anchors", "scenario_anchors"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnchorSources:
    """Where a run's anchors and cores come from: a rule, a list of names or a planners' CSV
    (exactly one), and the cores' names. `make check` checks the same lists the run uses."""

    rule: AnchorRule | None
    names: list[str]
    csv: Path | None
    core_names: list[str]
    offline_rule: bool  # the rule is [offline] anchor_rule, not [anchors] rule


def anchor_sources(cfg: RegionConfig, approximate: bool) -> AnchorSources:
    """The region file's anchor policy for a run: offline (`approximate`), ``[offline]
    anchor_rule`` and ``cores`` replace ``[anchors]`` and ``[cores]`` where given; otherwise
    ``[anchors]`` names, else its CSV, else its rule.

    Parameters
    ----------
    cfg : RegionConfig
        The region.
    approximate : bool
        True offline (the bundled settlements, no roads).

    Returns
    -------
    AnchorSources
        The one source of the anchors, and the cores' names (possibly none).
    """
    a, off = cfg.anchors, cfg.offline if approximate else None
    cores = list(off.cores) if off is not None and off.cores else list(cfg.cores.names)
    if off is not None and off.anchor_rule is not None:
        return AnchorSources(off.anchor_rule, [], None, cores, offline_rule=True)
    if a.names:
        return AnchorSources(None, list(a.names), None, cores, offline_rule=False)
    if a.csv:
        return AnchorSources(None, [], cfg.resolve(a.csv), cores, offline_rule=False)
    return AnchorSources(a.rule, [], None, cores, offline_rule=False)


def choose_anchors(
    cfg: RegionConfig, places: gpd.GeoDataFrame, approximate: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the anchors and of the cores among `places`.

    Parameters
    ----------
    cfg : RegionConfig
        The region: its ``[anchors]`` (names, a CSV or a rule), ``[cores]`` and, offline,
        ``[offline] anchor_rule`` and ``cores``, which replace them where given.
    places : gpd.GeoDataFrame
        The settlements (and the places beyond the border that may serve them).
    approximate : bool
        True offline (the bundled settlements, no roads).

    Returns
    -------
    anchor_pos, core_pos : np.ndarray
        Row positions in `places`; every core is among the anchors.

    Raises
    ------
    InputDataError
        No settlements, no anchors, or an anchors CSV that is not there.
    """
    if places.empty:
        raise InputDataError(f"no settlements found in {cfg.display_name}; check settlement_places")
    level = cfg.boundary.district_admin_level
    beyond = cfg.anchors.beyond_border
    sources = anchor_sources(cfg, approximate)
    if sources.names:
        anchor_pos = ca.resolve_names(places, sources.names, "anchor")
    elif sources.csv is not None:
        if not sources.csv.is_file():
            raise InputDataError(
                f"anchors.csv {str(sources.csv)!r} not found; fix the path in the region file"
            )
        anchor_pos = ca.read_anchor_csv(sources.csv, places)
    else:
        if approximate and not sources.offline_rule and sources.rule.admin_centres:
            logger.warning(
                "anchors.rule asks for administrative centres, which the bundled data does not "
                "mark; offline only the rule's place classes count — list the centres in an "
                "anchors CSV (anchors.csv) to use them offline"
            )
        anchor_pos = ca.rule_anchors(places, sources.rule, level, beyond)
    core_pos = (
        ca.resolve_names(places, sources.core_names, "core")
        if sources.core_names
        else np.array([], dtype=np.int64)
    )
    # An agglomeration core is always an anchor as well: it hosts every service an anchor does.
    anchor_pos = np.union1d(anchor_pos, core_pos)
    if len(anchor_pos) == 0:
        raise InputDataError(
            f"no anchor settlements found in {cfg.display_name}; widen anchors.rule or list anchors.names"
        )
    outside = int((~ca._in_region(places)[anchor_pos]).sum())
    logger.info(
        "anchors (%d%s): %s",
        len(anchor_pos),
        f", {outside} beyond the border" if outside else "",
        ", ".join(places["name"].iloc[anchor_pos].astype(str)),
    )
    return anchor_pos, core_pos


def scenario_anchors(places: gpd.GeoDataFrame, anchor_pos: np.ndarray, plan) -> np.ndarray:
    """The anchors of a what-if run: `anchor_pos` with the scenario's additions and removals.

    Parameters
    ----------
    places : gpd.GeoDataFrame
        The settlements, as for :func:`choose_anchors`.
    anchor_pos : np.ndarray
        The region's anchors (row positions in `places`).
    plan : Scenario or None
        The scenario (:func:`pipeline.network.scenarios.load_scenario`); None: no change.

    Returns
    -------
    np.ndarray
        Row positions of the run's anchors.

    Raises
    ------
    InputDataError
        The scenario removes every anchor, or names a settlement that is not there.
    """
    if plan is None:
        return anchor_pos
    if plan.anchors.add:
        anchor_pos = np.union1d(
            anchor_pos, ca.resolve_names(places, plan.anchors.add, "scenario anchor")
        )
    if plan.anchors.remove:
        anchor_pos = np.setdiff1d(
            anchor_pos, ca.resolve_names(places, plan.anchors.remove, "scenario anchor")
        )
    if len(anchor_pos) == 0:
        raise InputDataError(f"scenario {plan.name!r} removes every anchor; keep at least one")
    return anchor_pos
