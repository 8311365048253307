"""What a GeoPackage holds, from its own tables, without reading a feature.

A GeoPackage is an SQLite file whose contents are listed in tables the standard defines (OGC
12-128r18): ``gpkg_contents`` (every layer, its extent and CRS), ``gpkg_geometry_columns``
(its geometry type), ``gpkg_spatial_ref_sys`` (the CRS definitions) and ``gpkg_metadata``
with ``gpkg_metadata_reference`` (GDAL keeps the dataset metadata there, as its
``GDALMultiDomainMetadata`` XML). QGIS keeps the layers' default styles in ``layer_styles``.
GDAL updates the extents as it writes (tests/test_gpkg_catalogue.py checks them, and the rest,
against GDAL and geopandas reading the same files).

The QGIS project needs only this, so the QGIS stage reads it with the standard library's
sqlite3 and imports neither GDAL nor pandas (0.5 s per `make`; at the macro-region's size,
reading the layers' geometries took 1.5 s more).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from pipeline.errors import damaged_input, missing_input

__all__ = ["Catalogue", "StoredLayer", "read_catalogue"]

# gpkg_geometry_columns.geometry_type_name -> how QGIS names the kind of layer
_KINDS = {
    "POINT": "Point",
    "MULTIPOINT": "Point",
    "LINESTRING": "Line",
    "MULTILINESTRING": "Line",
    "POLYGON": "Polygon",
    "MULTIPOLYGON": "Polygon",
}


@dataclass(frozen=True)
class StoredLayer:
    """One feature layer: its geometry kind ("Point", "Line", "Polygon", or "Unknown" for a
    layer without one type), extent (xmin, ymin, xmax, ymax; None when it has no features),
    and the definition of its CRS (WKT)."""

    name: str
    kind: str
    extent: tuple[float, float, float, float] | None
    crs_wkt: str


@dataclass(frozen=True)
class Catalogue:
    """The feature layers in stored order, the default QGIS style (QML) of each layer that has
    one, and the dataset metadata."""

    layers: dict[str, StoredLayer]
    styles: dict[str, str]
    metadata: dict[str, str]


def read_catalogue(path: Path) -> Catalogue:
    """The catalogue of the GeoPackage at `path`; :class:`InputDataError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise missing_input(path)
    try:  # read-only, by URI: sqlite3.connect would otherwise create a missing file
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            return Catalogue(_layers(db), _styles(db), _metadata(db))
    except sqlite3.Error as exc:  # a file cut short is found here too (tested)
        raise damaged_input(path, f"not a GeoPackage: {exc}") from None


def _layers(db: sqlite3.Connection) -> dict[str, StoredLayer]:
    rows = db.execute(
        "SELECT c.table_name, g.geometry_type_name, c.min_x, c.min_y, c.max_x, c.max_y, "
        "s.definition FROM gpkg_contents c "
        "JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
        "LEFT JOIN gpkg_spatial_ref_sys s ON s.srs_id = g.srs_id "
        "WHERE c.data_type = 'features' ORDER BY c.rowid"
    )
    layers = {}
    for name, geometry_type, *box, crs_wkt in rows:
        extent = None if None in box else tuple(float(v) for v in box)
        kind = _KINDS.get(str(geometry_type).upper(), "Unknown")
        layers[name] = StoredLayer(name, kind, extent, crs_wkt or "")
    return layers


def _styles(db: sqlite3.Connection) -> dict[str, str]:
    """Each layer's default style; none when the file has no ``layer_styles`` table."""
    if not _has_table(db, "layer_styles"):
        return {}
    rows = db.execute(
        "SELECT f_table_name, styleQML FROM layer_styles WHERE useAsDefault ORDER BY id"
    )
    return {name: qml for name, qml in rows}


def _metadata(db: sqlite3.Connection) -> dict[str, str]:
    """The dataset metadata GDAL wrote: the default domain of its XML at the file's scope."""
    if not _has_table(db, "gpkg_metadata_reference"):
        return {}
    rows = db.execute(
        "SELECT m.metadata FROM gpkg_metadata m "
        "JOIN gpkg_metadata_reference r ON r.md_file_id = m.id "
        "WHERE r.reference_scope = 'geopackage' AND m.md_standard_uri = 'http://gdal.org' "
        "AND m.mime_type = 'text/xml'"
    )
    found = {}
    for (xml,) in rows:
        for block in ET.fromstring(xml).iter("Metadata"):
            if block.get("domain", "") == "" and block.get("format") is None:
                # an empty value reads as no entry, as GDAL reads it
                found.update({i.get("key"): i.text for i in block.iter("MDI") if i.text})
    return found


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return db.execute(query, (name,)).fetchone() is not None
