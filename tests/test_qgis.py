"""QGIS deliverables: default styles inside the GeoPackage and the .qgz project, checked by our
own XML reading and then in real, headless QGIS (Debian's python3-qgis on /usr/bin/python3)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import pyogrio
import pytest

from pipeline.config import load_region
from pipeline.outputs.qgis import LayerStyle, layer_styles, project_xml
from tests.helpers.deliverables import distinct_colours, keep_screenshot, require

pytestmark = pytest.mark.integration

SYSTEM_PYTHON = "/usr/bin/python3"
PROBE = Path(__file__).parent / "helpers" / "qgis_probe.py"
# The renderer each layer must get (QGIS's names for them).
RENDERERS = {
    "settlements": "RuleRenderer",  # bands up to the gap threshold, gap, unreachable
    "anchors": "RuleRenderer",  # cores ◆, other anchors ★
    "catchments": "categorizedSymbol",  # by anchor
    "isochrones": "graduatedSymbol",  # the time ramp
    "gaps": "categorizedSymbol",  # beyond the threshold / no road access
    "agglomeration_zones": "categorizedSymbol",  # inner / outer zone
    "districts": "singleSymbol",  # outlines with labels
    "roads": "RuleRenderer",  # by class
    "services": "singleSymbol",
    "travel_time": "singlebandpseudocolor",
}
LABELLED = {"settlements", "anchors", "districts"}


def _qgis_available() -> bool:
    if not Path(SYSTEM_PYTHON).is_file():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=120, check=False
    )
    return probe.returncode == 0


@pytest.fixture(scope="module")
def qgis() -> str:
    require(_qgis_available(), f"QGIS is not installed ({SYSTEM_PYTHON} cannot import qgis.core)")
    return SYSTEM_PYTHON


def _probe(python: str, project: Path, gpkg: Path, png: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(png.parent))
    done = subprocess.run(
        [python, str(PROBE), str(project), str(gpkg), str(png)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("QGIS-PROBE ")]
    assert lines, f"QGIS probe failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}"
    # Debian's QGIS 3.22 (GDAL 3.6) warns on GeoPackage 1.4 files: we write 1.2.
    assert "partially supported" not in done.stdout + done.stderr, done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("QGIS-PROBE "))


def _layer(layer_id: str) -> str:
    return layer_id.removesuffix("_anchor_access")


def _check_project(seen: dict, gpkg: Path, crs: str) -> None:
    assert seen["read"], "QGIS could not read the project"
    assert seen["crs"] == crs
    assert seen["absolute_paths"] is False
    stored = {name: info for name, info in pyogrio.list_layers(gpkg)}
    expected = {n for n, kind in stored.items() if kind not in (None, "Unknown")}
    layers = {_layer(i): info for i, info in seen["layers"].items()}
    assert set(layers) == expected | {"travel_time"}
    for name, info in layers.items():
        assert info["valid"], name
        assert info["renderer"] == RENDERERS[name], name
        assert info["crs"] == crs, name
        if info["kind"] == "vector":
            assert info["features"] == pyogrio.read_info(gpkg, layer=name)["features"], name
            assert info["unstyled_features"] == 0, f"{name}: features no class draws"
            assert info["labels"] == (name in LABELLED), name
            assert seen["gpkg_defaults"][name] == RENDERERS[name], f"{name}: gpkg default style"
        else:
            assert info["bands"] == 4
    groups = [g for g, layers in seen["tree"] if layers]
    assert len(groups) == 4, groups
    render = seen["render"]
    assert render["errors"] == []
    assert render["distinct_colours"] > 50, "the rendered map looks blank"
    assert _layer(render["visible_layers"][0]) == "anchors"  # drawn on top


def test_andorra_project_opens_in_qgis_from_a_copied_folder(andorra_run, qgis, tmp_path):
    cfg, paths = andorra_run
    # The folder alone, copied elsewhere: every path in the project must be relative.
    moved = tmp_path / "copied elsewhere"
    shutil.copytree(paths.processed, moved)
    project, gpkg = moved / f"{cfg.name}.qgz", moved / f"{cfg.name}.gpkg"
    png = tmp_path / "qgis_andorra.png"
    seen = _probe(qgis, project, gpkg, png)
    _check_project(seen, gpkg, "EPSG:3035")
    layers = {_layer(i): info for i, info in seen["layers"].items()}
    assert str(moved) in layers["settlements"]["source"]
    # each settlement labelled once: anchors by the anchors layer (with their district where
    # two share a name), the others by the settlements layer
    assert layers["settlements"]["label_expression"] == (
        'CASE WHEN "is_anchor" THEN NULL ELSE coalesce("name_en", "name") END'
    )
    assert layers["anchors"]["label_expression"] == '"label"'
    for name in ("settlements", "anchors"):  # around the symbol, never over another label
        assert layers[name]["label_placement"] == 6, name
        assert layers[name]["label_display_all"] is False, name
    assert "gap (> 20 min)" in layers["settlements"]["legend"]
    assert seen["title"] == cfg.display_name and seen["abstract"] == ""
    assert distinct_colours(png) > 50
    keep_screenshot(png, "qgis_andorra")


def test_vologda_project_opens_in_qgis_in_russian(vologda_run, qgis, tmp_path):
    cfg, paths = vologda_run
    gpkg = paths.gpkg(cfg.name)
    seen = _probe(qgis, paths.qgis_project(cfg.name), gpkg, tmp_path / "qgis_vologda.png")
    _check_project(seen, gpkg, "EPSG:32637")
    layers = {_layer(i): info for i, info in seen["layers"].items()}
    assert "roads" not in layers  # empty without geometry in the straight-line model
    assert layers["settlements"]["label_expression"] == (
        'CASE WHEN "is_anchor" THEN NULL ELSE coalesce("name_ru", "name") END'
    )
    assert "вне зоны (> 60 мин)" in layers["settlements"]["legend"]
    assert "недоступен" in layers["settlements"]["legend"]
    assert "покинутый (0 жителей)" in layers["settlements"]["legend"]
    tree = dict(seen["tree"])
    assert "Доступность" in tree
    # an approximate run says so: in the title, first in the layer tree, and in the metadata
    assert "ПРИБЛИЖЁННЫЕ" in seen["title"]
    assert seen["tree"][0][0].startswith("⚠ ПРИБЛИЖЁННЫЕ")
    assert seen["abstract"].startswith("ПРИБЛИЖЁННЫЕ")


# --- without QGIS: what our XML says -------------------------------------------------------


def test_styles_are_stored_as_layer_defaults(andorra_run):
    cfg, paths = andorra_run
    table = pyogrio.read_dataframe(paths.gpkg(cfg.name), layer="layer_styles")
    assert sorted(table["f_table_name"]) == sorted(
        n for n, _ in pyogrio.list_layers(paths.gpkg(cfg.name)) if n != "layer_styles"
    )
    assert table["useAsDefault"].all()
    for qml in table["styleQML"]:
        assert ET.fromstring(qml.split("\n", 1)[1]).tag == "qgis"


def test_project_sources_are_relative(andorra_run):
    cfg, paths = andorra_run
    with zipfile.ZipFile(paths.qgis_project(cfg.name)) as zf:
        assert zf.namelist() == [f"{cfg.name}.qgs"]
        root = ET.fromstring(zf.read(f"{cfg.name}.qgs").decode("utf-8").split("\n", 1)[1])
    sources = [e.text for e in root.iter("datasource")]
    assert sources and all(s.startswith("./") for s in sources)
    assert root.find("properties/Paths/Absolute").text == "false"
    assert paths.travel_time_tif.with_suffix(".qml").is_file()


def test_osm_names_are_escaped_in_qml_and_project():
    cfg = load_region("andorra")
    evil = '<script>alert(1)</script> & "quotes"\x07'
    catchments = gpd.GeoDataFrame(
        {"anchor_id": [0], "anchor_name": [evil], "area_km2": [1.0]},
        geometry=gpd.GeoSeries.from_wkt(["POLYGON ((0 0, 1 0, 1 1, 0 0))"]),
        crs=3035,
    )
    style = layer_styles(cfg, {"catchments": catchments})["catchments"]
    qml = style.qml()
    assert "<script>" not in qml
    category = ET.fromstring(qml.split("\n", 1)[1]).find(".//category")
    assert category.get("label") == evil.replace("\x07", "")  # XML cannot hold \x07
    assert category.get("value") == "0"  # catchments are told apart by anchor_id
    # as the QGIS stage gets it: the style read back from the QML stored in the GeoPackage
    read_back = LayerStyle.from_qml("catchments", qml)
    assert read_back.qml() == qml
    assert (read_back.renderer, read_back.labels) == (style.renderer, style.labels)
    layers = {"catchments": ("Polygon", read_back)}
    xml = project_xml(cfg, "x.gpkg", layers, catchments.crs, (0, 0, 1, 1))
    assert "<script>" not in xml
    ET.fromstring(xml.split("\n", 1)[1])  # well-formed


def test_probe_runs_on_system_python_not_the_venv():
    # The probe must use only the standard library and PyQGIS: no project imports.
    text = PROBE.read_text(encoding="utf-8")
    assert "pipeline" not in text and "geopandas" not in text
