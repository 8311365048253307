"""The HTML map and the report: self-contained, escaped, and working in real Chromium offline."""

from __future__ import annotations

import re
import time

import geopandas as gpd
import numpy as np
import pyogrio
import pytest

from pipeline.export import read_metadata
from pipeline.maps import LAYER_ORDER, build_map
from pipeline.report import build_report
from tests.browser import Chromium, find_chromium
from tests.deliverables import distinct_colours, keep_screenshot, require

pytestmark = pytest.mark.integration

TILE_HOST = ("tile.openstreetmap.org",)  # the online basemap: fails offline, by design
EVIL = "<script>alert(1)</script>"
MAP_LAYERS = ("districts", "catchments", "isochrones", "gaps", "agglomeration_zones",
              "settlements", "anchors")  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    require(find_chromium() is not None, "chromium is not installed")
    require(_has_websocket(), "websocket-client is not installed (pip install -e '.[test]')")
    with Chromium() as chromium:
        yield chromium


def _has_websocket() -> bool:
    try:
        import websocket  # noqa: F401
    except ImportError:
        return False
    return True


def _layers(paths, cfg) -> dict[str, gpd.GeoDataFrame]:
    return {name: gpd.read_file(paths.gpkg(cfg.name), layer=name) for name in MAP_LAYERS}


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
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in page  # the online basemap
    assert "sourceMappingURL" not in page
    assert f'lang="{cfg.language}"' in page


def test_osm_text_is_escaped_in_map_and_report(andorra_run, tmp_path):
    cfg, paths = andorra_run
    layers = _layers(paths, cfg)
    s = layers["settlements"]
    s.loc[0, ["name", "name_en"]] = EVIL
    s.loc[1, "district"] = EVIL
    page = build_map(layers, cfg, read_metadata(paths.gpkg(cfg.name)))
    assert EVIL not in page and "</script><" not in page.split('id="map-data">')[1][:200]
    assert page.count("<script") == 3  # the data block, Leaflet, the map's own script
    report = build_report(s, layers["anchors"], cfg, {}, {})
    assert EVIL not in report and "&lt;script&gt;alert(1)&lt;/script&gt;" in report


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
    overlays = page.evaluate("Object.keys(anchorMap.overlays).sort()")
    # The result layers, then (where the region has service data) the services and one
    # "service desert" layer per service type found.
    layers = {name for name, _ in pyogrio.list_layers(paths.gpkg(cfg.name))}
    extra = set()
    if "services" in layers:
        types = set(gpd.read_file(paths.gpkg(cfg.name), layer="services")["service"])
        extra = {"services"} | {f"desert_{t}" for t in types}
    assert overlays == sorted({*LAYER_ORDER, *extra})
    n = pyogrio.read_info(paths.gpkg(cfg.name), layer="settlements")["features"]
    assert page.evaluate("anchorMap.settlements.length") == n
    drawn = page.evaluate(
        "Object.fromEntries(Object.entries(anchorMap.overlays).map(([k, l]) => [k, l.getLayers().length]))"
    )
    for name in MAP_LAYERS:
        features = pyogrio.read_info(paths.gpkg(cfg.name), layer=name)["features"]
        assert drawn[name] == features, name
    # A legend for each layer shown; the control lists every layer.
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
    # Offline: the basemap gave up and said so; the data are all there.
    assert page.evaluate("!document.getElementById('offline-note').hidden")
    approximate = page.evaluate("!!document.getElementById('approximate')")
    assert approximate == (cfg.name == "vologda")
    assert page.errors(allow_failed_hosts=TILE_HOST) == []
    png = page.screenshot(tmp_path / "map.png")
    assert distinct_colours(png) > 50
    keep_screenshot(png, f"map_{cfg.name}")
    # Search finds a settlement and opens its popup.
    name = page.evaluate(
        "anchorMap.settlements.length && window.anchorMap.find && document.querySelector('#settlement-names option').value"
    )
    page.evaluate(f"document.getElementById('search').value = {name!r}; anchorMap.find()")
    assert name in page.evaluate("document.querySelector('.leaflet-popup-content').textContent")  # fmt: skip


def test_place_named_script_shows_as_text(andorra_run, browser, tmp_path):
    cfg, paths = andorra_run
    layers = _layers(paths, cfg)
    layers["settlements"].loc[0, ["name", "name_en"]] = EVIL
    page_path = tmp_path / "index.html"
    page_path.write_text(build_map(layers, cfg, {}), encoding="utf-8")
    page = _open_map(browser, page_path)
    page.evaluate("window.alerted = false; window.alert = () => { window.alerted = true; }")
    page.evaluate(f"document.getElementById('search').value = {EVIL!r}; anchorMap.find()")
    popup = page.evaluate("document.querySelector('.leaflet-popup-content b').textContent")
    assert popup == EVIL
    assert page.evaluate("document.querySelectorAll('.leaflet-popup-content script').length") == 0
    assert page.evaluate("window.alerted") is False
    assert page.errors(allow_failed_hosts=TILE_HOST) == []


@pytest.mark.parametrize("run", ["andorra_run", "vologda_run"])
def test_report_works_offline_in_chromium(run, request, browser, tmp_path):
    cfg, paths = request.getfixturevalue(run)
    page = browser.open(paths.report_html, settle_s=0.3)
    assert page.errors() == []
    assert page.evaluate("document.querySelector('img.chart').naturalWidth") > 300
    assert page.evaluate("document.querySelectorAll('.card').length") == 4
    rows = page.evaluate("document.querySelectorAll('table.districts tbody tr').length")
    assert rows == gpd.read_file(paths.gpkg(cfg.name), layer="settlements")["district"].nunique()
    assert page.evaluate("!!document.getElementById('approximate')") == (cfg.name == "vologda")
    png = page.screenshot(tmp_path / "report.png")
    assert distinct_colours(png) > 20
    keep_screenshot(png, f"report_{cfg.name}")


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
    assert size_mb < 4.0, f"{size_mb:.1f} MB"
    started = time.perf_counter()
    page = _open_map(browser, page_path)
    assert page.evaluate("anchorMap.settlements.length") == len(xy)
    page.evaluate("anchorMap.map.setZoom(anchorMap.map.getZoom() + 1); true")
    elapsed_s = time.perf_counter() - started
    print(f"10,000 settlements: {size_mb:.2f} MB, open + zoom in {elapsed_s:.1f} s")
    assert elapsed_s < 20
    assert page.errors(allow_failed_hosts=TILE_HOST) == []
