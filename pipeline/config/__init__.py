"""The region file: its schema (:mod:`pipeline.config.schema`), its defaults and its loading.

A region is one TOML file under ``regions/``; :func:`load_region` reads it, merges it over the
defaults key by key and validates it once, at the door, so a typo fails at start-up with the
field name, the bad value and the allowed values.
"""

from pipeline.config.schema import (
    DEFAULT_SPEEDS_KPH,
    PLACE_CLASSES,
    PROJECT_ROOT,
    REGIONS_DIR,
    AnchorRule,
    NetworkConfig,
    OfflineConfig,
    PlanningConfig,
    RegionConfig,
    SeasonConfig,
    StrictModel,
    available_regions,
    did_you_mean,
    load_region,
)

__all__ = [
    "DEFAULT_SPEEDS_KPH",
    "PLACE_CLASSES",
    "PROJECT_ROOT",
    "REGIONS_DIR",
    "AnchorRule",
    "NetworkConfig",
    "OfflineConfig",
    "PlanningConfig",
    "RegionConfig",
    "SeasonConfig",
    "StrictModel",
    "available_regions",
    "did_you_mean",
    "load_region",
]
