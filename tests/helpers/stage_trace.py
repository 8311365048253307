"""What a stage really reads and runs, for the tests that hold the Makefile's code lists and
pipeline/cli.py's stamps (STAGE_SECTIONS) to it.

* :func:`trace_stage` runs one stage in-process and records the region file's sections it reads
  and the pipeline modules whose functions it calls;
* :func:`makefile_list` expands a variable of the project's Makefile, as make does;
* :func:`make_env` is the environment for a child `make`, without what a parent `make test`
  would leak into it.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.config import PROJECT_ROOT, RegionConfig

MAKE = shutil.which("make")
# A parent make (`make test`) must not leak its settings into the makes run by the tests.
MAKE_ENV_LEAKS = (
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS", "PIPELINE_ROOT",
    "regions", "region", "config", "season", "scenario", "k", "a", "b",
)  # fmt: skip


def make_env(root: Path | None = None) -> dict[str, str]:
    """This process's environment without a parent make's settings; PIPELINE_ROOT=`root`."""
    env = {k: v for k, v in os.environ.items() if k not in MAKE_ENV_LEAKS}
    if root is not None:
        env["PIPELINE_ROOT"] = str(root)
    return env


def makefile_list(variable: str, project: Path = PROJECT_ROOT) -> set[str]:
    """A variable of the project's Makefile, as make expands it (words)."""
    result = subprocess.run(
        [MAKE, "-s", "--no-print-directory", "region=andorra",
         "--eval", f"print-list: ; @echo $({variable})", "print-list"],
        cwd=project, env=make_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(result.stdout.split())


def trace_stage(run: Callable, cfg: RegionConfig, *args) -> tuple[set[str], set[str]]:
    """Run ``run(cfg, *args)``: (sections of the region file it read, other than `name` and
    `region_file`; pipeline modules whose functions it called, relative to the project)."""
    read: set[str] = set()

    class Recording(RegionConfig):
        def __getattribute__(self, name):
            if name in RegionConfig.model_fields:
                read.add(name)
            return super().__getattribute__(name)

    called: set[str] = set()
    pipeline_dir = str(PROJECT_ROOT / "pipeline")

    def profile(frame, event, _arg):
        code = frame.f_code  # functions only: not a module's or a class's body
        function = code.co_flags & inspect.CO_NEWLOCALS
        if event == "call" and function and code.co_filename.startswith(pipeline_dir):
            called.add(code.co_filename)

    recording = Recording.model_construct(**dict(cfg))
    sys.setprofile(profile)
    try:
        run(recording, *args)
    finally:
        sys.setprofile(None)
    modules = {str(Path(f).relative_to(PROJECT_ROOT)) for f in called}
    return read - {"name", "region_file"}, modules
