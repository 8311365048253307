"""A region's table of settlements with their people (for Vologda: the 7,798 settlements of the
SME registry, `regions/vologda/settlements_sme_registry.csv`).

Two uses, one reader:

* offline, the table *is* the region's settlements (:func:`read_settlement_table`);
* with OSM, it fills in the population of OSM places that have no `population` tag
  (:func:`census_population`).

The reader handles the table's known defects, each decided as an analyst would and counted in
the log (:class:`TableReport`):

* whole-degree placeholder coordinates (59.0, 40.0): the settlement cannot be placed; it is
  left out (all such rows of the Vologda table are abandoned villages with 0 people);
* the same settlement listed twice (same name, same point, same district): one row, with the
  larger population (the other is a stale second record, often 0);
* different settlements sharing one point (the table gives some villages the coordinates of
  their rural settlement's centre): all kept, flagged `shared_point`;
* rows outside the region: within `BORDER_SLACK_M` of it they are border villages the coarse
  district polygons miss, and are kept in the nearest district; farther, a wrong coordinate,
  left out;
* the district comes from the polygon a settlement lies in; where the table's own district
  differs it is kept as `district_table` and the mismatch counted.

The Cyrillic name, the type (д, с, п, г, рп …) and the population are the table's; the OSM-like
place class follows the type and size: a город is a town (a city from 100,000 people), every
other settlement a village, or a hamlet below 100 people, as OSM's Russian practice maps them.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config import RegionConfig
from pipeline.errors import InputDataError

__all__ = [
    "BORDER_SLACK_M",
    "TableReport",
    "census_population",
    "normalise_name",
    "read_settlement_table",
]

logger = logging.getLogger(__name__)

BORDER_SLACK_M = 5_000.0  # a row this close outside the region is a border village
CITY_MIN_POPULATION = 100_000
HAMLET_MAX_POPULATION = 100  # fewer people: place=hamlet (OSM's Russian practice)
_COLUMNS = ("settlement", "type", "population", "latitude_dd", "longitude_dd", "municipality")
_TYPE_WORDS = re.compile(
    r"\b(деревня|дер|д|село|с|посёлок|поселок|пос|п|рабочий|рп|пгт|городского типа|"
    r"город|г|хутор|х|починок|имени|им|станция|ст|разъезд|рзд)\b\.?"
)


@dataclass
class TableReport:
    """What the reader found and decided, for the log and summary.json."""

    rows: int = 0
    placeholders: list[str] = field(default_factory=list)
    duplicates: int = 0
    shared_point: int = 0
    near_border: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    district_mismatch: int = 0

    def log(self, path: Path) -> None:
        logger.info(
            "%s: %d rows; %d with placeholder coordinates left out (%s); %d listed twice merged; "
            "%d sharing a point with another kept; %d just outside the region kept (%s); "
            "%d far outside left out (%s); %d whose district differs from their polygon's",
            path.name, self.rows, len(self.placeholders), ", ".join(self.placeholders[:10]),
            self.duplicates, self.shared_point, len(self.near_border),
            ", ".join(self.near_border), len(self.outside), ", ".join(self.outside),
            self.district_mismatch,
        )  # fmt: skip

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "placeholder_coordinates": len(self.placeholders),
            "listed_twice": self.duplicates,
            "sharing_a_point": self.shared_point,
            "kept_near_border": len(self.near_border),
            "outside_left_out": len(self.outside),
            "district_mismatch": self.district_mismatch,
        }


@functools.lru_cache(maxsize=1 << 16)  # a name is reduced once, however often it is matched
def normalise_name(name: object) -> str:
    """A name reduced for matching: lower case, ё → е, no accents, hyphens or type words
    («д. Малое Село» and «Малое-Село» match)."""
    text = _without_accents(str(name).casefold().replace("ё", "е"))
    text = _TYPE_WORDS.sub(" ", text.replace("-", " "))
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _without_accents(text: str) -> str:
    """«é» → «e»; «й» is a letter of its own, not «и» with an accent (Кадуй is not Кадуи), so
    the text is decomposed piece by piece between its «й»."""
    return "й".join(
        "".join(c for c in unicodedata.normalize("NFKD", piece) if not unicodedata.combining(c))
        for piece in text.split("й")
    )


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputDataError(
            f"settlement table {str(path)!r} not found; restore it or fix the path"
        )
    try:
        table = pd.read_csv(path, dtype={"oktmo": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputDataError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    missing = [c for c in _COLUMNS if c not in table]
    if missing:
        raise InputDataError(f"{path}: missing columns {', '.join(missing)}; is it the right file?")
    return table


def read_settlement_table(
    path: Path, districts: gpd.GeoDataFrame, district_field: str, crs
) -> tuple[gpd.GeoDataFrame, TableReport]:
    """The table's settlements as an extract-shaped `places` table (EPSG:4326).

    Parameters
    ----------
    path : Path
        The CSV (columns as the SME registry's: settlement, type, population, latitude_dd,
        longitude_dd, municipality, and optionally id, oktmo).
    districts : gpd.GeoDataFrame
        The district polygons (EPSG:4326), name in `district_field`.
    crs
        The region's projected CRS, for distances in metres.
    """
    table = _read_csv(path)
    report = TableReport(rows=len(table))
    lat, lon = table["latitude_dd"].to_numpy(float), table["longitude_dd"].to_numpy(float)
    placeholder = (lat % 1 == 0) & (lon % 1 == 0) | ~np.isfinite(lat) | ~np.isfinite(lon)
    report.placeholders = table.loc[placeholder, "settlement"].astype(str).tolist()
    table = table[~placeholder].copy()
    key = ["settlement", "latitude_dd", "longitude_dd", "municipality"]
    table = table.sort_values("population", ascending=False, kind="stable")
    twice = table.duplicated(key, keep="first")
    report.duplicates = int(twice.sum())
    table = table[~twice].sort_index()
    shared = table.duplicated(["latitude_dd", "longitude_dd"], keep=False)
    report.shared_point = int(shared.sum())

    points = gpd.GeoSeries(
        gpd.points_from_xy(table["longitude_dd"], table["latitude_dd"]), crs=4326
    )
    polygons = districts.to_crs(crs)
    projected = points.to_crs(crs)
    joined = gpd.sjoin(
        gpd.GeoDataFrame(geometry=projected.to_numpy(), crs=crs),
        polygons[[district_field, "geometry"]],
        predicate="within",
        how="left",
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    district = joined[district_field].to_numpy(dtype=object)
    outside = pd.isna(district)
    if outside.any():
        nearest = gpd.sjoin_nearest(
            gpd.GeoDataFrame(geometry=projected.to_numpy()[outside], crs=crs),
            polygons[[district_field, "geometry"]],
            distance_col="_m",
        )
        nearest = nearest[~nearest.index.duplicated(keep="first")]
        close = nearest["_m"].to_numpy() <= BORDER_SLACK_M
        rows = np.flatnonzero(outside)
        district[rows[close]] = nearest[district_field].to_numpy()[close]
        names = table["settlement"].astype(str).to_numpy()
        report.near_border = names[rows[close]].tolist()
        report.outside = names[rows[~close]].tolist()
    keep = pd.notna(district)
    table, district, points = table[keep], district[keep], points[keep]
    own = table["municipality"].astype(str).map(_district_key).to_numpy()
    differs = own != pd.Series(district).astype(str).map(_district_key).to_numpy()
    report.district_mismatch = int(differs.sum())

    population = pd.to_numeric(table["population"], errors="coerce")
    kind = table["type"].astype(str).str.strip()
    place = np.where(
        kind == "г",
        np.where(population >= CITY_MIN_POPULATION, "city", "town"),
        np.where(population < HAMLET_MAX_POPULATION, "hamlet", "village"),
    )
    ids = table["id"] if "id" in table else pd.Series(np.arange(len(table)), index=table.index)
    # The registry writes the number sign as a Latin N («Шлюз N 6»): a Russian name has «№».
    names = table["settlement"].astype(str).str.replace(r"\bN\s*(?=\d)", "№ ", regex=True)
    places = gpd.GeoDataFrame(
        {
            "osm_type": "table",
            "osm_id": ids.astype(np.int64).to_numpy(),
            "name": names.to_numpy(),
            "name_ru": names.to_numpy(),
            "name_en": None,
            "place": place,
            "settlement_type": kind.to_numpy(),
            "population": pd.array(population.round(), dtype="Int64"),
            "population_source": path.stem,
            "oktmo": table["oktmo"].astype(str).to_numpy() if "oktmo" in table else None,
            "district": district,  # from the polygon (the nearest one just outside the region)
            "district_table": np.where(differs, table["municipality"].to_numpy(), None),
            "shared_point": shared[keep].to_numpy(),
            "admin_centre_level": pd.array([None] * len(table), dtype="Int64"),
        },
        geometry=points.to_numpy(),
        crs="EPSG:4326",
    )
    return places.sort_values("osm_id").reset_index(drop=True), report


def _district_key(name: str) -> str:
    """'Город Вологда' ~ 'Вологда'; 'Тотемский район' ~ 'Тотемский муниципальный округ'."""
    words = normalise_name(name).split()
    drop = {"район", "муниципальный", "округ", "городской", "город"}
    return " ".join(w for w in words if w not in drop)


def census_population(
    places: gpd.GeoDataFrame, table: gpd.GeoDataFrame, max_m: float
) -> tuple[pd.Series, pd.Series, dict]:
    """Population for OSM places without a `population` tag, from the table.

    An OSM place matches a row of the same normalised name (:func:`normalise_name`) within
    `max_m` metres (both projected), the nearest such row; where both have an OKTMO code it
    must agree. No row goes to two places: the nearer place keeps it. Returns (population,
    population_source, figures): `osm` where OSM has the tag, the table's name where it
    matched, empty where the population stays unknown.
    """
    population = places["population"].astype("Int64").copy()
    source = pd.Series(np.where(population.notna(), "osm", None), index=places.index, dtype=object)
    wanted = np.flatnonzero(population.isna().to_numpy())
    figures = {"places": len(places), "tagged": int(population.notna().sum()), "matched": 0}
    if len(wanted) == 0 or table.empty:
        figures["unknown"] = int(population.isna().sum())
        return population, source, figures
    place_xy = np.column_stack([places.geometry.x, places.geometry.y])[wanted]
    row_xy = np.column_stack([table.geometry.x, table.geometry.y])
    from scipy.spatial import cKDTree  # (here: only a region with a settlement table gets here)

    pairs = cKDTree(place_xy).sparse_distance_matrix(cKDTree(row_xy), max_m, output_type="ndarray")
    place_name = places["name"].map(normalise_name).to_numpy()[wanted]
    row_name = table["name"].map(normalise_name).to_numpy()
    same = place_name[pairs["i"]] == row_name[pairs["j"]]
    if "oktmo" in places and "oktmo" in table:
        a = places["oktmo"].to_numpy(dtype=object)[wanted][pairs["i"]]
        b = table["oktmo"].to_numpy(dtype=object)[pairs["j"]]
        known = pd.notna(a) & pd.notna(b)
        same &= ~known | (a == b)
    i, j, d = pairs["i"][same], pairs["j"][same], pairs["v"][same]
    order = np.argsort(d, kind="stable")  # the nearest pairs first: each side used once
    used_place, used_row = set(), set()
    label = table["population_source"].iloc[0] if "population_source" in table else "table"
    values = table["population"].to_numpy()
    for k in order:  # matched pairs only: at most a few thousand
        if i[k] in used_place or j[k] in used_row:
            continue
        used_place.add(i[k]), used_row.add(j[k])
        population.iloc[wanted[i[k]]] = values[j[k]]
        source.iloc[wanted[i[k]]] = label
    figures["matched"] = len(used_place)
    figures["unknown"] = int(population.isna().sum())
    return population, source, figures


def with_census_population(cfg: RegionConfig, places, boundaries, crs) -> gpd.GeoDataFrame:
    """OSM places with their `population_source`, filled in from the region's census table
    (``[census] table``) where OSM has no population."""
    places = places.copy()
    places["population_source"] = np.where(places["population"].notna(), "osm", None)
    if cfg.census is None:
        return places
    path = cfg.resolve(cfg.census.table)
    districts = boundaries[boundaries["role"] == "district"]
    if districts.empty:  # no district level: the region itself places the table's rows
        districts = boundaries[boundaries["role"] == "region"]
    districts = districts.assign(_name=lambda b: b["name"])
    table, report = read_settlement_table(path, districts, "_name", crs)
    report.log(path)
    population, source, figures = census_population(
        places.to_crs(crs), table.to_crs(crs), cfg.census.match_m
    )
    places["population"], places["population_source"] = population.to_numpy(), source.to_numpy()
    logger.info(
        "population: %d of %d places tagged in OSM, %d more from %s (of %d untagged: %.0f %%), "
        "%d still unknown",
        figures["tagged"],
        figures["places"],
        figures["matched"],
        path.name,
        figures["places"] - figures["tagged"],
        100.0 * figures["matched"] / max(figures["places"] - figures["tagged"], 1),
        figures["unknown"],
    )
    return places
