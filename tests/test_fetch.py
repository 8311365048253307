"""Tests for pipeline.inputs.fetch, against real HTTP servers on 127.0.0.1 (never the internet).

The payload is a real OSM extract shipped with the project (Andorra, 2023-05-02, ODbL). The
Overpass source (``kind = "overpass"``, through osmnx) is tested in tests/test_overpass.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline._io import RegionPaths, region_paths
from pipeline.config import PROJECT_ROOT, RegionConfig, load_region
from pipeline.errors import DownloadError, ExtractError
from pipeline.inputs.fetch import check_pbf_header, download, fetch_extract

ANDORRA_PBF = PROJECT_ROOT / "regions" / "andorra" / "andorra-2023-05-02.osm.pbf"
VOLOGDA_DIR = PROJECT_ROOT / "regions" / "vologda"
PAYLOAD = ANDORRA_PBF.read_bytes()
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
PBF_PATH = "/extract.osm.pbf"
DROP_AT_BYTES = 1_000_000  # where a "dropped" connection stops, well inside the 2.4 MB payload

# --- a configurable HTTP server ---------------------------------------------------------------


@dataclass
class Behaviour:
    """What the test server does; tests change it between calls."""

    payload: bytes = PAYLOAD
    content_type: str | None = "application/octet-stream"
    etag: str | None = '"v1"'
    drop_after_bytes: int | None = None  # close the connection after this many body bytes
    declared_length: int | None = None  # Content-Length to claim instead of the true one
    omit_length: bool = False  # no Content-Length: the body ends when the connection closes
    ignore_range: bool = False  # answer 200 with the whole file to Range requests
    stall: threading.Event | None = None  # wait for this before answering (timeouts)
    seen: list[dict[str, str]] = field(default_factory=list)  # headers of each GET


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        how = self.server.behaviour
        how.seen.append(dict(self.headers))
        if how.stall is not None:
            how.stall.wait(10)
        if urllib.parse.urlsplit(self.path).path != PBF_PATH:
            self.send_error(404)
            return
        data, start, status = how.payload, 0, 200
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and not how.ignore_range and if_range in (None, how.etag):
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        if how.content_type:
            self.send_header("Content-Type", how.content_type)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if not how.omit_length:
            self.send_header("Content-Length", str(how.declared_length or len(body)))
        if how.etag:
            self.send_header("ETag", how.etag)
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if how.drop_after_bytes is not None:
            body = body[: how.drop_after_bytes]
        with contextlib.suppress(ConnectionError):  # the client may hang up first
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    behaviour: Behaviour


@dataclass
class Served:
    """A running test server: its base URL and its behaviour."""

    base_url: str
    behaviour: Behaviour

    @property
    def url(self) -> str:
        return self.base_url + PBF_PATH


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep requests from sending 127.0.0.1 through a proxy set in the environment."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def server() -> Iterator[Served]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.behaviour = Behaviour()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = httpd.server_address[:2]
    try:
        yield Served(f"http://{host}:{port}", httpd.behaviour)
    finally:
        if httpd.behaviour.stall is not None:
            httpd.behaviour.stall.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{PBF_PATH}"


def _region(
    tmp_path: Path, source: str, *, offline: bool = False, boundary: str = ""
) -> RegionConfig:
    """A region file written to tmp_path and loaded the way the pipeline loads it."""
    boundary = boundary or "relation_id = 9407\nadmin_level = 2\ndistrict_admin_level = 7"
    text = (
        'name = "testland"\ndisplay_name = "Testland"\n'
        f'[source]\n{source}\n[boundary]\n{boundary}\n[anchors]\nnames = ["Town"]\n'
    )
    if offline:
        text += (
            "[offline]\n"
            f"districts = {json.dumps(str(VOLOGDA_DIR / 'districts_osm_2020.geojson'))}\n"
            f"settlements = {json.dumps(str(VOLOGDA_DIR / 'settlements_geonames_2020.geojson'))}\n"
        )
    path = tmp_path / "testland.toml"
    path.write_text(text, encoding="utf-8")
    return load_region(config=path)


def _urls(*urls: str) -> str:
    return f"urls = {json.dumps(list(urls))}"


def _paths(cfg: RegionConfig, tmp_path: Path) -> RegionPaths:
    return region_paths(cfg, root=tmp_path / "out")


def _sources_json(paths: RegionPaths) -> dict:
    return json.loads(paths.sources.read_text(encoding="utf-8"))


# --- check_pbf_header -----------------------------------------------------------------------


def test_check_pbf_header_accepts_real_extract() -> None:
    check_pbf_header(ANDORRA_PBF)


def _blob_header(blob_type: bytes) -> bytes:
    message = b"\x0a" + bytes([len(blob_type)]) + blob_type + b"\x18\x7b"  # type, datasize=123
    return len(message).to_bytes(4, "big") + message


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "only 0 bytes"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML"),
        (b'<?xml version="1.0"?><osm version="0.6"></osm>', "XML"),
        (b"\x1f\x8b\x08\x00" + bytes(50), "compressed"),
        (b"\x7f\x00\x00\x00" + bytes(50), "BlobHeader length"),
        (_blob_header(b"OSMData"), "'OSMData'"),
        (_blob_header(b"OSMHeader")[:9], "truncated"),
        (PAYLOAD[:4] + b"\x0a\xff\xff\xff\xff\x0f" + bytes(8), "not valid protobuf"),
    ],
    ids=[
        "empty",
        "html",
        "xml",
        "gzip",
        "huge-length",
        "osmdata-first",
        "truncated",
        "bad-protobuf",
    ],
)
def test_check_pbf_header_rejects(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "bad.osm.pbf"
    path.write_bytes(content)
    with pytest.raises(ExtractError, match="not an OSM PBF") as err:
        check_pbf_header(path)
    assert str(path) in str(err.value)
    assert why in str(err.value)


def test_check_pbf_header_accepts_synthetic_header(tmp_path: Path) -> None:
    path = tmp_path / "tiny.osm.pbf"
    path.write_bytes(_blob_header(b"OSMHeader"))
    check_pbf_header(path)


def test_check_pbf_header_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match="not found"):
        check_pbf_header(tmp_path / "nowhere.osm.pbf")


# --- download -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "application/x-protobuf", None]
)
def test_download_whole_file(server: Served, tmp_path: Path, content_type: str | None) -> None:
    server.behaviour.content_type = content_type
    target = tmp_path / "raw" / "extract.osm.pbf"
    got = download(server.url, target, max_bytes=10_000_000)
    assert target.read_bytes() == PAYLOAD
    assert got["sha256"] == PAYLOAD_SHA256 == hashlib.sha256(target.read_bytes()).hexdigest()
    assert got["size_bytes"] == len(PAYLOAD)
    assert got["resumed_from_bytes"] == 0
    assert got["url"] == server.url
    assert got["file"] == str(target.resolve())
    assert got["downloaded_at"].endswith("+00:00")
    assert "Range" not in server.behaviour.seen[0]
    assert sorted(p.name for p in target.parent.iterdir()) == ["extract.osm.pbf"]


def test_download_dropped_then_resumed(server: Served, tmp_path: Path) -> None:
    target = tmp_path / "extract.osm.pbf"
    part = tmp_path / "extract.osm.pbf.part"
    server.behaviour.drop_after_bytes = DROP_AT_BYTES
    with pytest.raises(DownloadError, match="run `make fetch` again to resume") as err:
        download(server.url, target, max_bytes=10_000_000, expected_sha256=PAYLOAD_SHA256)
    assert server.url in str(err.value)
    assert not target.exists()
    assert part.read_bytes() == PAYLOAD[:DROP_AT_BYTES]

    server.behaviour.drop_after_bytes = None
    got = download(server.url, target, max_bytes=10_000_000, expected_sha256=PAYLOAD_SHA256)
    resumed = server.behaviour.seen[-1]
    assert resumed["Range"] == f"bytes={DROP_AT_BYTES}-"
    assert resumed["If-Range"] == '"v1"'
    assert got["resumed_from_bytes"] == DROP_AT_BYTES
    assert target.read_bytes() == PAYLOAD
    assert got["sha256"] == PAYLOAD_SHA256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extract.osm.pbf"]


def _leave_part(server: Served, target: Path) -> None:
    server.behaviour.drop_after_bytes = DROP_AT_BYTES
    with pytest.raises(DownloadError):
        download(server.url, target, max_bytes=10_000_000)
    server.behaviour.drop_after_bytes = None


def test_download_restarts_when_server_ignores_range(server: Served, tmp_path: Path) -> None:
    target = tmp_path / "extract.osm.pbf"
    _leave_part(server, target)
    server.behaviour.ignore_range = True
    got = download(server.url, target, max_bytes=10_000_000)
    assert server.behaviour.seen[-1]["Range"] == f"bytes={DROP_AT_BYTES}-"
    assert got["resumed_from_bytes"] == 0
    assert target.read_bytes() == PAYLOAD


def test_download_restarts_when_file_changed_on_server(server: Served, tmp_path: Path) -> None:
    target = tmp_path / "extract.osm.pbf"
    _leave_part(server, target)
    server.behaviour.etag = '"v2"'  # a new daily extract was published meanwhile
    got = download(server.url, target, max_bytes=10_000_000)
    assert server.behaviour.seen[-1]["If-Range"] == '"v1"'
    assert got["resumed_from_bytes"] == 0
    assert target.read_bytes() == PAYLOAD


def test_download_finishes_when_part_is_already_complete(server: Served, tmp_path: Path) -> None:
    target = tmp_path / "extract.osm.pbf"
    (tmp_path / "extract.osm.pbf.part").write_bytes(PAYLOAD)  # killed just before the rename
    got = download(server.url, target, max_bytes=10_000_000)
    assert [h.get("Range") for h in server.behaviour.seen] == [f"bytes={len(PAYLOAD)}-", None]
    assert target.read_bytes() == PAYLOAD
    assert got["sha256"] == PAYLOAD_SHA256


def test_download_wrong_sha256(server: Served, tmp_path: Path) -> None:
    target = tmp_path / "extract.osm.pbf"
    with pytest.raises(DownloadError, match="sha256") as err:
        download(server.url, target, max_bytes=10_000_000, expected_sha256="0" * 64)
    assert PAYLOAD_SHA256 in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_download_understated_length_fails_checksum(server: Served, tmp_path: Path) -> None:
    server.behaviour.declared_length = 1_000  # a lying server: the body is cut at 1 kB
    target = tmp_path / "extract.osm.pbf"
    with pytest.raises(DownloadError, match="sha256"):
        download(server.url, target, max_bytes=10_000_000, expected_sha256=PAYLOAD_SHA256)
    assert list(tmp_path.iterdir()) == []


def test_download_too_large_by_content_length(server: Served, tmp_path: Path) -> None:
    target = tmp_path / "extract.osm.pbf"
    with pytest.raises(DownloadError, match="max_download_mb"):
        download(server.url, target, max_bytes=len(PAYLOAD) - 1)
    assert list(tmp_path.iterdir()) == []


def test_download_too_large_while_streaming(server: Served, tmp_path: Path) -> None:
    server.behaviour.omit_length = True  # the size shows only as the bytes arrive
    target = tmp_path / "extract.osm.pbf"
    with pytest.raises(DownloadError, match="more than the limit"):
        download(server.url, target, max_bytes=1_500_000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/json"])
def test_download_rejects_text_content_type(
    server: Served, tmp_path: Path, content_type: str
) -> None:
    server.behaviour.content_type = content_type
    target = tmp_path / "extract.osm.pbf"
    with pytest.raises(DownloadError, match="Content-Type"):
        download(server.url, target, max_bytes=10_000_000)
    assert not target.exists()


def test_download_rejects_non_pbf_bytes(server: Served, tmp_path: Path) -> None:
    server.behaviour.payload = b"this is not a PBF at all" * 100
    target = tmp_path / "extract.osm.pbf"
    with pytest.raises(ExtractError, match="did not deliver an OSM PBF"):
        download(server.url, target, max_bytes=10_000_000)
    assert list(tmp_path.iterdir()) == []


def test_download_connection_refused(refused_url: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="run `make fetch` again") as err:
        download(refused_url, tmp_path / "extract.osm.pbf", max_bytes=10_000_000)
    assert refused_url in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_download_timeout(server: Served, tmp_path: Path) -> None:
    server.behaviour.stall = threading.Event()
    with pytest.raises(DownloadError, match="timed out"):
        download(server.url, tmp_path / "extract.osm.pbf", max_bytes=10_000_000, timeout_s=0.3)


def test_download_http_404(server: Served, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.base_url + "/missing.osm.pbf", tmp_path / "x.osm.pbf", max_bytes=10_000_000)


# --- fetch_extract: URLs --------------------------------------------------------------------


def test_fetch_extract_tries_urls_in_order(
    server: Served, refused_url: str, tmp_path: Path
) -> None:
    cfg = _region(tmp_path, f'{_urls(refused_url, server.url)}\nsha256 = "{PAYLOAD_SHA256}"')
    paths = _paths(cfg, tmp_path)
    record = fetch_extract(cfg, paths, timeout_s=5)
    assert record["mode"] == "osm"
    assert record["format"] == "pbf"
    assert record["url"] == server.url
    assert record["file"] == str(paths.extract_pbf.resolve())
    assert record["sha256"] == PAYLOAD_SHA256
    assert record["size_bytes"] == len(PAYLOAD)
    assert paths.extract_pbf.read_bytes() == PAYLOAD
    assert _sources_json(paths) == record
    text = paths.sources.read_text(encoding="utf-8")
    assert text == json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_fetch_extract_reuses_complete_download(server: Served, tmp_path: Path) -> None:
    cfg = _region(tmp_path, _urls(server.url))
    paths = _paths(cfg, tmp_path)
    first = fetch_extract(cfg, paths)
    paths.sources.unlink()
    paths.sources.write_text(json.dumps(first), encoding="utf-8")
    requests_before = len(server.behaviour.seen)
    again = fetch_extract(cfg, paths)
    assert len(server.behaviour.seen) == requests_before  # no network
    assert again == first
    # The same record is not rewritten, so Make sees SOURCES.json unchanged and redoes nothing.
    assert paths.sources.read_text(encoding="utf-8") == json.dumps(first)
    stamp = paths.sources.stat().st_mtime_ns
    fetch_extract(cfg, paths)
    assert paths.sources.stat().st_mtime_ns == stamp


def test_fetch_extract_downloads_again_when_url_changed(server: Served, tmp_path: Path) -> None:
    cfg = _region(tmp_path, _urls(server.url))
    paths = _paths(cfg, tmp_path)
    fetch_extract(cfg, paths)
    other = server.url + "?mirror=2"
    cfg2 = _region(tmp_path, _urls(other))
    record = fetch_extract(cfg2, paths)
    assert record["url"] == other
    assert len(server.behaviour.seen) == 2


def test_fetch_extract_falls_back_when_offline(
    refused_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    second = refused_url.replace(PBF_PATH, "/mirror.osm.pbf")
    cfg = _region(tmp_path, _urls(refused_url, second), offline=True)
    paths = _paths(cfg, tmp_path)
    with caplog.at_level(logging.WARNING, logger="pipeline.inputs.fetch"):
        record = fetch_extract(cfg, paths)
    assert record["mode"] == "fallback"
    assert record["urls_tried"] == [refused_url, second]
    assert "Connection refused" in record["reason"] or "Errno" in record["reason"]
    assert "recorded_at" in record
    assert _sources_json(paths) == record
    assert not paths.extract_pbf.exists()
    loud = [r.getMessage() for r in caplog.records if "APPROXIMATE" in r.getMessage()]
    assert len(loud) == 1
    assert "make fetch region=testland" in loud[0]
    assert str(paths.extract_pbf) in loud[0]


def test_fetch_extract_raises_when_offline_section_missing(
    refused_url: str, tmp_path: Path
) -> None:
    cfg = _region(tmp_path, _urls(refused_url))
    paths = _paths(cfg, tmp_path)
    with pytest.raises(DownloadError, match="make fetch"):
        fetch_extract(cfg, paths)
    assert not paths.sources.exists()


def test_fetch_extract_no_fallback_on_checksum_error(server: Served, tmp_path: Path) -> None:
    cfg = _region(tmp_path, f'{_urls(server.url)}\nsha256 = "{"0" * 64}"', offline=True)
    paths = _paths(cfg, tmp_path)
    with pytest.raises(DownloadError, match="sha256"):
        fetch_extract(cfg, paths)
    assert not paths.sources.exists()
    assert not paths.extract_pbf.exists()


def test_fetch_extract_no_fallback_on_html(server: Served, tmp_path: Path) -> None:
    server.behaviour.content_type = "text/html"
    cfg = _region(tmp_path, _urls(server.url), offline=True)
    with pytest.raises(DownloadError, match="Content-Type"):
        fetch_extract(cfg, _paths(cfg, tmp_path))


def test_fetch_extract_uses_extract_put_there_by_hand(refused_url: str, tmp_path: Path) -> None:
    cfg = _region(tmp_path, _urls(refused_url), offline=True)
    paths = _paths(cfg, tmp_path)
    paths.raw.mkdir(parents=True)
    shutil.copyfile(ANDORRA_PBF, paths.extract_pbf)  # as the fallback warning suggests
    record = fetch_extract(cfg, paths)
    assert record["mode"] == "osm"
    assert record["source"] == "existing file"
    assert record["sha256"] == PAYLOAD_SHA256


# --- fetch_extract: local file --------------------------------------------------------------


def test_fetch_extract_local_pbf_recorded_not_copied(tmp_path: Path) -> None:
    cfg = _region(
        tmp_path, f'local_pbf = {json.dumps(str(ANDORRA_PBF))}\nsha256 = "{PAYLOAD_SHA256}"'
    )
    paths = _paths(cfg, tmp_path)
    record = fetch_extract(cfg, paths)
    assert record["mode"] == "osm"
    assert record["format"] == "pbf"
    assert record["source"] == "local file"
    assert record["file"] == str(ANDORRA_PBF.resolve())
    assert record["sha256"] == PAYLOAD_SHA256
    assert record["size_bytes"] == len(PAYLOAD)
    assert sorted(p.name for p in paths.raw.iterdir()) == ["SOURCES.json"]
    assert _sources_json(paths) == record


def test_fetch_extract_local_pbf_relative_to_region_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    shutil.copyfile(ANDORRA_PBF, tmp_path / "data" / "a.osm.pbf")
    cfg = _region(tmp_path, 'local_pbf = "data/a.osm.pbf"')
    record = fetch_extract(cfg, _paths(cfg, tmp_path))
    assert record["file"] == str((tmp_path / "data" / "a.osm.pbf").resolve())


def test_fetch_extract_local_pbf_missing(tmp_path: Path) -> None:
    cfg = _region(tmp_path, 'local_pbf = "nowhere/region.osm.pbf"')
    with pytest.raises(ExtractError, match="not found") as err:
        fetch_extract(cfg, _paths(cfg, tmp_path))
    assert str(tmp_path / "nowhere" / "region.osm.pbf") in str(err.value)
    assert "fix the path" in str(err.value)


def test_fetch_extract_local_pbf_wrong_sha256(tmp_path: Path) -> None:
    cfg = _region(tmp_path, f'local_pbf = {json.dumps(str(ANDORRA_PBF))}\nsha256 = "{"1" * 64}"')
    with pytest.raises(ExtractError, match=r"source\.sha256"):
        fetch_extract(cfg, _paths(cfg, tmp_path))
