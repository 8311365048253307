"""The report's figures (against hand counts on a tiny table), the spreadsheet CSV, languages."""

from __future__ import annotations

import csv

import geopandas as gpd
import numpy as np
import pytest

from pipeline.config import load_region
from pipeline.i18n import TEXT
from pipeline.report import (
    build_report,
    district_table,
    headline_figures,
    largest_gaps,
    settlements_table,
    write_settlements_csv,
)


def _tiny() -> gpd.GeoDataFrame:
    """Six made-up settlements in two districts; gap threshold 60 min."""
    return gpd.GeoDataFrame(
        {
            "name": ["A", "B", "C", "D", "E", "F"],
            "name_ru": ["А", None, "В", None, None, None],
            "population": [1000, 200, np.nan, 50, 400, 10],
            "district": ["North", "North", "North", "South", "South", "South"],
            "anchor_time_min": [0.0, 25.0, 45.0, 70.0, np.nan, 61.0],
            "core_time_min": [10.0, 30.0, np.nan, np.nan, np.nan, 90.0],
            "anchor_name": ["A", "A", "A", "A", None, "A"],
            "access_class": [
                "core_zone",
                "anchor_zone",
                "anchor_zone",
                "gap",
                "unreachable",
                "gap",
            ],
            "is_anchor": [True, False, False, False, False, False],
            "is_core": [True, False, False, False, False, False],
        },
        geometry=gpd.GeoSeries.from_xy([0, 1000, 2000, 3000, 4000, 5000], [0] * 6, crs=3035),
    )


def test_headline_figures_match_hand_counts():
    h = {x.key: x for x in headline_figures(_tiny(), gap_min=60)}
    assert (h["within_30"].settlements, h["within_30"].population) == (2, 1200)
    assert (h["within_60"].settlements, h["within_60"].population) == (3, 1200)
    assert (h["gap"].settlements, h["gap"].population) == (3, 460)  # D, E (unreachable), F
    assert (h["unreachable"].settlements, h["unreachable"].population) == (1, 400)
    assert h["gap"].share == pytest.approx(460 / 1660)


def test_districts_sorted_by_population_in_gaps():
    table = district_table(_tiny(), gap_min=60)
    assert list(table["district"]) == ["South", "North"]
    south = table.iloc[0]
    assert (south["gap_population"], south["gap_settlements"], south["unreachable"]) == (460, 3, 1)
    assert table["settlements"].sum() == 6


def test_largest_gaps_by_population():
    top = largest_gaps(_tiny(), gap_min=60, n=2)
    assert list(top["name"]) == ["E", "D"]


@pytest.mark.parametrize(("language", "sep", "decimal"), [("ru", ";", ","), ("en", ",", ".")])
def test_settlements_csv_opens_in_excel(tmp_path, language, sep, decimal):
    path = tmp_path / "settlements.csv"
    write_settlements_csv(path, settlements_table(_tiny()), language)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel then reads UTF-8
    assert "А".encode() in raw
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=sep))
    assert len(rows) == 6 and rows[1]["anchor_time_min"] == f"25{decimal}0"
    assert rows[0]["population"] == "1000"
    assert {"lon", "lat"} <= set(rows[0])


def test_every_text_has_both_languages():
    assert all(set(v) == {"en", "ru"} for v in TEXT.values())


def test_report_language_and_warning():
    s = _tiny()
    ru = load_region("vologda")
    page = build_report(
        s, s[s["is_anchor"]], ru, {"approximate": "yes", "mode": "straight_line"}, {}
    )
    assert '<html lang="ru">' in page and "Главные цифры" in page
    assert 'id="approximate"' in page and "ПРИБЛИЖЁННЫЕ" in page
    en = load_region("andorra")
    page = build_report(s, s[s["is_anchor"]], en, {"approximate": "no"}, {"mode": "osm"})
    assert "Headline figures" in page and 'id="approximate"' not in page
    assert "data:image/png;base64," in page
