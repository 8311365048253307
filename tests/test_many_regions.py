"""Many regions on a Dask LocalCluster: each runs alone, keeps its outputs, and fails alone."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from bench.generator import generate
from pipeline.stages.many_regions import RegionOutcome, main, region_task, run_regions, summary_text

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_tiny_regions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("regions")
    generate("tiny", folder, seed=1, name="tiny-a")
    generate("tiny", folder, seed=2, name="tiny-b")
    bad = folder / "broken.toml"
    bad.write_text(
        (folder / "tiny-a.toml")
        .read_text(encoding="utf-8")
        .replace('name = "tiny-a"', 'name = "broken"')
        .replace("tiny-a.osm.pbf", "missing.osm.pbf"),
        encoding="utf-8",
    )
    return folder


def test_two_regions_and_a_broken_one_on_a_local_cluster(two_tiny_regions, tmp_path):
    folder = two_tiny_regions
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    specs = [str(folder / f"{n}.toml") for n in ("tiny-a", "broken", "tiny-b")]
    outcomes = run_regions(specs, n_workers=2, root=tmp_path)

    assert [o.region for o in outcomes] == ["tiny-a", "broken", "tiny-b"]
    by_name = {o.region: o for o in outcomes}
    assert by_name["tiny-a"].ok and by_name["tiny-b"].ok
    assert not by_name["broken"].ok
    assert "missing.osm.pbf" in by_name["broken"].error  # the pipeline's own one-line reason
    for name in ("tiny-a", "tiny-b"):
        summary = json.loads(
            (tmp_path / "data_processed" / name / "summary.json").read_text(encoding="utf-8")
        )
        assert summary["region"] == name
        assert (tmp_path / "maps" / name / "index.html").is_file()
        assert (tmp_path / "logs" / name / "catchments.log").is_file()
        assert by_name[name].peak_rss_mb > 0
    assert (tmp_path / "logs" / "broken" / "run.log").is_file()
    # Each region runs through the Makefile's graph: run again, nothing is redone.
    log = tmp_path / "logs" / "tiny-a" / "catchments.log"
    when = log.stat().st_mtime_ns
    again = RegionOutcome(**region_task(specs[0], str(tmp_path)))
    assert again.ok and log.stat().st_mtime_ns == when, again.log
    assert " -m pipeline catchments" not in Path(again.log).read_text(encoding="utf-8")
    text = summary_text(outcomes)
    assert "2 of 3 regions succeeded" in text and "FAILED" in text
    # The cluster is gone: no worker, nanny or region process is left. (multiprocessing's own
    # resource tracker / forkserver helper lives as long as this interpreter, by design.)
    left = [
        " ".join(p.cmdline())
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert [c for c in left if "resource_tracker" not in c and "forkserver" not in c] == []


def test_cli_exit_code_and_summary_file(two_tiny_regions, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_ROOT", str(tmp_path))
    monkeypatch.delenv("DASK_SCHEDULER", raising=False)
    code = main(["--regions", str(two_tiny_regions / "broken.toml"), "--workers", "1"])
    assert code == 1
    out, err = capsys.readouterr()
    assert "0 of 1 regions succeeded" in out
    assert "broken: FAILED" in err and "Scheduler" not in err and "Nanny" not in err  # Dask's log
    assert "Scheduler" in (tmp_path / "logs" / "many_dask.log").read_text(encoding="utf-8")
    report = json.loads((tmp_path / "logs" / "many_summary.json").read_text(encoding="utf-8"))
    assert report[0]["region"] == "broken" and not report[0]["ok"]
