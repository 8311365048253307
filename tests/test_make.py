"""`make` exactly as users run it, in a temporary copy of the project.

* A failed run loses nothing: a bad region file, a bad anchors CSV, Ctrl-C (SIGINT to make's
  process group) or SIGKILL (of the stage's process, as the OOM killer would) during the
  catchments stage, `make plan k=0` — every file of the earlier good run is still there and
  byte-identical afterwards.
* The Makefile is a graph of files: a copied run is up to date; an edit of the anchors CSV
  redoes the catchments and what follows, never fetch, extract or network; an edit of
  [planning] redoes nothing; an edited module redoes the stages that run it; an extract
  placed at `data_raw/<region>/extract.osm.pbf` (the README's path) after an offline run
  redoes fetch and everything after it.
* Names: `make region=андорра` and a Cyrillic region file name say the rule in one line;
  `config=` paths with spaces and Cyrillic work (every run here uses one).
* `make check` lists every misspelt name; `make help` lists the variables.
* Each stage's code list in the Makefile and its sections in pipeline/cli.py cover what the
  stage really runs and reads (traced in-process on a synthetic region).

The Andorra runs use the bundled real extract, with anchors from a CSV; the "extract placed"
test uses a synthetic region ("Testland") whose offline data and PBF the test writes itself
(tests/osm_builder.py): nothing of it is real OSM data. Every run gets its own output root
(PIPELINE_ROOT) and its own copy of the region folder, copied with their time stamps from one
complete earlier run, so each test starts from an up-to-date project.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import psutil
import pytest
import rasterio
from rasterio.transform import Affine
from shapely.geometry import Point, box

from tests.helpers.osm_builder import OsmBuilder
from tests.helpers.stage_trace import make_env, makefile_list, trace_stage
from tests.helpers.testland import SETTINGS as TESTLAND_SETTINGS

MAKE = shutil.which("make")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(MAKE is None, reason="needs GNU make"),
]

PROJECT = Path(__file__).resolve().parent.parent
ANDORRA_PBF = PROJECT / "regions" / "andorra" / "andorra-2023-05-02.osm.pbf"
FOLDER = "регионы с пробелом"  # where the region files live: spaces and Cyrillic
OUTPUTS = ("data_raw", "data_processed", "maps")
ANCHORS = (
    "name;district\r\n"
    "Andorra la Vella;Andorra la Vella\r\n"
    "Ordino;Ordino parish\r\n"  # not a district name: looked up in the whole region
    "Canillo;\r\n"
    "Sant Julià de Lòria;Sant Julià de Lòria\r\n"
    "La Massana;La Massana\r\n"
    "Encamp;Encamp\r\n"
    "Les Escaldes;Escaldes-Engordany\r\n"
)


# --- the project copy and its runs ----------------------------------------------------------


def make(project: Path, *args: str, root: Path | None = None) -> subprocess.CompletedProcess:
    """`make ARGS` in the project copy (this interpreter: no venv is built)."""
    return subprocess.run(
        [MAKE, "--no-print-directory", *args, f"PYTHON={sys.executable}"],
        cwd=project,
        env=make_env(root),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# make runs these two at a time (jobs=2), in either order: each needs the results only.
AT_ONCE = ("maps", "report", "qgis")


def ran(result: subprocess.CompletedProcess) -> list[str]:
    """The stages a make run started, in order; where make may start them in either order
    (AT_ONCE, one after another), in that order."""
    stages: list[str] = []
    for line in result.stdout.splitlines():
        words = line.split()
        if "-m" in words and words[words.index("-m") + 1 :][:1] == ["pipeline"]:
            stage = words[words.index("-m") + 2]
            if stage != "deps" and not line.startswith("test -f"):
                stages.append(stage)
    at_once = [i for i, stage in enumerate(stages) if stage in AT_ONCE]
    if at_once and at_once == list(range(at_once[0], at_once[-1] + 1)):
        stages[at_once[0] : at_once[-1] + 1] = sorted(
            stages[at_once[0] : at_once[-1] + 1], key=AT_ONCE.index
        )
    return stages


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The lines on stderr other than the stages' log lines (INFO, WARNING) and make's own
    `make: *** …` trailer."""
    return [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith(("make: ***", "INFO ", "WARNING "))
    ]


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every output file (not logs/, not the Makefile's stamps in .config/)."""
    out = {}
    for folder in OUTPUTS:
        for path in sorted((root / folder).rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and ".config" not in rel.parts and not path.name.startswith(".tmp-"):
                out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def hidden(root: Path) -> list[Path]:
    return [p for folder in OUTPUTS for p in (root / folder).rglob(".tmp-*")]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project's code, Makefile and regions (no outputs)."""
    dest = tmp_path_factory.mktemp("project")
    for name in ("Makefile", "pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, dest / name)
    shutil.copytree(PROJECT / "pipeline", dest / "pipeline", symlinks=True)
    (dest / "regions").mkdir()
    for name in ("andorra.toml", "vologda.toml"):
        shutil.copy2(PROJECT / "regions" / name, dest / "regions" / name)
    for name in ("andorra", "russia", "vologda"):
        if (PROJECT / "regions" / name).is_dir():
            shutil.copytree(PROJECT / "regions" / name, dest / "regions" / name)
    return dest


def _andorra_region(folder: Path) -> Path:
    """Andorra's region file with its anchors in a CSV (`;`, a district column, a BOM)."""
    (folder / "andorra").mkdir(parents=True)
    text = (PROJECT / "regions" / "andorra.toml").read_text(encoding="utf-8")
    text = text.replace(
        'local_pbf = "andorra/andorra-2023-05-02.osm.pbf"', f'local_pbf = "{ANDORRA_PBF}"'
    ).replace('rule = { places = ["city", "town"] }', 'csv = "andorra/опорные пункты.csv"')
    assert "опорные" in text and str(ANDORRA_PBF) in text
    path = folder / "andorra.toml"
    path.write_text(text, encoding="utf-8")
    (folder / "andorra" / "опорные пункты.csv").write_bytes(ANCHORS.encode("utf-8-sig"))
    shutil.copy2(PROJECT / "regions/andorra/ATTRIBUTION.md", folder / "andorra/ATTRIBUTION.md")
    return path


@pytest.fixture(scope="module")
def andorra(project, tmp_path_factory) -> tuple[Path, Path]:
    """(region folder, output root) after `make config=…` and `make plan config=…`."""
    base = tmp_path_factory.mktemp("andorra")
    folder, root = base / FOLDER, base / "out"
    region = _andorra_region(folder)
    for goal in ("all", "plan"):
        result = make(project, goal, f"config={region}", root=root)
        assert result.returncode == 0, result.stderr
    return folder, root


class Copy:
    """One test's copy of the earlier run: its region folder and output root."""

    def __init__(self, project: Path, andorra: tuple[Path, Path], tmp_path: Path) -> None:
        self.project = project
        self.folder = tmp_path / FOLDER
        self.root = tmp_path / "out"
        shutil.copytree(andorra[0], self.folder, symlinks=True)
        shutil.copytree(andorra[1], self.root, symlinks=True)
        self.region = self.folder / "andorra.toml"
        self.anchors = self.folder / "andorra" / "опорные пункты.csv"

    def make(self, *args: str) -> subprocess.CompletedProcess:
        return make(self.project, *args, f"config={self.region}", root=self.root)

    def start(self, *args: str, log: Path) -> subprocess.Popen:
        with log.open("w") as out:
            return subprocess.Popen(
                [MAKE, "--no-print-directory", *args, f"config={self.region}",
                 f"PYTHON={sys.executable}"],
                cwd=self.project, env=make_env(self.root), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def edit(self, old: str, new: str) -> None:
        text = self.region.read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        self.region.write_text(text.replace(old, new), encoding="utf-8")

    @property
    def logs(self) -> Path:
        return self.root / "logs" / "andorra"


@pytest.fixture
def copy(project, andorra, tmp_path) -> Copy:
    return Copy(project, andorra, tmp_path)


# --- a failed run loses nothing -------------------------------------------------------------


def test_the_earlier_run_is_complete_and_up_to_date(copy):
    before = snapshot(copy.root)
    for name in (
        "data_processed/andorra/andorra.gpkg",
        "data_processed/andorra/travel_time.tif",
        "data_processed/andorra/summary.json",
        "data_processed/andorra/summary.csv",
        "data_processed/andorra/plan/plan.json",
        "maps/andorra/index.html",
    ):
        assert name in before, name
    result = copy.make()
    assert result.returncode == 0, result.stderr
    assert ran(result) == []  # a copy with its time stamps: nothing to redo
    assert snapshot(copy.root) == before


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("gap_min = 20", 'gap_min = "twenty"', "thresholds.gap_min = 'twenty' is invalid"),
        ('names = ["Andorra la Vella"]', 'names = ["Andora la Vella"]', "core 'Andora la Vella'"),
    ],
    ids=["not-a-number", "misspelt-core"],
)
def test_a_bad_region_file_keeps_every_file(copy, old, new, expect):
    before = snapshot(copy.root)
    copy.edit(old, new)
    result = copy.make()
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], lines
    assert "Traceback" not in result.stderr
    assert snapshot(copy.root) == before
    assert hidden(copy.root) == []


def test_a_bad_anchors_csv_keeps_every_file(copy):
    before = snapshot(copy.root)
    copy.anchors.write_bytes(ANCHORS.replace("Encamp;", "Encampp;").encode("utf-8-sig"))
    result = copy.make()
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1 and "'Encampp'" in lines[0] and "closest: Encamp" in lines[0], lines
    assert ran(result) == ["catchments"]  # fetch, extract and network were up to date
    assert snapshot(copy.root) == before


def _wait_for_catchments_writing(root: Path, child: subprocess.Popen, timeout_s: float = 120):
    """Until the catchments stage writes its results (its first hidden .tmp- GeoPackage)."""
    folder = root / "data_processed" / "andorra"
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if list(folder.glob(".tmp-andorra-*.gpkg")):
            return
        assert child.poll() is None, "make ended before the catchments stage wrote anything"
        time.sleep(0.002)
    raise AssertionError("the catchments stage never started writing")


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_an_interrupted_catchments_stage_keeps_every_file(copy, how, tmp_path):
    before = snapshot(copy.root)
    copy.anchors.write_bytes(ANCHORS.replace("Ordino;Ordino parish\r\n", "").encode("utf-8-sig"))
    child = copy.start(log=tmp_path / "make.log")
    try:
        _wait_for_catchments_writing(copy.root, child)
        stage = [
            p for p in psutil.Process(child.pid).children(recursive=True)
            if "catchments" in p.cmdline()
        ]  # fmt: skip
        assert len(stage) == 1
        if how == "SIGINT":  # Ctrl-C: the terminal signals make and the stage alike
            os.killpg(child.pid, signal.SIGINT)
        else:  # the stage alone, as the out-of-memory killer would
            stage[0].kill()
        code = child.wait(timeout=120)
        # make (running two jobs at a time) may be gone a moment before the stage it signalled
        # has removed its files and said so: what counts is what the stage leaves when it ends
        _, alive = psutil.wait_procs(stage, timeout=60)
        assert alive == []
        # and so is make's stage server, in which the stage really ran (pipeline/stage_server.py)
        servers = [
            p for p in psutil.process_iter(["cmdline"])
            if (p.info["cmdline"] or [])[-2:] == ["serve-stages", str(child.pid)]
        ]  # fmt: skip
        _, alive = psutil.wait_procs(servers, timeout=30)
        assert alive == []
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    log = (tmp_path / "make.log").read_text(encoding="utf-8")
    assert code != 0, log
    assert "Traceback" not in log
    assert snapshot(copy.root) == before, log
    if how == "SIGINT":
        assert hidden(copy.root) == []  # the stage removed its unfinished files
        assert "error: interrupted" in log
        return
    result = copy.make()  # the run is redone, and completes
    assert result.returncode == 0, result.stderr
    assert ran(result)[0] == "catchments"
    anchors = gpd.read_file(copy.root / "data_processed/andorra/andorra.gpkg", layer="anchors")
    assert "Ordino" not in set(anchors["name"]) and len(anchors) == 6


@pytest.mark.parametrize("k", ["0", "many"])
def test_plan_with_a_bad_k_keeps_every_file(copy, k):
    before = snapshot(copy.root)
    result = copy.make("plan", f"k={k}")
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"error: k = '{k}' is invalid"), lines
    assert ran(result) == []
    assert snapshot(copy.root) == before


# --- a true graph -----------------------------------------------------------------------------


def test_an_anchor_edit_redoes_the_catchments_not_fetch_extract_network(copy):
    earlier = {p.name: p.stat().st_mtime_ns for p in copy.logs.glob("*.log")}
    copy.anchors.write_bytes(ANCHORS.replace("Canillo;", "canillo;").encode("utf-8-sig"))
    result = copy.make()
    assert result.returncode == 0, result.stderr
    assert ran(result) == ["catchments", "maps", "report", "qgis"]
    later = {p.name: p.stat().st_mtime_ns for p in copy.logs.glob("*.log")}
    for stage in ("fetch", "extract", "network"):
        assert later[f"{stage}.log"] == earlier[f"{stage}.log"], stage
    assert later["catchments.log"] > earlier["catchments.log"]
    # [planning] is read by `make plan` alone: `make` has nothing to redo.
    copy.edit("k = 3", "k = 4")
    result = copy.make()
    assert result.returncode == 0 and ran(result) == [], result.stdout
    result = copy.make("plan")
    assert result.returncode == 0, result.stderr
    assert ran(result) == ["plan", "maps", "report"]  # and the map and report show the plan


def test_an_edited_module_redoes_the_stages_that_run_it(copy):
    module = copy.project / "pipeline/access/population.py"  # the catchments' grid population
    stat = module.stat()
    try:
        os.utime(module)
        result = copy.make()
    finally:
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # other tests share it
    assert result.returncode == 0, result.stderr
    assert ran(result) == ["catchments", "maps", "report", "qgis"]


# --- names and paths --------------------------------------------------------------------------


@pytest.mark.parametrize("with_file", [False, True])
def test_a_cyrillic_region_name_is_one_line_with_the_rule(project, with_file):
    cyrillic = project / "regions" / "андорра.toml"
    if with_file:  # as a user would: a copy of andorra.toml under a Russian name
        cyrillic.write_text(
            (project / "regions/andorra.toml")
            .read_text(encoding="utf-8")
            .replace('name = "andorra"', 'name = "андорра"'),
            encoding="utf-8",
        )
    try:
        result = make(project, "region=андорра")
    finally:
        cyrillic.unlink(missing_ok=True)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "'андорра' is not a region name" in lines[0]
    assert "lowercase ASCII letters, digits, - and _" in lines[0]
    assert "did you mean" not in lines[0] and result.stdout == ""


def test_a_region_file_with_a_cyrillic_name_is_one_line(project, tmp_path):
    folder = tmp_path / FOLDER
    folder.mkdir()
    path = folder / "Андорра.toml"
    path.write_text('name = "x"\n', encoding="utf-8")
    result = make(project, f"config={path}", root=tmp_path / "out")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "is named 'Андорра'" in lines[0] and "rename the file" in lines[0]


# --- check and help ---------------------------------------------------------------------------


def test_check_lists_every_misspelt_name(copy):
    before = snapshot(copy.root)
    typos = ANCHORS.replace("Encamp;", "Encampp;").replace("La Massana;", "La Masana;")
    copy.anchors.write_bytes(typos.encode("utf-8-sig"))
    copy.edit('names = ["Andorra la Vella"]', 'names = ["Andora la Vella"]')
    result = copy.make("check")
    assert result.returncode != 0
    errors = [line for line in error_lines(result) if line.startswith("error: ")]
    assert len(errors) == 2, result.stderr
    anchors, cores = errors
    assert "2 anchors match no settlement" in anchors
    assert "'Encampp' (district 'Encamp') (closest: Encamp" in anchors
    assert "'La Masana' (district 'La Massana') (closest: La Massana" in anchors
    assert "core 'Andora la Vella' matches no settlement" in cores
    assert "pipeline check" in result.stdout
    assert snapshot(copy.root) == before  # check runs no stage


def test_check_finds_a_missing_file_before_any_stage(copy):
    copy.anchors.unlink()
    result = copy.make("check")
    assert result.returncode != 0
    assert any("anchors.csv" in line and "not found" in line for line in error_lines(result))


def test_help_lists_the_targets_and_variables(project):
    result = make(project, "help")
    assert result.returncode == 0, result.stderr
    for target in ("all", "check", "plan", "diff", "seasons", "clean", "many"):
        assert f"  {target}\t" in result.stdout, target
    for variable in ("region=", "config=", "season=", "scenario=", "k=", "a=", "b=", "regions="):
        assert f"  {variable}" in result.stdout or f" {variable}" in result.stdout, variable


# --- an extract placed at the README's path ---------------------------------------------------

TESTLAND = (
    """\
name = "testland"
display_name = "Testland"
language = "ru"
crs = "EPSG:32637"

[source]
urls = []   # no download: offline, the bundled data below; or an extract at the README's path

[boundary]
relation_id = 900
admin_level = 4
district_admin_level = 6

"""
    + TESTLAND_SETTINGS
    + """
[offline]
districts = "testland/districts.geojson"
district_name_field = "district"
settlements = "testland/settlements.geojson"
"""
)
PLACES = {  # name: (lon, lat, place, population)
    "Alpha": (39.00, 60.00, "town", 5000),
    "Beta": (39.10, 60.00, "village", 300),
    "Gamma": (39.10, 60.05, "village", 150),
    "Дельта": (38.95, 60.05, "village", 120),
}
DISTRICTS = {"West": (38.90, 59.95, 39.05, 60.10), "Восточный": (39.05, 59.95, 39.20, 60.10)}


def _testland_offline(folder: Path) -> Path:
    """The region file and its bundled offline data (synthetic)."""
    (folder / "testland").mkdir(parents=True)
    gpd.GeoDataFrame(
        {"district": list(DISTRICTS)}, geometry=[box(*b) for b in DISTRICTS.values()], crs=4326
    ).to_file(folder / "testland" / "districts.geojson", driver="GeoJSON")
    gpd.GeoDataFrame(
        {"name": list(PLACES), "population": [p[3] for p in PLACES.values()]},
        geometry=[Point(p[0], p[1]) for p in PLACES.values()],
        crs=4326,
    ).to_file(folder / "testland" / "settlements.geojson", driver="GeoJSON")
    path = folder / "testland.toml"
    path.write_text(TESTLAND, encoding="utf-8")
    return path


def _testland_pbf(*, extra_village: bool = False) -> OsmBuilder:
    """A synthetic OSM extract of Testland: the districts, three roads, the settlements."""
    b = OsmBuilder()
    b.admin_boundary((38.90, 59.95, 39.20, 60.10), admin_level=4, name="Testland", rid=900)
    for name, bbox in DISTRICTS.items():
        b.admin_boundary(bbox, admin_level=6, name=name)
    a, be, g, d = ((p[0], p[1]) for p in PLACES.values())
    b.road([a, be], highway="primary")
    b.road([be, g], highway="tertiary")
    b.road([a, d], highway="secondary")
    for name, (lon, lat, place, people) in PLACES.items():
        b.place(lon, lat, name, place=place, population=str(people))
    if extra_village:
        b.place(39.15, 60.02, "Эпсилон", population="40")
    b.node(39.001, 60.001, amenity="school", name="Школа")
    return b


def test_an_extract_placed_at_the_readme_path_redoes_fetch_onwards(project, tmp_path):
    folder, root = tmp_path / FOLDER, tmp_path / "out"
    region = _testland_offline(folder)
    first = make(project, f"config={region}", root=root)  # offline: the bundled data
    assert first.returncode == 0, first.stderr
    assert ran(first) == ["fetch", "extract", "network", "catchments", "maps", "report", "qgis"]
    summary = root / "data_processed" / "testland" / "summary.json"
    assert '"approximate": true' in summary.read_text(encoding="utf-8")
    assert "APPROXIMATE" in first.stderr and "extract.osm.pbf" in first.stderr
    again = make(project, f"config={region}", root=root)
    assert again.returncode == 0 and ran(again) == [], again.stdout

    _testland_pbf().write(root / "data_raw" / "testland" / "extract.osm.pbf")  # as the banner says
    placed = make(project, f"config={region}", root=root)
    assert placed.returncode == 0, placed.stderr
    assert ran(placed) == ["fetch", "extract", "network", "catchments", "maps", "report", "qgis"]
    assert '"approximate": false' in summary.read_text(encoding="utf-8")
    # Russian CSVs: `;` and a decimal comma
    header = (root / "data_processed/testland/summary.csv").read_bytes().split(b"\r\n")[0]
    assert header.startswith(b"\xef\xbb\xbfarea;level;settlements;")

    _testland_pbf(extra_village=True).write(root / "data_raw" / "testland" / "extract.osm.pbf")
    changed = make(project, f"config={region}", root=root)
    assert changed.returncode == 0, changed.stderr
    assert ran(changed)[:4] == ["fetch", "extract", "network", "catchments"]
    names = gpd.read_file(root / "data_processed/testland/testland.gpkg", layer="settlements")
    assert "Эпсилон" in set(names["name"])


def _vologda_pbf() -> OsmBuilder:
    """A small synthetic extract with a boundary named «Вологодская область» (not real OSM
    data): the 28 anchors of regions/vologda/anchors_district_centres.csv as place nodes
    along one road (OSM's «имени Бабушкина» where the table has «им Бабушкина»), two villages
    off it, one of them with no road within reach."""
    b = OsmBuilder()
    b.admin_boundary((39.0, 59.0, 40.0, 59.4), admin_level=4, name="Вологодская область")
    b.admin_boundary((39.0, 59.0, 39.5, 59.4), admin_level=6, name="Западный район")
    b.admin_boundary((39.5, 59.0, 40.0, 59.4), admin_level=6, name="Восточный район")
    table = PROJECT / "regions" / "vologda" / "anchors_district_centres.csv"
    names = [line.split(",")[0] for line in table.read_text(encoding="utf-8").splitlines()[1:]]
    assert len(names) == 28 and "им Бабушкина" in names
    lons = np.linspace(39.05, 39.95, len(names))
    b.road([(lon, 59.2) for lon in lons], highway="primary")
    for lon, name in zip(lons, names, strict=True):
        osm_name = "имени Бабушкина" if name == "им Бабушкина" else name
        town = name in {"Вологда", "Череповец", "Сокол", "Великий Устюг"}
        b.place(lon, 59.2, osm_name, place="town" if town else "village", population="1000")
    b.road([(39.3, 59.2), (39.3, 59.3)], highway="unclassified")
    b.place(39.3, 59.3, "Лесная", population="40")
    b.place(39.7, 59.38, "Дальняя", population="12")  # 20 km from the road
    return b


def test_a_vologda_extract_at_the_readme_path_gives_road_based_results(project, tmp_path):
    root = tmp_path / "out"
    first = make(project, "region=vologda", root=root)  # offline: the 7,798-settlement table
    assert first.returncode == 0, first.stderr
    summary = root / "data_processed" / "vologda" / "summary.json"
    assert '"approximate": true' in summary.read_text(encoding="utf-8")
    assert "data_raw/vologda/extract.osm.pbf" in first.stderr

    _vologda_pbf().write(root / "data_raw" / "vologda" / "extract.osm.pbf")  # as the banner says
    placed = make(project, "region=vologda", root=root)
    assert placed.returncode == 0, placed.stderr
    assert ran(placed) == ["fetch", "extract", "network", "catchments", "maps", "report", "qgis"]
    assert "APPROXIMATE" not in placed.stderr
    assert '"approximate": false' in summary.read_text(encoding="utf-8")
    gpkg = root / "data_processed" / "vologda" / "vologda.gpkg"
    settlements = gpd.read_file(gpkg, layer="settlements").set_index("name")
    assert len(settlements) == 30 and settlements["is_anchor"].sum() == 28
    # Лесная: 11.1 km of unclassified road (untagged: unpaved in Vologda) from the main road
    assert settlements.loc["Лесная", "anchor_time_min"] > 0
    assert np.isnan(settlements.loc["Дальняя", "anchor_time_min"])  # unreachable, no time


# --- each stage's code and sections -----------------------------------------------------------


def test_each_stage_depends_on_the_code_it_runs_and_the_sections_it_reads(tmp_path):
    """Every stage, in-process on synthetic Testland (with services, an anchors CSV with a
    district column and a population grid): the pipeline modules whose functions it calls
    are in the Makefile's list for it, and the region file's sections it reads are in its
    stamp (pipeline/cli.py STAGE_SECTIONS)."""
    from pipeline import cli, stages
    from pipeline._io import region_paths
    from pipeline.config import load_region

    folder = tmp_path / FOLDER
    region = _testland_offline(folder)
    _testland_pbf().write(folder / "testland" / "testland.osm.pbf")
    (folder / "testland" / "anchors.csv").write_text(
        "name;district\nAlpha;West\nGamma;Восточный муниципальный округ\n", encoding="cp1251"
    )
    with rasterio.open(
        folder / "testland" / "people.tif", "w", driver="GTiff", width=6, height=3, count=1,
        dtype="float32", crs="EPSG:4326", transform=Affine(0.05, 0.0, 38.9, 0.0, -0.05, 60.1),
    ) as grid:  # fmt: skip
        grid.write(np.full((1, 3, 6), 100.0, dtype="float32"))
    text = TESTLAND.replace("urls = []", 'local_pbf = "testland/testland.osm.pbf"')
    text = text.replace('names = ["Alpha", "Gamma"]', 'csv = "testland/anchors.csv"')
    region.write_text(text + 'population_grid = "testland/people.tif"\n', encoding="utf-8")

    offline = tmp_path / "offline" / FOLDER
    runs = [  # (region file, stages): with the OSM extract; offline, with the bundled data
        (region, ("fetch", "extract", "network", "catchments", "maps", "report", "qgis",
                  "plan", "seasons")),
        (_testland_offline(offline), ("fetch", "extract", "network", "catchments", "maps",
                                      "report", "plan")),
    ]  # fmt: skip
    for region_file, stage_names in runs:
        cfg = load_region(config=region_file)
        paths = region_paths(cfg, root=region_file.parent.parent / "out")
        for stage in stage_names:
            sections, modules = trace_stage(getattr(stages, f"run_{stage}"), cfg, paths)
            assert sections <= cli._sections(stage), (stage, sections - cli._sections(stage))
            if stage in ("fetch", "extract", "network", "catchments", "plan"):
                listed = makefile_list(f"CODE_{stage}")
                assert modules <= listed, (stage, sorted(modules - listed))
