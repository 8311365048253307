"""The command line: a user mistake gives one line on stderr, a non-zero exit, no traceback,
and leaves earlier results as they were."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
ANDORRA_PBF = PROJECT / "regions" / "andorra" / "andorra-2023-05-02.osm.pbf"


def _run(*args: str, root: Path, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIPELINE_ROOT": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--quiet"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def _region(
    tmp_path: Path,
    name: str,
    pbf: Path,
    extra: str = "",
    anchors: str = 'rule = { places = ["town"] }',
) -> Path:
    folder = tmp_path / "regions dir с пробелом"  # spaces and Cyrillic in the path
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\ndisplay_name = "Test {name}"\ncrs = "EPSG:3035"\n'
        f'[source]\nlocal_pbf = "{pbf}"\n'
        "[boundary]\nrelation_id = 9407\nadmin_level = 2\ndistrict_admin_level = 7\n"
        f"[anchors]\n{anchors}\n{extra}",
        encoding="utf-8",
    )
    return path


def test_unknown_region(tmp_path):
    _assert_one_line_error(
        _run("fetch", "--region", "narnia", root=tmp_path), "unknown region 'narnia'", "andorra"
    )


def test_region_name_with_path_refused(tmp_path):
    _assert_one_line_error(_run("fetch", "--region", "../../etc", root=tmp_path), "unknown region")


def test_malformed_region_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\ndisplay_name = "x"\n[anchors]\nnames = ["A"]\n[thresholds]\ngap_min = -1\n'
    )
    _assert_one_line_error(
        _run("check", "--config", str(path), root=tmp_path), "thresholds.gap_min = -1"
    )


def test_missing_extract(tmp_path):
    path = _region(tmp_path, "missing", tmp_path / "nowhere.osm.pbf")
    _assert_one_line_error(_run("fetch", "--config", str(path), root=tmp_path), "nowhere.osm.pbf")


def test_truncated_extract(tmp_path):
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(ANDORRA_PBF.read_bytes()[:500_000])
    path = _region(tmp_path, "cut", cut)
    assert _run("fetch", "--config", str(path), root=tmp_path).returncode == 0  # header is fine
    result = _run("extract", "--config", str(path), root=tmp_path)
    _assert_one_line_error(result, "cut.osm.pbf", "truncated or corrupt")
    assert not (tmp_path / "data_processed" / "cut" / "osm.gpkg").exists()


def test_corrupt_extract(tmp_path):
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"this is not a protobuf file at all" * 100)
    path = _region(tmp_path, "junk", junk)
    _assert_one_line_error(_run("fetch", "--config", str(path), root=tmp_path), "junk.osm.pbf")


def test_extract_of_another_area(tmp_path):
    path = _region(tmp_path, "elsewhere", ANDORRA_PBF).read_text(encoding="utf-8")
    path = path.replace("relation_id = 9407", 'region_name = "Вологодская область"').replace(
        "admin_level = 2\ndistrict_admin_level = 7", "admin_level = 4\ndistrict_admin_level = 6"
    )
    cfg = tmp_path / "regions dir с пробелом" / "elsewhere.toml"
    cfg.write_text(path, encoding="utf-8")
    assert _run("fetch", "--config", str(cfg), root=tmp_path).returncode == 0
    _assert_one_line_error(_run("extract", "--config", str(cfg), root=tmp_path), "does not cover")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """A region from the Andorra extract, run up to the network stage."""
    root = tmp_path_factory.mktemp("cli-root")
    path = _region(root, "andtest", ANDORRA_PBF, anchors='names = ["Andorra la Vella", "Encamp"]')
    for stage in ("fetch", "extract", "network"):
        result = _run(stage, "--config", str(path), root=root)
        assert result.returncode == 0, result.stderr
    return root, path


def test_anchor_name_not_found_lists_closest(extracted, tmp_path):
    root, path = extracted
    typo = path.with_name("andtest.toml")
    text = path.read_text(encoding="utf-8").replace('"Encamp"', '"Encampp"')
    bad_root = tmp_path
    # Same region, same outputs folder: earlier results must survive the failed run.
    results = root / "data_processed" / "andtest"
    ok = _run("catchments", "--config", str(path), root=root)
    assert ok.returncode == 0, ok.stderr
    before = (results / "andtest.gpkg").read_bytes()
    typo.write_text(text, encoding="utf-8")
    try:
        result = _run("catchments", "--config", str(typo), root=root)
        _assert_one_line_error(result, "'Encampp'", "closest: Encamp")
        assert (results / "andtest.gpkg").read_bytes() == before
        assert not list(results.glob(".tmp-*"))
    finally:
        typo.write_text(text.replace('"Encampp"', '"Encamp"'), encoding="utf-8")
    assert bad_root.exists()


def test_unwritable_output_folder(extracted, tmp_path):
    root, path = extracted
    # The results folder is a file: nothing can be written there, whoever runs the test.
    blocked_root = tmp_path / "blocked"
    (blocked_root / "data_processed").mkdir(parents=True)
    (blocked_root / "data_processed" / "andtest").write_text("not a folder")
    (blocked_root / "data_raw").symlink_to(root / "data_raw")
    result = _run("extract", "--config", str(path), root=blocked_root)
    _assert_one_line_error(result, "cannot write", "data_processed")


def test_all_stages_and_log_files(extracted):
    root, path = extracted
    result = _run("catchments", "--config", str(path), root=root)
    assert result.returncode == 0, result.stderr
    log = (root / "logs" / "andtest" / "catchments.log").read_text(encoding="utf-8")
    assert "catchments:" in log and "settlements" in log and "->" in log


def test_regions_lists_shipped_regions(tmp_path):
    result = _run("regions", root=tmp_path)
    assert result.returncode == 0
    assert result.stdout.split() == ["andorra", "vologda"]


def test_a_profiler_still_gets_its_results(tmp_path):
    """`python -m pipeline` skips the interpreter's teardown, but not under a profiler, which
    writes its results at a normal exit (bench/README.md profiles the stages this way)."""
    stats = tmp_path / "regions.prof"
    result = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "pipeline", "regions"],
        cwd=PROJECT,
        env={**os.environ, "PIPELINE_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["andorra", "vologda"]
    assert stats.stat().st_size > 0


# --- `all`: the map on the second core -------------------------------------------------------


def _no_process_left(region_file: Path) -> None:
    """No process of `all` (the first or the map's) is still running this region file."""
    import psutil

    left = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(region_file) in " ".join(p.info["cmdline"] or [])
    ]
    assert left == [], left


def test_all_draws_the_map_in_a_second_process_and_reports_its_failure(tmp_path):
    """The map fails (its page's path is a folder); the report and the QGIS project, made by
    the first process at the same time, are complete; one line, exit 2, no traceback."""
    root = tmp_path / "root"
    path = _region(tmp_path, "andall", ANDORRA_PBF, anchors='names = ["Andorra la Vella"]')
    (root / "maps" / "andall" / "index.html").mkdir(parents=True)
    result = _run("all", "--config", str(path), root=root)
    _assert_one_line_error(result, "index.html")
    assert result.returncode == 2
    assert (root / "maps" / "andall" / "report.html").stat().st_size > 0
    assert (root / "data_processed" / "andall" / "andall.qgz").stat().st_size > 0
    log = (root / "logs" / "andall" / "maps.log").read_text(encoding="utf-8")
    assert "index.html" in log  # the map stage's own log has the error too
    assert not list((root / "maps" / "andall").glob(".tmp-*"))
    _no_process_left(path)


def test_all_stopping_early_leaves_no_second_process(tmp_path):
    """A stage before the map fails: its one line only (the waiting map process leaves without
    a word) and no map."""
    root = tmp_path / "root"
    path = _region(tmp_path, "andstop", ANDORRA_PBF, anchors='names = ["Nowhere at all"]')
    result = _run("all", "--config", str(path), root=root)
    _assert_one_line_error(result, "'Nowhere at all'")
    assert not (root / "maps" / "andstop" / "index.html").exists()
    assert not (root / "logs" / "andstop" / "maps.log").exists()
    _no_process_left(path)
