"""The report's figures (against hand counts on a tiny table), the spreadsheet CSV, languages."""

from __future__ import annotations

import csv
import re

import geopandas as gpd
import numpy as np
import pytest

from pipeline.config import load_region
from pipeline.outputs.i18n import TEXT
from pipeline.outputs.report import (
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
    assert '<svg class="chart"' in page and "data:image/png" not in page


def test_plural_forms_follow_the_number():
    from pipeline.outputs.i18n import plural_form, trn

    assert [plural_form("ru", n) for n in (1, 2, 5, 11, 12, 21, 22, 25, 101, 111)] == [
        0, 1, 2, 2, 2, 0, 1, 2, 0, 2,
    ]  # fmt: skip
    assert trn("ru", "settlements_n", 1) == "1 населённый пункт"
    assert trn("ru", "settlements_n", 2) == "2 населённых пункта"
    assert trn("ru", "settlements_n", 5) == "5 населённых пунктов"
    assert trn("en", "settlements_n", 1) == "1 settlement"
    assert trn("en", "settlements_n", 3) == "3 settlements"
    # every plural text has as many forms as its language has
    for key, texts in TEXT.items():
        if "|" in texts["en"] or "|" in texts["ru"]:
            assert texts["en"].count("|") == 1, key
            assert texts["ru"].count("|") in (1, 2), key


def test_system_message_is_a_short_phrase_with_the_original_on_hover():
    s = _tiny()
    ru = load_region("vologda")
    reason = "no network: https://example.org/x.pbf: ConnectionError(Max retries exceeded)"
    page = build_report(s, s[s["is_anchor"]], ru, {}, {"mode": "fallback", "reason": reason})
    assert "нет подключения к сети" in page
    visible = page.replace(f'title="{reason}"', "")
    assert "ConnectionError" not in visible  # only in the tooltip
    assert f'title="{reason}"' in page


def test_report_names_region_season_and_scenario():
    s = _tiny()
    en = load_region("andorra")
    meta = {"season": "winter", "scenario": "close_cg2_above_canillo"}
    page = build_report(s, s[s["is_anchor"]], en, meta, {})
    title = page.split("<title>")[1].split("</title>")[0]
    assert "Andorra" in title and "winter" in title and "CG-2 closed above Canillo" in title
    assert "close_cg2_above_canillo" not in page
    assert "1 settlement " in page or "1 settlement<" in page or "settlements" in page


def test_cumulative_share_follows_its_definition():
    from pipeline.outputs.report import cumulative_share

    # 100 people at 10 min, 300 at 20, 50 at 50 (beyond the 40 min limit), 550 never reached
    x, y = cumulative_share(np.array([20.0, 10.0, 50.0, np.nan]), np.array([300, 100, 50, 550]), 40)

    def share_at(t):  # the step curve: the last corner at or before t
        return y[np.searchsorted(x, t, side="right") - 1]

    assert [share_at(t) for t in (0, 9.9, 10, 15, 20, 39.9, 40)] == [0, 0, 10, 10, 40, 40, 40]
    assert x[0] == 0 and x[-1] == 40 and (np.diff(x) >= 0).all()


def test_chart_is_an_svg_with_a_rising_line_per_series():
    import xml.etree.ElementTree as ET

    s = _tiny()
    page = build_report(s, s[s["is_anchor"]], load_region("andorra"), {}, {})
    svg = page[page.index('<svg class="chart"') : page.index("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)  # well-formed on its own
    ns = "{http://www.w3.org/2000/svg}"
    paths = {p.get("data-key"): p.get("d") for p in root.iter(f"{ns}path")}
    assert set(paths) == {"anchor", "core"}
    texts = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "to the nearest anchor" in texts and "to the nearest agglomeration core" in texts
    for d in paths.values():  # M x y, then H x V y: rightwards and upwards (y grows down)
        xs = [float(v) for v in re.findall(r"H([-\d.]+)", d)]
        ys = [float(v) for v in re.findall(r"V([-\d.]+)", d)]
        assert len(xs) == len(ys) > 1
        assert (np.diff(xs) >= 0).all() and (np.diff(ys) <= 0).all()
