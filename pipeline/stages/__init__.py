"""The stages as the Makefile runs them, one module per rule: read inputs, call the pure
functions of the other subpackages, write outputs.

Each ``run_<stage>`` function logs its inputs and one summary line (counts, seconds, output
path) and returns the path it wrote. They hold no analysis of their own. A stage's module is
imported only when that stage runs (``pipeline.stages.run_network`` imports
:mod:`pipeline.stages.network` on first use), so one ``python -m pipeline <stage>`` process
loads only what its stage needs.
"""

from __future__ import annotations

import importlib

__all__ = [
    "run_catchments",
    "run_diff",
    "run_extract",
    "run_fetch",
    "run_graphml",
    "run_maps",
    "run_network",
    "run_plan",
    "run_qgis",
    "run_report",
    "run_seasons",
]


def __getattr__(name: str):
    """``run_<stage>`` from the module :mod:`pipeline.stages.<stage>`, imported on first use."""
    if name in __all__:
        module = importlib.import_module(f"{__name__}.{name.removeprefix('run_')}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
