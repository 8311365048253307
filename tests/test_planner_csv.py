"""One reader for planners' CSV files (pipeline/inputs/planner_csv.py), behind the anchors CSV and the
services CSV alike; names looked up by district; the CSV files the pipeline writes."""

from __future__ import annotations

import csv

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from pipeline._io import region_paths
from pipeline.access.catchments import read_anchor_csv, resolve_names
from pipeline.config import load_region
from pipeline.errors import AnchorNotFoundError, InputDataError
from pipeline.inputs.planner_csv import numbers, read_planner_csv
from pipeline.inputs.service_points import read_service_csv
from pipeline.outputs.export import write_csv

SERVICES = "name;type;lat;lon\r\nФАП «Дельта»;fap;60,05;38,95\r\n\r\nШкола №1;school;60.0;39.1\r\n"
ENCODINGS = ["utf-8", "utf-8-sig", "cp1251", "utf-16", "utf-16-le", "utf-16-be"]


def _settlements() -> gpd.GeoDataFrame:
    """Two villages «Никольское» in two districts, a town, a village with ё."""
    return gpd.GeoDataFrame(
        {
            "name": ["Никольское", "Никольское", "Кадуй", "Берёзовка", "Сокол"],
            "name_ru": [None] * 5,
            "name_en": [None, None, "Kaduy", None, "Sokol"],
            "place": ["village", "village", "town", "village", "town"],
            "population": pd.array([800, 300, 10000, 50, 36000], dtype="Int64"),
            "district": [
                "Кадуйский муниципальный округ",
                "Сокольский район",
                "Кадуйский муниципальный округ",
                "Сокольский район",
                "городской округ Сокол",
            ],
        },
        geometry=[Point(i, 0) for i in range(5)],
        crs="EPSG:32637",
    )


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_encoding_reads_the_same_table(tmp_path, encoding):
    path = tmp_path / "services.csv"
    text = SERVICES if not encoding.startswith("utf-16") else SERVICES.replace(";", "\t")
    path.write_bytes(text.encode(encoding))
    table = read_planner_csv(path, "service", "name,type,lat,lon")
    assert list(table.table.columns) == ["name", "type", "lat", "lon"]
    assert list(table.table["name"]) == ["ФАП «Дельта»", "Школа №1"]
    assert list(table.lines) == [2, 4]  # the blank line is skipped, lines still count
    assert table.encoding == {"cp1251": "Windows-1251"}.get(
        encoding, encoding[:6].rstrip("-").upper()
    )
    points = read_service_csv(path, ["fap", "school"])
    assert list(points["service"]) == ["fap", "school"]
    assert points.geometry.x.tolist() == [38.95, 39.1] and points.geometry.y.tolist() == [
        60.05,
        60.0,
    ]


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_separators_and_quotes(tmp_path, sep):
    path = tmp_path / "a.csv"
    path.write_text(f'Name{sep}District\n"Сокол, город"{sep}x\n  Кадуй {sep} \n', encoding="utf-8")
    table = read_planner_csv(path, "anchor", "name")
    assert table.separator == sep
    assert list(table.table["name"]) == ["Сокол, город", "Кадуй"]
    assert list(table.table["district"]) == ["x", ""]


def test_decimal_comma_numbers():
    got = numbers(["59,22", "59.22", " 40 ", "1\u00a0000", "north", "", "1,2,3"])
    assert got.tolist()[:4] == [59.22, 59.22, 40.0, 1000.0]
    assert got.iloc[4:].isna().all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty; write a header line `name,type,lat,lon` and one service"),
        (b" \r\n\r\n", "the file is empty"),
        (b"\xef\xbb\xbf", "the file is empty"),
        (b"name;type;lat;lon\r\n", "lists no services, only the header"),
        ("name\ttype\tlat\tlon\r\n".encode("utf-16"), "lists no services, only the header"),
        (b"name,type,lat,lon\nA,fap,59,2,39,8\n", "line 2: 6 fields but the header"),
        (b"name;type;lat;lon\nA;fap;north;39\n", "line 2 has no valid lat/lon"),
        (b"name;type;lat;lon\nA;spaceport;60;39\n", "line 2: unknown service type 'spaceport'"),
        (b"name;kind\nA;fap\n", "missing column(s) lat, lon, type (found: name, kind)"),
        (b"\x00\x01\x02\x03\x00\x00\x00", "not a text file"),
    ],
)
def test_a_bad_services_csv_is_one_line(tmp_path, content, message):
    path = tmp_path / "services.csv"
    path.write_bytes(content)
    with pytest.raises(InputDataError) as caught:
        read_service_csv(path, ["fap", "school"])
    text = str(caught.value)
    assert message in text and str(path) in text and "\n" not in text


def test_the_district_column_tells_two_villages_of_one_name_apart(tmp_path):
    s = _settlements()
    path = tmp_path / "anchors.csv"
    path.write_bytes(
        "name;district\r\nНикольское;Кадуйский район\r\nникольское;СОКОЛЬСКИЙ муниципальный округ\r\n"
        "Березовка;сокольский\r\n".encode("cp1251")
    )
    assert read_anchor_csv(path, s).tolist() == [0, 1, 3]
    # Without districts, a shared name is one settlement: listed twice is a duplicate.
    path.write_text("name\nНикольское\nНикольское\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"is listed twice.*`district` column"):
        read_anchor_csv(path, s)


def test_a_name_not_in_its_district_is_looked_up_in_the_whole_region(tmp_path, caplog):
    s = _settlements()
    found = resolve_names(s, ["Сокол", "Кадуй"], "anchor", districts=["Сокольский район", "Нет"])
    assert found.tolist() == [2, 4]
    assert "'Нет' is not a district of the region" in caplog.text


def test_every_misspelt_name_is_listed_with_its_closest_names():
    s = _settlements()
    with pytest.raises(AnchorNotFoundError) as caught:
        resolve_names(s, ["Кадуи", "Сокол", "Никольскоэ", "Zzzz"], "anchor", "anchors.csv")
    text = str(caught.value)
    assert text.startswith("3 anchors match no settlement of the region: ")
    assert "'Кадуи' (closest: Кадуй)" in text
    assert "'Никольскоэ' (closest: Никольское)" in text
    assert "'Zzzz' (no close name)" in text and "fix the names in anchors.csv" in text
    with pytest.raises(AnchorNotFoundError, match=r"^core 'Кадуи' matches no settlement .*Кадуй"):
        resolve_names(s, ["Кадуи"], "core")


def test_anchor_csv_by_osm_id_gives_the_line(tmp_path):
    s = _settlements().assign(osm_id=np.arange(10, 15))
    path = tmp_path / "anchors.csv"
    path.write_text("osm_id\n10\n\n12x\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"line 4: osm_id '12x' is not a number"):
        read_anchor_csv(path, s)
    path.write_text("osm_id\n10\n14\n", encoding="utf-8")
    assert read_anchor_csv(path, s).tolist() == [0, 4]


# --- the CSV files the pipeline writes --------------------------------------------------------


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "district": ["Кадуйский", "Сокольский"],
            "settlements": [3.0, 12.0],  # sums of counts: whole numbers, written as integers
            "population": [1200.0, np.nan],
            "median_time_min": [12.3456, np.nan],
            "area_km2": [1234.567, 0.04],
            "area_share_pct": [12.345, 100.0],
        }
    )


@pytest.mark.parametrize(
    ("region", "sep", "decimal"), [("vologda", ";", ","), ("andorra", ",", ".")]
)
def test_written_csv_follow_the_region_language(tmp_path, region, sep, decimal):
    paths = region_paths(load_region(region), root=tmp_path)
    path = paths.processed / "plan" / "cross_border.csv"
    write_csv(path, _table())  # the language comes from the region whose folder it is in
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=sep))
    assert rows[0]["settlements"] == "3" and rows[0]["population"] == "1200"
    assert rows[1]["population"] == ""
    assert rows[0]["median_time_min"] == f"12{decimal}35"
    assert rows[0]["area_km2"] == f"1234{decimal}6" and rows[1]["area_km2"] == f"0{decimal}0"
    assert rows[0]["area_share_pct"] == f"12{decimal}3"


def test_a_registry_abbreviation_finds_the_osm_name(caplog):
    """The settlement registry writes «им Бабушкина» where OSM has «имени Бабушкина»; an exact
    name still wins over a loose one."""
    s = gpd.GeoDataFrame(
        {
            "name": ["имени Бабушкина", "Бабушкина", "Сокол"],
            "place": ["village", "hamlet", "town"],
            "population": pd.array([4000, 10, 36000], dtype="Int64"),
        },
        geometry=[Point(43.1, 59.7), Point(43.2, 59.7), Point(40.1, 59.5)],
        crs=4326,
    )
    caplog.set_level("INFO")
    assert resolve_names(s, ["им Бабушкина"], "anchor").tolist() == [0]
    assert "took 'имени Бабушкина'" in caplog.text
    assert resolve_names(s, ["Бабушкина", "с. Сокол"], "anchor").tolist() == [1, 2]
