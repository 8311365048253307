"""How the region's pages (map, report, seasons, plan) link to one another."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline._io import RegionPaths
from pipeline.config import RegionConfig
from pipeline.outputs.i18n import tr

__all__ = ["page_links"]


def page_links(cfg: RegionConfig, paths: RegionPaths, target: Path) -> list[tuple[str, str]]:
    """Links from the page `target` to the region's other pages that exist (and the report)."""
    lang = cfg.language
    root = paths.maps if paths.shared is None else paths.maps.parents[2]
    pages = [
        (root / "index.html", tr(lang, "page_link_map")),
        (paths.report_html, tr(lang, "report_link")),
        (root / "seasons.html", tr(lang, "page_link_seasons")),
        (root / "plan.html", tr(lang, "page_link_plan")),
    ]
    # the plan page is written by the maps stage once `make plan` has run
    planned = ((paths.shared or paths.processed) / "plan" / "plan.gpkg").is_file()
    made = {paths.report_html, *([root / "plan.html"] if planned else [])}
    return [
        (Path(os.path.relpath(page, target.parent)).as_posix(), text)
        for page, text in pages
        if page != target and (page.is_file() or page in made)
    ]
