"""Bad inputs: region files, anchor lists, extracts and the file system.

Every case runs one stage as a planner would (`python -m pipeline STAGE --config PATH`) in a
project root whose path has spaces and Cyrillic letters, *after* a complete earlier run of the
same region, and must give:

* exactly one line on stderr, ``error: …``, naming the input and the fix;
* a non-zero exit code and no traceback;
* every earlier result byte for byte as it was, and no stray file (logs aside).

The region is synthetic (tests write it with :mod:`tests.osm_builder`): a square "Testland"
with two districts, four settlements on three roads, and a town just outside it. The cases'
stages run in parallel (one per CPU), each in its own process and its own copy of the project
root; :mod:`tests.forked_cli` forks them from a process that has imported the pipeline once,
so the suite stays fast.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline import stages
from pipeline._io import region_paths
from pipeline.config import load_region
from tests.helpers import forked_cli
from tests.helpers.osm_builder import OsmBuilder
from tests.helpers.testland import SETTINGS as TESTLAND_SETTINGS

PROJECT = Path(__file__).resolve().parent.parent
REGION_DIR = "regions с пробелом"  # where the region file and its inputs live, inside the root
PBF = "testland.osm.pbf"

# --- the synthetic region -------------------------------------------------------------------

ALPHA, BETA, GAMMA, DELTA = (39.00, 60.00), (39.10, 60.00), (39.10, 60.05), (38.95, 60.05)
OUTSIDE = (39.40, 60.00)  # east of the region's square: in the extract, not in the region


def synthetic_region(
    *, relation: int = 900, roads: bool = True, places: bool = True, footways: bool = False
) -> OsmBuilder:
    """The region (relation 900), its two districts (admin_level 6), roads and settlements."""
    b = OsmBuilder()
    b.admin_boundary((38.90, 59.95, 39.20, 60.10), admin_level=4, name="Testland", rid=relation)
    b.admin_boundary((38.90, 59.95, 39.05, 60.10), admin_level=6, name="West")
    b.admin_boundary((39.05, 59.95, 39.20, 60.10), admin_level=6, name="Восточный")
    if roads:
        b.road([ALPHA, BETA], highway="footway" if footways else "primary")
        b.road([BETA, GAMMA], highway="path" if footways else "tertiary")
        b.road([ALPHA, DELTA], highway="footway" if footways else "secondary")
    if places:
        b.place(*ALPHA, "Alpha", place="town", population="5000")
        b.place(*BETA, "Beta", population="300")
        b.place(*GAMMA, "Gamma")
        b.place(*DELTA, "Дельта", population="120", **{"name:en": "Delta"})
        b.place(*OUTSIDE, "Outsideville", place="town", population="9000")
    return b


REGION = (
    """\
name = "testland"
display_name = "Testland"
crs = "EPSG:32637"

[source]
local_pbf = "testland.osm.pbf"

[boundary]
relation_id = 900
admin_level = 4
district_admin_level = 6

"""
    + TESTLAND_SETTINGS
)
CSV_ANCHORS = ('names = ["Alpha", "Gamma"]', 'csv = "опорные пункты.csv"')
CSV = "опорные пункты.csv"


def _edit(*pairs: tuple[str, str]) -> Callable[[str], str]:
    """A region-file edit: replace each (old, new); each old must be there exactly once."""

    def apply(text: str) -> str:
        for old, new in pairs:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        return text

    return apply


def _csv(content: bytes) -> dict:
    """A case whose anchors come from `опорные пункты.csv` with these bytes."""
    return {"region": _edit(CSV_ANCHORS), "files": {CSV: content}}


# --- the cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    stage: str
    expect: tuple[str, ...]  # fragments of the one error line: the input, the fix
    region: Callable[[str], str] = lambda text: text  # edit of the region file
    files: dict[str, bytes] = field(default_factory=dict)  # written beside the region file
    extract: OsmBuilder | None = None  # replaces the extract (fetch then runs first)
    damage: Callable[[Path], None] | None = None  # breaks something under the root
    before: tuple[str, ...] = ()  # stages that succeed first, in-process
    args: tuple[str, ...] | None = None  # instead of --config <region file>
    read_only: bool = False  # run without root's power to ignore permissions


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _flip_tail(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) - 60, len(data) - 20):  # inside the last compressed data blob
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def _corrupt_network_indices(path: Path) -> None:
    """A network.npz that still unzips but whose edges point past the nodes."""
    import numpy as np

    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["edge_v"] = arrays["edge_v"] + len(arrays["node_xy"])
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


def _processed(root: Path) -> Path:
    return root / "data_processed" / "testland"


def _make_read_only(root: Path) -> None:
    _processed(root).chmod(0o555)


def _block_with_file(root: Path) -> None:
    shutil.rmtree(_processed(root))
    _processed(root).write_text("a file where the results folder should be\n", encoding="utf-8")


def _logs_read_only(root: Path) -> None:
    (root / "logs" / "testland").mkdir(parents=True, exist_ok=True)
    (root / "logs" / "testland").chmod(0o555)


CASES = [
    # --- region files ---------------------------------------------------------------------
    Case(
        "key-typo",
        "check",
        ("unknown key 'dispaly_name'", "did you mean 'display_name'?"),
        region=_edit(("display_name =", "dispaly_name =")),
    ),
    Case(
        "nested-key-typo",
        "fetch",
        ("unknown key 'thresholds.gap_mins'", "did you mean 'gap_min'?"),
        region=_edit(("gap_min = 15", "gap_mins = 15")),
    ),
    Case(
        "key-in-wrong-section",
        "check",
        ("unknown key 'boundary.settlement_places'", "allowed:"),
        region=_edit(
            ("district_admin_level = 6", 'district_admin_level = 6\nsettlement_places = ["town"]')
        ),
    ),
    Case(
        "text-for-number",
        "catchments",
        ("thresholds.gap_min = 'fifteen' is invalid", "valid number"),
        region=_edit(("gap_min = 15", 'gap_min = "fifteen"')),
    ),
    Case(
        "number-for-list",
        "check",
        ("thresholds.bands_min = 10 is invalid", "valid list"),
        region=_edit(("bands_min = [5, 10, 20]", "bands_min = 10")),
    ),
    Case(
        "negative-threshold",
        "check",
        ("thresholds.gap_min = -15 is invalid", "greater than 0"),
        region=_edit(("gap_min = 15", "gap_min = -15")),
    ),
    Case(
        "infinite-threshold",
        "check",
        ("thresholds.gap_min = inf is invalid", "finite number"),
        region=_edit(("gap_min = 15", "gap_min = inf")),
    ),
    Case(
        "unordered-bands",
        "check",
        ("thresholds.bands_min = [10, 5, 20] is invalid", "must be strictly ascending"),
        region=_edit(("bands_min = [5, 10, 20]", "bands_min = [10, 5, 20]")),
    ),
    Case(
        "unordered-core-zones",
        "check",
        ("cores.zone_min = [20, 10] is invalid", "must be strictly ascending"),
        region=_edit(("zone_min = [10, 20]", "zone_min = [20, 10]")),
    ),
    Case(
        "unknown-crs",
        "check",
        ("crs = 'EPSG:999999' is invalid", "not a CRS pyproj knows", "try 'EPSG:3576'"),
        region=_edit(('crs = "EPSG:32637"', 'crs = "EPSG:999999"')),
    ),
    Case(
        "geographic-crs",
        "check",
        ("crs = 'EPSG:4326' is invalid", "not projected", "give a metric CRS"),
        region=_edit(('crs = "EPSG:32637"', 'crs = "EPSG:4326"')),
    ),
    Case(
        "misspelt-road-class",
        "check",
        (
            "network.speeds_kph",
            "'primery' is not an OSM highway=* value",
            "did you mean 'primary'?",
        ),
        region=_edit(("snap_max_m = 1000", "snap_max_m = 1000\nspeeds_kph = { primery = 100 }")),
    ),
    Case(
        "inverted-admin-levels",
        "check",
        ("district_admin_level (4) must be greater than admin_level (4)",),
        region=_edit(("district_admin_level = 6", "district_admin_level = 4")),
    ),
    Case(
        "not-toml",
        "check",
        ("not valid TOML", "line 22", "fix the syntax"),
        region=_edit(("gap_min = 15", "gap_min = 15,")),
    ),
    Case("region-file-in-cp1251", "check", ("not UTF-8 text", "save the region file as UTF-8")),
    Case(
        "region-name-escapes",
        "check",
        ("name = '../../etc' is invalid", "it names output folders"),
        region=_edit(('name = "testland"', 'name = "../../etc"')),
    ),
    Case(
        "region-argument-escapes",
        "fetch",
        ("unknown region '../../etc'", "available: andorra"),
        args=("--region", "../../etc"),
    ),
    Case(
        "region-file-missing",
        "fetch",
        ("region file", "nowhere.toml' not found", "give the path of a .toml file"),
        args=("--config", "nowhere.toml"),
    ),
    Case(
        "no-anchors-section",
        "check",
        ("missing required key 'anchors'", "add it to the region file"),
        region=_edit(('[anchors]\nnames = ["Alpha", "Gamma"]\n', "")),
    ),
    Case(
        "two-ways-to-give-anchors",
        "check",
        ("give exactly one of anchors.names, anchors.csv or anchors.rule (got names, csv)",),
        region=_edit(('names = ["Alpha", "Gamma"]', 'names = ["Alpha"]\ncsv = "a.csv"')),
    ),
    # --- anchor lists -----------------------------------------------------------------------
    Case(
        "anchor-name-typo",
        "catchments",
        ("anchor 'Gama' matches no settlement", "closest: Gamma", "fix the name"),
        region=_edit(('"Gamma"]', '"Gama"]')),
    ),
    Case(
        "anchor-outside-region",
        "catchments",
        ("anchor 'Outsideville' matches no settlement of the region", "fix the name"),
        region=_edit(('"Gamma"]', '"Outsideville"]')),
    ),
    Case(
        "duplicate-anchor-names",
        "catchments",
        ("anchor 'gamma' is listed twice", "remove the duplicate from the region file"),
        region=_edit(('"Gamma"]', '"Gamma", "gamma"]')),
    ),
    Case(
        "one-anchor-under-two-names",
        "catchments",
        ("anchor 'Delta' and 'Дельта' are the same settlement", "remove the duplicate"),
        region=_edit(('"Gamma"]', '"Дельта", "Delta"]')),
    ),
    Case(
        "core-name-typo",
        "catchments",
        ("core 'Alfa' matches no settlement", "closest: Alpha"),
        region=_edit(('names = ["Alpha"]\nzone', 'names = ["Alfa"]\nzone')),
    ),
    Case(
        "csv-wrong-header-utf8",
        "catchments",
        (CSV, "needs a column 'name' or 'osm_id' (found: town)", "rename the header"),
        **_csv(b"town\nAlpha\n"),
    ),
    Case(
        "csv-wrong-header-cp1251",
        "catchments",
        (CSV, "(found: название)", "rename the header"),
        **_csv("название\nAlpha\n".encode("cp1251")),
    ),
    Case(
        "csv-name-typo-cp1251",
        "catchments",
        ("anchor 'Делта' matches no settlement", "closest: Дельта", CSV),
        **_csv("name\nAlpha\nДелта\n".encode("cp1251")),
    ),
    Case(
        "csv-name-typo-utf8",
        "catchments",
        ("anchor 'Делта' matches no settlement", "closest: Дельта", CSV),
        **_csv("name\nAlpha\nДелта\n".encode()),
    ),
    Case(
        "csv-duplicate-names-cp1251",
        "catchments",
        ("anchor 'Дельта' is listed twice", "remove the duplicate from", CSV),
        **_csv("name\nДельта\nAlpha\nДельта\n".encode("cp1251")),
    ),
    Case(  # Excel's "Unicode text": UTF-16, tab-separated; read like any other encoding
        "csv-name-typo-utf16",
        "catchments",
        ("anchor 'Делта' matches no settlement", "closest: Дельта", CSV),
        **_csv("name\tdistrict\nAlpha\tWest\nДелта\t\n".encode("utf-16")),
    ),
    Case(
        "csv-empty-file",
        "catchments",
        (CSV, "the file is empty", "one anchor per line"),
        **_csv(b""),
    ),
    Case(
        "csv-header-only",
        "catchments",
        (CSV, "lists no anchors", "add one anchor per line"),
        **_csv(b"name\n"),
    ),
    Case(
        "csv-osm-id-not-a-number",
        "catchments",
        (CSV, "osm_id '12x' is not a number", "fix that row"),
        **_csv(b"osm_id\n12x\n"),
    ),
    Case(
        "csv-osm-id-unknown",
        "catchments",
        (CSV, "osm_id 999999 is not a settlement of the region", "fix the CSV"),
        **_csv(b"osm_id\n999999\n"),
    ),
    Case(
        "csv-missing",
        "catchments",
        (CSV, "not found", "fix the path in the region file"),
        region=_edit(CSV_ANCHORS),
    ),
    # --- extracts ---------------------------------------------------------------------------
    Case(
        "extract-missing",
        "fetch",
        ("source.local_pbf = 'нет файла.osm.pbf' not found", "put the .osm.pbf there"),
        region=_edit((f'local_pbf = "{PBF}"', 'local_pbf = "нет файла.osm.pbf"')),
    ),
    Case(
        "extract-empty-file",
        "fetch",
        (PBF, "is not an OSM PBF file (only 0 bytes long)", "download the extract again"),
        files={PBF: b""},
    ),
    Case(
        "extract-is-an-html-page",
        "fetch",
        (PBF, "HTML error page", "download the extract again"),
        files={PBF: b"<html><body>502 Bad Gateway</body></html>\n" * 20},
    ),
    Case(
        "extract-checksum-mismatch",
        "fetch",
        (PBF, "but source.sha256 in", "update source.sha256"),
        region=_edit((f'local_pbf = "{PBF}"', f'local_pbf = "{PBF}"\nsha256 = "{"0" * 64}"')),
    ),
    Case(
        "extract-truncated",
        "extract",
        (PBF, "cannot read the OSM extract", "truncated or corrupt", "run `make fetch` again"),
        extract=synthetic_region(),
        damage=lambda root: _truncate(root / REGION_DIR / PBF),
    ),
    Case(
        "extract-corrupt",
        "extract",
        (PBF, "cannot read the OSM extract", "truncated or corrupt"),
        extract=synthetic_region(),
        damage=lambda root: _flip_tail(root / REGION_DIR / PBF),
    ),
    Case(
        "extract-without-objects",
        "extract",
        (PBF, "no boundary relation 900", "does not cover Testland", "check boundary.relation_id"),
        extract=OsmBuilder(),
    ),
    Case(
        "extract-of-another-area",
        "extract",
        (PBF, "no boundary relation 900", "does not cover Testland"),
        extract=synthetic_region(relation=777),
    ),
    Case(
        "region-without-roads",
        "extract",
        (PBF, "no roads in Testland", "point at an extract that covers the region"),
        extract=synthetic_region(roads=False),
    ),
    Case(
        "region-without-settlements",
        "extract",
        (PBF, "no settlements", "in Testland", "check settlement_places"),
        extract=synthetic_region(places=False),
    ),
    Case(
        "region-without-driveable-roads",
        "network",
        ("osm.gpkg: no driveable roads in Testland", "check the extract"),
        extract=synthetic_region(footways=True),
        before=("extract",),
    ),
    # --- the file system --------------------------------------------------------------------
    Case(
        "read-only-output-folder",
        "extract",
        ("cannot write", "data_processed/testland", "Permission denied", "writable"),
        damage=_make_read_only,
        read_only=True,
    ),
    Case(
        "file-where-output-folder-should-be",
        "extract",
        ("cannot write", "data_processed/testland", "writable"),
        damage=_block_with_file,
    ),
    Case(
        "read-only-log-folder",
        "network",
        ("cannot write the log", "logs/testland/network.log", "Permission denied"),
        damage=_logs_read_only,
        read_only=True,
    ),
    Case(
        "earlier-stage-not-run",
        "network",
        ("osm.gpkg not found", "run the earlier stages first"),
        damage=lambda root: (_processed(root) / "osm.gpkg").unlink(),
    ),
    Case(
        "earlier-result-damaged",
        "network",
        ("osm.gpkg is damaged", "delete it and run `make` again"),
        damage=lambda root: _truncate(_processed(root) / "osm.gpkg"),
    ),
    Case(
        "network-file-damaged",
        "catchments",
        ("network.npz is damaged", "delete it and run `make` again"),
        damage=lambda root: _truncate(_processed(root) / "network.npz"),
    ),
    Case(
        "sources-record-damaged",
        "extract",
        ("SOURCES.json is damaged", "delete it and run `make fetch` again"),
        damage=lambda root: (root / "data_raw/testland/SOURCES.json").write_text("{oops"),
    ),
    # --- keys of the exact travel rule, the northern road model, the border (issue 11) ------
    Case(
        "removed-k-nearest",
        "check",
        ("surface.k_nearest is no longer a setting", "every road point", "delete the key"),
        region=_edit(("cell_m = 500", "cell_m = 500\nk_nearest = 16")),
    ),
    Case(
        "misspelt-untagged-surface",
        "check",
        ("network.untagged_surface = 'unpavd' is invalid", "did you mean 'unpaved'?"),
        region=_edit(("snap_max_m = 1000", 'snap_max_m = 1000\nuntagged_surface = "unpavd"')),
    ),
    Case(
        "beyond-border-not-a-boolean",
        "check",
        ("anchors.beyond_border = 'sometimes' is invalid", "boolean"),
        region=_edit(
            (
                'names = ["Alpha", "Gamma"]',
                'names = ["Alpha", "Gamma"]\nbeyond_border = "sometimes"',
            )
        ),
    ),
    Case(
        "negative-service-reach",
        "check",
        ("services.reach_m.town = -1 is invalid", "greater than 0"),
        region=_edit(("[surface]", "[services]\nreach_m = { town = -1 }\n\n[surface]")),
    ),
    Case(
        "web-mercator-crs",
        "extract",
        ("crs = 'EPSG:3857' stretches distances by", "use a UTM zone", "EPSG:32637"),
        region=_edit(('crs = "EPSG:32637"', 'crs = "EPSG:3857"')),
    ),
    Case(
        "census-table-missing",
        "extract",
        ("settlement table", "not found", "fix the path"),
        region=_edit(("[surface]", '[census]\ntable = "перепись.csv"\n\n[surface]')),
    ),
    Case(
        "network-file-stale",
        "catchments",
        ("network.npz is damaged or out of date", "edge ends", "rebuild it"),
        damage=lambda root: _corrupt_network_indices(root / "data_processed/testland/network.npz"),
    ),
]
assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)

# --- running them ---------------------------------------------------------------------------

_SETPRIV = shutil.which("setpriv")
# Root ignores file permissions (CAP_DAC_OVERRIDE). To meet a read-only folder as an office
# user would, the stage runs as root *without* that power: setpriv drops it from the bounding
# set before exec, so the kernel checks the folder's mode bits (0555) as for anyone else.
_AS_USER = [_SETPRIV, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@dataclass
class Outcome:
    returncode: int
    stderr: str
    before: dict[str, str]  # relative path -> sha256, every file but logs, before the run
    after: dict[str, str]


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "logs"
    }


def _prepare(case: Case, base: Path, root: Path) -> list[str]:
    """Copy the complete earlier run, apply the case; return the arguments of the stage."""
    shutil.copytree(base, root, symlinks=True)
    folder = root / REGION_DIR
    region_file = folder / "testland.toml"
    text = case.region(REGION)
    if case.id == "region-file-in-cp1251":
        region_file.write_bytes(text.replace("Testland", "Тестовая область").encode("cp1251"))
    else:
        region_file.write_text(text, encoding="utf-8")
    for name, content in case.files.items():
        (folder / name).write_bytes(content)
    if case.extract is not None:
        case.extract.write(folder / PBF)
        cfg = load_region(config=region_file)
        paths = region_paths(cfg, root=root)
        for stage in ("fetch", *case.before):
            getattr(stages, f"run_{stage}")(cfg, paths)
    if case.damage is not None:
        case.damage(root)
    return [case.stage, *(case.args or ("--config", str(region_file))), "--quiet"]


def _run(case: Case, argv: list[str], root: Path) -> Outcome:
    before = _snapshot(root)
    stderr_path = root.parent / "stderr.txt"
    if case.read_only and os.geteuid() == 0:
        with stderr_path.open("w", encoding="utf-8") as err:
            command = [*_AS_USER, sys.executable, "-m", "pipeline", *argv]
            env = {**os.environ, "PIPELINE_ROOT": str(root)}
            code = subprocess.run(
                command, cwd=PROJECT, env=env, stderr=err, timeout=300, check=False
            ).returncode
    else:  # its own process too, forked from one that has imported the pipeline already
        code = forked_cli.run(argv, root, stderr_path)
    return Outcome(code, stderr_path.read_text(encoding="utf-8"), before, _snapshot(root))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A project root holding a complete earlier run of Testland (every stage)."""
    root = tmp_path_factory.mktemp("bad-inputs") / "корень проекта"
    folder = root / REGION_DIR
    folder.mkdir(parents=True)
    synthetic_region().write(folder / PBF)
    (folder / "testland.toml").write_text(REGION, encoding="utf-8")
    cfg = load_region(config=folder / "testland.toml")
    paths = region_paths(cfg, root=root)
    for stage in ("fetch", "extract", "network", "catchments", "maps"):
        getattr(stages, f"run_{stage}")(cfg, paths)
    return root


@pytest.fixture(scope="module")
def outcomes(base, tmp_path_factory) -> dict[str, Outcome]:
    """Every case, prepared one by one, run as subprocesses in parallel."""
    jobs = {}
    for case in CASES:
        if case.read_only and os.geteuid() == 0 and _SETPRIV is None:
            continue  # the test of that case skips
        root = tmp_path_factory.mktemp("case") / f"корень {case.id}"
        jobs[case.id] = (case, _prepare(case, base, root), root)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {key: pool.submit(_run, *job) for key, job in jobs.items()}
        results = {key: future.result() for key, future in futures.items()}
    for _, _, root in jobs.values():  # let pytest clean up the read-only folders
        for folder in (_processed(root), root / "logs" / "testland"):
            if folder.is_dir():
                folder.chmod(0o755)
    return results


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_line_and_keeps_earlier_results(case: Case, outcomes) -> None:
    if case.id not in outcomes:
        pytest.skip("running as root without setpriv: cannot make a folder read-only for root")
    outcome = outcomes[case.id]
    assert outcome.returncode != 0, outcome.stderr
    assert "Traceback" not in outcome.stderr, outcome.stderr
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, outcome.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for fragment in case.expect:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    # Earlier results untouched, and nothing new (no .tmp-* left behind) outside logs/.
    assert outcome.after == outcome.before


def test_base_run_is_complete(base) -> None:
    """The earlier run the cases start from has every result (so 'untouched' means something)."""
    processed = _processed(base)
    for name in ("osm.gpkg", "network.npz", "testland.gpkg", "travel_time.tif", "summary.json"):
        assert (processed / name).stat().st_size > 0, name
    assert (base / "maps" / "testland" / "index.html").stat().st_size > 0
