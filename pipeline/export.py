"""Writing results: GeoPackages, GeoTIFFs, JSON and CSV, each written whole or not at all."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from pipeline._io import atomic_path
from pipeline.errors import OutputError

__all__ = ["RESULT_LAYERS", "read_layer", "read_metadata", "write_csv", "write_gpkg", "write_json"]

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


def write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame], metadata: dict[str, str]) -> None:
    """Write every layer into one new GeoPackage, then move it over `path` in one step.

    `metadata` goes into the GeoPackage's dataset metadata (QGIS shows it under Information).
    """
    with atomic_path(path) as tmp:
        for i, (name, frame) in enumerate(layers.items()):
            try:
                pyogrio.write_dataframe(
                    _plain_columns(frame),
                    tmp,
                    layer=name,
                    driver="GPKG",
                    append=i > 0,
                    dataset_metadata=metadata if i == 0 else None,
                    promote_to_multi=frame.geom_type.isin(["Polygon", "MultiPolygon"]).any()
                    or None,
                )
            except (OSError, pyogrio.errors.DataSourceError) as exc:
                raise OutputError(f"cannot write layer {name!r} to {path}: {exc}") from None


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
    return gpd.read_file(path, layer=layer)


def read_metadata(path: Path) -> dict[str, str]:
    """The dataset metadata written by :func:`write_gpkg`."""
    first_layer = pyogrio.list_layers(path)[0][0]
    return pyogrio.read_info(path, layer=first_layer).get("dataset_metadata") or {}


def write_json(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
            encoding="utf-8",
        )


def write_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, encoding="utf-8")
