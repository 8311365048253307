"""Each stage writes logs/<region>/<stage>.log: its inputs with their sha256, the parameters,
counts, timing and warnings, so a reviewer can tell how a figure was made."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from pipeline.cli import ALL
from tests.helpers import forked_cli
from tests.helpers.osm_builder import OsmBuilder

REGION = """\
name = "loggy"
display_name = "Loggy"
crs = "EPSG:32637"
[source]
local_pbf = "loggy.osm.pbf"
[boundary]
relation_id = 900
admin_level = 4
district_admin_level = 6
[anchors]
csv = "anchors.csv"
[network]
snap_max_m = 1000
[surface]
cell_m = 500
"""


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory) -> tuple[Path, Path]:
    """`python -m pipeline all` on a synthetic region without districts (a warning)."""
    folder = tmp_path_factory.mktemp("loggy")
    b = OsmBuilder()
    b.admin_boundary((38.90, 59.95, 39.20, 60.10), admin_level=4, name="Loggy", rid=900)
    b.road([(39.00, 60.00), (39.10, 60.00)], highway="primary")
    b.place(39.00, 60.00, "Alpha", place="town")
    b.place(39.10, 60.00, "Beta")
    b.write(folder / "loggy.osm.pbf")
    (folder / "anchors.csv").write_text("name\nAlpha\n", encoding="utf-8")
    region = folder / "loggy.toml"
    region.write_text(REGION, encoding="utf-8")
    root = folder / "root"
    code = forked_cli.run(["all", "--config", str(region)], root, folder / "stderr.txt")
    assert code == 0, (folder / "stderr.txt").read_text(encoding="utf-8")
    return folder, root


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


INPUTS = {  # besides the region file
    "fetch": ["loggy.osm.pbf"],
    "extract": ["SOURCES.json", "loggy.osm.pbf"],
    "network": ["osm.gpkg"],
    "catchments": ["osm.gpkg", "network.npz", "anchors.csv"],
    "maps": ["loggy.gpkg"],
}


@pytest.mark.parametrize("stage", ALL)
def test_stage_log_tells_how_its_output_was_made(stage, logged_run) -> None:
    folder, root = logged_run
    log = (root / "logs" / "loggy" / f"{stage}.log").read_text(encoding="utf-8")
    inputs = dict(re.findall(r"input: (.+) \(\d+ bytes, sha256 ([0-9a-f]{64})\)", log))
    assert inputs.get(str(folder / "loggy.toml")) == _sha256(folder / "loggy.toml")
    names = {Path(p).name: sha for p, sha in inputs.items()}
    for name in INPUTS.get(stage, ["loggy.gpkg"]):
        assert name in names, (stage, name, sorted(names))
    for path, sha in inputs.items():  # the digests are those of the files read
        if Path(path).suffix in (".toml", ".csv", ".pbf"):  # not rewritten by later stages
            assert sha == _sha256(Path(path)), path
    parameters = json.loads(re.search(r"parameters: (\{.*\})$", log, re.MULTILINE).group(1))
    assert parameters["name"] == "loggy" and parameters["network"]["snap_max_m"] == 1000
    assert re.search(rf"INFO pipeline\.stages: {stage}: .+ in \d+\.\d s -> ", log), log


def test_warnings_and_counts_reach_the_log(logged_run) -> None:
    _, root = logged_run
    extract = (root / "logs/loggy/extract.log").read_text(encoding="utf-8")
    assert re.search(r"WARNING .*no district boundaries at admin_level 6", extract)
    assert re.search(r"extract: \d+ roads, 2 settlements, 0 districts", extract)
    catchments = (root / "logs/loggy/catchments.log").read_text(encoding="utf-8")
    assert re.search(r"catchments: 2 settlements, 1 anchors, \d+ in gaps", catchments)


def test_a_failed_stage_logs_its_error(logged_run, tmp_path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(logged_run[0], folder)  # region file, extract, earlier results
    (folder / "anchors.csv").write_text("name\nAlfa\n", encoding="utf-8")
    code = forked_cli.run(
        ["catchments", "--config", str(folder / "loggy.toml")], folder / "root", tmp_path / "err"
    )
    assert code != 0
    log = (folder / "root/logs/loggy/catchments.log").read_text(encoding="utf-8")
    assert re.search(r"ERROR pipeline: anchor 'Alfa' matches no settlement", log)
    assert re.search(r"input: .+anchors\.csv \(\d+ bytes, sha256", log)  # what it read
