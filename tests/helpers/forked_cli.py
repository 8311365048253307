"""Run `python -m pipeline ARGS` as a separate process without paying ~1 s of imports each time.

Each run is its own process executing the real entry point (``sys.exit(pipeline.cli.main())``,
exactly what ``python -m pipeline`` does), with its own PIPELINE_ROOT, and everything it
writes to stderr (Python, GDAL and PROJ alike: file descriptor 2) captured in a file. It is
forked from a server process that imported the pipeline once (multiprocessing's
``forkserver``), so tests can run dozens of stages, or SIGKILL one at a chosen moment.

Example
-------
>>> code = run(["regions"], root=Path("/tmp/root"), stderr_path=Path("/tmp/err.txt"))
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

__all__ = ["run", "start"]

PROJECT = Path(__file__).resolve().parents[2]

_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["pipeline.cli", __name__])


def _cli(argv: list[str], root: str, stderr_path: str) -> None:
    """In the child: `python -m pipeline ARGV` with PIPELINE_ROOT=root, fd 2 into a file."""
    os.environ["PIPELINE_ROOT"] = root
    os.chdir(PROJECT)
    fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)  # GDAL and PROJ write to fd 2 directly: a user would see that too
    sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    from pipeline.cli import main

    sys.exit(main(argv))  # an uncaught exception prints its traceback to fd 2, exit code 1


def start(argv: list[str], root: Path, stderr_path: Path) -> multiprocessing.Process:
    """Start `python -m pipeline ARGV` in its own process; returns it (`.kill()`, `.join()`)."""
    child = _FORKS.Process(target=_cli, args=(list(argv), str(root), str(stderr_path)))
    child.start()
    return child


def run(argv: list[str], root: Path, stderr_path: Path, timeout_s: float = 300) -> int:
    """Run `python -m pipeline ARGV` to the end; returns its exit code."""
    child = start(argv, root, stderr_path)
    child.join(timeout=timeout_s)
    if child.exitcode is None:
        child.kill()
        child.join()
        raise TimeoutError(f"python -m pipeline {' '.join(argv)} took over {timeout_s} s")
    return child.exitcode
