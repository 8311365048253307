"""The plan's layers for the web map, each with a plain-text label."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from pipeline.analysis.planning import PLAN_LAYERS
from pipeline.outputs.export import layer_names

__all__ = ["plan_map_layers"]


def plan_map_layers(plan_gpkg: Path) -> dict[str, gpd.GeoDataFrame]:
    """The plan's layers in EPSG:4326 for the web map, each with a plain-text `label` column
    (escape it before it reaches HTML). Empty layers are left out."""
    present = set(layer_names(plan_gpkg))
    labels = {
        "proposals": lambda f: (
            f["rank"].astype(str)
            + ". "
            + f["name"].astype(str)
            + " (+"
            + f["new_population"].astype(str)
            + ")"
        ),
        "newly_covered": lambda f: (
            f["name"].astype(str)
            + " → "
            + f["new_anchor"].astype(str)
            + f["time_min"].map(lambda t: f" {t:.0f} min")
        ),
        "cross_border": lambda f: (
            f["name"].astype(str)
            + " → "
            + f["anchor_name"].astype(str)
            + f["time_min"].map(lambda t: f" {t:.0f} min")
        ),
        "cross_border_pairs": lambda f: (
            f["district"].astype(str)
            + " → "
            + f["anchor_district"].astype(str)
            + ": "
            + f["settlements"].astype(str)
        ),
        "monotown_reach": lambda f: (
            f["monotown"].astype(str)
            + " → "
            + f["centre"].astype(str)
            + f["time_min"].map(lambda t: f" {t:.0f} min")
        ),
    }
    out = {}
    for name in PLAN_LAYERS:
        if name not in present:
            continue
        frame = gpd.read_file(plan_gpkg, layer=name)
        if frame.empty:
            continue
        frame = frame.to_crs("EPSG:4326")
        frame["label"] = labels[name](frame)
        out[name] = frame
    return out
