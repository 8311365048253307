"""Region files: one TOML file per region, validated once at start-up.

A region file is data only (parsed with :mod:`tomllib`, never evaluated). Unknown keys, wrong
types and impossible values fail here with the field, the bad value and what is allowed, so no
stage ever sees a half-valid region. Every default lives in this module, with its unit.

Paths inside a region file are relative to the folder of the region file.
"""

from __future__ import annotations

import difflib
import itertools
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.config.defaults import (
    DEFAULT_CORE_SERVICES,
    DEFAULT_DESERT_MIN,
    DEFAULT_REACH_M,
    DEFAULT_SEASONS,
    DEFAULT_SERVICE_TAGS,
)
from pipeline.config.tag_rules import parse_rule
from pipeline.errors import ConfigError

__all__ = [
    "DEFAULT_SPEEDS_KPH",
    "PROJECT_ROOT",
    "REGIONS_DIR",
    "PlanningConfig",
    "RegionConfig",
    "available_regions",
    "did_you_mean",
    "load_region",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGIONS_DIR = PROJECT_ROOT / "regions"

# Free-flow car speeds per OSM highway class, km/h. Classes missing here are not driveable
# (footway, path, steps, cycleway, ...). Sources:
# - the Russian road rules (ПДД РФ §10.3): 90 km/h outside towns, 110 on motorways, 60 in towns
#   (§10.2), 20 in living streets (§10.2) — upper limits the class speeds never exceed;
# - OSRM's car profile (profiles/car.lua): motorway 90, trunk 85, primary 65, secondary 55,
#   tertiary 40, unclassified 25, residential 25, living_street 10, service 15 — averages with
#   traffic; ours are a little higher on the main classes, because northern roads carry little;
# - Valhalla's default speeds by road class and density ("Speed values in Valhalla APIs"):
#   rural motorway ~105, trunk ~90, primary ~80, secondary ~70, tertiary ~55 km/h, which our
#   primary/secondary/tertiary follow; Valhalla drives tracks at ~5 km/h and halves unpaved, OSRM
#   does not route tracks at all: both are built for towns. In the North a track (лесовозная или
#   полевая дорога) is how villages are reached, driven at ~20 km/h in summer, slowed further
#   by its surface/tracktype/smoothness factors and closed in the thaw when dirt.
DEFAULT_SPEEDS_KPH: dict[str, float] = {
    "motorway": 110.0,
    "motorway_link": 60.0,
    "trunk": 90.0,
    "trunk_link": 50.0,
    "primary": 80.0,
    "primary_link": 45.0,
    "secondary": 70.0,
    "secondary_link": 40.0,
    "tertiary": 60.0,
    "tertiary_link": 35.0,
    "unclassified": 45.0,
    "residential": 30.0,
    "living_street": 10.0,
    "service": 20.0,
    "road": 30.0,
    "track": 20.0,
}

# Multipliers on speed for unpaved roads (surface=*) and poor tracks (tracktype=grade*).
DEFAULT_SURFACE_FACTORS: dict[str, float] = {
    "unpaved": 0.7,
    "compacted": 0.8,
    "fine_gravel": 0.8,
    "gravel": 0.7,
    "pebblestone": 0.6,
    "dirt": 0.5,
    "earth": 0.5,
    "ground": 0.5,
    "grass": 0.4,
    "mud": 0.3,
    "sand": 0.4,
    "wood": 0.6,
}
DEFAULT_TRACKTYPE_FACTORS: dict[str, float] = {
    "grade1": 1.0,
    "grade2": 0.8,
    "grade3": 0.6,
    "grade4": 0.45,
    "grade5": 0.3,
}
# Multipliers for smoothness=* (OSRM caps very_bad at 15 km/h, horrible at 3); `impassable`
# closes the road (see pipeline.network.graph.driveable).
DEFAULT_SMOOTHNESS_FACTORS: dict[str, float] = {
    "bad": 0.8,
    "very_bad": 0.6,
    "horrible": 0.4,
    "very_horrible": 0.25,
}
_OSM_SMOOTHNESS = (
    "excellent", "good", "intermediate", "bad", "very_bad", "horrible", "very_horrible",
    "impassable",
)  # fmt: skip

PLACE_CLASSES = ("city", "town", "village", "hamlet", "isolated_dwelling")

_REGION_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

PositiveFloat = Annotated[float, Field(gt=0)]


# Other OSM highway=* values: not driveable by default, but a region may give them a speed.
_OTHER_HIGHWAYS = (
    "pedestrian", "footway", "path", "cycleway", "bridleway", "steps", "corridor", "busway",
    "bus_guideway", "raceway", "escape", "construction", "proposed", "platform", "via_ferrata",
)  # fmt: skip
# Documented OSM surface=* values (wiki Key:surface); a key outside these is a typo.
_OSM_SURFACES = (
    "paved", "asphalt", "chipseal", "concrete", "concrete:plates", "concrete:lanes",
    "paving_stones", "paving_stones:lanes", "grass_paver", "sett", "unhewn_cobblestone",
    "cobblestone", "bricks", "metal", "metal_grid", "wood", "stepping_stones", "rubber", "tiles",
    "unpaved", "compacted", "fine_gravel", "gravel", "shells", "rock", "pebblestone", "ground",
    "dirt", "earth", "grass", "mud", "sand", "woodchips", "snow", "ice", "salt", "clay",
)  # fmt: skip


class StrictModel(BaseModel):
    """The base of every model read from a file the user writes (region and scenario files):
    unknown keys are errors, values are frozen, and inf and nan are refused everywhere (a gap
    threshold of inf would hide every gap; snap_m = inf would join every end to some road)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SourceConfig(StrictModel):
    """Where the OSM extract comes from."""

    kind: Literal["pbf", "overpass"] = "pbf"
    local_pbf: Path | None = None  # a PBF already on disk; used before any URL
    urls: list[str] = []  # tried in order when no local file
    sha256: str | None = None  # expected checksum of the downloaded file, if known
    max_download_mb: PositiveFloat = 4096.0
    overpass_url: str = "https://overpass-api.de/api"  # kind = "overpass": area from [boundary]

    @field_validator("urls")
    @classmethod
    def _urls_are_http(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return urls

    @field_validator("sha256")
    @classmethod
    def _sha256_is_hex(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 lowercase hex digits")
        return value


class BoundaryConfig(StrictModel):
    """Which OSM boundary relations are the region and its districts."""

    relation_id: int | None = Field(default=None, gt=0)  # OSM relation of the region
    region_name: str | None = None  # or its name, at `admin_level`
    admin_level: int = Field(default=4, ge=2, le=11)
    district_admin_level: int = Field(default=6, ge=2, le=11)
    # roads, places and services kept this far beyond the border (trips across it, and towns
    # and hospitals just across it, are found), metres
    clip_buffer_m: float = Field(default=10_000.0, ge=0)

    @model_validator(mode="after")
    def _levels_ordered(self) -> BoundaryConfig:
        if self.district_admin_level <= self.admin_level:
            raise ValueError(
                f"district_admin_level ({self.district_admin_level}) must be greater than "
                f"admin_level ({self.admin_level})"
            )
        return self


class AnchorRule(StrictModel):
    """Anchors chosen by a rule instead of a list."""

    places: list[Literal[PLACE_CLASSES]] = ["city", "town"]  # type: ignore[valid-type]
    admin_centres: bool = False  # also every admin_centre of a district boundary
    min_population: int = Field(default=0, ge=0)
    largest_per_district: bool = (
        False  # plus the most populous settlement of each district without one
    )


class AnchorsConfig(StrictModel):
    """Anchor settlements: names, a CSV (column `name` or `osm_id`), or a rule."""

    names: list[str] = []
    csv: Path | None = None
    rule: AnchorRule | None = None
    # Anchors beyond the border (within boundary.clip_buffer_m) serve the region's villages too:
    # a village's nearest town is where its people go, whichever region it is in.
    beyond_border: bool = True

    @model_validator(mode="after")
    def _exactly_one_way(self) -> AnchorsConfig:
        given = [k for k in ("names", "csv", "rule") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of anchors.names, anchors.csv or anchors.rule "
                f"(got {', '.join(given) or 'none'})"
            )
        return self


class CoresConfig(StrictModel):
    """Agglomeration cores and the drive-time zones around them, minutes."""

    names: list[str] = []
    zone_min: list[PositiveFloat] = [30.0, 60.0]

    @field_validator("zone_min")
    @classmethod
    def _ascending(cls, values: list[float]) -> list[float]:
        return _strictly_ascending(values)


class ThresholdsConfig(StrictModel):
    """Isochrone band limits and the coverage-gap threshold, minutes."""

    bands_min: list[PositiveFloat] = [15.0, 30.0, 45.0, 60.0, 90.0, 120.0]
    gap_min: PositiveFloat = 60.0

    @field_validator("bands_min")
    @classmethod
    def _ascending(cls, values: list[float]) -> list[float]:
        return _strictly_ascending(values)


class NetworkConfig(StrictModel):
    """Speed profile and snapping. Speeds in km/h, distances in metres, times in minutes."""

    speeds_kph: dict[str, PositiveFloat] = {}  # overrides of DEFAULT_SPEEDS_KPH
    surface_factors: dict[str, Annotated[float, Field(gt=0, le=1)]] = {}
    tracktype_factors: dict[str, Annotated[float, Field(gt=0, le=1)]] = {}
    ferry_speed_kph: PositiveFloat = 10.0  # when a ferry has no duration tag
    ferry_wait_min: float = Field(default=20.0, ge=0)  # added once per ferry crossing
    smoothness_factors: dict[str, Annotated[float, Field(gt=0, le=1)]] = {}
    snap_max_m: PositiveFloat = 2_000.0  # farthest walk to a road; beyond: no_road, land unreached
    offroad_speed_kph: PositiveFloat = 5.0  # walking pace across land to the nearest road
    # What a minor road with neither surface=* nor tracktype=* is taken to be (an OSM surface
    # value, e.g. "unpaved": slowed by its factor, closed in the thaw when soft); none: as tagged
    untagged_surface: str | None = None
    untagged_surface_classes: list[str] = ["unclassified", "track"]

    @field_validator("untagged_surface")
    @classmethod
    def _known_surface(cls, value: str | None) -> str | None:
        if value is not None and value not in _OSM_SURFACES:
            guess = difflib.get_close_matches(value, _OSM_SURFACES, n=1)
            also = f"; did you mean {guess[0]!r}?" if guess else ""
            raise ValueError(f"{value!r} is not an OSM surface=* value{also}")
        return value

    @field_validator("untagged_surface_classes")
    @classmethod
    def _known_classes(cls, values: list[str]) -> list[str]:
        for value in values:
            if value not in DEFAULT_SPEEDS_KPH and value not in _OTHER_HIGHWAYS:
                guess = difflib.get_close_matches(value, list(DEFAULT_SPEEDS_KPH), n=1)
                also = f"; did you mean {guess[0]!r}?" if guess else ""
                raise ValueError(f"{value!r} is not an OSM highway=* value{also}")
        return values

    @field_validator("speeds_kph", "surface_factors", "tracktype_factors", "smoothness_factors")
    @classmethod
    def _known_osm_values(cls, table: dict[str, float], info) -> dict[str, float]:
        # A misspelt key would be silently ignored and the default kept: refuse it instead.
        osm_key, known = {
            "speeds_kph": ("highway", (*DEFAULT_SPEEDS_KPH, *_OTHER_HIGHWAYS)),
            "surface_factors": ("surface", _OSM_SURFACES),
            "tracktype_factors": ("tracktype", tuple(DEFAULT_TRACKTYPE_FACTORS)),
            "smoothness_factors": ("smoothness", _OSM_SMOOTHNESS[:-1]),
        }[info.field_name]
        for key in table:
            if key not in known:
                guess = difflib.get_close_matches(key, known, n=1)
                also = f"; did you mean {guess[0]!r}?" if guess else ""
                raise ValueError(
                    f"{key!r} is not an OSM {osm_key}=* value{also} (known: {', '.join(known)})"
                )
        return table

    def speed_table(self) -> dict[str, float]:
        return {**DEFAULT_SPEEDS_KPH, **self.speeds_kph}

    def surface_table(self) -> dict[str, float]:
        return {**DEFAULT_SURFACE_FACTORS, **self.surface_factors}

    def tracktype_table(self) -> dict[str, float]:
        return {**DEFAULT_TRACKTYPE_FACTORS, **self.tracktype_factors}

    def smoothness_table(self) -> dict[str, float]:
        return {**DEFAULT_SMOOTHNESS_FACTORS, **self.smoothness_factors}


class ServicesConfig(StrictModel):
    """Service types (see pipeline/config/defaults.py for the default tag table), core services, deserts."""

    tags: dict[str, list[str]] = {}  # per type: replaces that type's rules, or adds a new type
    core: list[str] = list(DEFAULT_CORE_SERVICES)  # every anchor should host these ("a|b": either)
    desert_min: dict[str, PositiveFloat] = {}  # per type, overrides DEFAULT_DESERT_MIN
    csv: Path | None = None  # a planner's service points (name,type,lat,lon), instead of OSM
    # metres by place class: how far from its centre a service may lie and be the settlement's
    reach_m: dict[Literal[PLACE_CLASSES], PositiveFloat] = {}  # type: ignore[valid-type]

    @field_validator("tags")
    @classmethod
    def _rules_parse(cls, tags: dict[str, list[str]]) -> dict[str, list[str]]:
        for rules in tags.values():
            for rule in rules:
                parse_rule(rule)
        return tags

    @model_validator(mode="after")
    def _known_types(self) -> ServicesConfig:
        known = set(self.table())
        for entry in self.core:
            for service in entry.split("|"):
                if service not in known:
                    raise ValueError(
                        f"core service {service!r} is not a service type ({', '.join(sorted(known))})"
                    )
        for service in self.desert_min:
            if service not in known:
                raise ValueError(
                    f"desert_min names {service!r}, not a service type ({', '.join(sorted(known))})"
                )
        return self

    def table(self) -> dict[str, list[str]]:
        return {**DEFAULT_SERVICE_TAGS, **self.tags}

    def reach_table(self) -> dict[str, float]:
        return {**DEFAULT_REACH_M, **self.reach_m}

    def desert_table(self) -> dict[str, float]:
        default = {service: 60.0 for service in self.table()}
        return {**default, **DEFAULT_DESERT_MIN, **self.desert_min}


class SeasonConfig(StrictModel):
    """One season: its dates and which ways it opens, closes or slows (see README, Seasons)."""

    start: str  # "MM-DD", first day
    end: str  # "MM-DD", last day; may wrap over the new year
    winter_roads: bool = False  # winter_road=yes / ice_road=yes ways are open
    ferries: bool = True  # ferries run (each within its own months: opening_hours, seasonal)
    soft_unpaved_open: bool = True  # dirt, earth, grass, mud, sand, grade3-5, untagged tracks
    soft_unpaved_factor: Annotated[float, Field(gt=0, le=1)] = 1.0  # speed multiplier when open
    gravel_factor: Annotated[float, Field(gt=0, le=1)] = 1.0  # gravel, compacted, fine_gravel
    winter_road_speed_kph: PositiveFloat = 30.0  # on winter roads and ice crossings
    ferry_wait_min: float | None = Field(default=None, ge=0)  # overrides network.ferry_wait_min

    @field_validator("start", "end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        m = re.fullmatch(r"(\d{2})-(\d{2})", value)
        if not m or not (1 <= int(m[1]) <= 12 and 1 <= int(m[2]) <= 31):
            raise ValueError(f"{value!r} is not a date as MM-DD (e.g. '04-15')")
        return value

    def mid_month(self) -> int:
        """The month (1-12) in the middle of the season: ferries must run then to count as open."""
        start = (int(self.start[:2]) - 1) * 30.5 + int(self.start[3:])
        end = (int(self.end[:2]) - 1) * 30.5 + int(self.end[3:])
        if end < start:
            end += 366
        middle = ((start + end) / 2) % 366
        return min(int(middle // 30.5) + 1, 12)


class SurfaceConfig(StrictModel):
    """The travel-time raster."""

    cell_m: PositiveFloat = 250.0


# Keys that once existed: a region file that still sets one gets one line saying why it is gone.
_REMOVED_KEYS = {
    ("services", "link_max_m"): (
        "a service now belongs to the settlement whose OSM area holds it, else to the nearest "
        "by distance ÷ reach; set services.reach_m per place class instead"
    ),
    ("surface", "k_nearest"): (
        "every road point within network.snap_max_m is now considered, with no cap on how many "
        "(README, How times are computed); delete the key"
    ),
}


class OfflineConfig(StrictModel):
    """Bundled reference data and the straight-line model used when no OSM extract exists.

    Anchors and cores are the region file's own ([anchors], [cores]), matched among the bundled
    settlements; `anchor_rule` and `cores` here replace them offline only when given.
    """

    districts: Path
    district_name_field: str = "district"
    outline: Path | None = None
    # a settlement table (CSV: settlement, type, population, latitude_dd, longitude_dd,
    # municipality; see pipeline/inputs/settlement_table.py) or GeoJSON points (name, population)
    settlements: Path
    towns: Path | None = None  # GeoJSON only: CSV with Cyrillic names, geo_lat, geo_lon, population
    population_grid: Path | None = None
    detour_factor: float = Field(default=1.35, ge=1.0, le=3.0)  # road km per straight-line km
    speed_kph: PositiveFloat = 60.0  # average speed along the road of that length
    anchor_rule: AnchorRule | None = None  # offline only, instead of [anchors]
    cores: list[str] = []  # offline only, instead of [cores] names


class CensusConfig(StrictModel):
    """A table of the region's settlements and their people, to fill in the population of OSM
    places that have no `population` tag (see pipeline/inputs/settlement_table.py)."""

    table: Path  # CSV as offline.settlements
    match_m: PositiveFloat = 3_000.0  # an OSM place and a row of one name this close match


class PlanningConfig(StrictModel):
    """Planning answers (`make plan`): anchors to add, inter-municipal ties, monotown reach."""

    k: int = Field(default=5, ge=1, le=100)  # anchors to propose; `make plan k=N` overrides
    gap_min: PositiveFloat | None = None  # minutes; none: thresholds.gap_min
    candidate_min_population: int = Field(default=0, ge=0)  # people; untagged counts as 0
    candidate_places: list[Literal[PLACE_CLASSES]] = ["city", "town", "village"]  # type: ignore[valid-type]
    candidates: list[str] = []  # optional: only these settlements may be proposed
    exact_max_candidates: int = Field(default=500, ge=0)  # exact solve if ≤ this many help anyone
    exact_time_limit_s: PositiveFloat = 60.0  # seconds for the exact solver (HiGHS)
    monotowns: list[str] = []  # single-industry towns (моногорода), besides the official list
    # also the region's towns on the government's list (regions/russia/monotowns_1398r.csv,
    # распоряжение № 1398-р), found by the region's name
    monotowns_from_list: bool = True
    employment_min_population: int = Field(default=10_000, ge=0)  # people: an employment centre
    employment_centres: list[str] = []  # also employment centres, whatever their population
    reach_bands_min: list[PositiveFloat] = [30.0, 45.0, 60.0]  # minutes from a monotown

    @field_validator("reach_bands_min")
    @classmethod
    def _ascending(cls, values: list[float]) -> list[float]:
        return _strictly_ascending(values)


class RegionConfig(StrictModel):
    """One region, as read from `regions/<name>.toml`."""

    name: str
    display_name: str
    language: Literal["ru", "en"] = (
        "ru"  # labels, legends, popups, report; names: name:<language>, then name
    )
    crs: str | None = None  # projected CRS; none: an equal-area CRS centred on the region
    source: SourceConfig = SourceConfig()
    boundary: BoundaryConfig = BoundaryConfig()
    settlement_places: list[Literal[PLACE_CLASSES]] = list(PLACE_CLASSES)  # type: ignore[valid-type]
    anchors: AnchorsConfig
    cores: CoresConfig = CoresConfig()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    network: NetworkConfig = NetworkConfig()
    surface: SurfaceConfig = SurfaceConfig()
    services: ServicesConfig = ServicesConfig()
    seasons: dict[str, SeasonConfig] = {k: SeasonConfig(**v) for k, v in DEFAULT_SEASONS.items()}
    default_season: str = "summer"  # what `make region=…` computes
    ferry_months: list[Annotated[int, Field(ge=1, le=12)]] = [
        5,
        6,
        7,
        8,
        9,
        10,
    ]  # navigation, when a ferry's tags say nothing
    offline: OfflineConfig | None = None
    census: CensusConfig | None = None
    planning: PlanningConfig = PlanningConfig()
    region_file: Path = Path()  # filled in by load_region

    @model_validator(mode="before")
    @classmethod
    def _season_defaults(cls, raw: dict) -> dict:
        # The region's seasons merge into the default ones key by key: naming one rule of one
        # season changes that rule only; a season it does not name stays; `thaw = false`
        # (under [seasons]) drops a default season, a new name adds one.
        seasons = raw.get("seasons") if isinstance(raw, dict) else None
        if isinstance(seasons, dict):
            merged = {name: dict(rules) for name, rules in DEFAULT_SEASONS.items()}
            for name, rules in seasons.items():
                if rules is False:
                    merged.pop(name, None)
                elif isinstance(rules, dict):
                    merged[name] = {**merged.get(name, {}), **rules}
                else:
                    merged[name] = rules
            raw = {**raw, "seasons": merged}
        return raw

    @model_validator(mode="after")
    def _default_season_exists(self) -> RegionConfig:
        if self.default_season not in self.seasons:
            raise ValueError(
                f"default_season {self.default_season!r} is not among the seasons ({', '.join(self.seasons)})"
            )
        for name in self.seasons:
            if not _REGION_NAME.fullmatch(name):
                raise ValueError(
                    f"season name {name!r} must be lowercase letters, digits, '-' or '_'"
                )
        return self

    def season(self, name: str | None) -> tuple[str, SeasonConfig]:
        """(name, rules) of a season; None: the default season. Unknown: ConfigError."""
        name = name or self.default_season
        if name not in self.seasons:
            raise ConfigError(
                f"{self.region_file}: unknown season {name!r}; seasons: {', '.join(self.seasons)}"
            )
        return name, self.seasons[name]

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        # The name becomes a folder under data_raw/, data_processed/, maps/ and logs/.
        if not _REGION_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} must be lowercase letters, digits, '-' or '_' (it names output folders)"
            )
        return value

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            crs = CRS.from_user_input(value)
        except CRSError:
            raise ValueError(f"{value!r} is not a CRS pyproj knows (try 'EPSG:3576')") from None
        if not crs.is_projected:
            raise ValueError(f"{value!r} is not projected; give a metric CRS such as 'EPSG:3576'")
        return value

    def resolve(self, path: Path) -> Path:
        """A path from the region file, made absolute against the region file's folder."""
        return path if path.is_absolute() else (self.region_file.parent / path).resolve()


def _strictly_ascending(values: list[float]) -> list[float]:
    if not values:
        raise ValueError("must not be empty")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError(f"{values!r} must be strictly ascending")
    return values


def available_regions() -> list[str]:
    """Names of the region files shipped in `regions/`."""
    return sorted(p.stem for p in REGIONS_DIR.glob("*.toml"))


def load_region(region: str | None = None, config: Path | str | None = None) -> RegionConfig:
    """Read and validate a region by name (`regions/<name>.toml`) or by path.

    Raises :class:`ConfigError` with one line naming the field, the value and the fix.
    """
    path = _region_path(region, config)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Notepad may add a BOM
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the region file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    for (section, key), why in _REMOVED_KEYS.items():
        if isinstance(raw.get(section), dict) and key in raw[section]:
            raise ConfigError(f"{path}: {section}.{key} is no longer a setting: {why}")
    try:
        cfg = RegionConfig.model_validate({**raw, "region_file": path})
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from None
    if cfg.name != path.stem:  # the Makefile names output folders after the file
        raise ConfigError(f"{path}: name = {cfg.name!r} must equal the file name {path.stem!r}")
    return cfg


def _region_path(region: str | None, config: Path | str | None) -> Path:
    if config is not None:
        path = Path(config).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(
                f"region file {str(config)!r} not found; give the path of a .toml file"
            )
        return path
    region = "vologda" if region is None else region
    known = available_regions()
    if not _REGION_NAME.fullmatch(region) or region not in known:
        raise ConfigError(
            f"unknown region {region!r}{did_you_mean(region, known)}; available: {', '.join(known)} "
            f"(or pass config=path/to/region.toml)"
        )
    return REGIONS_DIR / f"{region}.toml"


def did_you_mean(name: str, known: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or ''."""
    hint = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def _describe(path: Path, exc: ValidationError) -> str:
    """One line for the first validation error: field, bad value, what is allowed."""
    errors = exc.errors()
    # A misspelt required key is both unknown and missing: "did you mean" is the better hint.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        parent = _model_at(err["loc"][:-1])
        allowed = sorted(parent.model_fields) if parent else []
        allowed = [a for a in allowed if a != "region_file"]
        guess = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        also = f"; did you mean {guess[0]!r}?" if guess else ""
        return f"{path}: unknown key {field!r}{also} (allowed: {', '.join(allowed)})"
    if err["type"] == "missing":
        return f"{path}: missing required key {field!r}; add it to the region file"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{path}: {field} = {err.get('input')!r} is invalid: {msg}"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = RegionConfig
    for key in loc:
        field = model.model_fields.get(str(key))
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        sub = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if sub is None:
            return None
        model = sub
    return model
