"""A fake Overpass API on 127.0.0.1 that answers what osmnx sends, from synthetic OSM data.

It understands exactly the queries the pipeline makes (pipeline/inputs/overpass.py): the region's
boundary relation and its members (``rel(ID);(._;>;);out;`` or by tags, globally) and osmnx's features queries
(``(node['k'='v'](poly:'lat lon …');(._;>;););`` … ``out;``), with Overpass's meaning: an
element is selected when it (a way: one of its segments; a relation: one of its members) lies
in the polygon, and ``>`` adds the members and their nodes. Anything else is answered as
Overpass answers a query it cannot parse (HTTP 400, an HTML page), so a change in what osmnx
sends fails the tests instead of passing unnoticed. ``/api/status`` answers as a server with
free slots (osmnx's rate limiting reads it).

Nothing here is real OSM data: the objects come from :class:`tests.osm_builder.OsmBuilder`.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import shapely
from shapely.geometry import LineString, Point, Polygon

from tests.helpers.osm_builder import OsmBuilder
from tests.helpers.testland import SETTINGS as TESTLAND_SETTINGS

__all__ = ["ERROR_PAGE", "FakeOverpass", "serve"]

# What overpass-api.de answers to a query it cannot parse (abridged).
ERROR_PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
<head><meta http-equiv="content-type" content="text/html; charset=utf-8" lang="en"/>
  <title>OSM3S Response</title></head>
<body>
<p>The data included in this document is from www.openstreetmap.org.</p>
<p><strong style="color:#FF0000">Error</strong>: line 1: parse error: {what} </p>
</body></html>
"""
STATUS = (
    "Connected as: 2130706433\nCurrent time: 2024-01-01T00:00:00Z\nAnnounced endpoint: none\n"
    "Rate limit: 2\n2 slots available now.\n"
    "Currently running queries (pid, space limit, time limit, start time):\n"
)

_SETTINGS = re.compile(r"^(?:\[[a-z]+:[^\]]*\])+;")
_FILTER = re.compile(r"""\[(["'])((?:\\.|(?!\1).)*)\1(?:=(["'])((?:\\.|(?!\3).)*)\3)?\]""")
_COMPONENT = re.compile(
    r"""\((node|way|relation)((?:\[[^\]]*\])+)\(poly:(["'])([-0-9. ]+)\3\);\(\._;>;\);\);"""
)
_BY_ID = re.compile(r"^rel\((\d+)\);\(\._;>;\);out;$")
_BY_TAGS = re.compile(r"^\(((?:rel(?:\[[^\]]*\])+;)+)\);\(\._;>;\);out;$")


@dataclass
class FakeOverpass:
    """The server's data, what it was asked, and how it misbehaves (tests change these)."""

    builder: OsmBuilder
    base_url: str = ""
    queries: list[str] = field(default_factory=list)  # every POSTed query, in order
    status_requests: int = 0
    fail_with: list[tuple[int, str, str]] = field(default_factory=list)  # (status, type, body)
    # (status, content type, body) sent instead of the answer to every query from now on
    answer_with: tuple[int, str, str] | None = None
    remark: str | None = None  # added to every JSON answer

    @property
    def api_url(self) -> str:
        return self.base_url + "/api"

    # --- the data ----------------------------------------------------------------------------

    def __post_init__(self) -> None:
        b = self.builder
        self.nodes = {nid: (lon, lat, tags) for nid, lon, lat, tags in b.nodes}
        self.ways = {wid: (refs, tags) for wid, refs, tags in b.ways}
        self.relations = {rid: (members, tags) for rid, members, tags in b.relations}

    def _geometry(self, kind: str, i: int):
        if kind == "node":
            lon, lat, _ = self.nodes[i]
            return Point(lon, lat)
        if kind == "way":
            coords = [self.nodes[r][:2] for r in self.ways[i][0]]
            return LineString(coords) if len(coords) > 1 else Point(coords[0])
        parts = [
            self._geometry(t, ref) for t, ref, _ in self.relations[i][0] if t in ("node", "way")
        ]
        return shapely.union_all(parts)

    def _tags(self, kind: str, i: int) -> dict:
        return {"node": self.nodes, "way": self.ways, "relation": self.relations}[kind][i][-1]

    def _ids(self, kind: str) -> list[int]:
        return sorted({"node": self.nodes, "way": self.ways, "relation": self.relations}[kind])

    def _element(self, kind: str, i: int) -> dict:
        tags = self._tags(kind, i)
        out: dict = {"type": kind, "id": i}
        if kind == "node":
            out["lat"], out["lon"] = self.nodes[i][1], self.nodes[i][0]
        elif kind == "way":
            out["nodes"] = list(self.ways[i][0])
        else:
            out["members"] = [
                {"type": t, "ref": ref, "role": role} for t, ref, role in self.relations[i][0]
            ]
        if tags:
            out["tags"] = dict(tags)
        return out

    # --- the queries -------------------------------------------------------------------------

    def answer(self, query: str) -> tuple[int, str, str]:
        """(status, content type, body) for one query."""
        body = _SETTINGS.sub("", query, count=1)
        if body == query:
            return self._parse_error("no settings")
        chosen: dict[str, set[int]] = {"node": set(), "way": set(), "relation": set()}
        if m := _BY_ID.match(body):
            if int(m.group(1)) in self.relations:
                self._down("relation", int(m.group(1)), chosen)
            return self._out(chosen)
        if m := _BY_TAGS.match(body):
            for selector in m.group(1).split(";")[:-1]:
                filters = _filters(selector.removeprefix("rel"))
                for i in self._ids("relation"):
                    if _matches(self._tags("relation", i), filters):
                        self._down("relation", i, chosen)
            return self._out(chosen)
        if not body.startswith("(") or not body.endswith(");out;"):
            return self._parse_error("unknown statement")
        inner = body[1 : -len(");out;")]
        position = 0
        for m in _COMPONENT.finditer(inner):
            if m.start() != position:
                return self._parse_error(f"at {inner[position : position + 40]!r}")
            position = m.end()
            kind, filters = m.group(1), _filters(m.group(2))
            numbers = [float(v) for v in m.group(4).split()]
            polygon = Polygon(list(zip(numbers[1::2], numbers[0::2], strict=True)))
            shapely.prepare(polygon)
            for i in self._ids(kind):
                if _matches(self._tags(kind, i), filters) and polygon.intersects(
                    self._geometry(kind, i)
                ):
                    self._down(kind, i, chosen)
        if position != len(inner) or position == 0:
            return self._parse_error("unknown statement")
        return self._out(chosen)

    def _out(self, chosen: dict[str, set[int]]) -> tuple[int, str, str]:
        """`out;`: the chosen nodes, ways and relations, each by id."""
        kinds = ("node", "way", "relation")
        return self._json([self._element(k, i) for k in kinds for i in sorted(chosen[k])])

    def _down(self, kind: str, i: int, chosen: dict[str, set[int]]) -> None:
        """The element, and with `>` its members and their nodes (not members' members)."""
        chosen[kind].add(i)
        if kind == "way":
            chosen["node"].update(self.ways[i][0])
        elif kind == "relation":
            for t, ref, _ in self.relations[i][0]:
                if t == "node" and ref in self.nodes:
                    chosen["node"].add(ref)
                elif t == "way" and ref in self.ways:
                    chosen["way"].add(ref)
                    chosen["node"].update(self.ways[ref][0])

    def _json(self, elements: list[dict]) -> tuple[int, str, str]:
        answer: dict = {
            "version": 0.6,
            "generator": "Overpass API 0.7.62 (fake, tests/fake_overpass.py)",
            "osm3s": {"copyright": "synthetic test data, not from OpenStreetMap"},
            "elements": elements,
        }
        if self.remark is not None:
            answer["remark"] = self.remark
        return 200, "application/json", json.dumps(answer)

    @staticmethod
    def _parse_error(what: str) -> tuple[int, str, str]:
        return 400, "text/html; charset=utf-8", ERROR_PAGE.format(what=what)


def _filters(text: str) -> list[tuple[str, str | None]]:
    out = []
    for m in _FILTER.finditer(text):
        key = m.group(2).replace("\\", "")
        value = None if m.group(3) is None else m.group(4).replace("\\", "")
        out.append((key, value))
    return out


def _matches(tags: dict, filters: list[tuple[str, str | None]]) -> bool:
    return all(k in tags and (v is None or tags[k] == v) for k, v in filters)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(ConnectionError):
            self.wfile.write(data)

    def do_GET(self) -> None:
        fake = self.server.fake
        if urllib.parse.urlsplit(self.path).path == "/api/status":
            fake.status_requests += 1
            self._send(200, "text/plain", STATUS)
        else:
            self._send(404, "text/plain", "not found")

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8")
        if urllib.parse.urlsplit(self.path).path != "/api/interpreter":
            self._send(404, "text/plain", "not found")
            return
        query = urllib.parse.parse_qs(raw).get("data", [""])[0]
        fake.queries.append(query)
        if fake.fail_with:
            self._send(*fake.fail_with.pop(0))
        elif fake.answer_with is not None:
            self._send(*fake.answer_with)
        else:
            self._send(*fake.answer(query))


class _Server(ThreadingHTTPServer):
    fake: FakeOverpass


@contextlib.contextmanager
def serve(builder: OsmBuilder) -> Iterator[FakeOverpass]:
    """A fake Overpass server for `builder`'s objects, on a free port of 127.0.0.1."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.fake = FakeOverpass(builder)
    host, port = httpd.server_address[:2]
    httpd.fake.base_url = f"http://{host}:{port}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd.fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# --- a synthetic region to serve --------------------------------------------------------------

TESTLAND_BBOX = (38.90, 59.95, 39.20, 60.10)
TESTLAND_RELATION = 900
TESTLAND_TOML = (
    """\
name = "testland"
display_name = "Testland"
crs = "EPSG:32637"

[source]
{source}

[boundary]
{boundary}
district_admin_level = 6
clip_buffer_m = 5000

"""
    + TESTLAND_SETTINGS
)


def _boundary(b: OsmBuilder, bbox, level: int, name: str, *, rid=None, centre=None, **tags):
    """A square administrative boundary (one closed way), with its admin_centre if given."""
    x0, y0, x1, y1 = bbox
    corners = [b.node(x0, y0), b.node(x1, y0), b.node(x1, y1), b.node(x0, y1)]
    members = [("way", b.way([*corners, corners[0]]), "outer")]
    if centre is not None:
        members.append(("node", centre, "admin_centre"))
    tags = {"type": "boundary", "boundary": "administrative", "admin_level": str(level), **tags}
    return b.relation(members, rid=rid, name=name, **tags)


def _square(b: OsmBuilder, lon: float, lat: float, half: float, **tags) -> int:
    """A closed way around (lon, lat), `half` degrees to each side."""
    ring = [b.node(lon - half, lat - half), b.node(lon + half, lat - half)]
    ring += [b.node(lon + half, lat + half), b.node(lon - half, lat + half)]
    return b.way([*ring, ring[0]], **tags)


def build_testland() -> OsmBuilder:
    """Testland (synthetic): two districts, a finer boundary, neighbours, a country; towns,
    villages, a hamlet mapped as an area only, a village mapped twice (node and area), one as a
    multipolygon; trunk to track roads (gravel, soft, a winter road, a one-way, a closed
    pedestrian area, a private road, a footway), a ferry to an island, a road to a town across
    the border and on to a village beyond the clip buffer; services as nodes and as areas (a
    school, a FAP mapped with healthcare only), one across the border, one beyond the buffer;
    and a village with a road far away, which no query area reaches."""
    b = OsmBuilder()
    alpha = b.place(39.00, 60.00, "Alpha", place="town", population="5000")
    beta = b.place(39.10, 60.00, "Beta", population="300")
    gamma = b.place(39.10, 60.05, "Gamma", population="150", **{"name:en": "Gamma"})
    b.place(38.95, 60.05, "Дельта", population="120", **{"name:ru": "Дельта"})
    b.place(39.17, 60.08, "Island", population="30")
    border_town = b.place(39.25, 60.02, "Border Town", place="town", population="2000")
    b.place(39.60, 60.02, "Faraway", population="80")
    remote = b.place(40.50, 60.50, "Remote", place="city", population="90000")
    _square(b, 39.00, 60.00, 0.01, place="town", name="Alpha")  # mapped twice
    _square(b, 39.15, 59.97, 0.005, place="hamlet", name="Epsilon", population="40")
    zeta = _square(b, 38.95, 59.97, 0.004)
    b.relation([("way", zeta, "outer")], type="multipolygon", place="village", name="Zeta")

    _boundary(b, (38.0, 59.0, 41.0, 61.0), 2, "Testia", centre=remote)
    _boundary(b, (39.20, 59.90, 39.80, 60.20), 4, "Nachbarland")
    _boundary(
        b, TESTLAND_BBOX, 4, "Testland", rid=TESTLAND_RELATION, centre=alpha,
        **{"name:ru": "Тестовая область"},
    )  # fmt: skip
    _boundary(b, (38.90, 59.95, 39.05, 60.10), 6, "West", centre=alpha)
    _boundary(b, (39.05, 59.95, 39.20, 60.10), 6, "Восточный", centre=beta)
    _boundary(b, (39.07, 60.03, 39.13, 60.07), 8, "Gamma rural", centre=gamma)
    _boundary(b, (39.20, 59.95, 39.40, 60.10), 6, "Nachbar-Ost", centre=border_town)

    b.road([(39.00, 60.00), (39.04, 60.002), (39.07, 59.998), (39.10, 60.00)],
           highway="primary", maxspeed="70", ref="P-1")  # fmt: skip
    b.road([(39.10, 60.00), (39.10, 60.05)], highway="tertiary", surface="gravel")
    b.road([(39.00, 60.00), (38.95, 60.05)], highway="secondary", name="Дельтинская")
    b.road([(39.10, 60.00), (39.15, 59.97)], highway="track")
    b.road([(38.95, 60.05), (39.10, 60.05)], highway="unclassified", winter_road="yes")
    b.road([(39.10, 60.05), (39.165, 60.078)], route="ferry", duration="00:20")
    b.road([(39.165, 60.078), (39.17, 60.08)], highway="residential")
    b.road([(39.10, 60.00), (39.25, 60.02), (39.60, 60.02)], highway="unclassified")
    b.road([(39.00, 60.00), (38.95, 59.97)], highway="residential", surface="dirt")
    b.road([(39.00, 60.00), (39.005, 60.004)], highway="residential", oneway="yes")
    b.road([(39.001, 59.999), (39.003, 59.997)], highway="footway")
    b.road([(39.10, 60.00), (39.102, 59.996)], highway="service", access="private")
    _square(b, 39.006, 60.006, 0.001, highway="pedestrian", area="yes", name="Площадь")
    b.road([(40.50, 60.50), (40.52, 60.51)], highway="primary")

    b.node(39.001, 60.001, amenity="school", name="Школа №1")
    b.node(39.0005, 60.0005, amenity="pharmacy", name="Аптека")
    b.node(39.0007, 60.0002, amenity="atm")  # not a service (a bank is)
    b.node(38.9502, 60.0502, amenity="post_office")
    b.node(39.1001, 60.0001, shop="convenience", name="Магазин")
    _square(b, 39.102, 60.002, 0.001, amenity="school", name="Beta school")
    _square(b, 39.101, 60.051, 0.0005, healthcare="centre", name="ФАП Гамма")
    b.node(39.2502, 60.0202, amenity="hospital", name="Border hospital")
    b.node(39.6002, 60.0202, amenity="hospital", name="Faraway hospital")
    return b
