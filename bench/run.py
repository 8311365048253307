"""`make bench`: generate synthetic regions, time every stage as its own process, compare with the usual way.

For each size (district, oblast, macro — see :data:`bench.generator.SIZES`):

1. generate ``bench/out/<size>/synth-<size>.osm.pbf`` and its region file (kept and reused
   while the seed and the generator's code are unchanged);
2. time a bare pyosmium pass over the PBF (the floor: read every object, no work);
3. run every stage, ``python -m pipeline STAGE --config …`` with ``PIPELINE_ROOT=bench/out/<size>``,
   each as a separate process, recording wall time, peak memory (sampled: see :func:`measure`) and
   the load average before it;
4. time the catchment step in process, part by part (:mod:`bench.inprocess`; every size run
   stage by stage);
5. on the district size only: run the usual way (:mod:`bench.baseline`: osmnx, nearest nodes,
   networkx per anchor) and compare (:mod:`bench.agreement`): road node times with the anchors
   on road nodes must agree within 1 s; settlement times (nearest node + walk against the
   pipeline's walk to the nearest point of any segment) are reported.

Every timed command (the floor, each stage, ``make``, ``pipeline all``) runs ``--repeat`` times
(3) and the fastest run counts; results.json keeps every run's seconds and load, and the peak
memory is the largest of the runs. A whole-only size's whole run runs once.

Results go to ``bench/results.json`` (merged per size) and the table in ``bench/README.md``.

``valhalla`` in the sizes (:mod:`bench.valhalla`): the real Andorra extract through the pipeline
and through Valhalla (its own Python 3.12 venv), every settlement's nearest anchor compared;
figures under ``"valhalla"`` in results.json and in README.md between the valhalla markers.

Usage::

    python -m bench.run                      # district, oblast, macro, valhalla
    python -m bench.run --sizes district     # one size
    python -m bench.run --sizes valhalla     # the Valhalla comparison only (`make bench-valhalla`)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
RESULTS = BENCH / "results.json"
README = BENCH / "README.md"
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"
VALHALLA_START, VALHALLA_END = "<!-- valhalla:start -->", "<!-- valhalla:end -->"
FLOOR_CODE = "import sys, osmium\nfor _ in osmium.FileProcessor(sys.argv[1]):\n    pass\n"

__all__ = ["main", "render_table", "run_size"]


def _stages() -> tuple[str, ...]:
    from pipeline.cli import ALL  # every stage `python -m pipeline all` runs, in order

    return ALL


def measure(
    cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = PROJECT
) -> dict:
    """Run `cmd` as a child process in `cwd`; wall seconds, CPU seconds (user + system, of the
    child and the children it waited for), peak memory (MB), exit code, and the load average
    before it. CPU seconds barely change when other work shares the machine, wall seconds do.

    Peak memory is the larger of the largest process's peak resident set and the largest sum,
    sampled every 50 ms, of the proportional set sizes of every process of the tree: `pipeline
    all` draws its map in a second process and `make` runs two stages at once, and their
    memory adds up. A process's peak is its VmHWM, sampled with the sums: ``wait4``'s
    ``ru_maxrss`` is no use here, as Linux carries into it the resident set of the process
    that started the child (the bench itself, 0.35 GB once it has compared the district with
    the usual way), which made every small stage look that large."""
    log.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    with log.open("w", encoding="utf-8") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        sampler = _TreeMemory(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "system_s": round(usage.ru_stime, 2),  # the kernel's share: mostly memory first touched
        "peak_rss_mb": round(max(sampler.largest_mb, sampler.peak_mb), 1),
        "largest_process_mb": round(sampler.largest_mb, 1),
        "returncode": proc.returncode,
        "load_before": [round(x, 2) for x in load],
    }


class _TreeMemory(threading.Thread):
    """The largest sum of the proportional set sizes (Pss, /proc/PID/smaps_rollup) of a
    process and its descendants, and the largest peak resident set (VmHWM) of any one of
    them, sampled every 50 ms until stopped. Shared pages (a forked child's) count once in
    the sum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.largest_mb = pid, 0.0, 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.05):
            tree = _tree(self.pid)
            self.peak_mb = max(self.peak_mb, sum(_proc_mb(p, "smaps_rollup", "Pss") for p in tree))
            self.largest_mb = max(
                [self.largest_mb, *(_proc_mb(p, "status", "VmHWM") for p in tree)]
            )

    def stop(self) -> None:
        self._done.set()
        self.join()


def _tree(pid: int) -> list[int]:
    found = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text(encoding="ascii").split():
                found += _tree(int(child))
    except OSError:  # ended meanwhile
        pass
    return found


def _proc_mb(pid: int, file: str, field: str) -> float:
    """A kB field of /proc/PID/<file> (``Pss`` of smaps_rollup, ``VmHWM`` of status), in MB;
    0 once the process has ended."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text(encoding="ascii").splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def _generator_digest() -> str:
    return hashlib.sha256((BENCH / "generator.py").read_bytes()).hexdigest()[:16]


def _generate(size: str, out: Path, seed: int, regenerate: bool) -> dict:
    from bench.generator import region_name

    name = region_name(size)
    stats_path = out / f"{name}.stats.json"
    digest = _generator_digest()
    if stats_path.is_file() and not regenerate:
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        if stats.get("seed") == seed and stats.get("generator_sha") == digest:
            print(f"[{size}] reusing {out / (name + '.osm.pbf')}", flush=True)
            return stats
    print(f"[{size}] generating…", flush=True)
    m = measure(
        [sys.executable, "-m", "bench.generator", size, "--seed", str(seed), "--out", str(out)],
        out / "generate.log",
    )
    if m["returncode"] != 0:
        raise SystemExit(f"generator failed for {size}; see {out / 'generate.log'}")
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    stats["generator_sha"] = digest
    stats["generate_process"] = m
    stats_path.write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return stats


def _stage_seconds(log: Path) -> float | None:
    """The stage's own timing from its summary line ('… in 12.3 s -> path')."""
    if not log.is_file():
        return None
    found = re.findall(r" in ([0-9.]+) s -> ", log.read_text(encoding="utf-8", errors="replace"))
    return float(found[-1]) if found else None


def _remove_outputs(out: Path, name: str) -> None:
    """The region's results, maps and logs, so that the next run starts from nothing."""
    for folder in ("data_raw", "data_processed", "maps", "logs"):
        shutil.rmtree(out / folder / name, ignore_errors=True)


def _fastest_of(repeat: int, run: Callable[[], dict]) -> dict:
    """The fastest of `repeat` runs of `run()` (a :func:`measure` result), with every run's
    seconds and load before it, and the largest peak memory of them all. This VM's speed
    swings by up to 2x within minutes, so one run says more about the minute than the code.
    A failed run is returned at once."""
    runs = []
    for _ in range(repeat):
        m = run()
        if m["returncode"] != 0:
            return m
        runs.append(m)
    best = dict(min(runs, key=lambda m: m["seconds"]))
    best["runs_s"] = [m["seconds"] for m in runs]
    best["runs_load_before"] = [m["load_before"][0] for m in runs]
    best["peak_rss_mb"] = max(m["peak_rss_mb"] for m in runs)
    best["largest_process_mb"] = max(m["largest_process_mb"] for m in runs)
    return best


def run_size(
    size: str,
    seed: int,
    *,
    regenerate: bool = False,
    baseline: bool = True,
    whole_only: bool = False,
    inprocess: bool = True,
    repeat: int = 3,
) -> dict:
    from bench.generator import region_name
    from pipeline.stage_server import ENV as STAGE_SERVER_ENV
    from pipeline.stages.many_regions import MAKE_VARIABLES

    out = BENCH / "out" / size
    stats = _generate(size, out, seed, regenerate)
    name = region_name(size)
    config, pbf = out / f"{name}.toml", out / f"{name}.osm.pbf"
    _remove_outputs(out, name)
    # The stages and `all` are timed as processes of their own: never in a fork of a stage
    # server (only a `make` run has one, and `make` is timed below, with its own).
    env = {k: v for k, v in os.environ.items() if k != STAGE_SERVER_ENV}
    env.update({"PIPELINE_ROOT": str(out), "PYTHONWARNINGS": "ignore"})
    result: dict = {
        "size": size,
        "generated": {k: v for k, v in stats.items() if k != "generate_process"},
        "generate": stats.get("generate_process"),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "repeat": repeat,
    }
    print(f"[{size}] floor: bare pyosmium pass", flush=True)
    result["floor"] = _fastest_of(
        repeat,
        lambda: measure(
            [sys.executable, "-c", FLOOR_CODE, str(pbf)], out / "bench-logs" / "floor.log"
        ),
    )
    result["stages"] = {}
    if whole_only:  # one `pipeline all` process; stage times from the stage logs
        result = _run_whole_only(result, out, config, name, env)
        if inprocess and "failed" not in result:
            result["inprocess"] = _inprocess(size, out, config, env)
        return result
    for stage in _stages():
        print(f"[{size}] {stage}…", flush=True)

        def run_stage(stage=stage) -> dict:
            m = measure(
                [sys.executable, "-m", "pipeline", stage, "--config", str(config)],
                out / "bench-logs" / f"{stage}.log",
                env,
            )
            m["in_stage_s"] = _stage_seconds(out / "logs" / name / f"{stage}.log")
            return m

        m = _fastest_of(repeat, run_stage)
        result["stages"][stage] = m
        print(f"[{size}] {stage}: {m['seconds']} s, {m['peak_rss_mb']} MB", flush=True)
        if m["returncode"] != 0:
            result["failed"] = (
                f"{stage} exited {m['returncode']}; see {out / 'bench-logs' / stage}.log"
            )
            return result
    stages = result["stages"].values()
    result["stages_sum"] = {
        "seconds": round(sum(s["seconds"] for s in stages), 2),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in stages),
    }
    print(f"[{size}] make: the stages as the Makefile runs them", flush=True)

    def run_make() -> dict:
        _remove_outputs(out, name)
        return measure(
            ["make", "--no-print-directory", f"config={config}"],
            out / "bench-logs" / "make.log",
            {k: v for k, v in env.items() if k not in MAKE_VARIABLES},  # not `make bench`'s own
        )

    result["make"] = _fastest_of(repeat, run_make)
    if result["make"]["returncode"] != 0:
        result["failed"] = (
            f"make exited {result['make']['returncode']}; see {out / 'bench-logs'}/make.log"
        )
        return result
    print(f"[{size}] make: {result['make']['seconds']} s", flush=True)
    print(f"[{size}] whole run: python -m pipeline all", flush=True)
    whole = _fastest_of(repeat, lambda: _whole_run(out, config, name, env))
    if whole["returncode"] != 0:
        result["failed"] = f"all exited {whole['returncode']}; see {out / 'bench-logs' / 'all.log'}"
        return result
    whole["x_floor"] = round(whole["seconds"] / result["floor"]["seconds"], 1)
    result["whole"] = whole
    print(f"[{size}] whole: {whole['seconds']} s, {whole['peak_rss_mb']} MB", flush=True)
    result["inprocess"] = _inprocess(size, out, config, env) if inprocess or baseline else {}
    if baseline and "failed" not in result["inprocess"]:
        result.update(_compare_with_baseline(size, out, config, name, env, result))
    return result


def _whole_run(out: Path, config: Path, name: str, env) -> dict:
    """One `python -m pipeline all` from nothing."""
    _remove_outputs(out, name)
    return measure(
        [sys.executable, "-m", "pipeline", "all", "--config", str(config)],
        out / "bench-logs" / "all.log",
        env,
    )


def _inprocess(size: str, out: Path, config: Path, env) -> dict:
    """The catchment step and its parts, timed inside the catchments stage (bench.inprocess)."""
    print(f"[{size}] catchment step in process…", flush=True)
    log = out / "bench-logs" / "inprocess.log"
    m = measure([sys.executable, "-m", "bench.inprocess", "--config", str(config)], log, env)
    if m["returncode"] != 0:
        return {"process": m, "failed": f"see {log}"}
    step = json.loads(log.read_text(encoding="utf-8").strip().splitlines()[-1])
    print(
        f"[{size}] catchment step: {step['compute_accessibility_s']} s, {step['parts']}", flush=True
    )
    return {**step, "process": m}


def _run_whole_only(result: dict, out: Path, config: Path, name: str, env) -> dict:
    print(f"[{result['size']}] whole run only: python -m pipeline all", flush=True)
    whole = _whole_run(out, config, name, env)
    for stage in _stages():
        own = _stage_seconds(out / "logs" / name / f"{stage}.log")
        result["stages"][stage] = {"seconds": None, "peak_rss_mb": None, "in_stage_s": own}
    if whole["returncode"] != 0:
        result["failed"] = f"all exited {whole['returncode']}; see {out / 'bench-logs' / 'all.log'}"
        return result
    whole["x_floor"] = round(whole["seconds"] / result["floor"]["seconds"], 1)
    result["whole"] = whole
    result["stages_sum"] = None
    print(f"[{result['size']}] whole: {whole['seconds']} s, {whole['peak_rss_mb']} MB", flush=True)
    return result


def _compare_with_baseline(size, out: Path, config: Path, name: str, env, result) -> dict:
    from bench.agreement import node_agreement, settlement_differences
    from pipeline.config import load_region

    ours_step = result["inprocess"]
    print(f"[{size}] the usual way (osmnx + networkx)…", flush=True)
    base_dir = out / "baseline"
    b = measure(
        [sys.executable, "-m", "bench.baseline", "--config", str(config), "--out", str(base_dir)],
        out / "bench-logs" / "baseline.log",
        env,
    )
    if b["returncode"] != 0:
        return {"baseline": {**b, "failed": f"see {out / 'bench-logs' / 'baseline.log'}"}}
    report = json.loads((base_dir / "baseline.json").read_text(encoding="utf-8"))
    not_counted = sum(v for k, v in report["timings"].items() if k.endswith("(not counted)"))
    baseline_whole = round(b["seconds"] - not_counted, 2)
    print(f"[{size}] agreement: road node times, settlement times…", flush=True)
    cfg = load_region(config=config)
    agreement = {
        "nodes": node_agreement(cfg, out, base_dir),
        "settlements": settlement_differences(
            out / "data_processed" / name / f"{name}.gpkg", base_dir / "settlements.csv"
        ),
    }
    step_ours = ours_step["compute_accessibility_s"]
    step_base = report["timings"]["catchment_step_s"]
    catch_stage = result["stages"]["catchments"]["seconds"]
    return {
        "baseline": {
            **report,
            "process": b,
            "whole_s (process minus XML conversion)": baseline_whole,
        },
        "ratios": {
            "catchment_step (compute vs compute)": round(step_base / step_ours, 1),
            "catchment_step (our whole catchments process vs baseline compute)": round(
                step_base / catch_stage, 1
            ),
            "whole_run": round(baseline_whole / result["whole"]["seconds"], 1),
            "whole_run (ours as separate stage processes)": round(
                baseline_whole / result["stages_sum"]["seconds"], 1
            ),
            "whole_run (ours as make runs it)": round(
                baseline_whole / result["make"]["seconds"], 1
            ),
            "peak_memory": round(b["peak_rss_mb"] / result["whole"]["peak_rss_mb"], 2),
        },
        "agreement": agreement,
    }


def machine() -> dict:
    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8") as fh:  # noqa: PTH123  (Linux only)
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as fh:  # noqa: PTH123
        mem_kb = int(fh.readline().split()[1])
    versions = {}
    for pkg in ("numpy", "scipy", "shapely", "geopandas", "pyogrio", "osmium", "osmnx", "networkx"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg)
        except Exception:
            versions[pkg] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024**2, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def _load_results() -> dict:
    if RESULTS.is_file():
        return json.loads(RESULTS.read_text(encoding="utf-8"))
    return {"runs": {}}


def _gb(mb: float | None) -> str:
    return "–" if mb is None else f"{mb / 1024:.2f}"


def _cpu(m: dict) -> str:
    """CPU seconds, and in brackets the system's share of them (where the run has it)."""
    if m.get("cpu_s") is None:
        return "–"
    system = f" ({m['system_s']:.1f})" if m.get("system_s") is not None else ""
    return f"{m['cpu_s']:.1f}{system}"


def _stages_sum(r: dict) -> str:
    return "–" if not r.get("stages_sum") else f"{r['stages_sum']['seconds']:.1f}"


def _make(r: dict) -> str:
    """`make`'s wall seconds and its ratio to `pipeline all`."""
    if not r.get("make") or not r.get("whole"):
        return "–"
    return f"{r['make']['seconds']:.1f} ({r['make']['seconds'] / r['whole']['seconds']:.2f}×)"


def render_table(results: dict) -> str:
    """Markdown tables of the measured runs (what README.md shows between the markers)."""
    runs = [results["runs"][s] for s in ("district", "oblast", "macro") if s in results["runs"]]
    if not runs:
        return "_no runs yet: `make bench`_"
    m = results.get("machine", {})
    lines = [
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gb', '?')} GB RAM, "
        f"{m.get('os', '?')}, Python {m.get('python', '?')}. Seed {results.get('seed', '?')}.",
        "",
        "**Whole run**, fetch to map: `python -m pipeline all` (whole: one process, and a second one "
        "that draws the map while the first writes the report and the QGIS project), the stages "
        "as separate processes one after the other (stages sum), and `make` itself (the stages as "
        "separate processes, the map, report and QGIS project two at a time; in brackets its "
        "ratio to whole); wall seconds, CPU seconds (user + "
        "system, in brackets the system's share, which is mostly the kernel giving the run memory "
        "it touches for the first time: on 2 cores it can exceed the wall time; it barely changes "
        "when other work shares the machine), peak memory GB (the largest sum over the processes of a run, sampled every "
        "50 ms, or its largest process, whichever is more). Floor: a bare pyosmium pass over the "
        "PBF.",
        "",
        "| size | road nodes | settlements | anchors | area km² | PBF MB | floor s | whole s | whole CPU s | × floor | stages sum s | make s | peak GB | s per M nodes | GB per M nodes | load before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        g, w = r["generated"], r.get("whole")
        if w is None:
            lines.append(f"| {r['size']} | {g['road_nodes']:,} | failed: {r.get('failed')} |")
            continue
        mn = g["road_nodes"] / 1e6
        load = r["floor"]["load_before"][0]
        lines.append(
            f"| {r['size']} | {g['road_nodes']:,} | {g['settlements']:,} | {g['anchors']} | "
            f"{g['area_km2']:,.0f} | {g['pbf_bytes'] / 1e6:.1f} | {r['floor']['seconds']:.1f} | "
            f"{w['seconds']:.1f} | {_cpu(w)} | {w['x_floor']} | {_stages_sum(r)} | {_make(r)} | "
            f"{_gb(w['peak_rss_mb'])} | {w['seconds'] / mn:.1f} | {w['peak_rss_mb'] / 1024 / mn:.2f} | "
            f"{load}, {w['load_before'][0]} |"
        )
    stage_names = list(runs[0]["stages"])
    lines += [
        "",
        "**Per stage** (process wall seconds / peak GB; in brackets the stage's own time from its log, without start-up):",
        "",
        "| size | " + " | ".join(stage_names) + " | load before each |",
        "|---|" + "---:|" * len(stage_names) + "---|",
    ]
    for r in runs:
        cells = []
        for s in stage_names:
            st = r["stages"].get(s)
            if st is None:
                cells.append("–")
                continue
            own = f" ({st['in_stage_s']:.1f})" if st.get("in_stage_s") is not None else ""
            wall = "–" if st["seconds"] is None else f"{st['seconds']:.1f}"
            cells.append(f"{wall}{own} / {_gb(st['peak_rss_mb'])}")
        loads = ", ".join(
            str(r["stages"][s]["load_before"][0])
            for s in stage_names
            if s in r["stages"] and "load_before" in r["stages"][s]
        )
        lines.append(f"| {r['size']} | " + " | ".join(cells) + f" | {loads} |")
    steps = [r for r in runs if r.get("inprocess", {}).get("parts")]
    if steps:
        lines += _step_lines(steps)
    district = results["runs"].get("district", {})
    if "ratios" in district:
        lines += _baseline_lines(district)
    return "\n".join(lines)


STEP_PARTS = (
    ("segments_s", "segments + tiles"),
    ("reversed_csr_s", "reversed CSR"),
    ("fields_s", "fields (Dijkstra)"),
    ("trips_s", "settlement and raster-cell trips (bounds / search)"),
    ("road_distance_s", "road distance"),
    ("grid_s", "grid"),
    ("polygons_s", "polygons"),
    ("other_s", "other"),
)


def _step_lines(runs: list[dict]) -> list[str]:
    """The catchment step (``compute_accessibility``) part by part, per size."""
    lines = [
        "",
        "**Catchment step** (`compute_accessibility`, timed inside the catchments stage by "
        "`bench/inprocess.py`), seconds: the road model's segments and tiles, anchor and core fields "
        "made at once on two threads (in brackets the Dijkstra runs themselves, summed over the "
        "threads), the trips of the settlements and raster cells "
        "(one search for both fields; in brackets the fields' bounds / the search itself), road "
        "distance, raster grid, polygons "
        "(catchments, isochrones, gaps, zones), the rest; in brackets after the step, its system "
        "CPU seconds over all threads (mostly memory first touched):",
        "",
        "| size | step s (system) | "
        + " | ".join(label for _, label in STEP_PARTS)
        + " | pieces | raster cells | stage in process s | load before |",
        "|---|" + "---:|" * (len(STEP_PARTS) + 4) + "---|",
    ]
    for r in runs:
        st, c = r["inprocess"], r["inprocess"].get("counts", {})
        parts = st["parts"]
        cells = []
        for key, _ in STEP_PARTS:
            cell = f"{parts.get(key, 0.0):.2f}"
            if key == "fields_s":
                cell += f" ({parts.get('dijkstra_s', 0.0):.2f})"
            if key == "trips_s":
                cell += f" ({parts.get('bounds_s', 0.0):.2f} / {parts.get('search_s', 0.0):.2f})"
            cells.append(cell)
        lines.append(
            f"| {r['size']} | {st['compute_accessibility_s']:.2f} "
            f"({st.get('step_system_s', float('nan')):.2f}) | "
            + " | ".join(cells)
            + f" | {c.get('pieces', 0):,} | {c.get('raster_cells', 0):,} | "
            f"{st['run_catchments_s (in process, with I/O)']:.1f} | "
            f"{st['process']['load_before'][0]} |"
        )
    return lines


def _baseline_lines(r: dict) -> list[str]:
    b, t, ratios = r["baseline"], r["baseline"]["timings"], r["ratios"]
    nodes, sett = r["agreement"]["nodes"], r["agreement"]["settlements"]
    ours = r["inprocess"]
    d = sett["difference_s (usual way - ours)"]
    walk = nodes["with_region_walk"]
    largest = "; ".join(
        f"{x['name']} {x['ours_min']:.1f} → {x['usual_min']:.1f} min (road {x['ours_road_m']:.0f} m, "
        f"nearest node {x['usual_node_m']:.0f} m)"
        for x in sett["largest"][:3]
    )
    return [
        "",
        f"**District size against the usual way** (osmnx graph, every point to its nearest node, "
        f"networkx Dijkstra per anchor, {b['anchors']} anchors, buffered isochrones; load before: "
        f"{b['process']['load_before'][0]}):",
        "",
        "| step | ours s | usual way s | ratio |",
        "|---|---:|---:|---:|",
        f"| catchment step (compute: routing, settlement and cell times, catchments, isochrones) | "
        f"{ours['compute_accessibility_s']:.2f} | {t['catchment_step_s']:.2f} | "
        f"{ratios['catchment_step (compute vs compute)']}× |",
        f"| catchment step, ours as the whole `catchments` process (start-up, reading, writing) | "
        f"{r['stages']['catchments']['seconds']:.2f} | {t['catchment_step_s']:.2f} | "
        f"{ratios['catchment_step (our whole catchments process vs baseline compute)']}× |",
        f"| whole run (ours: `pipeline all`, fetch to map; usual way: imports, graph, speeds, routing, "
        f"polygons, GeoPackage) | {r['whole']['seconds']:.1f} | "
        f"{b['whole_s (process minus XML conversion)']:.1f} | {ratios['whole_run']}× |",
        f"| whole run, ours as separate stage processes one after the other | "
        f"{r['stages_sum']['seconds']:.1f} | {b['whole_s (process minus XML conversion)']:.1f} | "
        f"{ratios['whole_run (ours as separate stage processes)']}× |",
        f"| whole run, ours as `make` runs it | {r['make']['seconds']:.1f} | "
        f"{b['whole_s (process minus XML conversion)']:.1f} | "
        f"{ratios['whole_run (ours as make runs it)']}× |",
        f"| peak memory GB | {_gb(r['whole']['peak_rss_mb'])} | {_gb(b['process']['peak_rss_mb'])} | "
        f"{ratios['peak_memory']}× |",
        "",
        "Usual way, step by step (s): "
        + ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in t.items())
        + ".",
        "",
        f"**Agreement, road node times** (each anchor on its nearest road node — the same OSM vertex "
        f"in both for {nodes['anchors_same_node_in_both']} of {nodes['anchors']} —, our field with "
        f"no walk against networkx): {nodes['compared']:,} road nodes compared "
        f"({nodes['reachable_both']:,} reachable, {nodes['unreachable_both']} unreachable in both; "
        f"left out: {nodes['baseline_nodes_not_our_road_nodes']} osmnx nodes that are no road "
        f"node of ours ({nodes['of which at our ferry nodes (ferry vertices)']} ferry vertices, "
        f"which get ferry nodes of their own in ours) and {nodes['our_road_nodes_not_in_baseline']} "
        f"of our road nodes not in osmnx's graph ({nodes['of which with an edge in the season']} "
        f"with an edge in the season, the rest on closed winter "
        f"roads); reachability differs for {nodes['reachability_differs']}, nearest anchor for "
        f"{nodes['nearest_anchor_differs']}; largest difference {nodes['max_time_diff_s']:.3f} s, "
        f"{100 * nodes['share_within_1s']:.2f} % within 1 s — "
        + ("**identical**." if nodes["identical"] else "**they differ**.")
        + f" With the region's walk ({walk['snap_max_m']:g} m) the same field gets "
        f"{walk['nodes_sooner_over_1s']:,} nodes sooner (> 1 s) to an anchor by walking the last "
        f"stretch from another road (up to {walk['largest_gain_s'] / 60:.1f} min), which networkx "
        "cannot do.",
        "",
        f"**Settlement times, the usual way (nearest node + walk) against our rule (nearest point of "
        f"any segment)**, reported, not asserted: {sett['compared']} settlements, "
        f"{sett['reachable_both']} timed by both ({sett['unreachable_both']} by neither); the usual "
        f"way is longer by more than 1 s for {sett['usual_way_longer_over_1s']}, shorter for "
        f"{sett['usual_way_shorter_over_1s']}, and leaves {sett['usual_way_no_time']} without a time "
        f"that ours reaches ({sett['usual_way_no_time (no node within snap_max_m)']} with no node "
        f"within the walk limit, {sett['usual_way_no_time (nearest node reaches no anchor)']} whose "
        f"nearest node reaches no anchor); nearest anchor differs for {sett['anchor_differs']}. "
        f"Usual way − ours: median {d['median']:.1f} s, 90th percentile {d['p90']:.1f} s, largest "
        f"{d['max'] / 60:.1f} min" + (f" ({largest})." if largest else "."),
    ]


def write_readme_section(start: str, end: str, body: str) -> None:
    """Replace what README.md holds between the markers `start` and `end` (added if missing)."""
    text = README.read_text(encoding="utf-8") if README.is_file() else ""
    if start not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{body}\n{end}{tail}", encoding="utf-8")


def write_readme_table(results: dict) -> None:
    write_readme_section(TABLE_START, TABLE_END, render_table(results))


def _run_valhalla(results: dict, rev: str | None) -> None:
    from bench import valhalla

    figures = valhalla.run(rev=rev)
    results["valhalla"] = figures
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_readme_section(VALHALLA_START, VALHALLA_END, valhalla.render_markdown(figures))
    print(
        f"[valhalla] same nearest anchor {figures['same_anchor']} of {figures['settlements']} "
        f"({100 * figures['same_anchor_share']:.1f} %), Spearman {figures['spearman']}; "
        f"every settlement: {valhalla.WORK / 'andorra.json'}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sizes", nargs="+", default=["district", "oblast", "macro", "valhalla"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--regenerate", action="store_true", help="write the PBFs again")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the osmnx/networkx baseline"
    )
    parser.add_argument(
        "--whole-only",
        nargs="*",
        default=["macro"],
        help="sizes timed as one `pipeline all` process only (default: macro, to halve its time)",
    )
    parser.add_argument(
        "--inprocess",
        nargs="*",
        default=None,
        help="sizes whose catchment step is also timed part by part in process (default: the "
        "sizes run stage by stage; name a whole-only size to add it)",
    )
    parser.add_argument(
        "--rev", help="valhalla: run the pipeline/ of this commit, not the work tree's"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each timed command, the fastest kept (default 3; a whole-only size's "
        "whole run is run once)",
    )
    args = parser.parse_args(argv)
    results = _load_results()
    synthetic = [s for s in args.sizes if s != "valhalla"]
    if synthetic:  # the machine and seed of the synthetic runs' tables
        results["machine"] = machine()
        results["seed"] = args.seed
    for size in args.sizes:
        if size == "valhalla":
            _run_valhalla(results, args.rev)
            continue
        run = run_size(
            size,
            args.seed,
            regenerate=args.regenerate,
            baseline=(size == "district" and not args.no_baseline),
            whole_only=size in args.whole_only,
            inprocess=size not in args.whole_only
            if args.inprocess is None
            else size in args.inprocess,
            repeat=max(args.repeat, 1),
        )
        results["runs"][size] = run
        RESULTS.write_text(
            json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        write_readme_table(results)
        print(f"[{size}] done: whole {run.get('whole')}", flush=True)
        if "ratios" in run:
            print(f"[{size}] ratios: {run['ratios']}; agreement: {run['agreement']}", flush=True)
    if synthetic:
        print(render_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
