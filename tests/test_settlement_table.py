"""The settlement table reader (pipeline/inputs/settlement_table.py): each known defect of the SME
registry handled, on a small *synthetic* table written here, and on the real bundled table;
and census population for OSM places, by name and distance."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.config import load_region
from pipeline.inputs.settlement_table import (
    census_population,
    normalise_name,
    read_settlement_table,
)

CRS = "EPSG:32637"
PROJECT = Path(__file__).resolve().parent.parent


def districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"district": ["Западный район", "Восточный район"]},
        geometry=[shapely.box(39.0, 59.0, 39.5, 59.5), shapely.box(39.5, 59.0, 40.0, 59.5)],
        crs="EPSG:4326",
    )


def write_table(tmp_path: Path, rows: list[tuple]) -> Path:
    path = tmp_path / "table.csv"
    frame = pd.DataFrame(
        rows, columns=["id", "settlement", "type", "population", "latitude_dd", "longitude_dd",
                       "municipality"],
    )  # fmt: skip
    frame.to_csv(path, index=False)
    return path


def test_each_known_defect_is_handled_and_counted(tmp_path):
    path = write_table(
        tmp_path,
        [
            (1, "Ивановка", "д", 120, 59.2, 39.2, "Западный район"),
            (2, "Быльник", "д", 0, 59.0, 40.0, "Западный район"),  # placeholder coordinates
            (3, "Большой Двор", "д", 55, 59.3, 39.3, "Западный район"),  # listed twice …
            (4, "Большой Двор", "д", 175, 59.3, 39.3, "Западный район"),  # … the larger stays
            (5, "Мыза", "д", 0, 59.1, 39.7, "Восточный район"),  # two names, one point
            (6, "Мыза-Тестово", "д", 15, 59.1, 39.7, "Восточный район"),
            (7, "Пограничная", "д", 30, 59.2, 38.98, "Западный район"),  # ~1.1 km outside
            (8, "Далёкая", "д", 40, 57.0, 39.2, "Западный район"),  # far outside: wrong point
            (9, "Путаница", "с", 300, 59.2, 39.8, "Западный район"),  # lies in Восточный
            (10, "Городок", "г", 9000, 59.4, 39.6, "Восточный район"),
        ],
    )
    places, report = read_settlement_table(path, districts(), "district", CRS)
    assert report.placeholders == ["Быльник"]
    assert report.duplicates == 1
    assert report.shared_point == 2
    assert report.near_border == ["Пограничная"] and report.outside == ["Далёкая"]
    assert report.district_mismatch == 1
    p = places.set_index("name")
    assert set(p.index) == {"Ивановка", "Большой Двор", "Мыза", "Мыза-Тестово", "Пограничная",
                            "Путаница", "Городок"}  # fmt: skip
    assert p.loc["Большой Двор", "population"] == 175
    assert p.loc["Мыза", "shared_point"] and not p.loc["Ивановка", "shared_point"]
    assert p.loc["Пограничная", "district"] == "Западный район"
    assert p.loc["Путаница", "district"] == "Восточный район"
    assert p.loc["Путаница", "district_table"] == "Западный район"
    assert p.loc["Городок", "place"] == "town" and p.loc["Ивановка", "place"] == "village"
    assert p.loc["Мыза-Тестово", "place"] == "hamlet"  # fewer than 100 people
    assert p.loc["Мыза", "population"] == 0  # abandoned, but kept
    assert (places["population_source"] == "table").all()


def test_the_bundled_vologda_table():
    cfg = load_region("vologda")
    off = cfg.offline
    d = gpd.read_file(cfg.resolve(off.districts))
    places, report = read_settlement_table(cfg.resolve(off.settlements), d, "district", CRS)
    assert report.rows == 7798
    assert len(report.placeholders) == 25
    assert len(places) >= 7500
    assert 1_100_000 <= places["population"].sum() <= 1_250_000
    assert (places["population"] == 0).sum() > 2500
    assert places["name"].str.contains("[А-Яа-яЁё]").all()  # every name Cyrillic
    assert not places["name"].str.contains("[A-Za-z]").any()  # and no Latin letter in one
    assert {"Шлюз № 4", "Шлюз № 5", "Шлюз № 6"} <= set(places["name"])  # the registry's «N 4»
    assert places["district"].notna().all() and places["district"].nunique() == 28


def test_names_are_compared_without_type_words_case_accents_and_hyphens():
    assert normalise_name("д. Малое-Село") == normalise_name("Малое село")
    assert normalise_name("Сорна\u0301с") == normalise_name("сорнас")
    assert normalise_name("им. Бабушкина") == normalise_name("имени Бабушкина")
    assert normalise_name("Ёлкино") == normalise_name("Елкино")
    assert normalise_name("Малое") != normalise_name("Большое")


def test_census_population_fills_only_untagged_places_each_row_once():
    def points(rows, **columns):
        xy = np.array([r[-2:] for r in rows], dtype=float)
        return gpd.GeoDataFrame(
            {"name": [r[0] for r in rows], **columns}, geometry=gpd.points_from_xy(*xy.T), crs=CRS
        )

    table = points(
        [("Малое-Село", 0, 0), ("Петрово", 5000, 0), ("Ивановка", 10000, 0), ("Дальнее", 20000, 0)],
        population=[80, 40, 300, 12],
        population_source="table",
    )
    places = points(
        [
            ("д. Малое Село", 500, 0),  # untagged, 500 m from its row
            ("Петрово", 5100, 0),  # two places of one name near one row: the nearer gets it
            ("Петрово", 6500, 0),
            ("Ивановка", 10000, 0),  # tagged in OSM: kept
            ("Дальнее", 26000, 0),  # 6 km from its row: no match
        ],
        population=pd.array([None, None, None, 250, None], dtype="Int64"),
    )
    population, source, figures = census_population(places, table, max_m=3000)
    assert population.tolist() == [80, 40, pd.NA, 250, pd.NA]
    assert source.tolist() == ["table", "table", None, "osm", None]
    assert figures == {"places": 5, "tagged": 1, "matched": 2, "unknown": 2}


def test_an_osm_run_takes_missing_populations_from_the_census_table(tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO)
    from pipeline import stages
    from tests.helpers.synthetic_region import new_region, prepare_region

    b = new_region()
    b.road([(39.00, 60.02), (39.05, 60.02)], highway="tertiary")
    b.place(39.00, 60.02, "Опоки", place="town", population="900")
    b.place(39.05, 60.02, "Малое Село")  # no population tag in OSM
    b.place(39.10, 60.05, "Глушь")  # nor here, and not in the table
    write_table(
        tmp_path,
        [
            (1, "Малое-Село", "д", 64, 60.021, 39.051, "Синтетический район"),
            (2, "Опоки", "г", 1500, 60.02, 39.00, "Синтетический район"),
        ],
    )
    cfg, paths = prepare_region(
        tmp_path, b, anchors=["Опоки"], extra='\n[census]\ntable = "table.csv"\n'
    )
    for stage in (stages.run_extract, stages.run_network, stages.run_catchments):
        stage(cfg, paths)
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements").set_index("name")
    assert s.loc["Опоки", "population"] == 900 and s.loc["Опоки", "population_source"] == "osm"
    assert s.loc["Малое Село", "population"] == 64
    assert s.loc["Малое Село", "population_source"] == "table"
    assert pd.isna(s.loc["Глушь", "population"]) and pd.isna(s.loc["Глушь", "population_source"])
    assert "1 more from table.csv" in caplog.text and "1 still unknown" in caplog.text
