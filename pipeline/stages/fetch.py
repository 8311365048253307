"""`make fetch`: the OSM extract (a download, a local file or Overpass), or the record that
there is none and the bundled reference data will be used."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline._io import RegionPaths
from pipeline.config import RegionConfig
from pipeline.stages._common import summary_line

__all__ = ["run_fetch"]


def run_fetch(cfg: RegionConfig, paths: RegionPaths) -> Path:
    """Get the region's extract and write SOURCES.json; return its path."""
    from pipeline.inputs.fetch import fetch_extract

    started = time.perf_counter()
    record = fetch_extract(cfg, paths)
    what = (
        f"{record.get('format', 'pbf')} {record.get('size_bytes', 0) / 1e6:.1f} MB sha256 {record.get('sha256', '')[:12]}"
        if record["mode"] == "osm"
        else "no extract: bundled reference data will be used (APPROXIMATE)"
    )
    summary_line("fetch", started, what, paths.sources)
    return paths.sources
