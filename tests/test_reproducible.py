"""Reproducible, concurrent and interrupted runs, on the real Andorra extract.

* Two runs of every stage (`python -m pipeline all`) in separate processes, with different hash
  seeds, give the same files: the same features, attributes and geometries in the same order in
  every GeoPackage layer, the same figures, rasters, graph and pages (HTML: any generation
  timestamp masked).
* One of them runs at the same time as a second region in the same project root: two regions
  at once do not interfere.
* A stage killed with SIGKILL at several moments (while a temporary file is being written, and
  at fractions of its run time) leaves every output either as it was before or complete, never
  partial; temporary files are hidden (`.tmp-*`); re-running gives the result of an
  uninterrupted run.

A broken *download* resuming is tested in tests/test_fetch.py
(`test_download_dropped_then_resumed`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

from pipeline.config import REGIONS_DIR
from tests.helpers import forked_cli

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parent.parent
ANDORRA = REGIONS_DIR / "andorra.toml"
PBF = (REGIONS_DIR / "andorra" / "andorra-2023-05-02.osm.pbf").resolve()
FOLDERS = ("data_raw", "data_processed", "maps")  # the outputs (logs/ differ by their times)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:?\d\d|Z)?")
RECORD_TIMES = ("recorded_at", "downloaded_at")  # SOURCES.json: when, not what

TWIN = f"""\
name = "andorra_twin"
display_name = "Andorra, other anchors"
crs = "EPSG:3035"
[source]
local_pbf = "{PBF.as_posix()}"
[boundary]
relation_id = 9407
admin_level = 2
district_admin_level = 7
clip_buffer_m = 2000
[anchors]
names = ["Encamp", "Sant Julià de Lòria"]
[cores]
names = ["Encamp"]
zone_min = [10, 20]
[thresholds]
bands_min = [5, 10, 15, 20, 30, 45]
gap_min = 20
[surface]
cell_m = 100
"""


# --- comparing two runs -----------------------------------------------------------------


def _files(root: Path, region: str) -> dict[str, Path]:
    """Every output file of a region (not hidden temporary files), by path relative to root."""
    out = {}
    for folder in FOLDERS:
        base = root / folder / region
        for path in sorted(base.rglob("*")) if base.is_dir() else []:
            if path.is_file() and not path.name.startswith("."):
                out[str(path.relative_to(root))] = path
    return out


def _gpkg(path: Path) -> dict:
    """Every layer's columns, dtypes, rows and WKB geometries, in order, and the metadata."""
    content: dict = {}
    for layer, _ in pyogrio.list_layers(path):
        frame = gpd.read_file(path, layer=layer)
        if "geometry" in frame:
            geometry = list(frame.geometry.to_wkb())
            attributes = frame.drop(columns="geometry")
        else:
            geometry, attributes = [], frame
        rows = attributes.to_json(
            orient="split", index=False, double_precision=15, date_format="iso"
        )
        if layer == "layer_styles":  # QGIS's style table records when each style was written
            rows = TIMESTAMP.sub("<time>", rows)
        content[layer] = (
            list(attributes.columns),
            [str(t) for t in attributes.dtypes],
            rows,
            geometry,
        )
        if not content.get("metadata"):
            content["metadata"] = pyogrio.read_info(path, layer=layer).get("dataset_metadata")
    return content


def _content(path: Path):
    """What must be equal between two runs: the data, not the file's own time stamps."""
    if path.suffix == ".gpkg":
        return _gpkg(path)
    if path.name == "SOURCES.json":
        record = json.loads(path.read_text(encoding="utf-8"))
        return {k: v for k, v in record.items() if k not in RECORD_TIMES}
    if path.suffix in (".html", ".qgs", ".xml", ".qml"):
        return TIMESTAMP.sub("<time>", path.read_text(encoding="utf-8"))
    if path.suffix == ".qgz":
        with zipfile.ZipFile(path) as archive:
            return {
                info.filename: TIMESTAMP.sub("<time>", archive.read(info).decode("utf-8"))
                if info.filename.endswith((".qgs", ".xml", ".qml"))
                else archive.read(info)
                for info in archive.infolist()
            }
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_same_outputs(root_a: Path, root_b: Path, region: str) -> None:
    files_a, files_b = _files(root_a, region), _files(root_b, region)
    assert sorted(files_a) == sorted(files_b)
    for name, path in files_a.items():
        assert _content(path) == _content(files_b[name]), name


# --- two runs, one of them beside another region --------------------------------------------


def _python_m_pipeline(args: list[str], root: Path, hash_seed: str) -> subprocess.Popen:
    env = {**os.environ, "PIPELINE_ROOT": str(root), "PYTHONHASHSEED": hash_seed}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args, "--quiet"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Root A: `python -m pipeline all` for Andorra and, at the same time in the same root, for
    its twin region (hash seeds 1 and 2). Root B: Andorra alone, at the same time, in a process
    forked from one started with a random hash seed (tests/forked_cli.py)."""
    root_a = tmp_path_factory.mktemp("run-a")
    root_b = tmp_path_factory.mktemp("run-b")
    twin = tmp_path_factory.mktemp("twin") / "andorra_twin.toml"
    twin.write_text(TWIN, encoding="utf-8")
    runs = [
        _python_m_pipeline(["all", "--region", "andorra"], root_a, "1"),
        _python_m_pipeline(["all", "--config", str(twin)], root_a, "2"),
    ]
    alone = forked_cli.start(
        ["all", "--region", "andorra", "--quiet"], root_b, twin.parent / "b.txt"
    )
    errors = [run.communicate(timeout=600)[1] for run in runs]
    alone.join(timeout=600)
    errors.append((twin.parent / "b.txt").read_text(encoding="utf-8"))
    for code, stderr in zip([*(r.returncode for r in runs), alone.exitcode], errors, strict=True):
        assert code == 0, stderr
        assert stderr.strip() == "", stderr  # --quiet: no warning either
    return root_a, root_b


def test_two_runs_give_identical_outputs(two_runs) -> None:
    root_a, root_b = two_runs
    files = _files(root_a, "andorra")
    assert {"data_processed/andorra/andorra.gpkg", "maps/andorra/index.html"} <= set(files)
    assert_same_outputs(root_a, root_b, "andorra")


def test_the_map_of_all_is_the_map_stage_s(two_runs, tmp_path) -> None:
    """`all` draws the map's roads from the extract while the catchments are computed; the
    map stage alone reads them from the results. The pages are the same, byte for byte."""
    root_a, _ = two_runs
    log = (root_a / "logs/andorra/maps.log").read_text(encoding="utf-8")
    assert "roads: drawn from the extract while the catchments were computed" in log
    drawn_by_all = (root_a / "maps/andorra/index.html").read_bytes()
    copy = tmp_path / "root"
    shutil.copytree(root_a, copy, symlinks=True)
    alone = _python_m_pipeline(["maps", "--region", "andorra"], copy, "3")
    _, stderr = alone.communicate(timeout=600)
    assert alone.returncode == 0, stderr
    log = (copy / "logs/andorra/maps.log").read_text(encoding="utf-8")
    assert "roads: drawn from the extract" not in log  # this run read them from the results
    assert (copy / "maps/andorra/index.html").read_bytes() == drawn_by_all


def test_two_regions_at_once_do_not_interfere(two_runs) -> None:
    root_a, _ = two_runs
    # Andorra's results in root A (run beside the twin) equal root B's: checked above. The
    # twin has its own complete results, logs and its own anchors.
    twin = gpd.read_file(root_a / "data_processed/andorra_twin/andorra_twin.gpkg", layer="anchors")
    assert sorted(twin["name"]) == ["Encamp", "Sant Julià de Lòria"]
    andorra = gpd.read_file(root_a / "data_processed/andorra/andorra.gpkg", layer="anchors")
    assert (
        len(andorra) == 7
    )  # the towns; «Sornàs» (an area around the «Sornás» node) is one of them
    for stage in ("extract", "catchments", "maps"):
        log = (root_a / "logs/andorra_twin" / f"{stage}.log").read_text(encoding="utf-8")
        assert "andorra_twin" in log and "region andorra " not in log


# --- SIGKILL ----------------------------------------------------------------------------------

# Earlier results made with other parameters, so "as before" and "complete" are told apart:
# an extract without hamlets, other road speeds, another gap threshold.
OTHER_PARAMETERS = (
    ('crs = "EPSG:3035"', 'crs = "EPSG:3035"\nsettlement_places = ["city", "town", "village"]'),
    ("[surface]", "[network]\nspeeds_kph = { primary = 70 }\n\n[surface]"),
    ("gap_min = 20", "gap_min = 25"),
)
KILLED_STAGES = ("extract", "network", "catchments", "maps")
KILL_AT = (0.5, 0.9)  # fractions of the stage's uninterrupted run time


def _earlier_parameters(folder: Path) -> Path:
    text = ANDORRA.read_text(encoding="utf-8").replace(
        'local_pbf = "andorra/andorra-2023-05-02.osm.pbf"', f'local_pbf = "{PBF.as_posix()}"'
    )
    for old, new in OTHER_PARAMETERS:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = folder / "andorra.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _hidden(root: Path) -> list[Path]:
    return [
        p
        for folder in FOLDERS
        for p in (root / folder).rglob(".*")
        if (root / folder).is_dir() and p.is_file()
    ]


def _kill(argv: list[str], root: Path, at_s: float | None, timeout_s: float) -> None:
    """Start the stage; SIGKILL it after `at_s` seconds, or (None) once a .tmp-* file appears."""
    child = forked_cli.start(argv, root, root.parent / "stderr.txt")
    started = time.perf_counter()
    while child.is_alive() and time.perf_counter() - started < timeout_s:
        if at_s is None and any(p.name.startswith(".tmp-") for p in _hidden(root)):
            break
        if at_s is not None and time.perf_counter() - started >= at_s:
            break
        time.sleep(0.002)
    child.kill()
    child.join()


def test_killed_stages_leave_nothing_partial_and_rerun_completes(two_runs, tmp_path) -> None:
    reference = two_runs[1]  # an uninterrupted run of every stage
    root = tmp_path / "root"
    for folder in FOLDERS:  # a complete run to start from
        shutil.copytree(reference / folder / "andorra", root / folder / "andorra")
    earlier = _earlier_parameters(tmp_path)
    expected = {name: _content(path) for name, path in _files(reference, "andorra").items()}
    interrupted_writes = 0
    for stage in KILLED_STAGES:
        started = time.perf_counter()  # earlier results of this stage, other parameters
        code = forked_cli.run([stage, "--config", str(earlier)], root, tmp_path / "err.txt")
        assert code == 0, (tmp_path / "err.txt").read_text(encoding="utf-8")
        run_s = time.perf_counter() - started
        before = {
            n: hashlib.sha256(p.read_bytes()).digest() for n, p in _files(root, "andorra").items()
        }
        changed = [n for n, p in _files(root, "andorra").items() if _content(p) != expected.get(n)]
        assert changed, stage
        for at in (None, *(f * run_s for f in KILL_AT)):
            _kill([stage, "--region", "andorra"], root, at, timeout_s=3 * run_s)
            for name, path in _files(root, "andorra").items():  # each file: as before, or complete
                same = hashlib.sha256(path.read_bytes()).digest() == before.get(name)
                assert same or _content(path) == expected.get(name), (stage, at, name)
            hidden = _hidden(root)
            assert all(p.name.startswith(".tmp-") for p in hidden), hidden
            interrupted_writes += bool(hidden)
        code = forked_cli.run([stage, "--region", "andorra"], root, tmp_path / "err.txt")
        assert code == 0, (tmp_path / "err.txt").read_text(encoding="utf-8")
    assert interrupted_writes > 0  # some kill did land in the middle of writing a file
    assert_same_outputs(root, reference, "andorra")
