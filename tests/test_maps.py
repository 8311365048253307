"""The map pages (folium) and the report: self-contained, escaped, saying what they show, and
working in real Chromium with the network cut."""

from __future__ import annotations

import json
import re
import time

import folium
import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from pipeline import stages
from pipeline.outputs import palette
from pipeline.outputs.export import read_metadata
from pipeline.outputs.maps import build_map, page_html, result_map
from pipeline.outputs.report import build_report
from tests.helpers.browser import Chromium, find_chromium
from tests.helpers.deliverables import distinct_colours, keep_screenshot, require

pytestmark = pytest.mark.integration

TILE_HOST = ("tile.openstreetmap.org",)  # the online basemap: fails offline, by design
EVIL = "<script>alert(1)</script>"
TEMPLATE = "{{ 7*7 }} {% if 1 %}Y{% endif %}"  # branca would evaluate this in a plain render
MAP_LAYERS = ("districts", "catchments", "isochrones", "gaps", "agglomeration_zones",
              "settlements", "anchors")  # fmt: skip
SCENARIO = "close_cg2_above_canillo"


@pytest.fixture(scope="module")
def browser():
    require(find_chromium() is not None, "chromium is not installed")
    require(_has_websocket(), "websocket-client is not installed (pip install -e '.[test]')")
    with Chromium(width=1400, height=1000) as chromium:
        yield chromium


def _has_websocket() -> bool:
    try:
        import websocket  # noqa: F401
    except ImportError:
        return False
    return True


def _layers(paths, cfg) -> dict[str, gpd.GeoDataFrame]:
    gpkg = paths.gpkg(cfg.name)
    names = {n for n, _ in pyogrio.list_layers(gpkg)}
    return {n: gpd.read_file(gpkg, layer=n) for n in (*MAP_LAYERS, "roads") if n in names}


def _features(paths, cfg, layer: str) -> int:
    return pyogrio.read_info(paths.gpkg(cfg.name), layer=layer)["features"]


# --- the page itself ------------------------------------------------------------------------


@pytest.mark.parametrize("run", ["andorra_run", "vologda_run"])
def test_map_needs_no_network(run, request):
    cfg, paths = request.getfixturevalue(run)
    page = paths.map_html.read_text(encoding="utf-8")
    assert "<link" not in page
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", page)  # CSS fetches nothing
    assert "@import" not in page
    linked = set(re.findall(r"(?:src|href)\s*=\s*[\"']?(https?://[^\"'\s>]+)", page))
    assert linked <= {"https://leafletjs.com"}, linked  # Leaflet's credit link, not a fetch
    for cdn in ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "netdna"):
        assert cdn not in page, cdn  # folium's CDN defaults are all gone
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in page  # the online basemap
    assert "sourceMappingURL" not in page
    assert f'lang="{cfg.language}"' in page


def test_osm_text_is_escaped_and_never_a_template(andorra_run):
    cfg, paths = andorra_run
    layers = _layers(paths, cfg)
    s = layers["settlements"]
    s.loc[0, ["name", "name_en"]] = EVIL
    s.loc[1, ["name", "name_en"]] = TEMPLATE
    s.loc[2, "district"] = EVIL
    page = build_map(layers, cfg, read_metadata(paths.gpkg(cfg.name)))
    assert EVIL not in page and "\\u003cscript\\u003ealert(1)" in page
    assert TEMPLATE in page  # the name as it is: not evaluated ("49 Y") by branca's templates
    assert "49 Y" not in page
    report = build_report(s, layers["anchors"], cfg, {}, {})
    assert EVIL not in report and "&lt;script&gt;alert(1)&lt;/script&gt;" in report


def test_pages_are_reproducible(andorra_run):
    cfg, paths = andorra_run
    layers = _layers(paths, cfg)
    meta = read_metadata(paths.gpkg(cfg.name))
    assert build_map(layers, cfg, meta) == build_map(layers, cfg, meta)


def test_one_more_layer_in_three_lines_of_folium(andorra_run, tmp_path):
    cfg, paths = andorra_run
    layers = _layers(paths, cfg)
    m = result_map(layers, cfg, read_metadata(paths.gpkg(cfg.name)))
    points = layers["settlements"].head(3)[["name", "geometry"]]
    folium.GeoJson(points, name="My layer", tooltip=folium.GeoJsonTooltip(["name"])).add_to(m)
    page = page_html(m)
    assert "My layer" in page and "cdn.jsdelivr" not in page


def test_neighbouring_catchments_never_share_a_colour(andorra_run, vologda_run):
    for cfg, paths in (andorra_run, vologda_run):
        catch = gpd.read_file(paths.gpkg(cfg.name), layer="catchments")
        colours = palette.catchment_colours(catch, touch_m=cfg.surface.cell_m)
        geoms = catch.geometry.buffer(cfg.surface.cell_m).to_numpy()
        ids = catch["anchor_id"].astype(int).to_numpy()
        tree = shapely.STRtree(geoms)
        a, b = tree.query(geoms, predicate="intersects")
        pairs = [(ids[i], ids[j]) for i, j in zip(a, b, strict=True) if i < j]
        assert pairs, cfg.name
        assert all(colours[i] != colours[j] for i, j in pairs), cfg.name
    assert palette.graph_colouring([{1, 2}, {0, 2}, {0, 1}], 8) == [0, 1, 2]


def test_catchments_this_near_count_as_touching():
    # Unit squares in a row, 0.5 apart, then 0.625 (both exact in binary): grown by 0.25 each,
    # the first two meet (a gap of exactly 2 × 0.25) and the third stays apart; grown by
    # 0.3125, all meet.
    squares = [shapely.box(x, 0, x + 1, 1) for x in (0.0, 1.5, 3.125)]
    assert palette.touching_pairs(squares, 0.25) == [(0, 1)]
    assert palette.touching_pairs(squares, 0.3125) == [(0, 1), (1, 2)]
    assert palette.touching_pairs(squares, 0.0) == []
    overlapping = [*squares, shapely.box(0.5, 0.5, 2, 2)]
    assert palette.touching_pairs(overlapping, 0.0) == [(0, 3), (1, 3)]


# --- in Chromium, offline ------------------------------------------------------------------


def _open_map(browser, path):
    page = browser.open(path)
    assert page.evaluate("typeof L === 'object' && L.version") == "1.9.4"
    assert page.evaluate("typeof window.anchorMap") == "object"
    return page


@pytest.mark.parametrize("run", ["andorra_run", "vologda_run"])
def test_map_works_offline_in_chromium(run, request, browser, tmp_path):
    cfg, paths = request.getfixturevalue(run)
    page = _open_map(browser, paths.map_html)
    overlays = set(page.evaluate("Object.keys(anchorMap.overlays)"))
    stored = {name for name, _ in pyogrio.list_layers(paths.gpkg(cfg.name))}
    expected = {"districts", "catchments", "isochrones", "gaps", "agglomeration_zones",
                "settlements", "anchors"}  # fmt: skip
    assert expected <= overlays
    s = gpd.read_file(paths.gpkg(cfg.name), layer="settlements")
    abandoned = int(s["abandoned"].fillna(False).astype(bool).sum())
    assert ("abandoned" in overlays) == (abandoned > 0)
    if "services" in stored:
        types = set(gpd.read_file(paths.gpkg(cfg.name), layer="services")["service"])
        assert {"services"} | {f"desert_{t}" for t in types} <= overlays
    if _features(paths, cfg, "roads"):
        assert "roads" in overlays
    # every feature of every result layer is drawn
    for name in ("districts", "catchments", "isochrones", "gaps", "agglomeration_zones", "anchors"):
        assert page.evaluate(f"anchorMap.count('{name}')") == _features(paths, cfg, name), name
    drawn = page.evaluate("anchorMap.count('settlements')")
    drawn += page.evaluate("anchorMap.count('abandoned')") if abandoned else 0
    assert drawn == len(s) == page.evaluate("anchorMap.settlements.length")
    # a legend block for each layer shown (that has one); the control lists every layer
    legends = page.evaluate(
        "[...document.querySelectorAll('.legend-block')].map(b => b.dataset.layer)"
    )
    shown = page.evaluate(
        "Object.keys(anchorMap.overlays).filter(k => anchorMap.map.hasLayer(anchorMap.overlays[k]))"
    )
    assert sorted(legends) == sorted(shown)
    assert page.evaluate(
        "document.querySelectorAll('.leaflet-control-layers-overlays label').length"
    ) == len(overlays)
    assert page.evaluate("!!document.querySelector('.leaflet-control-scale-line')")
    # every legend entry fits: nothing cut off in the box
    cut = page.evaluate(
        "[...document.querySelectorAll('.legend-label')].filter(n => n.scrollWidth > n.clientWidth + 1).map(n => n.textContent)"
    )
    assert cut == []
    # the layer list can be folded, and the region is not under it
    assert page.evaluate("!!document.querySelector('.leaflet-control-layers .layers-head')")
    covered = page.evaluate(
        """(() => { const m = anchorMap.map, b = m.getBounds(), box = document.querySelector(
        '.leaflet-control-layers').getBoundingClientRect(), d = anchorPage.bounds,
        sw = m.latLngToContainerPoint([d[1], d[0]]), ne = m.latLngToContainerPoint([d[3], d[2]]);
        return ne.x > box.left + 2 && sw.y > box.top + 2 && ne.y < box.bottom - 2; })()"""
    )
    assert covered is False
    # offline: the basemap gave up and said so; the data are all there
    assert page.evaluate("!document.getElementById('offline-note').hidden")
    assert page.evaluate("!!document.getElementById('approximate')") == (cfg.name == "vologda")
    assert page.errors(allow_failed_hosts=TILE_HOST) == []
    png = page.screenshot(tmp_path / "map.png")
    assert distinct_colours(png) > 50
    keep_screenshot(png, f"map_{cfg.name}")
    # search finds a settlement and opens its popup
    name = page.evaluate(
        "anchorMap.settlements[anchorMap.settlements.length - 1].feature.properties.l"
    )
    page.evaluate(f"anchorMap.find({name!r})")
    page.pump(0.5)
    assert name.split(" (")[0] in page.evaluate(
        "document.querySelector('.leaflet-popup-content').textContent"
    )


def test_place_named_script_shows_as_text(andorra_run, browser, tmp_path):
    cfg, paths = andorra_run
    layers = _layers(paths, cfg)
    layers["settlements"].loc[0, ["name", "name_en"]] = EVIL
    page_path = tmp_path / "index.html"
    page_path.write_text(build_map(layers, cfg, {}), encoding="utf-8")
    page = _open_map(browser, page_path)
    page.evaluate("window.alerted = false; window.alert = () => { window.alerted = true; }")
    page.evaluate(f"anchorMap.find({EVIL!r})")
    page.pump(0.5)
    popup = page.evaluate("document.querySelector('.leaflet-popup-content b').textContent")
    assert popup == EVIL
    assert page.evaluate("document.querySelectorAll('.leaflet-popup-content script').length") == 0
    # typed into the search box: the suggestion list shows it as text too
    page.evaluate(
        "const i = document.querySelector('#search-box input'); i.value = '<scr';"
        "anchorPage.search._fillRecordsCache();"
    )
    page.pump(0.6)
    assert page.evaluate("document.querySelectorAll('.search-tooltip script').length") == 0
    assert page.evaluate("window.alerted") is False
    assert page.errors(allow_failed_hosts=TILE_HOST) == []


@pytest.mark.parametrize("run", ["andorra_run", "vologda_run"])
def test_report_works_offline_in_chromium(run, request, browser, tmp_path):
    cfg, paths = request.getfixturevalue(run)
    page = browser.open(paths.report_html, settle_s=0.3)
    assert page.errors() == []
    assert page.evaluate("document.querySelector('svg.chart').getBoundingClientRect().width") > 300
    assert page.evaluate("document.querySelectorAll('svg.chart path.series').length") >= 1
    assert page.evaluate("document.querySelectorAll('.card').length") == 4
    rows = page.evaluate("document.querySelectorAll('table.districts tbody tr').length")
    assert rows == gpd.read_file(paths.gpkg(cfg.name), layer="settlements")["district"].nunique()
    assert page.evaluate("!!document.getElementById('approximate')") == (cfg.name == "vologda")
    title = page.evaluate("document.title")
    assert cfg.display_name in title
    what = page.evaluate("document.getElementById('what').textContent")
    assert ("сезон" if cfg.language == "ru" else "season") in what
    png = page.screenshot(tmp_path / "report.png")
    assert distinct_colours(png) > 20
    keep_screenshot(png, f"report_{cfg.name}")


def test_russian_report_is_russian(vologda_run):
    _cfg, paths = vologda_run
    text = paths.report_html.read_text(encoding="utf-8")
    # the bundled data's licence file is quoted as it is, folded away
    text = re.sub(r"<details>.*?</details>", " ", text, flags=re.S)
    body = re.sub(r"<style>.*?</style>|<[^>]+>", " ", text, flags=re.S)
    # no English words left in what a reader sees (system messages only in tooltips)
    for word in ("settlements", "people", "Error", "the region file", "network"):
        assert word not in body, word
    assert re.search(r"\b\d*1 населённый пункт\b|\b\d+ населённых пункт(а|ов)\b", body)


def test_what_if_pages_say_what_they_show(andorra_run, browser, tmp_path):
    """A scenario run, its report and the diff page name the region, season and scenario (its
    description, not its file name); the diff page draws the closed road and tells lost
    access apart."""
    cfg, paths = andorra_run
    run = paths.for_run(SCENARIO, None)
    stages.run_catchments(cfg, run, scenario=SCENARIO)
    stages.run_maps(cfg, run)
    stages.run_report(cfg, run)
    stages.run_diff(cfg, paths, "baseline", SCENARIO)
    description = "CG-2 closed above Canillo"
    for html_path in (run.map_html, run.report_html):
        text = html_path.read_text(encoding="utf-8")
        title = re.search(r"<title>(.*?)</title>", text, re.S).group(1)
        assert cfg.display_name in title and description in title and "summer" in title
        assert SCENARIO not in title
    diff_path = paths.maps / "diff" / f"baseline__{SCENARIO}.html"
    page = _open_map(browser, diff_path)
    title = page.evaluate("document.title")
    assert description in title and SCENARIO not in title
    assert page.evaluate("anchorMap.count('scenario_roads')") >= 1
    assert page.evaluate("anchorMap.count('changes')") >= 1
    legend = page.evaluate("document.querySelector('[data-layer=changes]').textContent")
    assert "lost access" in legend
    symbols = page.evaluate(
        "[...document.querySelectorAll('.symbol')].map(n => n.textContent).join('')"
    )
    assert "▼" in symbols  # lost access: its own symbol, not a gap circle
    assert page.errors(allow_failed_hosts=TILE_HOST) == []
    page = _open_map(browser, run.map_html)
    assert page.evaluate("anchorMap.count('scenario_roads')") >= 1


def test_map_of_a_whole_oblast_stays_light_and_fast(vologda_run, browser, tmp_path):
    """Vologda from OSM has ~8,000 settlements: 10,000 synthetic ones must load quickly."""
    cfg, paths = vologda_run
    layers = _layers(paths, cfg)
    rng = np.random.default_rng(4)
    base = layers["settlements"]
    region = layers["districts"].union_all()
    x0, y0, x1, y1 = region.bounds
    xy = rng.uniform([x0, y0], [x1, y1], size=(30_000, 2))
    inside = gpd.GeoSeries.from_xy(xy[:, 0], xy[:, 1], crs=base.crs).within(region).to_numpy()
    xy = xy[inside][:10_000]
    many = base.sample(len(xy), replace=True, random_state=4).reset_index(drop=True)
    many["name"] = [f"Деревня {i}" for i in range(len(xy))]
    many["name_ru"] = many["name"]
    many["anchor_time_min"] = rng.uniform(0, 150, len(xy))
    many = many.set_geometry(gpd.GeoSeries.from_xy(xy[:, 0], xy[:, 1], crs=base.crs))
    layers["settlements"] = many
    page_path = tmp_path / "index.html"
    page_path.write_text(build_map(layers, cfg, {}), encoding="utf-8")
    size_mb = page_path.stat().st_size / 1e6
    assert size_mb < 5.0, f"{size_mb:.1f} MB"
    started = time.perf_counter()
    page = _open_map(browser, page_path)
    assert page.evaluate("anchorMap.settlements.length") == len(xy)
    page.evaluate("anchorMap.map.setZoom(anchorMap.map.getZoom() + 1); true")
    elapsed_s = time.perf_counter() - started
    print(f"10,000 settlements: {size_mb:.2f} MB, open + zoom in {elapsed_s:.1f} s")
    assert elapsed_s < 20
    assert page.errors(allow_failed_hosts=TILE_HOST) == []


def test_seasons_and_plan_pages_work_offline(andorra_run, browser, tmp_path):
    """The seasons page (a season switcher: one season at a time) and the plan page draw in
    Chromium offline and say what they show."""
    import shutil

    from pipeline._io import region_paths

    cfg, paths = andorra_run
    root = tmp_path / "root"
    for kind in ("data_raw", "data_processed", "maps"):
        shutil.copytree(paths.processed.parents[1] / kind, root / kind)
    copy = region_paths(cfg, root=root)
    stages.run_seasons(cfg, copy)
    stages.run_plan(cfg, copy)
    stages.run_maps(cfg, copy)
    page = _open_map(browser, copy.maps / "seasons.html")
    assert "access by season" in page.evaluate("document.title")
    seasons = [
        k for k in page.evaluate("Object.keys(anchorMap.overlays)") if k.startswith("season_")
    ]
    assert len(seasons) == len(cfg.seasons) + 1  # each season and the worst one
    shown = page.evaluate(
        "Object.keys(anchorMap.overlays).filter(k => k.startsWith('season_') && anchorMap.map.hasLayer(anchorMap.overlays[k]))"
    )
    assert shown == [f"season_{cfg.default_season}"]
    other = next(k for k in seasons if k not in shown)
    page.evaluate(f"anchorMap.overlays['{other}'].addTo(anchorMap.map); true")  # switch season
    shown = page.evaluate(
        "Object.keys(anchorMap.overlays).filter(k => k.startsWith('season_') && anchorMap.map.hasLayer(anchorMap.overlays[k]))"
    )
    assert shown == [other]
    assert not page.evaluate("anchorMap.map.hasLayer(anchorMap.overlays.settlements)")
    assert page.errors(allow_failed_hosts=TILE_HOST) == []
    page = _open_map(browser, copy.maps / "plan.html")
    assert "planning answers" in page.evaluate("document.title")
    assert page.evaluate("anchorMap.count('proposals')") >= 1
    assert page.errors(allow_failed_hosts=TILE_HOST) == []
    index = (copy.maps / "index.html").read_text(encoding="utf-8")
    assert 'href="plan.html"' in index and 'href="seasons.html"' in index


def test_geometries_reach_the_page_as_geos_writes_them():
    from pipeline.outputs.maps import _geometry_objects

    hole = shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 2)]])
    geoms = np.array(
        [
            shapely.Point(39.12345, 60.126220000000004),
            shapely.LineString([(0, 0), (1.5, 2.25), (3, 1)]),
            hole,
            shapely.MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3), (4, 2)]]),
            shapely.MultiPolygon([hole, shapely.box(10, 10, 11, 11)]),
            shapely.MultiPoint([(0, 0), (1, 1)]),
            shapely.GeometryCollection([shapely.Point(0, 0)]),
            shapely.from_wkt("POLYGON EMPTY"),
            shapely.from_wkt("LINESTRING EMPTY"),
            None,
        ],
        dtype=object,
    )
    expected = [None if t is None else json.loads(t) for t in shapely.to_geojson(geoms)]
    assert _geometry_objects(geoms) == expected


def test_slivers_smaller_than_a_cell_are_dropped():
    from pipeline.outputs.maps import _without_slivers

    big_hole = [(2, 2), (8, 2), (8, 8), (2, 8)]
    tiny_hole = [(0.5, 0.5), (0.6, 0.5), (0.6, 0.6)]
    square = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [big_hole, tiny_hole])
    tiny = shapely.box(20, 20, 20.1, 20.1)
    other = shapely.box(30, 30, 40, 40)
    got = _without_slivers(
        np.array(
            [shapely.MultiPolygon([square, tiny]), tiny, shapely.MultiPolygon([square, other])]
        ),
        min_area=1.0,
    )
    clean = shapely.Polygon(square.exterior, [big_hole])
    assert got[0].geom_type == "Polygon" and shapely.equals_exact(got[0], clean, 0)
    assert got[1] is tiny  # nothing but slivers: kept as it is
    assert got[2].geom_type == "MultiPolygon"
    assert shapely.equals_exact(got[2], shapely.MultiPolygon([clean, other]), 0)


def test_a_ferry_without_a_highway_tag_is_drawn():
    """OSM ferries are route=ferry ways with no highway tag: they must not fall out of the
    map's road groups (synthetic lines)."""
    from pipeline.outputs.maps import _merged_roads, _road_kind

    roads = gpd.GeoDataFrame(
        {
            "highway": [np.nan, "primary"],  # as read from a GeoPackage
            "name": ["Паром", "Трасса"],
            "ferry": [True, False],
            "speed_kph": [None, 90.0],
        },
        geometry=[
            shapely.LineString([(0, 0), (2000, 0)]),
            shapely.LineString([(2000, 0), (9000, 0)]),
        ],
        crs=32637,
    )
    merged = _merged_roads(roads, _road_kind(roads))
    assert sorted(merged["kind"]) == ["ferry", "major"]


def test_area_simplification_ring_by_ring():
    """Each ring is simplified on its own, stays within the tolerance of its original, and a
    ring that collapses is dropped: a hole alone, a part with its shell (and its holes)."""
    from pipeline.outputs.maps import _simplified_rings

    rng = np.random.default_rng(3)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 400))
    radius = 1000 + rng.uniform(-30, 30, 400)  # a wobbly circle: DP has work to do
    wobbly = np.column_stack([radius * np.cos(angles), radius * np.sin(angles)])
    hole = [(-100, -100), (100, -100), (100, 100), (-100, 100)]
    speck_hole = [(500, 0), (501, 0), (501, 1)]  # collapses at 50 m
    speck = shapely.Polygon(
        [(5000, 0), (5001, 0), (5001, 1)], [[(5000.2, 0.1), (5000.5, 0.1), (5000.5, 0.2)]]
    )
    whole = shapely.Polygon(wobbly, [hole, speck_hole])
    geoms = np.array([shapely.MultiPolygon([whole, speck]), whole, speck], dtype=object)

    same = _simplified_rings(geoms, 0.0)
    assert all(shapely.equals(a, b) for a, b in zip(same, geoms, strict=True))

    got = _simplified_rings(geoms, 50.0)
    for g in got[:2]:
        assert g.geom_type == "Polygon" and len(g.interiors) == 1  # speck and its hole gone
        assert shapely.get_num_coordinates(g) < 100
        assert shapely.hausdorff_distance(g.exterior, whole.exterior) <= 50.0
        assert shapely.equals(shapely.Polygon(g.interiors[0]), shapely.Polygon(hole))
    assert got[2].is_empty  # nothing left to draw
