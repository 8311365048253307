"""Writing results: GeoPackages, GeoTIFFs, JSON and CSV, each written whole or not at all."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from pipeline._io import atomic_path, csv_language
from pipeline.errors import (
    InputDataError,
    OutputError,
    damaged_input,
    missing_input,
    missing_layer,
)
from pipeline.outputs.gpkg_catalogue import read_catalogue

__all__ = [
    "CSV_FORMAT",
    "RESULT_LAYERS",
    "layer_names",
    "read_layer",
    "read_metadata",
    "spreadsheet_table",
    "write_csv",
    "write_gpkg",
    "write_html",
    "write_json",
    "write_table_csv",
]

logger = logging.getLogger(__name__)

# The layers of data_processed/<region>/<region>.gpkg, in drawing order (bottom first).
RESULT_LAYERS = (
    "districts",
    "catchments",
    "isochrones",
    "gaps",
    "agglomeration_zones",
    "roads",
    "settlements",
    "anchors",
)


GPKG_VERSION = "1.2"


def write_gpkg(
    path: Path,
    layers: dict[str, gpd.GeoDataFrame],
    metadata: dict[str, str],
    styles: dict[str, str] | None = None,
) -> None:
    """Write every layer into one new GeoPackage, then move it over `path` in one step.

    `metadata` goes into the GeoPackage's dataset metadata (QGIS shows it under Information).
    `styles` (layer name: QML, see :mod:`pipeline.outputs.qgis`) become each layer's default style in
    the ``layer_styles`` table, the one QGIS reads when the layer is opened.
    """
    with atomic_path(path) as tmp, _one_flush_to_disk(tmp):
        for i, (name, frame) in enumerate(layers.items()):
            try:
                pyogrio.write_dataframe(
                    _plain_columns(frame),
                    tmp,
                    layer=name,
                    driver="GPKG",
                    append=i > 0,
                    dataset_metadata=metadata if i == 0 else None,
                    # GeoPackage 1.2, not GDAL's default 1.4: the QGIS of Debian stable (3.22,
                    # GDAL 3.6) warns that 1.4 files "may only be partially supported".
                    dataset_options={"VERSION": GPKG_VERSION} if i == 0 else None,
                    promote_to_multi=frame.geom_type.isin(["Polygon", "MultiPolygon"]).any()
                    or None,
                )
            except (OSError, pyogrio.errors.DataSourceError) as exc:
                raise OutputError(f"cannot write layer {name!r} to {path}: {exc}") from None
        if styles:
            pyogrio.write_dataframe(
                _styles_table(styles),
                tmp,
                layer="layer_styles",
                append=True,
                layer_options={"FID": "id"},
            )


@contextlib.contextmanager
def _one_flush_to_disk(path: Path) -> Iterator[None]:
    """SQLite, and so GDAL's GeoPackage writer, waits for the disk at every commit, several
    times per layer (a fifth of writing the oblast's results on this machine). The file is a
    temporary one until it is complete, so inside the block it waits for none; at the end
    the whole file is flushed to disk once, before it is renamed into place."""
    option = "OGR_SQLITE_SYNCHRONOUS"
    before = pyogrio.get_gdal_config_option(option)
    pyogrio.set_gdal_config_options({option: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({option: before})
    if path.exists():
        with path.open("rb+") as written:
            os.fsync(written.fileno())


def _styles_table(styles: dict[str, str]) -> pd.DataFrame:
    """QGIS's ``layer_styles`` table (the columns QGIS creates), one default style per layer."""
    n = len(styles)
    return pd.DataFrame(
        {
            "f_table_catalog": [""] * n,
            "f_table_schema": [""] * n,
            "f_table_name": list(styles),
            "f_geometry_column": ["geom"] * n,
            "styleName": list(styles),
            "styleQML": list(styles.values()),
            "styleSLD": [""] * n,
            "useAsDefault": [True] * n,
            "description": ["default style written by the anchor-access pipeline"] * n,
            "owner": [""] * n,
            "ui": [""] * n,
            "update_time": [pd.Timestamp.now(tz="UTC").floor("s").tz_localize(None)] * n,
        }
    )


def _plain_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """GDAL wants plain numpy dtypes: nullable ints become float where they hold gaps."""
    out = frame.copy()
    for column in out.columns.drop(out.geometry.name):
        series = out[column]
        if isinstance(series.dtype, pd.Int64Dtype):
            out[column] = (
                series.astype("float64") if series.isna().any() else series.astype("int64")
            )
    return out


def read_layer(path: Path, layer: str) -> gpd.GeoDataFrame:
    """One layer of a GeoPackage an earlier stage wrote; :class:`InputDataError` if unreadable."""
    try:
        return gpd.read_file(path, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise _unreadable(path, exc, layer) from None


def layer_names(path: Path) -> list[str]:
    """The layers of a GeoPackage, in stored order; :class:`InputDataError` if unreadable."""
    try:
        return [name for name, _ in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise _unreadable(path, exc) from None


def read_metadata(path: Path) -> dict[str, str]:
    """The dataset metadata written by :func:`write_gpkg` (read as GDAL reads it)."""
    return read_catalogue(path).metadata


def _unreadable(path: Path, exc: Exception, layer: str | None = None) -> InputDataError:
    """A missing or damaged file of an earlier stage, with how to make it again."""
    if not Path(path).exists():
        return missing_input(path)
    if isinstance(exc, pyogrio.errors.DataLayerError) and layer is not None:
        return missing_layer(path, layer)
    # GDAL repeats itself ("…failed: database disk image is malformed; database disk image…")
    return damaged_input(
        path, " ".join(str(exc).split()).split("; ")[0].rsplit("failed: ", 1)[-1][:160]
    )


def write_json(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
            encoding="utf-8",
        )


# What Excel expects with the region's regional settings: Russian ones read `;` between fields
# and a decimal comma, English ones `,` and a decimal point.
CSV_FORMAT = {"ru": {"sep": ";", "decimal": ","}, "en": {"sep": ",", "decimal": "."}}
# Decimals kept, by the ending of a column's name: minutes to 0.01, km² and % to 0.1, metres
# to 0.1. The figures in full precision are in the JSON files.
_ROUNDING = (("_min", 2), ("_km2", 1), ("_pct", 1), ("_m", 1))


def spreadsheet_table(table: pd.DataFrame) -> pd.DataFrame:
    """A table as a spreadsheet should show it: minutes, km², % and metres rounded (see
    `_ROUNDING`), and float columns that hold whole numbers only (counts, people) as integers,
    so a Russian spreadsheet shows `12`, not `12,0`."""
    out = table.copy()
    for column in out.columns:
        series = out[column]
        if not (pd.api.types.is_float_dtype(series) or isinstance(series.dtype, pd.Float64Dtype)):
            continue
        digits = next((d for end, d in _ROUNDING if str(column).endswith(end)), None)
        if digits is not None:
            out[column] = series.round(digits)
            continue
        values = series.dropna()
        if len(values) and (values == values.round()).all() and values.abs().max() < 2**53:
            out[column] = series.round().astype("Int64")
    return out


def write_table_csv(target, table: pd.DataFrame, language: str) -> None:
    """The one CSV format of the pipeline: UTF-8 with a BOM (Excel then reads Cyrillic and
    accented names), CRLF, and the separator and decimal mark of the region's language."""
    table.to_csv(
        target,
        index=False,
        encoding="utf-8-sig",
        lineterminator="\r\n",
        **CSV_FORMAT.get(language, CSV_FORMAT["en"]),
    )


def write_csv(path: Path, table: pd.DataFrame, language: str | None = None) -> None:
    """Write a table for spreadsheets (:func:`spreadsheet_table`, :func:`write_table_csv`),
    whole or not at all. `language`: the region's; default: that of the region whose results
    folder holds `path` (see pipeline._io.csv_language)."""
    language = language or csv_language(path)
    with atomic_path(path) as tmp:
        write_table_csv(tmp, spreadsheet_table(table), language)


def write_html(path: Path, html: str) -> None:
    """Write an HTML page whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
