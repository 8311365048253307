"""The GeoPackage catalogue (pipeline.outputs.gpkg_catalogue) against GDAL and geopandas reading
the same files: the layers and their order, geometry kinds, extents, CRS, dataset metadata and
the stored default styles, which the QGIS stage uses instead of reading any feature."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import CRS

from pipeline.errors import InputDataError
from pipeline.outputs.export import read_layer, write_gpkg
from pipeline.outputs.gpkg_catalogue import read_catalogue
from pipeline.outputs.qgis import layer_styles

# how GDAL names a layer's geometry type -> the kind the project gives QGIS
GDAL_KINDS = {
    "Point": "Point",
    "MultiPoint": "Point",
    "LineString": "Line",
    "MultiLineString": "Line",
    "Polygon": "Polygon",
    "MultiPolygon": "Polygon",
}


def _against_gdal(gpkg):
    catalogue = read_catalogue(gpkg)
    listed = [(n, t) for n, t in pyogrio.list_layers(gpkg) if n != "layer_styles"]
    assert list(catalogue.layers) == [n for n, _ in listed]
    for name, gdal_type in listed:
        stored = catalogue.layers[name]
        frame = gpd.read_file(gpkg, layer=name)
        assert stored.kind == GDAL_KINDS.get(gdal_type, "Unknown"), name
        if frame.geometry.notna().any():
            assert {GDAL_KINDS[t] for t in frame.geom_type.dropna()} == {stored.kind}, name
            np.testing.assert_allclose(stored.extent, frame.total_bounds, rtol=0, atol=1e-9)
        else:
            assert stored.extent is None, name
        assert CRS.from_wkt(stored.crs_wkt).equals(frame.crs), name
    first = pyogrio.list_layers(gpkg)[0][0]
    assert catalogue.metadata == pyogrio.read_info(gpkg, layer=first)["dataset_metadata"]
    return catalogue


@pytest.mark.integration
@pytest.mark.parametrize("run", ["andorra_run", "vologda_run"])
def test_result_geopackages_read_as_gdal_reads_them(run, request):
    cfg, paths = request.getfixturevalue(run)
    gpkg = paths.gpkg(cfg.name)
    catalogue = _against_gdal(gpkg)
    assert catalogue.metadata["approximate"] == ("yes" if run == "vologda_run" else "no")
    # The styles the catchments stage stored are those the layers as read back would get: the
    # QGIS project made from them is the one the frames would make.
    frames = {name: read_layer(gpkg, name) for name in catalogue.layers}
    expected = {name: style.qml() for name, style in layer_styles(cfg, frames).items()}
    assert catalogue.styles == expected


def test_layers_of_every_kind_metadata_and_an_awkward_path(tmp_path):
    folder = tmp_path / "папка с пробелом #1?"
    folder.mkdir()
    gpkg = folder / "слои.gpkg"
    square = shapely.box(0, 0, 10, 5)
    layers = {
        "polygons": gpd.GeoDataFrame(
            {"v": [1, 2]},
            geometry=[square, shapely.MultiPolygon([shapely.box(20, 20, 30, 40), square])],
            crs=3576,
        ),
        "lines": gpd.GeoDataFrame(
            {"v": [1]}, geometry=[shapely.LineString([(-5, 1), (7, -3)])], crs=3576
        ),
        "empty_untyped": gpd.GeoDataFrame({"v": np.zeros(0, int)}, geometry=[], crs=3576),
        "degrees": gpd.GeoDataFrame({"v": [3]}, geometry=[shapely.Point(39.9, 59.2)], crs=4326),
    }
    metadata = {"region": 'Вологодская <область> & "ко"', "approximate": "no", "empty": ""}
    write_gpkg(gpkg, layers, metadata, styles={"polygons": "<qgis/>", "lines": "<qgis a='1'/>"})
    catalogue = _against_gdal(gpkg)
    assert catalogue.metadata == {k: v for k, v in metadata.items() if v}  # as GDAL reads it
    assert catalogue.styles == {"polygons": "<qgis/>", "lines": "<qgis a='1'/>"}
    assert catalogue.layers["polygons"].extent == (0.0, 0.0, 30.0, 40.0)  # by hand
    assert catalogue.layers["lines"].extent == (-5.0, -3.0, 7.0, 1.0)
    assert catalogue.layers["empty_untyped"].kind == "Unknown"
    assert catalogue.layers["degrees"].crs_wkt != catalogue.layers["lines"].crs_wkt


def test_a_missing_file_is_not_created(tmp_path):
    gpkg = tmp_path / "none.gpkg"
    with pytest.raises(InputDataError, match="not found; run the earlier stages first"):
        read_catalogue(gpkg)
    assert not gpkg.exists()


@pytest.mark.parametrize("content", [b"", b"not a geopackage at all" * 100])
def test_a_file_that_is_no_geopackage_is_damaged(tmp_path, content):
    gpkg = tmp_path / "bad.gpkg"
    gpkg.write_bytes(content)
    with pytest.raises(InputDataError, match=r"is damaged .*delete it and run `make` again"):
        read_catalogue(gpkg)
    assert gpkg.read_bytes() == content


def test_the_qgis_stage_names_a_layer_without_a_stored_style(tmp_path):
    from pipeline._io import region_paths
    from pipeline.config import load_region
    from pipeline.stages import run_qgis

    cfg = load_region("andorra")
    paths = region_paths(cfg, root=tmp_path)
    gpkg = paths.gpkg(cfg.name)
    gpkg.parent.mkdir(parents=True)
    districts = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=3035)
    write_gpkg(gpkg, {"districts": districts}, {"approximate": "no"})  # no styles
    with pytest.raises(InputDataError, match="no default style for districts"):
        run_qgis(cfg, paths)
    assert not paths.qgis_project(cfg.name).exists()


def test_a_geopackage_is_flushed_to_disk_once_before_it_is_renamed(tmp_path, monkeypatch):
    import os

    from pipeline.errors import OutputError
    from pipeline.outputs import export

    flushed, real_fsync = [], os.fsync

    def fsync(fd):
        flushed.append((str(Path(f"/proc/self/fd/{fd}").readlink()), target.exists()))
        real_fsync(fd)

    monkeypatch.setattr(export.os, "fsync", fsync)
    option = "OGR_SQLITE_SYNCHRONOUS"
    before = pyogrio.get_gdal_config_option(option)
    target = tmp_path / "out.gpkg"
    frame = gpd.GeoDataFrame({"v": [1]}, geometry=[shapely.Point(1, 2)], crs=3576)
    write_gpkg(target, {"a": frame, "b": frame}, {"region": "x"})
    assert len(flushed) == 1  # once, for the whole file
    name, target_existed = flushed[0]
    assert name != str(target) and Path(name).parent == tmp_path  # the temporary file
    assert not target_existed  # before the rename
    assert pyogrio.get_gdal_config_option(option) == before  # SQLite's own setting is back
    assert read_catalogue(target).layers.keys() == {"a", "b"}
    # a write that fails: nothing flushed, nothing renamed, the setting restored all the same
    flushed.clear()
    real_write = pyogrio.write_dataframe

    def disk_full_at_b(frame, path, layer, **kwargs):
        if layer == "b":
            raise OSError("No space left on device")
        real_write(frame, path, layer=layer, **kwargs)

    monkeypatch.setattr(export.pyogrio, "write_dataframe", disk_full_at_b)
    with pytest.raises(OutputError, match="No space left"):
        write_gpkg(target, {"a": frame, "b": frame}, {})
    assert flushed == [] and pyogrio.get_gdal_config_option(option) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]  # no temporary file left
    assert read_catalogue(target).layers.keys() == {"a", "b"}


def test_a_geopackage_cut_short_anywhere_is_damaged(tmp_path):
    # The catalogue's tables are a small part of the file; a copy cut short (a full disk, an
    # interrupted transfer) must not pass for a whole GeoPackage.
    gpkg = tmp_path / "cut.gpkg"
    xy = np.random.default_rng(0).random((20_000, 2))
    frame = gpd.GeoDataFrame({"v": np.arange(len(xy))}, geometry=shapely.points(xy), crs=3576)
    write_gpkg(gpkg, {"points": frame}, {"region": "x"})
    whole = gpkg.read_bytes()
    for keep in (len(whole) - 4096, len(whole) * 9 // 10, len(whole) // 2, 4096):
        gpkg.write_bytes(whole[:keep])
        with pytest.raises(InputDataError, match="is damaged"):
            read_catalogue(gpkg)
