"""Untrusted data: region files are data, output paths stay in the data folders, OSM text is
escaped wherever it reaches HTML or QGIS XML.

Downloads (size limits, content type, the PBF header checked before use) are tested in
tests/test_fetch.py: `test_download_too_large_*`, `test_download_rejects_text_content_type`,
`test_download_rejects_non_pbf_bytes`, `test_check_pbf_header_rejects`.
"""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import stages
from pipeline._io import region_paths
from pipeline.config import load_region
from pipeline.errors import ConfigError
from tests.helpers import forked_cli
from tests.helpers.osm_builder import OsmBuilder

PROJECT = Path(__file__).resolve().parent.parent

# --- the code never evaluates data ----------------------------------------------------------

# Calls that could run code or commands taken from a file, a name or a download.
FORBIDDEN = {
    r"\beval\(": "eval",
    r"\bexec\(": "exec",
    r"\b__import__\(": "__import__",
    r"\bpickle\b|\bshelve\b|\bmarshal\b|\bdill\b": "unpickling",
    r"allow_pickle\s*=\s*True": "np.load(allow_pickle=True)",
    r"shell\s*=\s*True": "a shell command line",
    r"\bos\.system\(|\bos\.popen\(": "a shell command line",
    r"yaml\.(unsafe_)?load\(": "YAML with tags",
    r"\bjsonpickle\b": "unpickling",
}


def test_pipeline_code_never_evaluates_data() -> None:
    sources = sorted((PROJECT / "pipeline").rglob("*.py"))
    assert len(sources) > 10
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for pattern, what in FORBIDDEN.items():
            assert not re.search(pattern, text), f"{path.name} uses {what}"


class _Planted:
    """Unpickling this writes a file: the proof that a loader ran code from the data."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def test_a_network_file_with_pickled_objects_is_refused_unread(tmp_path) -> None:
    """network.npz is read by the pipeline's own reader: an array of Python objects (which
    np.load would unpickle with allow_pickle=True) is a damaged file, and never unpickled."""
    import numpy as np

    from pipeline.errors import InputDataError
    from pipeline.stages._common import load_network

    marker = tmp_path / "PWNED"
    path = tmp_path / "network.npz"
    planted = np.empty(1, dtype=object)
    planted[0] = _Planted(marker)
    np.savez(path, mode=np.array("road"), node_xy=planted)
    with pytest.raises(InputDataError, match="damaged"):
        load_network(path)
    assert not marker.exists()


def test_region_file_strings_stay_strings(tmp_path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "codeland.toml"
    path.write_text(
        'name = "codeland"\n'
        f"display_name = \"__import__('os').system('touch {marker}') {{0.__class__}} %s $(touch {marker})\"\n"
        "[anchors]\n"
        f"names = [\"{{__import__('os').system('touch {marker}')}}\"]\n",
        encoding="utf-8",
    )
    cfg = load_region(config=path)
    assert cfg.display_name.startswith("__import__('os').system(")
    assert cfg.anchors.names[0].startswith("{__import__")
    assert not marker.exists()


# --- output paths stay inside the data folders ----------------------------------------------

ESCAPES = ["../../etc", "..", "/etc/passwd", "a/../../b", "..\\..\\windows", "andorra/..", "~root"]


@pytest.mark.parametrize("name", ESCAPES)
def test_region_names_that_escape_are_refused(name, tmp_path) -> None:
    with pytest.raises(ConfigError):
        load_region(name)  # as `--region NAME` / `make region=NAME`
    path = tmp_path / "escape.toml"
    path.write_text(
        f'name = "{name.replace(chr(92), chr(92) * 2)}"\ndisplay_name = "x"\n'
        '[anchors]\nnames = ["A"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="it names output folders"):
        load_region(config=path)  # as `name = ...` inside a region file


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True))
def test_every_accepted_region_name_stays_inside_the_root(name) -> None:
    root = Path("/data/root")
    path = Path("/data/cfg") / f"{name}.toml"
    from pipeline.config import RegionConfig

    cfg = RegionConfig.model_validate(
        {"name": name, "display_name": "x", "anchors": {"names": ["A"]}, "region_file": path}
    )
    paths = region_paths(cfg, root=root)
    for folder in (paths.raw, paths.processed, paths.maps, paths.logs):
        assert folder.resolve().parent.parent == root  # root/<kind>/<name>, nothing else
        assert folder.name == name


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--region", "../../etc"], "unknown region '../../etc'"),
        (["--region", "andorra", "--scenario", "../../../etc"], "unknown scenario '../../../etc'"),
        (["--region", "andorra", "--season", "../winter"], "unknown season '../winter'"),
    ],
    ids=["region", "scenario", "season"],
)
def test_command_line_names_cannot_escape(args, expected, tmp_path) -> None:
    stderr = tmp_path / "stderr.txt"
    code = forked_cli.run(["catchments", *args, "--quiet"], tmp_path / "root", stderr)
    lines = stderr.read_text(encoding="utf-8").splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").rglob("*.gpkg"))


# --- OSM text in HTML and QGIS XML ------------------------------------------------------------

# Names a mapper (or a vandal) can put in OSM. Each would run script, break out of an HTML
# attribute or a <script> element, or break the QGIS project's XML, if written unescaped.
TOWN = "<script>alert('anchor-access')</script>"
VILLAGE = "\" onmouseover=\"alert('anchor-access')"
HAMLET = "</script><script>alert('anchor-access')</script>"
DISTRICT = "\"><img src=x onerror=alert('anchor-access')>"
XML_BREAKER = "]]></qgis><!-- & \" ' {0} %s"
DISPLAY = "<b onclick=\"alert('anchor-access')\">Hostile</b> & Co"
RAW_MARKUP = [
    TOWN,
    VILLAGE,
    HAMLET,
    DISTRICT,
    DISPLAY,
    "<script>alert",
    "<img src=x",
    'onclick="alert',
]


def _hostile_region(folder: Path) -> Path:
    b = OsmBuilder()
    b.admin_boundary((38.90, 59.95, 39.20, 60.10), admin_level=4, name="Hostile", rid=900)
    b.admin_boundary((38.90, 59.95, 39.05, 60.10), admin_level=6, name=DISTRICT)
    b.admin_boundary((39.05, 59.95, 39.20, 60.10), admin_level=6, name=XML_BREAKER)
    town, village, hamlet = (39.00, 60.00), (39.10, 60.00), (39.10, 60.05)
    b.road([town, village], highway="primary", name=TOWN)
    b.road([village, hamlet], highway="tertiary", name=XML_BREAKER)
    b.place(*town, TOWN, place="town", population="5000")
    b.place(*village, VILLAGE, population="300")
    b.place(*hamlet, HAMLET, place="hamlet")
    b.place(38.95, 60.05, XML_BREAKER, place="village")
    b.write(folder / "hostile.osm.pbf")
    region = folder / "hostile.toml"
    toml_display = DISPLAY.replace("\\", "\\\\").replace('"', '\\"')
    toml_town = TOWN.replace('"', '\\"')
    region.write_text(
        f'name = "hostile"\ndisplay_name = "{toml_display}"\ncrs = "EPSG:32637"\n'
        'language = "en"\n'
        '[source]\nlocal_pbf = "hostile.osm.pbf"\n'
        "[boundary]\nrelation_id = 900\nadmin_level = 4\ndistrict_admin_level = 6\n"
        f'[anchors]\nrule = {{ places = ["town"] }}\n[cores]\nnames = ["{toml_town}"]\n'
        "[network]\nsnap_max_m = 1000\n[surface]\ncell_m = 500\n",
        encoding="utf-8",
    )
    return region


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    cfg = load_region(config=_hostile_region(folder))
    assert cfg.display_name == DISPLAY
    paths = region_paths(cfg, root=folder / "root")
    for stage in ("fetch", "extract", "network", "catchments", "maps", "report", "qgis"):
        getattr(stages, f"run_{stage}")(cfg, paths)
    return folder / "root"


def _xml_documents(root: Path) -> dict[str, str]:
    """Every QGIS XML text the run wrote: .qgs (in .qgz), .qml files, styles in GeoPackages."""
    docs: dict[str, str] = {}
    for path in root.rglob("*.qgz"):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith((".qgs", ".qml")):
                    docs[f"{path.name}/{member}"] = archive.read(member).decode("utf-8")
    for path in root.rglob("*.qml"):
        docs[path.name] = path.read_text(encoding="utf-8")
    for path in root.rglob("*.gpkg"):
        with sqlite3.connect(path) as db:
            has_styles = db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'layer_styles'"
            ).fetchone()
            rows = (
                db.execute("SELECT f_table_name, styleQML FROM layer_styles").fetchall()
                if has_styles
                else []
            )
        db.close()
        docs.update({f"{path.name}:{table}": qml for table, qml in rows if qml})
    return docs


def _texts(element: ET.Element):
    """Every attribute value and text of an XML tree, unescaped by the parser."""
    for node in element.iter():
        yield from node.attrib.values()
        if node.text:
            yield node.text


def test_osm_text_is_escaped_in_every_html_page(hostile_run) -> None:
    pages = sorted(hostile_run.rglob("*.html"))
    assert {p.name for p in pages} >= {"index.html", "report.html"}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for raw in RAW_MARKUP:
            assert raw not in text, f"{page.name} has {raw!r} unescaped"
        assert "anchor-access" in text, f"{page.name} lost the names altogether"


def test_osm_text_is_escaped_in_qgis_xml(hostile_run) -> None:
    docs = _xml_documents(hostile_run)
    assert any(name.endswith(".qgs") for name in docs), sorted(docs)
    seen: set[str] = set()
    for name, text in docs.items():
        tree = ET.fromstring(text)  # well-formed: nothing broke out of a value
        seen.update(_texts(tree))
        assert "<script>alert" not in text, name
    # The town (an anchor and the core) names a catchment category: it survives, as text.
    assert any(TOWN in value for value in seen)
