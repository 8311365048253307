"""`make report`: the reviewer's report page and settlements.csv for spreadsheets."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline._io import RegionPaths, atomic_path
from pipeline.config import RegionConfig
from pipeline.outputs.export import read_layer, read_metadata
from pipeline.stages._common import json_or_empty, summary_line

__all__ = ["run_report"]


def _plan_sections(cfg: RegionConfig, paths: RegionPaths) -> list:
    """The planning answers' report sections, when `make plan` has run."""
    plan = json_or_empty(paths.processed / "plan" / "plan.json")
    if not plan:
        return []
    from pipeline.outputs.report import plan_html

    return [plan_html(plan, cfg.language)]


def run_report(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """The reviewer's report page and the settlement table for spreadsheets."""
    from pipeline.outputs.pages import page_links
    from pipeline.outputs.report import (
        build_report,
        seasons_section,
        services_section,
        settlements_table,
        write_settlements_csv,
    )

    started = time.perf_counter()
    gpkg = paths.gpkg(cfg.name)
    settlements = read_layer(gpkg, "settlements")
    anchors = read_layer(gpkg, "anchors")
    sources = json_or_empty(paths.sources)
    credits = cfg.region_file.parent / cfg.name / "ATTRIBUTION.md"
    attribution = credits.read_text(encoding="utf-8") if credits.is_file() else ""
    extra = [services_section(json_or_empty(paths.summary_json).get("services", {}), cfg)]
    if paths.shared is None:  # the baseline report also covers the seasons and the plan
        extra.append(seasons_section(json_or_empty(paths.processed / "seasons.json"), cfg))
        extra.extend(_plan_sections(cfg, paths))
    links = [(href, text) for href, text in page_links(cfg, paths, paths.report_html)]
    page = build_report(
        settlements, anchors, cfg, read_metadata(gpkg), sources, attribution,
        extra_sections=[x for x in extra if x], links=links,
    )  # fmt: skip
    with atomic_path(paths.report_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    with atomic_path(paths.settlements_csv) as tmp:
        write_settlements_csv(tmp, settlements_table(settlements), cfg.language)
    summary_line("report", started, f"{len(settlements)} settlements", paths.report_html)
    return paths.report_html
