"""Many regions at once on Dask distributed: `python -m pipeline many --regions a b c`.

Each region is one independent Dask task that runs that region through the project's
Makefile in its own process (``make region=<name>`` or ``make config=<file>``): the same file
graph as one region at a time, so what is up to date is not redone. (Without ``make`` on the
machine, or without the Makefile, the task runs ``python -m pipeline all``.) A region that
fails — a bad region file, a missing extract, even a crash — fails alone: the others go on,
and the summary lists what failed and why (the error line the pipeline printed). Each region
keeps its own outputs and logs (``logs/<region>/<stage>.log``, plus ``logs/<region>/run.log``
with the console output). Dask's own log goes to ``logs/many_dask.log``, not the console.

The cluster is a :class:`dask.distributed.LocalCluster` (worker processes, one task each at a
time) unless ``DASK_SCHEDULER=tcp://host:port`` (or ``--scheduler``) names an existing one;
its workers then need this project at the same path and the regions' inputs on a shared disk.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT

__all__ = ["RegionOutcome", "main", "region_task", "run_regions"]

logger = logging.getLogger(__name__)

SCHEDULER_ENV = "DASK_SCHEDULER"
MAKE_ENV = "PIPELINE_MAKE"  # the make that runs each region (the Makefile's `many` sets it)
# A parent make's settings must not reach the region's make: its job-server pipes and its
# command-line variables travel in these, and make also exports each command-line variable
# (`regions=` itself would make the region's make run `many` again).
MAKE_VARIABLES = (
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKEFILES", "GNUMAKEFLAGS",
    "regions", "region", "config", "season", "scenario", "k", "a", "b",
)  # fmt: skip


@dataclass(frozen=True)
class RegionOutcome:
    """What happened to one region."""

    region: str
    ok: bool
    seconds: float
    peak_rss_mb: float
    error: str  # empty when ok
    log: str  # the console output of the region's run


def _region_args(spec: str) -> tuple[str, list[str]]:
    """(region name, CLI arguments) for a region name or a path to a region .toml file."""
    if spec.endswith(".toml"):
        return Path(spec).stem, ["--config", str(Path(spec).resolve())]
    return spec, ["--region", spec]


def _command(args: list[str], out_root: Path | None) -> list[str]:
    """How a region's run is started: through the Makefile (the file graph), or, without make
    or without the Makefile, or for an output root (other than the project's) whose path make
    cannot name (a space), `python -m pipeline all`."""
    make = os.environ.get(MAKE_ENV) or shutil.which("make")
    nameable = out_root is None or " " not in str(out_root)
    if make and (PROJECT_ROOT / "Makefile").is_file() and nameable:
        where = args[1]
        variable = "config" if args[0] == "--config" else "region"
        return [
            make,
            "--no-print-directory",
            "-C",
            str(PROJECT_ROOT),
            f"{variable}={where}",
            f"PYTHON={sys.executable}",
        ]
    return [sys.executable, "-m", "pipeline", "all", *args]


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["no output"])[-1]


def region_task(spec: str, root: str | None = None) -> dict:
    """Run every stage of one region in a child process; never raises for the region's failure.

    Parameters
    ----------
    spec : a region name (``regions/<name>.toml``) or a path to a region file.
    root : the output root (``PIPELINE_ROOT``); default: the project folder.
    """
    name, args = _region_args(spec)
    out_root = Path(root) if root else Path(os.environ.get("PIPELINE_ROOT", PROJECT_ROOT))
    log = out_root / "logs" / name / "run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}
    env["PIPELINE_ROOT"] = str(out_root)
    own_root = out_root.resolve() == PROJECT_ROOT.resolve()
    if own_root:  # the Makefile's own relative paths
        del env["PIPELINE_ROOT"]
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            _command(args, None if own_root else out_root),
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    ok = proc.returncode == 0
    error = "" if ok else _last_error(log.read_text(encoding="utf-8", errors="replace"))
    if not ok and not error.startswith("error:"):
        error = f"exit code {proc.returncode}: {error}"
    return asdict(
        RegionOutcome(
            region=name,
            ok=ok,
            seconds=round(time.perf_counter() - started, 2),
            peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
            error=error,
            log=str(log),
        )
    )


@contextlib.contextmanager
def _client(scheduler: str | None, n_workers: int, memory_limit: str) -> Iterator:
    from dask.distributed import Client, LocalCluster

    if scheduler:
        logger.info("connecting to the Dask scheduler at %s", scheduler)
        with Client(scheduler) as client:
            yield client
        return
    logger.info("starting a local Dask cluster: %d worker processes", n_workers)
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",  # any free port: never clash with another cluster
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_regions(
    regions: list[str],
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    memory_limit: str = "0",
    root: str | Path | None = None,
) -> list[RegionOutcome]:
    """Run every region as an independent task; return one outcome per region, in input order.

    Parameters
    ----------
    regions : region names or paths to region .toml files.
    scheduler : address of an existing Dask scheduler; default ``$DASK_SCHEDULER``, else a
        LocalCluster of `n_workers` processes (default: one per core, at most one per region).
    memory_limit : per local worker (Dask syntax, e.g. ``"8GB"``); ``"0"``: no limit. The
        region's own process is a child of the worker, so plan memory per region (docs/scale.md).
    root : output root for every region (``PIPELINE_ROOT``); default: the project folder.
    """
    from dask.distributed import as_completed

    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    n_workers = n_workers or max(1, min(len(regions), os.cpu_count() or 1))
    root_text = str(root) if root is not None else None
    outcomes: dict[str, RegionOutcome] = {}
    started = time.perf_counter()
    with _client(scheduler, n_workers, memory_limit) as client:
        futures = {
            client.submit(region_task, spec, root_text, key=f"region-{i}-{spec}", pure=False): spec
            for i, spec in enumerate(regions)
        }
        for future in as_completed(futures):
            spec = futures[future]
            try:
                outcome = RegionOutcome(**future.result())
            except Exception as exc:
                outcome = RegionOutcome(
                    _region_args(spec)[0], False, 0.0, 0.0, f"task failed: {exc!r}", ""
                )
            outcomes[spec] = outcome
            logger.info(
                "%s: %s in %.1f s%s",
                outcome.region,
                "ok" if outcome.ok else "FAILED",
                outcome.seconds,
                "" if outcome.ok else f" — {outcome.error}",
            )
    logger.info("%d regions in %.1f s", len(regions), time.perf_counter() - started)
    return [outcomes[spec] for spec in regions]


def summary_text(outcomes: list[RegionOutcome]) -> str:
    """A table of regions, status, seconds, peak memory, and the reason of each failure."""
    width = max([len(o.region) for o in outcomes] + [6])
    lines = [f"{'region':<{width}}  status   seconds  peak MB  error"]
    for o in outcomes:
        status = "ok" if o.ok else "FAILED"
        lines.append(
            f"{o.region:<{width}}  {status:<7} {o.seconds:8.1f} {o.peak_rss_mb:8.0f}  {o.error}"
        )
    failed = [o for o in outcomes if not o.ok]
    lines.append(f"{len(outcomes) - len(failed)} of {len(outcomes)} regions succeeded")
    return "\n".join(lines)


@contextlib.contextmanager
def _logging_to(root: Path) -> Iterator[None]:
    """While inside: the runner's own lines on the console; Dask's (scheduler, workers,
    comms) in logs/many_dask.log, with only its errors on the console too. The logging set-up
    of the caller comes back afterwards."""
    import distributed  # noqa: F401 - it sets up its loggers on import: before ours

    top = logging.getLogger()
    saved = (list(top.handlers), top.level)
    quiet = [logging.getLogger(name) for name in ("distributed", "dask", "tornado", "bokeh")]
    saved_own = [(q, list(q.handlers), q.propagate) for q in quiet]
    for handler in saved[0]:
        top.removeHandler(handler)
    top.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    console.addFilter(lambda r: r.name.startswith("pipeline") or r.levelno >= logging.ERROR)
    ours: list[logging.Handler] = [console]
    log = root / "logs" / "many_dask.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(log, mode="w", encoding="utf-8")
        file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        ours.append(file)
    except OSError:
        pass
    for handler in ours:
        top.addHandler(handler)
    for q in quiet:  # they keep handlers of their own: through ours instead
        for own in list(q.handlers):
            q.removeHandler(own)
        q.propagate = True
    try:
        yield
    finally:
        for handler in ours:
            top.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            top.addHandler(handler)
        top.setLevel(saved[1])
        for q, handlers, propagate in saved_own:
            for handler in handlers:
                q.addHandler(handler)
            q.propagate = propagate


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline many --regions a b c [--scheduler tcp://host:port] [--workers N]`."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline many", description="Run many regions in parallel on Dask."
    )
    parser.add_argument(
        "--regions", nargs="+", required=True, help="region names or paths to region .toml files"
    )
    parser.add_argument(
        "--scheduler", default=None, help=f"an existing Dask scheduler (default: ${SCHEDULER_ENV})"
    )
    parser.add_argument("--workers", type=int, default=None, help="local worker processes")
    parser.add_argument("--memory-limit", default="0", help="per local worker, e.g. 8GB (0: none)")
    args = parser.parse_args(argv)
    root = Path(os.environ.get("PIPELINE_ROOT", PROJECT_ROOT))
    regions = list(dict.fromkeys(" ".join(args.regions).split()))  # `make regions="a b"` → one arg
    with _logging_to(root):
        outcomes = run_regions(
            regions,
            scheduler=args.scheduler,
            n_workers=args.workers,
            memory_limit=args.memory_limit,
        )
    print(summary_text(outcomes))
    report = root / "logs" / "many_summary.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps([asdict(o) for o in outcomes], indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return 0 if all(o.ok for o in outcomes) else 1
