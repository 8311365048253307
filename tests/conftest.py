"""Shared fixtures: the real Andorra extract run once through every stage into a temporary root."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import stages
from pipeline._io import region_paths
from pipeline.config import load_region

PROJECT = Path(__file__).resolve().parent.parent


EVERY_STAGE = (
    stages.run_fetch,
    stages.run_extract,
    stages.run_network,
    stages.run_catchments,
    stages.run_maps,
    stages.run_report,
    stages.run_qgis,
)


@pytest.fixture(scope="session")
def andorra_run(tmp_path_factory):
    """(cfg, paths) after every stage (fetch → … → maps, report, qgis) on the Andorra extract."""
    root = tmp_path_factory.mktemp("andorra-root")
    cfg = load_region("andorra")
    paths = region_paths(cfg, root=root)
    for run in EVERY_STAGE:
        run(cfg, paths)
    return cfg, paths


@pytest.fixture(scope="session")
def vologda_run(tmp_path_factory):
    """(cfg, paths) after every stage on Vologda offline: the bundled data, straight-line model."""
    root = tmp_path_factory.mktemp("vologda-root")
    cfg = load_region("vologda")
    # No download attempt in tests: without a source URL, fetch records the offline fallback.
    cfg = cfg.model_copy(update={"source": cfg.source.model_copy(update={"urls": []})})
    paths = region_paths(cfg, root=root)
    for run in EVERY_STAGE:
        run(cfg, paths)
    return cfg, paths
