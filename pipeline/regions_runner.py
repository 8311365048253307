"""Many regions at once on Dask distributed: `python -m pipeline many --regions a b c`.

Each region is one independent Dask task that runs the whole pipeline for that region as its
own process (``python -m pipeline all``), so a region that fails — a bad region file, a
missing extract, even a crash — fails alone: the others go on, and the summary lists what
failed and why (the error line the pipeline printed). Each region keeps its own outputs and
logs (``logs/<region>/<stage>.log``, plus ``logs/<region>/run.log`` with the console output).

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
    env = {**os.environ, "PIPELINE_ROOT": str(out_root)}
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "all", *args],
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
            dashboard_address=None,
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
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    regions = list(dict.fromkeys(" ".join(args.regions).split()))  # `make regions="a b"` → one arg
    outcomes = run_regions(
        regions, scheduler=args.scheduler, n_workers=args.workers, memory_limit=args.memory_limit
    )
    print(summary_text(outcomes))
    root = Path(os.environ.get("PIPELINE_ROOT", PROJECT_ROOT))
    report = root / "logs" / "many_summary.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps([asdict(o) for o in outcomes], indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return 0 if all(o.ok for o in outcomes) else 1
