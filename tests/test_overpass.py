"""The ``kind = "overpass"`` source (pipeline/inputs/overpass.py): osmnx against a fake Overpass API.

Every request goes to tests/fake_overpass.py on 127.0.0.1 (never the internet), which answers
the queries osmnx really sends from synthetic data (tests.fake_overpass.build_testland: nothing of
it is real OSM data). The same data written as a PBF is the reference: the Overpass source
must give the same extract layers (columns, dtypes, rows, geometries), the same graph and the
same settlement times, with its services.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import osmium
import osmnx as ox
import pandas as pd
import pytest

from pipeline import stages
from pipeline._io import RegionPaths, region_paths
from pipeline.config import PROJECT_ROOT, RegionConfig, load_region
from pipeline.config.defaults import DEFAULT_SERVICE_TAGS
from pipeline.errors import ConfigError, DownloadError
from pipeline.inputs import overpass
from pipeline.outputs.export import layer_names, read_layer
from tests.helpers.fake_overpass import (
    ERROR_PAGE,
    TESTLAND_RELATION,
    TESTLAND_TOML,
    FakeOverpass,
    build_testland,
    serve,
)
from tests.helpers.osm_builder import OsmBuilder
from tests.helpers.stage_trace import makefile_list, trace_stage

VOLOGDA_DIR = PROJECT_ROOT / "regions" / "vologda"
BY_ID = f"relation_id = {TESTLAND_RELATION}\nadmin_level = 4"
UNTIL_CATCHMENTS = (stages.run_fetch, stages.run_extract, stages.run_network, stages.run_catchments)
EVERY_STAGE = (*UNTIL_CATCHMENTS, stages.run_maps, stages.run_report, stages.run_qgis)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep requests from sending 127.0.0.1 through a proxy set in the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fake() -> FakeOverpass:
    with serve(build_testland()) as server:
        yield server


def _region(
    folder: Path,
    source: str,
    *,
    boundary: str = BY_ID,
    offline: bool = False,
    extra: str = "",
) -> tuple[RegionConfig, RegionPaths]:
    """Testland's region file in `folder` (its outputs under folder/out), loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    text = TESTLAND_TOML.format(source=source, boundary=boundary) + extra
    if offline:
        text += (
            "[offline]\n"
            f"districts = {json.dumps(str(VOLOGDA_DIR / 'districts_osm_2020.geojson'))}\n"
            f"settlements = {json.dumps(str(VOLOGDA_DIR / 'settlements_geonames_2020.geojson'))}\n"
        )
    path = folder / "testland.toml"
    path.write_text(text, encoding="utf-8")
    cfg = load_region(config=path)
    return cfg, region_paths(cfg, root=folder / "out")


def _overpass_region(folder: Path, fake_or_url, **kwargs) -> tuple[RegionConfig, RegionPaths]:
    url = fake_or_url.api_url if isinstance(fake_or_url, FakeOverpass) else fake_or_url
    return _region(folder, f'kind = "overpass"\noverpass_url = "{url}"', **kwargs)


def _pbf_region(folder: Path, builder: OsmBuilder) -> tuple[RegionConfig, RegionPaths]:
    folder.mkdir(parents=True, exist_ok=True)
    builder.write(folder / "testland.osm.pbf")
    return _region(folder, 'local_pbf = "testland.osm.pbf"')


def _run(cfg: RegionConfig, paths: RegionPaths, runs=UNTIL_CATCHMENTS) -> None:
    for run in runs:
        run(cfg, paths)


def _assert_same_extract(a: RegionPaths, b: RegionPaths) -> None:
    """Both osm.gpkg have the same layers, columns, dtypes, rows and geometries."""
    assert layer_names(a.osm_gpkg) == layer_names(b.osm_gpkg)
    for layer in layer_names(b.osm_gpkg):
        x, y = read_layer(a.osm_gpkg, layer), read_layer(b.osm_gpkg, layer)
        assert list(x.columns) == list(y.columns), layer
        assert x.dtypes.to_dict() == y.dtypes.to_dict(), layer
        pd.testing.assert_frame_equal(x.drop(columns="geometry"), y.drop(columns="geometry"))
        assert x.geometry.geom_equals_exact(y.geometry, 0).all(), layer


# --- the queries ----------------------------------------------------------------------------


def test_region_query_by_relation_id(tmp_path: Path) -> None:
    cfg, _ = _overpass_region(tmp_path, "http://127.0.0.1:9/api")
    query = overpass.region_query(cfg)
    assert query == ("[out:json][timeout:900][maxsize:1073741824];rel(900);(._;>;);out;")


def test_region_query_by_name(tmp_path: Path) -> None:
    boundary = 'region_name = "Вологодская \\"область\\""\nadmin_level = 4'
    cfg, _ = _overpass_region(tmp_path, "http://127.0.0.1:9/api", boundary=boundary)
    query = overpass.region_query(cfg)
    level = 'rel["boundary"="administrative"]["admin_level"="4"]'
    for key in ("name", "name:ru", "name:en"):
        assert f'{level}["{key}"="Вологодская \\"область\\""];' in query


def test_region_query_needs_a_boundary(tmp_path: Path) -> None:
    cfg, _ = _overpass_region(tmp_path, "http://127.0.0.1:9/api", boundary="admin_level = 4")
    with pytest.raises(ConfigError, match="relation_id"):
        overpass.region_query(cfg)


def test_feature_tags_ask_for_roads_ferries_places_and_every_service(tmp_path: Path) -> None:
    extra = '[services.tags]\ncash = ["amenity=atm"]\ncraft = ["craft=*"]\n'
    cfg, _ = _overpass_region(tmp_path, "http://127.0.0.1:9/api", extra=extra)
    tags = overpass.feature_tags(cfg)
    assert tags["highway"] is True and tags["route"] == ["ferry"] and tags["craft"] is True
    assert tags["place"] == ["city", "town", "village", "hamlet", "isolated_dwelling"]
    for rules in [*DEFAULT_SERVICE_TAGS.values(), ["amenity=atm"]]:
        for rule in rules:
            key, value = rule.split("=")
            assert value in tags[key], rule


# --- the layers: as from a PBF of the same area ---------------------------------------------


def test_overpass_gives_the_layers_times_and_services_of_a_pbf(fake, tmp_path: Path) -> None:
    """The whole pipeline on Testland from the fake Overpass server, and the same data as a
    PBF up to the catchments: the same extract, graph and settlement times."""
    cfg, paths = _overpass_region(tmp_path / "overpass", fake)
    _run(cfg, paths, EVERY_STAGE)  # maps, report and QGIS run unchanged on it too
    pbf_cfg, pbf_paths = _pbf_region(tmp_path / "pbf", build_testland())
    _run(pbf_cfg, pbf_paths)

    record = json.loads(paths.sources.read_text(encoding="utf-8"))
    assert record["mode"] == "osm" and record["format"] == "pbf"
    assert record["file"] == str((paths.raw / overpass.OVERPASS_FILE).resolve())
    assert record["url"] == f"{fake.api_url}/interpreter"
    _assert_same_extract(paths, pbf_paths)
    with paths.network.open("rb") as a, pbf_paths.network.open("rb") as b:
        assert a.read() == b.read()
    ours = read_layer(paths.gpkg("testland"), "settlements")
    theirs = read_layer(pbf_paths.gpkg("testland"), "settlements")
    pd.testing.assert_frame_equal(ours, theirs)
    assert ours["anchor_time_min"].notna().all()

    services = read_layer(paths.osm_gpkg, "services")
    assert set(services["name"].dropna()) >= {
        "Школа №1", "Beta school", "ФАП Гамма", "Border hospital",  # node, areas, beyond
    }  # fmt: skip
    assert set(services["service"]) == {"school", "pharmacy", "post_office", "shop", "fap",
                                        "hospital"}  # fmt: skip
    assert ours["time_school_min"].notna().all()
    places = read_layer(paths.osm_gpkg, "places").set_index("name")
    assert places.loc["Gamma", "admin_centre_level"] == 8  # from a finer boundary fetched
    assert {"Epsilon", "Zeta"} <= set(places.index)  # an area only; a multipolygon

    # What osmnx sent: the region by id, then features queries with the service tags.
    assert fake.queries[0] == overpass.region_query(cfg)
    assert "['admin_level'='6'](poly:" in fake.queries[1]
    assert "['admin_level'='4']" not in fake.queries[1]  # not the neighbouring regions
    for part in ("node['amenity'='school'](poly:", "way['healthcare'='centre'](poly:",
                 "way['route'='ferry'](poly:", "relation['place'='village'](poly:"):  # fmt: skip
        assert part in fake.queries[2], part
    assert len(fake.queries) == 3
    # The query area is the clip buffer (and a margin): not the far village and its road.
    names = {o.tags.get("name") for o in osmium.FileProcessor(record["file"]) if "name" in o.tags}
    assert "Border Town" in names and not names & {"Remote", "Faraway", "Faraway hospital"}


def test_region_by_name_is_the_region_by_id(fake, tmp_path: Path) -> None:
    by_id = _overpass_region(tmp_path / "id", fake)
    name = 'region_name = "Тестовая область"\nadmin_level = 4'  # its name:ru
    by_name = _overpass_region(tmp_path / "name", fake, boundary=name)
    for cfg, paths in (by_id, by_name):
        _run(cfg, paths, (stages.run_fetch, stages.run_extract))
    assert (
        'rel["boundary"="administrative"]["admin_level"="4"]["name:ru"="Тестовая область"];'
        in (fake.queries[-3])
    )
    _assert_same_extract(by_id[1], by_name[1])


def test_a_name_two_boundaries_share_lists_them(tmp_path: Path) -> None:
    builder = build_testland()
    builder.relation(
        [("way", builder.way([builder.node(50.0, 50.0), builder.node(50.1, 50.0),
                              builder.node(50.1, 50.1), builder.node(50.0, 50.0)]), "outer")],
        rid=777, type="boundary", boundary="administrative", admin_level="4", name="Testland",
    )  # fmt: skip
    with serve(builder) as server:
        cfg, paths = _overpass_region(
            tmp_path, server, boundary='region_name = "Testland"\nadmin_level = 4'
        )
        with pytest.raises(ConfigError, match="2 administrative boundaries") as err:
            stages.run_fetch(cfg, paths)
    assert "777 (Testland)" in str(err.value) and "900 (Testland)" in str(err.value)
    assert "boundary.relation_id" in str(err.value)


def test_a_relation_osm_does_not_have(fake, tmp_path: Path) -> None:
    cfg, paths = _overpass_region(tmp_path, fake, boundary="relation_id = 12345\nadmin_level = 4")
    with pytest.raises(ConfigError, match="no administrative boundary relation 12345"):
        stages.run_fetch(cfg, paths)
    cfg, paths = _overpass_region(tmp_path, fake, boundary='region_name = "Narnia"')
    with pytest.raises(ConfigError, match="'Narnia' at admin_level 4"):
        stages.run_fetch(cfg, paths)
    assert not (paths.raw / overpass.OVERPASS_FILE).exists()


# --- osmnx's Overpass handling: cache, retries, rate limit, settings, logging ----------------


def test_a_second_fetch_asks_nothing_and_changes_nothing(fake, tmp_path: Path) -> None:
    cfg, paths = _overpass_region(tmp_path, fake)
    stages.run_fetch(cfg, paths)
    asked = len(fake.queries)
    sources = paths.sources.read_bytes(), paths.sources.stat().st_mtime_ns
    extract = (paths.raw / overpass.OVERPASS_FILE).read_bytes()
    assert len(list((paths.raw / overpass.CACHE_FOLDER).glob("*.json"))) == asked
    stages.run_fetch(cfg, paths)
    assert len(fake.queries) == asked  # osmnx's cache answered
    assert (paths.sources.read_bytes(), paths.sources.stat().st_mtime_ns) == sources
    assert (paths.raw / overpass.OVERPASS_FILE).read_bytes() == extract


def test_osmnx_settings_are_the_regions_only_during_the_fetch(fake, tmp_path: Path) -> None:
    before = {k: getattr(ox.settings, k) for k in ("overpass_url", "cache_folder", "log_file")}
    resolver = socket.getaddrinfo
    seen = {}

    def spy(polygon, tags):
        seen.update(
            url=ox.settings.overpass_url,
            cache=ox.settings.cache_folder,
            rate_limit=ox.settings.overpass_rate_limit,
            timeout=ox.settings.requests_timeout,
            doh=ox.settings.doh_url_template,
        )
        yield from real(polygon, tags)

    real = ox._overpass._download_overpass_features
    cfg, paths = _overpass_region(tmp_path, fake)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ox._overpass, "_download_overpass_features", spy)
        stages.run_fetch(cfg, paths)
    assert seen == {
        "url": fake.api_url,
        "cache": str(paths.raw / overpass.CACHE_FOLDER),
        "rate_limit": False,  # a server on this machine keeps no slots
        "timeout": overpass.TIMEOUT_S,
        "doh": None,
    }
    assert {k: getattr(ox.settings, k) for k in before} == before
    assert socket.getaddrinfo is resolver


def test_rate_limiting_asks_the_servers_status(fake, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(overpass, "_on_this_machine", lambda url: False)
    cfg, paths = _overpass_region(tmp_path, fake)
    stages.run_fetch(cfg, paths)
    assert fake.status_requests == len(fake.queries) == 3


def test_a_busy_server_is_asked_again(fake, tmp_path, monkeypatch) -> None:
    pauses = []
    monkeypatch.setattr(ox._overpass.time, "sleep", pauses.append)
    fake.fail_with = [(429, "text/html", "<p>Too many requests</p>")] * 2
    cfg, paths = _overpass_region(tmp_path, fake)
    record = stages.run_fetch(cfg, paths) and json.loads(paths.sources.read_text("utf-8"))
    assert record["mode"] == "osm"
    assert len(fake.queries) == 5 and fake.queries[0] == fake.queries[1] == fake.queries[2]
    assert [p for p in pauses if p] == [55, 55]  # osmnx's pause before each retry


def test_a_rejected_query_is_an_error_not_a_fallback(fake, tmp_path: Path) -> None:
    fake.answer_with = (400, "text/html; charset=utf-8", ERROR_PAGE.format(what='Unknown "rell"'))
    cfg, paths = _overpass_region(tmp_path, fake, offline=True)
    with pytest.raises(DownloadError, match="rejected the query") as err:
        stages.run_fetch(cfg, paths)
    assert 'HTTP 400: Error: line 1: parse error: Unknown "rell"' in str(err.value)
    assert not paths.sources.exists() and not (paths.raw / overpass.OVERPASS_FILE).exists()


def test_an_html_page_with_status_200(fake, tmp_path: Path) -> None:
    fake.answer_with = (200, "text/html", ERROR_PAGE.format(what="oops"))
    cfg, paths = _overpass_region(tmp_path, fake)
    with pytest.raises(DownloadError, match="did not answer with Overpass JSON") as err:
        stages.run_fetch(cfg, paths)
    assert "parse error: oops" in str(err.value)


def test_a_runtime_error_remark_means_incomplete_data(fake, tmp_path: Path) -> None:
    fake.remark = 'runtime error: Query timed out in "query" at line 1 after 901 seconds.'
    cfg, paths = _overpass_region(tmp_path, fake)
    with pytest.raises(DownloadError, match="incomplete") as err:
        stages.run_fetch(cfg, paths)
    assert fake.remark in str(err.value)
    assert not (paths.raw / overpass.OVERPASS_FILE).exists()
    assert not list((paths.raw / overpass.CACHE_FOLDER).glob("*.json"))  # not cached
    fake.remark = None
    stages.run_fetch(cfg, paths)  # asked again, and complete
    assert (paths.raw / overpass.OVERPASS_FILE).is_file()


@pytest.mark.parametrize("offline", [True, False])
def test_a_server_down_falls_back_offline(fake, tmp_path: Path, offline: bool) -> None:
    fake.answer_with = (503, "text/html", "<html><body><p>Service Unavailable</p></body></html>")
    cfg, paths = _overpass_region(tmp_path, fake, offline=offline)
    if not offline:
        with pytest.raises(overpass.OverpassUnavailableError, match="HTTP 503"):
            stages.run_fetch(cfg, paths)
        return
    stages.run_fetch(cfg, paths)
    record = json.loads(paths.sources.read_text(encoding="utf-8"))
    assert record["mode"] == "fallback"
    assert record["urls_tried"] == [f"{fake.api_url}/interpreter"]
    assert "HTTP 503" in record["reason"] and "Service Unavailable" in record["reason"]


def test_no_connection_falls_back_offline(tmp_path: Path, caplog) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg, paths = _overpass_region(tmp_path, f"http://127.0.0.1:{port}/api", offline=True)
    with caplog.at_level(logging.WARNING):
        stages.run_fetch(cfg, paths)
    record = json.loads(paths.sources.read_text(encoding="utf-8"))
    assert record["mode"] == "fallback" and "Connection refused" in record["reason"]
    assert 'replace kind = "overpass" by source.local_pbf' in caplog.text


def test_osmnx_logs_to_the_stage_log_not_the_console(fake, tmp_path: Path) -> None:
    """`python -m pipeline fetch` in a process of its own: osmnx's lines (its requests, the
    cache) are in logs/<region>/fetch.log, the console has the pipeline's own lines only."""
    cfg, paths = _overpass_region(tmp_path, fake)
    env = {**os.environ, "PIPELINE_ROOT": str(tmp_path / "out")}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "fetch", "--config", str(cfg.region_file)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    log = (paths.logs / "fetch.log").read_text(encoding="utf-8")
    assert "OSMnx: Post http://127.0.0.1" in log and "OSMnx: Saved response to cache" in log
    assert "OSMnx" not in result.stderr and "Post http" not in result.stderr
    assert "querying http://127.0.0.1" in result.stderr  # the pipeline's own line


# --- the fetch stage's stamp and code list -----------------------------------------------------


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_fetch_reads_what_its_stamp_and_code_list_name(fake, tmp_path: Path) -> None:
    """On an Overpass region the fetch stage reads only sections of its stamp
    (pipeline/cli.py STAGE_SECTIONS) and runs only modules of the Makefile's CODE_fetch."""
    from pipeline import cli

    cfg, paths = _overpass_region(tmp_path, fake)
    read, called = trace_stage(stages.run_fetch, cfg, paths)
    assert read <= cli._sections("fetch")
    listed = makefile_list("CODE_fetch")
    assert "pipeline/inputs/overpass.py" in called
    assert called <= listed, sorted(called - listed)


def test_written_pbf_is_the_same_for_the_same_answers(tmp_path: Path) -> None:
    elements = [
        {"type": "node", "id": 2, "lat": 60.0, "lon": 39.0, "tags": {"place": "village"}},
        {"type": "node", "id": 1, "lat": 60.1, "lon": 39.1},
        {"type": "way", "id": 5, "nodes": [1, 2], "tags": {"highway": "track"}},
        {"type": "node", "id": 1, "lat": 60.1, "lon": 39.1},  # sent twice (two sub-queries)
    ]
    a = overpass._write_pbf(elements, tmp_path / "a.osm.pbf")
    b = overpass._write_pbf(list(reversed(elements)), tmp_path / "b.osm.pbf")
    assert a == b and a[0] == (2, 1, 0)
    digest = hashlib.sha256((tmp_path / "a.osm.pbf").read_bytes()).hexdigest()
    assert digest == a[2]
