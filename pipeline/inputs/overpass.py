"""The ``kind = "overpass"`` source: a small region's OpenStreetMap data through osmnx.

Every request goes through osmnx's Overpass layer, so its rate limiting (the server's
``/status`` slots), its retries on HTTP 429/504, its subdivision of a large query area and its
cache (``data_raw/<region>/overpass-cache/``: a re-run asks the server nothing; delete the
folder to fetch afresh) apply. osmnx is configured through ``osmnx.settings`` for the duration
of the fetch only, and its log lines go to the stage log, not the console.

Three queries (more where osmnx subdivides a large area):

1. the region's boundary relation with its members: ``boundary.relation_id``, or the
   administrative boundary named ``boundary.region_name`` (``name``, ``name:ru`` or
   ``name:en``, as :func:`pipeline.inputs.osm.find_region` matches it) at ``boundary.admin_level``,
   which must be unique in OSM;
2. the administrative boundaries of the finer levels (the districts and below: the
   ``admin_centre`` of each says which places are centres) in the region's bounding box;
   coarser ones (the neighbouring regions, the country) are not asked for, as their outlines
   can be far larger than the region;
3. within the region plus ``boundary.clip_buffer_m`` (and a margin of :data:`MARGIN_M`): every
   ``highway`` way, ``route=ferry``, the places of :data:`pipeline.config.PLACE_CLASSES`
   (nodes and areas) and every object the region's service table
   (:mod:`pipeline.access.services`) names.

osmnx's own GeoDataFrames are not used: they drop relation members (the ``admin_centre`` of a
boundary) and shape ways by rules of their own. The raw answers are written as one OSM PBF,
``data_raw/<region>/overpass.osm.pbf``, which the extract stage reads with the reader of every
extract (:func:`pipeline.inputs.osm.read_pbf`) and clips the same way
(:func:`pipeline.inputs.osm.clip_to_region`): its layers are those of a PBF of the same area.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import logging
import math
import re
import socket
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
import requests
import shapely
from shapely.geometry import box

from pipeline._io import RegionPaths, atomic_path, sha256_of
from pipeline.config import PLACE_CLASSES, RegionConfig
from pipeline.config.tag_rules import parse_rule
from pipeline.errors import ConfigError, DownloadError, ExtractError

__all__ = [
    "CACHE_FOLDER",
    "MARGIN_M",
    "OVERPASS_FILE",
    "OverpassUnavailableError",
    "download",
    "feature_tags",
    "osmnx_settings",
    "query_area",
    "region_query",
]

logger = logging.getLogger(__name__)

OVERPASS_FILE = "overpass.osm.pbf"  # under data_raw/<region>/
CACHE_FOLDER = "overpass-cache"  # osmnx's answer cache, under data_raw/<region>/
TIMEOUT_S = 900  # asked of the server ([timeout:...]) and waited for an answer (osmnx: one value)
MAXSIZE_BYTES = 1 << 30  # memory asked of the server ([maxsize:...])
# The query area is the clip buffer plus this, simplified by half of it: it always holds the
# buffer the extract stage clips to, whatever the rounding of osmnx's polygon strings.
MARGIN_M = 1000.0
_SNIFF_CHARS = 64 * 1024
_BUSY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class OverpassUnavailableError(DownloadError):
    """The Overpass server could not be reached or is busy: worth a retry or the fallback."""

    def __init__(self, url: str, cause: str) -> None:
        self.url = url
        self.cause = cause
        super().__init__(
            f"Overpass at {url} could not be queried ({cause}); check the connection and run "
            "`make fetch` again"
        )


# --- the download ---------------------------------------------------------------------------


def download(cfg: RegionConfig, paths: RegionPaths) -> dict:
    """Fetch the region from Overpass through osmnx into ``data_raw/<region>/overpass.osm.pbf``.

    Returns
    -------
    dict
        ``file`` (absolute), ``url`` (the interpreter), ``size_bytes``, ``sha256``,
        ``downloaded_at`` and ``source``, for ``SOURCES.json``.

    Raises
    ------
    OverpassUnavailableError
        No connection, a timeout, or the server busy or down (the fetch may fall back).
    DownloadError
        The server rejected a query, answered something else than Overpass JSON, or stopped
        with a runtime error (incomplete data).
    ConfigError
        ``[boundary]`` names no region, or one OSM does not have (or has several of).
    """
    url = interpreter_url(cfg)
    target = paths.raw / OVERPASS_FILE
    with osmnx_settings(cfg, paths) as ox:
        logger.info(
            "querying %s through osmnx %s (answers cached in %s)",
            url,
            ox.__version__,
            paths.raw / CACHE_FOLDER,
        )
        region_elements = _request(ox, region_query(cfg), url).get("elements", [])
        relation = _region_relation(cfg, region_elements, url)
        region = _region_geometry(cfg, region_elements, url)
        levels = _finer_levels(relation)
        boundary_box = _box_around(region.bounds, MARGIN_M)
        boundaries = _features(ox, boundary_box, {"admin_level": levels}, url) if levels else []
        area = query_area(cfg, region)
        tags = feature_tags(cfg)
        logger.info(
            "region: relation %s (admin_level %s); boundaries at admin_level %s within its "
            "bounding box; roads, places and services (%d tag keys) within %g m (+%g m) of it",
            relation["id"],
            relation.get("tags", {}).get("admin_level"),
            ", ".join(levels) or "none",
            len(tags),
            cfg.boundary.clip_buffer_m,
            MARGIN_M,
        )
        features = _features(ox, area, tags, url)
    counts, size_bytes, sha256 = _write_pbf([*region_elements, *boundaries, *features], target)
    logger.info(
        "Overpass: %d nodes, %d ways, %d relations -> %s (%.1f MB)",
        *counts,
        target,
        size_bytes / 1e6,
    )
    return {
        "file": str(target.resolve()),
        "url": url,
        "size_bytes": size_bytes,
        "sha256": sha256,
        "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": "Overpass API through osmnx",
    }


def interpreter_url(cfg: RegionConfig) -> str:
    return cfg.source.overpass_url.rstrip("/") + "/interpreter"


def region_query(cfg: RegionConfig) -> str:
    """Overpass QL for the region's boundary relation and its members (JSON).

    By ``boundary.relation_id``, else every administrative boundary relation whose ``name``,
    ``name:ru`` or ``name:en`` is ``boundary.region_name`` at ``boundary.admin_level``.

    Raises
    ------
    ConfigError
        Neither ``boundary.relation_id`` nor ``boundary.region_name`` is set.
    """
    b = cfg.boundary
    if b.relation_id is not None:
        select = f"rel({b.relation_id});"
    elif b.region_name:
        name = _ql_string(b.region_name)
        level = f'rel["boundary"="administrative"]["admin_level"="{b.admin_level}"]'
        select = "(" + "".join(f'{level}["{k}"={name}];' for k in ("name", "name:ru", "name:en"))
        select += ");"
    else:
        raise ConfigError(
            f'{cfg.region_file}: kind = "overpass" needs boundary.relation_id or '
            "boundary.region_name to know which area to query; set one of them"
        )
    return f"[out:json][timeout:{TIMEOUT_S}][maxsize:{MAXSIZE_BYTES}];{select}(._;>;);out;"


def feature_tags(cfg: RegionConfig) -> dict[str, bool | list[str]]:
    """The osmnx ``tags`` of the third query: what :func:`pipeline.inputs.osm.read_pbf` reads.

    Every ``highway``, ``route=ferry``, ``place`` of the place classes, and each rule of the
    region's service table (``key=value``, or ``key=*``: the whole key).
    """
    tags: dict[str, bool | list[str]] = {
        "highway": True,
        "route": ["ferry"],
        "place": list(PLACE_CLASSES),
    }
    for rules in cfg.services.table().values():
        for rule in rules:
            key, value = parse_rule(rule)
            have = tags.get(key, [])
            if value is None or have is True:
                tags[key] = True
            elif value not in have:
                tags[key] = sorted([*have, value])
    return tags


def query_area(cfg: RegionConfig, region) -> shapely.Polygon | shapely.MultiPolygon:
    """The region (EPSG:4326) plus ``clip_buffer_m`` and :data:`MARGIN_M`, in EPSG:4326.

    Buffered in the region's CRS (as :func:`pipeline.inputs.osm.clip_to_region` buffers) and
    simplified by half the margin, so it holds the extract stage's clip buffer with fewer
    vertices than the border has (each is sent with every tag of the query).
    """
    from pipeline.crs import region_crs

    crs = region_crs(cfg, region)
    projected = gpd.GeoSeries([region], crs="EPSG:4326").to_crs(crs)
    grown = projected.buffer(cfg.boundary.clip_buffer_m + MARGIN_M).simplify(MARGIN_M / 2)
    area = grown.to_crs("EPSG:4326").iloc[0]
    return area if area.is_valid else shapely.make_valid(area)


# --- osmnx ----------------------------------------------------------------------------------


class _FileOnly(logging.Filter):
    """Marks osmnx's records for the stage log only (pipeline.cli's console skips them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.file_only = True
        return True


@contextlib.contextmanager
def osmnx_settings(cfg: RegionConfig, paths: RegionPaths) -> Iterator:
    """osmnx set up for this region's fetch (yielded), restored afterwards.

    The region's Overpass server; rate limiting unless the server is on this machine (a local
    or test server keeps no slots); answers cached under ``data_raw/<region>/``; no DNS over
    HTTPS (no request to Google's resolver); log lines to the stage log only.
    """
    try:
        import osmnx as ox
        from osmnx import _overpass
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise DownloadError(
            f'kind = "overpass" needs osmnx ({exc}); run `make` once to install it'
        ) from None
    missing = [
        name
        for name in ("_overpass_request", "_download_overpass_features")
        if not hasattr(_overpass, name)
    ]
    if missing:
        raise DownloadError(
            f"osmnx {ox.__version__} lacks {', '.join(missing)} (osmnx 2.x has them); "
            "reinstall the project's dependencies (`pip install -e .`)"
        )
    url = cfg.source.overpass_url.rstrip("/")
    wanted = {
        "overpass_url": url,
        "overpass_rate_limit": not _on_this_machine(url),
        "overpass_settings": "[out:json][timeout:{timeout}]{maxsize}",
        "overpass_memory": MAXSIZE_BYTES,
        "requests_timeout": TIMEOUT_S,
        "use_cache": True,
        "cache_only_mode": False,
        "cache_folder": str(paths.raw / CACHE_FOLDER),
        "doh_url_template": None,
        "log_console": False,
        "log_file": True,  # to the "OSMnx" logger, which has a handler already: see below
    }
    saved = {name: getattr(ox.settings, name) for name in wanted}
    osmnx_log = logging.getLogger(ox.settings.log_name)
    # With a handler present osmnx adds no log file of its own; records propagate to the root
    # logger's handlers (the stage log), marked for the file only.
    handler, only_file = logging.NullHandler(), _FileOnly()
    resolver = socket.getaddrinfo  # osmnx pins a host's address by replacing this
    try:
        for name, value in wanted.items():
            setattr(ox.settings, name, value)
        osmnx_log.addHandler(handler)
        osmnx_log.addFilter(only_file)
        yield ox
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)
        osmnx_log.removeHandler(handler)
        osmnx_log.removeFilter(only_file)
        socket.getaddrinfo = resolver


def _on_this_machine(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _request(ox, query: str, url: str) -> dict:
    """One query through osmnx (cache, rate limit, retries); its JSON answer."""
    with _answers(url):
        answer = ox._overpass._overpass_request(OrderedDict(data=query))
    _check_remark(url, answer)
    return answer


def _features(ox, polygon, tags: dict, url: str) -> list[dict]:
    """The raw elements osmnx's features query returns for ``tags`` within ``polygon``
    (subdivided into several requests where the area is large)."""
    elements: list[dict] = []
    with _answers(url):
        for answer in ox._overpass._download_overpass_features(polygon, tags):
            _check_remark(url, answer)
            elements.extend(answer.get("elements", []))
    return elements


@contextlib.contextmanager
def _answers(url: str) -> Iterator[None]:
    """osmnx's and requests' exceptions as the pipeline's errors, each with the fix."""
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    try:
        yield
    except requests.RequestException as exc:
        from pipeline.inputs.fetch import _describe

        raise OverpassUnavailableError(url, _describe(exc)) from None
    except ResponseStatusCodeError as exc:
        status, message = _status_and_message(str(exc))
        what = f"HTTP {status}" + (f": {message}" if message else "")
        if status in _BUSY_STATUS:
            raise OverpassUnavailableError(url, f"Overpass is busy or down, {what}") from None
        raise DownloadError(
            f"Overpass at {url} rejected the query ({what}); check boundary.relation_id / "
            "boundary.region_name and source.overpass_url in the region file"
        ) from None
    except InsufficientResponseError as exc:
        _, message = _status_and_message(str(exc))
        raise DownloadError(
            f"Overpass at {url} did not answer with Overpass JSON ({message}); check "
            "source.overpass_url (the API's base URL, without /interpreter) or try again later"
        ) from None


def _status_and_message(text: str) -> tuple[int | None, str]:
    """(HTTP status, the server's error text) from osmnx's "'host' responded: 400 Bad … <body>"."""
    match = re.search(r"responded: (\d{3}) (.*)", text, flags=re.DOTALL)
    if match is None:
        return None, text[:300]
    return int(match.group(1)), _server_message(match.group(2)[:_SNIFF_CHARS])


def _server_message(body: str) -> str:
    """The error of an Overpass error page (its ``<remark>`` or error paragraphs), or its start."""
    remark = re.search(r"<remark>(.*?)</remark>", body, flags=re.DOTALL)
    if remark:
        return html.unescape(remark.group(1)).strip()
    paragraphs = re.findall(r"<p>(.*?)</p>", body, flags=re.DOTALL | re.IGNORECASE)
    errors = [p for p in paragraphs if "error" in p.lower()] or paragraphs
    cleaned = [" ".join(html.unescape(re.sub(r"<[^>]+>", "", p)).split()) for p in errors]
    return " ".join(c for c in cleaned if c)[:500] or " ".join(body.split())[:200]


def _check_remark(url: str, answer: dict) -> None:
    """An answer that stopped with a runtime error is incomplete: never used (osmnx does not
    cache it either); any other remark is logged."""
    remark = answer.get("remark") if isinstance(answer, dict) else None
    if not remark:
        return
    if "error" in str(remark).lower():
        raise DownloadError(
            f"Overpass at {url} stopped with {str(remark).strip()!r}: the data is incomplete; "
            "try again later, or use source.urls with a .osm.pbf extract for a large region"
        )
    logger.warning("Overpass remark: %s", remark)


# --- the region -----------------------------------------------------------------------------


def _region_relation(cfg: RegionConfig, elements: list[dict], url: str) -> dict:
    """The one boundary relation the region is, from the answer to :func:`region_query`."""
    b = cfg.boundary
    found = [
        e
        for e in elements
        if e.get("type") == "relation" and e.get("tags", {}).get("boundary") == "administrative"
    ]
    if b.relation_id is not None:
        found = [e for e in found if e.get("id") == b.relation_id]
        if not found:
            raise ConfigError(
                f"{cfg.region_file}: OSM (Overpass at {url}) has no administrative boundary "
                f"relation {b.relation_id}; check boundary.relation_id "
                f"(https://www.openstreetmap.org/relation/{b.relation_id})"
            )
    elif not found:
        raise ConfigError(
            f"{cfg.region_file}: OSM (Overpass at {url}) has no administrative boundary named "
            f"{b.region_name!r} at admin_level {b.admin_level}; check boundary.region_name "
            "and boundary.admin_level, or give boundary.relation_id"
        )
    elif len(found) > 1:
        listed = ", ".join(
            f"{e['id']} ({e.get('tags', {}).get('name', '?')})"
            for e in sorted(found, key=lambda e: e["id"])
        )
        raise ConfigError(
            f"{cfg.region_file}: {len(found)} administrative boundaries are named "
            f"{b.region_name!r} at admin_level {b.admin_level} (relations {listed}); set "
            "boundary.relation_id to the one meant"
        )
    return found[0]


def _finer_levels(relation: dict) -> list[str]:
    """admin_level values finer than the region's own (its tag; 2 when it has none), to 11."""
    tagged = str(relation.get("tags", {}).get("admin_level", "")).strip()
    level = int(tagged) if tagged.isdigit() else 2
    return [str(n) for n in range(level + 1, 12)]


def _box_around(bounds: tuple[float, float, float, float], metres: float) -> shapely.Polygon:
    """The bounding box (lon/lat) grown by about ``metres`` on each side."""
    minlon, minlat, maxlon, maxlat = bounds
    dlat = metres / 111_320.0
    edge = min(max(abs(minlat), abs(maxlat)) + dlat, 89.0)
    dlon = metres / (111_320.0 * math.cos(math.radians(edge)))
    return box(
        max(minlon - dlon, -180.0),
        max(minlat - dlat, -90.0),
        min(maxlon + dlon, 180.0),
        min(maxlat + dlat, 90.0),
    )


def _region_geometry(cfg: RegionConfig, elements: list[dict], url: str):
    """The region's outline, assembled by the extract stage's reader from the boundaries."""
    from pipeline.inputs.osm import find_region, read_pbf

    with tempfile.TemporaryDirectory(prefix="overpass-") as folder:
        path = Path(folder) / "boundaries.osm.pbf"
        _write_pbf(elements, path)
        boundaries = read_pbf(path).boundaries
    try:
        return find_region(boundaries, cfg).geometry
    except ExtractError:
        raise DownloadError(
            f"Overpass at {url} sent the region's boundary relation, but its outline cannot be "
            "assembled from its members (an incomplete answer, or a broken boundary in OSM); "
            "try again later, or use source.local_pbf with an extract"
        ) from None


def _write_pbf(elements: list[dict], target: Path) -> tuple[tuple[int, int, int], int, str]:
    """Overpass JSON elements (repeats dropped) as an OSM PBF at ``target``, nodes, ways and
    relations each by id. Returns ((nodes, ways, relations), size in bytes, sha256)."""
    import osmium

    kinds: dict[str, dict[int, dict]] = {"node": {}, "way": {}, "relation": {}}
    for element in elements:
        kinds[element["type"]][element["id"]] = element
    nodes, ways, relations = kinds["node"], kinds["way"], kinds["relation"]
    member_type = {"node": "n", "way": "w", "relation": "r"}
    with atomic_path(Path(target)) as tmp:
        writer = osmium.SimpleWriter(str(tmp))
        try:
            for i in sorted(nodes):
                node = nodes[i]
                writer.add_node(
                    osmium.osm.mutable.Node(
                        id=i, location=(node["lon"], node["lat"]), tags=node.get("tags", {})
                    )
                )
            for i in sorted(ways):
                way = ways[i]
                writer.add_way(
                    osmium.osm.mutable.Way(id=i, nodes=way["nodes"], tags=way.get("tags", {}))
                )
            for i in sorted(relations):
                rel = relations[i]
                members = [(member_type[m["type"]], m["ref"], m["role"]) for m in rel["members"]]
                writer.add_relation(
                    osmium.osm.mutable.Relation(id=i, members=members, tags=rel.get("tags", {}))
                )
        finally:
            writer.close()
        size_bytes, sha256 = tmp.stat().st_size, sha256_of(tmp)
    return (len(nodes), len(ways), len(relations)), size_bytes, sha256


def _ql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
