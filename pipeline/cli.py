"""`python -m pipeline <stage> --region NAME | --config PATH`: the thin entry point the Makefile calls.

It reads the region, sets up logging (console + `logs/<region>/<stage>.log`), runs one stage
and turns a user mistake into one line on stderr with a non-zero exit code.

`python -m pipeline deps` is the Makefile's first step: it writes, for each stage, what that
stage reads of the region file — the sections it uses, as canonical JSON, and the sha256 of
every file they name — to `data_processed/<region>/.config/<stage>.json`, rewriting a file
only when its content changes. The Makefile's rules depend on these stamps, so an edit of the
region file (or of a file it names) redoes exactly the stages that read it.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import importlib
import json
import logging
import multiprocessing
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, NoReturn

from pipeline import stages
from pipeline._io import FileDigests, RegionPaths, one_commit, region_paths, sha256_of_open
from pipeline._io import write_if_changed as _write_if_changed
from pipeline.config import PlanningConfig, RegionConfig, available_regions, load_region
from pipeline.errors import ConfigError, OutputError, PipelineError
from pipeline.stage_server import serve

__all__ = ["STAGE_SECTIONS", "main", "named_files", "stage_stamps"]

# Each stage is `pipeline.stages.run_<stage>`, in its own module, imported only when it runs.
STAGES = ("fetch", "extract", "network", "catchments", "maps", "report", "qgis")
ALL = STAGES
RUN_STAGES = {"catchments", "maps", "report", "qgis"}  # these take a season and a scenario
# not part of `all`; graphml: the road graph for osmnx (`make graphml`)
EXTRA_STAGES = ("seasons", "diff", "plan", "graphml")
# Stages whose files are renamed into place together at the end (pipeline._io.one_commit): a
# failed, interrupted or killed run leaves all of the earlier ones. (`seasons` reads back the
# season runs it writes, so it renames each file as it is done.)
ONE_COMMIT = {"catchments", "maps", "report", "qgis", "plan", "diff"}

# The parts of the region file each stage reads (from pipeline/stages/ and what it calls).
# `deps` writes them to the stage's stamp; a part not named in any entry here (a key added to
# the region file later) counts for every stage, so forgetting it costs a re-run, not a stale
# result. tests/test_make.py checks these against the attributes each stage really reads.
_MAPS_SECTIONS = {
    "display_name", "language", "thresholds", "surface", "services", "offline", "seasons",
    "default_season",
}  # fmt: skip
_CATCHMENTS_SECTIONS = {
    "display_name", "language", "crs", "boundary", "anchors", "cores", "thresholds", "network",
    "surface", "services", "seasons", "default_season", "ferry_months", "offline",
}  # fmt: skip
STAGE_SECTIONS: dict[str, set[str]] = {
    # offline: only whether there is a fallback; kind = "overpass" also reads the service
    # tags to ask for and the CRS of the clip buffer (display_name: in its messages)
    "fetch": {"source", "boundary", "offline", "services", "crs", "display_name"},
    "extract": {
        "display_name",
        "crs",
        "boundary",
        "settlement_places",
        "services",
        "offline",
        "census",
    },
    "network": {"display_name", "crs", "network"},
    "catchments": _CATCHMENTS_SECTIONS,
    "maps": _MAPS_SECTIONS,
    "report": _MAPS_SECTIONS | {"network"},
    "qgis": {"display_name", "language", "thresholds", "surface"},
    "seasons": _CATCHMENTS_SECTIONS | _MAPS_SECTIONS,
    "plan": _CATCHMENTS_SECTIONS | {"planning"},
    "diff": _MAPS_SECTIONS,
    "graphml": {"display_name", "crs", "network", "seasons", "default_season", "ferry_months"},
}
_KNOWN_SECTIONS = set().union(*STAGE_SECTIONS.values()) | {
    "name", "region_file", "source", "planning", "census", "settlement_places",
}  # fmt: skip
_REGION_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
REGION_NAME_RULE = (
    "region names are lowercase ASCII letters, digits, '-' and '_', starting with a letter"
)

logger = logging.getLogger("pipeline")
_FILE_ONLY = {"file_only": True}  # `extra` of records for the log file, not the console


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a wrong argument is one line `error: …` (exit code 2), as every error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see `python -m pipeline --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    parser.add_argument(
        "stage",
        choices=[*STAGES, *EXTRA_STAGES, "all", "check", "deps", "regions", "many"],
        help="what to run (deps: the Makefile's stamps; many: several regions on Dask, see "
        "`python -m pipeline many --help`)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--region", default=None, help="a region in regions/ (default: vologda)")
    where.add_argument("--config", default=None, help="path to a region .toml file anywhere")
    parser.add_argument(
        "--quiet", action="store_true", help="only warnings and errors on the console"
    )
    parser.add_argument(
        "--season", default=None, help="a season of the region (default: its default season)"
    )
    parser.add_argument(
        "--scenario", default=None, help="a what-if scenario in regions/<region>/scenarios/"
    )
    parser.add_argument("--a", default="baseline", help="diff: the first run (scenario[@season])")
    parser.add_argument("--b", default=None, help="diff: the second run (scenario[@season])")
    parser.add_argument(
        "--k", default=None, help="plan: anchors to propose (default: [planning] k)"
    )
    parser.add_argument(
        "--plan", action="store_true", help="deps: also the stamp of `plan` (with --k)"
    )
    parser.add_argument(
        "--serve-stages",
        action="store_true",
        help="deps: start make's stage server (pipeline/stage_server.py) for the stages to come "
        "(done by pipeline/__main__.py, before this process imports the rest)",
    )
    return parser


def plan_k(cfg: RegionConfig, text: str | None) -> RegionConfig:
    """The region with [planning] k replaced by `text` (from `make plan k=N`), validated as the
    region file's k is; unchanged when `text` is None or empty."""
    if text is None or str(text).strip() == "":
        return cfg
    from pydantic import ValidationError

    try:
        planning = PlanningConfig.model_validate({**cfg.planning.model_dump(), "k": text})
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"]
        raise ConfigError(
            f"k = {text!r} is invalid: {msg} (k is how many anchors `make plan` proposes, "
            f"a whole number from 1 to 100; e.g. make plan region={cfg.name} k=5)"
        ) from None
    return cfg.model_copy(update={"planning": planning})


def _check_region_name(name: str | None) -> None:
    """A region name outside the rule stops with the rule, before any file is looked for."""
    if name is not None and not _REGION_NAME.fullmatch(name):
        raise ConfigError(
            f"unknown region {name!r}: {REGION_NAME_RULE} (the file regions/<name>.toml "
            f"names the output folders); available: {', '.join(available_regions())} "
            "(or pass config=path/to/region.toml)"
        )


def _configure_logging(log_file, quiet: bool) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if isinstance(handler, logging.FileHandler):  # the previous stage's log (`all`)
            handler.close()
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    root.addHandler(console)
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(
                f"cannot write the log {log_file}: {exc.strerror}; check that folder is writable"
            ) from None
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # one line per layer written is noise
    logging.captureWarnings(True)
    warnings.simplefilter("default")


def _stage_inputs(stage: str, cfg: RegionConfig, paths: RegionPaths) -> list[Path]:
    """The files a stage reads: the region file, then what earlier stages (or the user) made."""
    files = [cfg.region_file]
    if stage == "fetch":
        return files + ([cfg.resolve(cfg.source.local_pbf)] if cfg.source.local_pbf else [])
    if stage == "extract":
        try:
            record = json.loads(paths.sources.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = {}
        off = cfg.offline
        bundled = (
            [off.districts, off.outline, off.settlements, off.towns, off.population_grid]
            if off is not None and record.get("mode") == "fallback"
            else []
        )
        extract = [Path(record["file"])] if isinstance(record.get("file"), str) else []
        named = [p for label, p in named_files(cfg, "extract", paths) if "offline" not in label]
        return [
            *files,
            paths.sources,
            *extract,
            *(cfg.resolve(p) for p in bundled if p),
            *named,
        ]
    if stage == "network":
        return [*files, paths.osm_gpkg]
    if stage == "graphml":
        return [*files, paths.osm_gpkg, paths.network]
    if stage == "catchments":
        csvs = [cfg.anchors.csv, cfg.services.csv]
        return [*files, paths.osm_gpkg, paths.network, *(cfg.resolve(p) for p in csvs if p)]
    if stage == "plan":
        return [*files, paths.gpkg(cfg.name), paths.network, paths.osm_gpkg]
    return [*files, paths.gpkg(cfg.name)]  # maps and later: the results GeoPackage


@contextlib.contextmanager
def _inputs_logged(stage: str, cfg: RegionConfig, paths: RegionPaths):
    """Log each input with its size and sha256 (log file only): what exactly a figure was made
    from. The files are opened before the stage starts, so the digests are of what it read even
    if it replaces one; they are hashed on a thread beside the stage (hashlib lets go of the GIL;
    an oblast's network.npz takes 0.25 s) and logged when the stage ends, done or not."""
    opened: list[tuple[Path, BinaryIO | None]] = []
    with contextlib.ExitStack() as files:
        for path in dict.fromkeys(_stage_inputs(stage, cfg, paths)):
            try:
                opened.append((path, files.enter_context(path.open("rb"))))
            except OSError:  # not there (or a folder): said so
                opened.append((path, None))
        with ThreadPoolExecutor(1) as pool:
            digests = pool.map(lambda item: item[1] and sha256_of_open(item[1]), opened)
            try:
                yield
            finally:
                for (path, fh), digest in zip(opened, digests, strict=True):
                    if fh is None:
                        logger.info("input: %s (not there)", path, extra=_FILE_ONLY)
                    else:
                        size = os.fstat(fh.fileno()).st_size
                        logger.info(
                            "input: %s (%d bytes, sha256 %s)", path, size, digest, extra=_FILE_ONLY
                        )


def _log_to_file_only(exc: Exception) -> None:
    """Record the error in the stage log; the console gets exactly one line from main()."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
    if root.handlers:
        logger.error("%s", exc)


def _check_run_names(cfg: RegionConfig, args) -> None:
    """Unknown seasons and scenarios stop here, before any folder is named after them."""
    if args.season is not None:
        cfg.season(args.season)
    if args.scenario is not None:  # (the scenario code, and geopandas, only when one is named)
        from pipeline.network.scenarios import load_scenario

        load_scenario(cfg, args.scenario)


# --- what each stage reads: the Makefile's stamps ---------------------------------------------


def named_files(
    cfg: RegionConfig, stage: str, paths: RegionPaths, scenario: str | None = None
) -> list[tuple[str, Path]]:
    """(what, absolute path) of each file the region file names that `stage` reads — paths
    relative to the region file's folder, as documented — and the extract at the README's
    path (`data_raw/<region>/extract.osm.pbf`) that fetch picks up when the region file names
    no local file. A missing file is listed too: placing it later redoes the stage."""
    out: list[tuple[str, Path]] = []
    if stage == "fetch":
        if cfg.source.local_pbf is not None:
            out.append(("source.local_pbf", cfg.resolve(cfg.source.local_pbf)))
        elif cfg.source.kind == "pbf":
            out.append(("extract", paths.extract_pbf.absolute()))
        return out
    times = stage in ("catchments", "seasons")  # the stages that choose anchors and time them
    if times and cfg.anchors.csv is not None:
        out.append(("anchors.csv", cfg.resolve(cfg.anchors.csv)))
    if stage == "extract" and cfg.services.csv is not None:
        out.append(("services.csv", cfg.resolve(cfg.services.csv)))
    off = cfg.offline
    for key in ("districts", "outline", "settlements", "towns", "population_grid"):
        used = stage == "extract" or (times and key == "population_grid")
        if off is not None and used and getattr(off, key, None) is not None:
            out.append((f"offline.{key}", cfg.resolve(getattr(off, key))))
    census = getattr(cfg, "census", None)
    if stage == "extract" and census is not None and getattr(census, "table", None):
        out.append(("census.table", cfg.resolve(census.table)))
    if stage == "report":
        out.append(("ATTRIBUTION.md", cfg.region_file.parent / cfg.name / "ATTRIBUTION.md"))
    if scenario is not None and stage == "catchments":
        from pipeline.network.scenarios import load_scenario, scenario_dir

        plan = load_scenario(cfg, scenario)
        out.append((f"scenario {scenario}", scenario_dir(cfg) / f"{scenario}.toml"))
        for i, spec in enumerate(plan.add_roads):
            out.append((f"scenario {scenario}: add_roads[{i}]", plan.folder / spec.geojson))
        if plan.close.polygon is not None:
            out.append((f"scenario {scenario}: close.polygon", plan.folder / plan.close.polygon))
    return out


def _sections(stage: str) -> set[str]:
    """The region file's top-level keys `stage` reads: those listed, and any not known here."""
    unknown = set(RegionConfig.model_fields) - _KNOWN_SECTIONS
    return STAGE_SECTIONS[stage] | unknown


def _stamp(
    cfg: RegionConfig,
    stage: str,
    paths: RegionPaths,
    digests: FileDigests,
    scenario: str | None = None,
    season: str | None = None,
) -> dict:
    """What `stage` reads of the region file: its sections (validated, with defaults, as
    canonical JSON) and the sha256 of each file they name (null: not there)."""
    sections = _sections(stage) - {"name", "region_file"}
    config = cfg.model_dump(
        mode="json", include=sections - ({"offline"} if stage == "fetch" else set())
    )
    if stage == "fetch":
        config["offline"] = cfg.offline is not None
    stamp: dict = {"stage": stage, "region": cfg.name, "config": config}
    if stage in RUN_STAGES:
        stamp["season"] = cfg.season(season)[0]
        if scenario is not None:
            from pipeline.network.scenarios import load_scenario

            stamp["scenario"] = load_scenario(cfg, scenario).model_dump(mode="json")
    if stage == "plan":
        stamp["k"] = cfg.planning.k
    # A file counts by its content (null: not there), wherever the region file and it are
    # (a copied project redoes nothing); only fetch records the extract's path, because
    # SOURCES.json names the extract by its path.
    named = named_files(cfg, stage, paths, scenario if stage == "catchments" else None)
    stamp["files"] = {
        label: {"path": str(path), "sha256": digests.of(path)}
        if stage == "fetch"
        else digests.of(path)
        for label, path in named
    }
    return stamp


def _run_spec(cfg: RegionConfig, spec: str) -> tuple[str | None, str | None]:
    """(scenario, season) of a run named `scenario[@season]`, checked (`baseline`: none)."""
    scenario, _, season = spec.partition("@")
    if season:
        cfg.season(season)
    if scenario != "baseline":
        from pipeline.network.scenarios import load_scenario

        load_scenario(cfg, scenario)
    return (None if scenario == "baseline" else scenario), (season or None)


def stage_stamps(cfg: RegionConfig, paths: RegionPaths, args) -> dict[Path, dict]:
    """Every stamp the Makefile's rules may need for this invocation, by path.

    Region-wide stages (fetch, extract, network, seasons, graphml; plan with `--plan`; diff
    with `--b`) have `.config/<stage>.json`; a run's stages (catchments, maps, report, qgis) have
    `.config/<stage>.json` for the baseline and `.config/runs/<scenario|baseline>/
    <season|default>/<stage>.json` for a what-if run, as the run's results folder.
    """
    folder = paths.config_stamps
    digests = FileDigests(folder / ".digests.json")
    stamps: dict[Path, dict] = {}
    for stage in ("fetch", "extract", "network", "seasons", "graphml"):
        stamps[folder / f"{stage}.json"] = _stamp(cfg, stage, paths, digests)
    runs = {(None, None)}
    if args.season is not None or args.scenario is not None:
        runs.add((args.scenario, args.season))
    if args.b:
        runs |= {_run_spec(cfg, args.a), _run_spec(cfg, args.b)}
        stamps[folder / "diff.json"] = _stamp(cfg, "diff", paths, digests)
    for scenario, season in sorted(runs, key=lambda r: (r[0] or "", r[1] or "")):
        sub = folder
        if scenario is not None or season is not None:
            sub = folder / "runs" / (scenario or "baseline") / (season or "default")
        for stage in sorted(RUN_STAGES):
            stamps[sub / f"{stage}.json"] = _stamp(cfg, stage, paths, digests, scenario, season)
    if args.plan:
        stamps[folder / "plan.json"] = _stamp(plan_k(cfg, args.k), "plan", paths, digests)
    digests.save()
    return stamps


def _deps(cfg: RegionConfig, paths: RegionPaths, args) -> int:
    """`deps`: write the stamps (each only if its content changed); list what they name."""
    stamps = stage_stamps(cfg, paths, args)
    changed = []
    for path, stamp in stamps.items():
        text = json.dumps(stamp, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
        if _write_if_changed(path, text):
            changed.append(str(path.relative_to(paths.config_stamps)))
    if not args.quiet:
        print(
            f"{cfg.region_file}: region {cfg.name!r}; files it names, by the stage that reads them:"
        )
        for stage in ("fetch", "extract", "catchments", "report"):
            run = args.scenario if stage == "catchments" else None
            for label, path in named_files(cfg, stage, paths, run):
                state = "" if path.is_file() else "  (not there)"
                print(f"  {stage:<10} {label:<24} {path}{state}")
        print(
            f"{paths.config_stamps}: {len(stamps)} stamps, changed: {', '.join(changed) or 'none'}"
        )
    return 0


# --- check ----------------------------------------------------------------------------------


def _check_file(label: str, path: Path, cfg: RegionConfig) -> str | None:
    """Why a file the region file names cannot be used (missing, unreadable), or None."""
    from pipeline.inputs.planner_csv import read_planner_csv

    if not path.is_file():
        return f"{label} {str(path)!r} not found; fix the path in {cfg.region_file} (paths are relative to its folder)"
    try:
        if label == "source.local_pbf":
            from pipeline.inputs.fetch import check_pbf_header

            check_pbf_header(path)
        elif label == "services.csv":
            from pipeline.inputs.service_points import read_service_csv

            read_service_csv(path, list(cfg.services.table()))
        elif label == "anchors.csv":
            table = read_planner_csv(path, "anchor", "name")
            if not {"name", "osm_id"} & set(table.table.columns):
                return (
                    f"{path}: needs a column 'name' or 'osm_id' (found: {', '.join(table.header)}); "
                    "rename the header"
                )
        elif path.suffix.lower() == ".csv":
            read_planner_csv(path, label, "…")
        elif path.suffix.lower() in (".tif", ".tiff"):
            import rasterio

            with rasterio.open(path):
                pass
        elif path.suffix.lower() in (".geojson", ".json", ".gpkg", ".shp"):
            import pyogrio

            pyogrio.read_info(path)
    except PipelineError as exc:
        return str(exc)
    except Exception as exc:  # a reader's own error: the file is unreadable
        return f"{label} {str(path)!r} is unreadable ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
    return None


def _settlements(cfg: RegionConfig, paths: RegionPaths):
    """The extract's settlements with their districts (as the catchments stage sees them) and
    whether they are the offline reference data; None without an extracted `osm.gpkg`."""
    from pipeline.access import catchments as ca
    from pipeline.crs import region_crs
    from pipeline.outputs.export import read_layer, read_metadata

    if not paths.osm_gpkg.is_file():
        return None
    places = read_layer(paths.osm_gpkg, "places")
    boundaries = read_layer(paths.osm_gpkg, "boundaries")
    region = boundaries[boundaries["role"] == "region"].geometry
    crs = region_crs(cfg, region.iloc[0])
    districts = boundaries[boundaries["role"] == "district"].to_crs(crs).reset_index(drop=True)
    places = places.to_crs(crs)
    places["district"] = ca.assign_districts(places, districts).to_numpy()
    places["population"] = places["population"].astype("Int64")
    approximate = read_metadata(paths.osm_gpkg).get("mode") == "straight_line"
    return places, approximate


def _check_names(cfg: RegionConfig, paths: RegionPaths) -> tuple[str, list[str]]:
    """(what was checked, one message per list with names that match no settlement): anchors,
    cores, planning names and scenario anchors, against the extracted settlements — every
    misspelt name of a list in one message."""
    from pipeline.access import catchments as ca
    from pipeline.access.anchors import anchor_sources
    from pipeline.network.scenarios import load_scenario, scenario_dir

    loaded = _settlements(cfg, paths)
    if loaded is None:
        return f"names not checked: no {paths.osm_gpkg} yet (run `make extract` first)", []
    places, approximate = loaded
    errors = []
    lists: list[tuple[str, list[str], str]] = []
    sources = anchor_sources(cfg, approximate)  # the lists the run itself will use
    if sources.names:
        lists.append(("anchor", sources.names, "the region file"))
    elif sources.csv is not None and sources.csv.is_file():
        try:
            ca.read_anchor_csv(sources.csv, places)
        except PipelineError as exc:
            errors.append(str(exc))
    lists.append(("core", sources.core_names, "the region file"))
    plan = cfg.planning
    lists += [
        ("candidate", plan.candidates, "[planning] candidates"),
        ("monotown", plan.monotowns, "[planning] monotowns"),
        ("employment centre", plan.employment_centres, "[planning] employment_centres"),
    ]
    folder = scenario_dir(cfg)
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            scenario = load_scenario(cfg, path.stem)
        except PipelineError:
            continue  # reported with the scenario files
        names = [*scenario.anchors.add, *scenario.anchors.remove]
        lists.append(("scenario anchor", names, str(path)))
    for what, names, source in lists:
        if names:
            try:
                ca.resolve_names(places, names, what, source)
            except PipelineError as exc:
                errors.append(str(exc))
    kind = "offline reference data" if approximate else "extract"
    return (
        f"{paths.osm_gpkg}: names checked against {len(places)} settlements of the {kind}",
        errors,
    )


def _check(cfg: RegionConfig, paths: RegionPaths) -> int:
    """`check`: the region file (already loaded), the files it names, every scenario file of
    the region, and — once the extract is extracted — every name it gives."""
    from pipeline.network.scenarios import check_scenarios, scenario_dir

    print(f"{cfg.region_file}: valid region {cfg.name!r} ({cfg.display_name})")
    errors: list[str] = []
    files = {}
    for stage in ("fetch", "extract", "catchments"):
        for label, path in named_files(cfg, stage, paths):
            if label != "extract":  # the README's extract path: optional
                files[label] = path
    for label, path in files.items():
        problem = _check_file(label, path, cfg)
        if problem:
            errors.append(problem)
    print(
        f"{len(files)} file(s) the region file names checked{', all readable' if not errors else ''}"
    )
    checked, scenario_errors = check_scenarios(cfg)
    errors += scenario_errors
    bad = (
        f", {len(scenario_errors)} invalid" if scenario_errors else ", all valid" if checked else ""
    )
    print(f"{scenario_dir(cfg)}: {checked} scenario file(s) checked{bad}")
    try:
        what, name_errors = _check_names(cfg, paths)
    except PipelineError as exc:
        what, name_errors = "names not checked", [str(exc)]
    print(what)
    errors += name_errors
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    return ConfigError.exit_code if errors else 0


# --- running a stage ------------------------------------------------------------------------


def _run_stage(stage: str, cfg: RegionConfig, paths: RegionPaths, args, **extra) -> None:
    if stage == "diff":
        if not args.b:
            raise ConfigError(
                "diff needs two runs: b=<scenario>[@season] (and a=, default baseline)"
            )
        stages.run_diff(cfg, paths, args.a, args.b)
    elif stage == "seasons":
        stages.run_seasons(cfg, paths)
    elif stage == "plan":
        stages.run_plan(plan_k(cfg, args.k), paths)
    elif stage == "catchments":
        run_paths = paths.for_run(args.scenario, args.season)
        stages.run_catchments(cfg, run_paths, season=args.season, scenario=args.scenario)
    elif stage in RUN_STAGES:
        getattr(stages, f"run_{stage}")(cfg, paths.for_run(args.scenario, args.season), **extra)
    else:
        getattr(stages, f"run_{stage}")(cfg, paths)


def _report(exc: PipelineError) -> int:
    """A user mistake: into the stage's log, one line on stderr; its exit code."""
    _log_to_file_only(exc)
    print(f"error: {exc}", file=sys.stderr)
    return exc.exit_code


def _run_logged(stage: str, cfg: RegionConfig, paths: RegionPaths, args, **extra) -> None:
    """One stage with its own log file, its inputs logged and (for most) its files renamed
    into place together at the end."""
    log_dir = paths.for_run(args.scenario, args.season).logs if stage in RUN_STAGES else paths.logs
    _configure_logging(log_dir / f"{stage}.log", args.quiet)
    logger.info("%s: region %s from %s", stage, cfg.name, cfg.region_file)
    logger.info("parameters: %s", cfg.model_dump_json(), extra={"file_only": True})
    started = time.perf_counter()
    with (
        _inputs_logged(stage, cfg, paths),
        one_commit() if stage in ONE_COMMIT else contextlib.nullcontext(),
    ):
        _run_stage(stage, cfg, paths, args, **extra)
    logger.debug("%s finished in %.1f s", stage, time.perf_counter() - started)


# What the map stage imports (folium, branca, jinja2 and the page code: about 0.6 s), loaded
# by `all`'s second process while the first one extracts and routes.
_MAP_MODULES = (
    "pipeline.stages.maps",
    "pipeline.outputs.layers",
    "pipeline.outputs.maps",
    "pipeline.outputs.pages",
)


def _run_all(cfg: RegionConfig, paths: RegionPaths, args) -> int:
    """`all`: every stage in order, with the map drawn on the second core.

    A second process is forked at the start (where the system has fork): it imports what the
    map needs while this one fetches, extracts, builds the network and the catchments, then
    draws the map while this one writes the report and the QGIS project, which read the same
    results and not the map. A failure in one leaves the other's files whole; the exit code
    is this process's error if it had one, else the map's.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        for stage in ALL:
            _run_logged(stage, cfg, paths, args)
        return 0
    listener, told = multiprocessing.Pipe(duplex=False)
    drawer = multiprocessing.get_context("fork").Process(
        target=_maps_when_told, args=(listener, told, cfg, paths, args), name="maps"
    )
    drawer.start()
    listener.close()
    try:
        for stage in ALL[: ALL.index("maps")]:
            _run_logged(stage, cfg, paths, args)
            if stage == "extract":
                told.send("roads")
        told.send("maps")
        for stage in ALL[ALL.index("maps") + 1 :]:
            _run_logged(stage, cfg, paths, args)
    finally:
        told.close()  # without the word "maps", the second process leaves without drawing
        drawer.join()
    return drawer.exitcode


def _maps_when_told(listener, told, cfg: RegionConfig, paths: RegionPaths, args) -> None:
    """`all`'s second process: import the map code; once the extract is done, draw the roads
    (the heaviest layer of the page, 0.6 s at the bench's oblast size); once the catchments are
    done, draw the map. Its exit code is the map stage's; a failure prints its one line like
    any stage's."""
    told.close()  # the first process's end: with it open here, no end of file would come
    code = 0
    try:
        for module in _MAP_MODULES:
            importlib.import_module(module)
        try:
            roads = None
            if listener.recv() == "roads":  # (a scenario's page draws its roads from its results)
                roads = None if args.scenario else _road_overlays(cfg, paths)
                listener.recv()  # "maps"
        except EOFError:  # the first process stopped before the catchments were done
            os._exit(0)
        _run_logged("maps", cfg, paths, args, road_overlays=roads)
    except PipelineError as exc:
        code = _report(exc)
    except KeyboardInterrupt:  # the first process says so
        code = 130
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


# What make's stage server imports first: the stages' code in the order make runs them (the
# rest of the package after it).
_SERVER_MODULES = (
    "pipeline.stages.fetch",
    "pipeline.outputs.export",
    "pipeline.stages.extract",
    "pipeline.inputs.osm",
    "pipeline.stages.network",
    "pipeline.network.graph",
    "scipy.sparse.csgraph",
    "pipeline.stages.catchments",
    "pipeline.access.catchments",
    "pipeline.stages.maps",
    *_MAP_MODULES,
    "pipeline.stages.report",
    "pipeline.stages.qgis",
)


def _server_preload() -> Iterator[str | Callable[[], object]]:
    """What make's stage server does before it waits: import the stages' code, load the
    compiled kernels."""
    import pkgutil

    yield from _SERVER_MODULES

    def load_kernels() -> None:
        from pipeline.access.walk_and_drive import load_kernels

        load_kernels()

    yield load_kernels
    skip = {*_SERVER_MODULES, "pipeline.__main__", "pipeline.stages.many_regions"}  # runs; Dask
    package = [str(Path(__file__).parent)]
    yield from sorted(
        m.name for m in pkgutil.walk_packages(package, "pipeline.") if m.name not in skip
    )


def prepare_process() -> None:
    """Settings of a `python -m pipeline` process, set before the stage's work begins."""
    # Young objects are collected every 700 allocations by default, and every tenth of those
    # passes leads to a full pass over the ~150 000 objects of the imported libraries (66 ms
    # each, 0.4 s of an oblast's catchments stage). A larger young generation makes full passes
    # rare; cycles are still collected.
    gc.set_threshold(10_000, 10, 10)


def exit_process(code: int) -> NoReturn:
    """Leave `python -m pipeline` with `code`, without the interpreter's teardown, which frees
    every module and object one by one: 0.2-0.4 s per stage process, paid once per stage by
    `make`. Everything is written, closed and renamed into place by now; the exit handlers still
    run (logging's flush). Under cProfile or coverage, a normal exit."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _road_overlays(cfg: RegionConfig, paths: RegionPaths) -> list | None:
    """The map's roads, from the extract as the catchments stage will write them; None where
    that fails (the map stage then reads them from the results, and says what is wrong). Its
    warnings are the catchments stage's to give."""
    from pipeline.outputs.maps import road_overlays
    from pipeline.stages._common import results_roads

    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return road_overlays(results_roads(cfg, paths), cfg)
    except Exception:  # (see the docstring)
        return None
    finally:
        logging.disable(logging.NOTSET)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve-stages"]:  # make's stage server, started by `deps --serve-stages`
        serve(int(argv[1]), _server_preload(), lambda stage_argv: exit_process(main(stage_argv)))
        return 0
    if argv[:1] == ["many"]:  # several regions in parallel on Dask, with options of its own
        from pipeline.stages.many_regions import main as run_many

        return run_many(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.stage == "regions":
            print("\n".join(available_regions()))
            return 0
        _check_region_name(args.region)
        cfg = load_region(args.region, args.config)
        paths = region_paths(cfg)
        if args.stage == "check":
            _configure_logging(None, quiet=True)
            return _check(cfg, paths)
        _check_run_names(cfg, args)
        if args.stage == "deps":
            _configure_logging(None, quiet=True)
            return _deps(cfg, paths, args)
        if args.stage == "plan":
            plan_k(cfg, args.k)  # a bad k stops before the log is opened
        if args.stage == "all":
            return _run_all(cfg, paths, args)
        _run_logged(args.stage, cfg, paths, args)
    except PipelineError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        print(
            "error: interrupted; earlier results are as they were (or complete, for a stage "
            "that had finished), re-run to continue",
            file=sys.stderr,
        )
        return 130
    return 0
