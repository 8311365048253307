"""Fetch stage: put the region's OpenStreetMap extract on disk and record where it came from.

The ``[source]`` section of the region file picks one of three ways:

* ``local_pbf``: a ``.osm.pbf`` already on disk, checked and recorded, never copied;
* ``urls``: downloaded to ``data_raw/<region>/extract.osm.pbf`` (resumable, size-capped,
  checksummed, atomic: a killed download leaves only ``extract.osm.pbf.part``);
* ``kind = "overpass"``: the region from the Overpass API through osmnx (:mod:`pipeline.inputs.overpass`),
  saved as ``overpass.osm.pbf``.

When no extract can be had for lack of network and the region has an ``[offline]`` section,
the stage records a *fallback* instead: later stages use the bundled reference data and a
straight-line model, and every result is marked APPROXIMATE. A file that arrives but is wrong
(checksum, size, content type, not a PBF) is an error, never a reason to fall back.

Every outcome is written to ``SOURCES.json`` next to the data (url, time, size, sha256).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import requests
import urllib3
from tqdm import tqdm

from pipeline._io import RegionPaths, atomic_path, sha256_of
from pipeline.config import RegionConfig
from pipeline.errors import ConfigError, DownloadError, ExtractError

__all__ = ["check_pbf_header", "download", "fetch_extract"]

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20  # block read from the network and written to disk
_MAX_BLOB_HEADER_BYTES = 64 * 1024  # the PBF format caps a BlobHeader at 64 KiB
# Content types a PBF is never served as: an error page, a JSON error, an XML document.
_TEXT_TYPE = re.compile(r"^(text/.*|.*/(json|xml|html|xhtml\+xml|javascript)|.*\+(json|xml))$")
_NETWORK_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError)
_RESUME_HINT = "check the connection and run `make fetch` again to resume"


class _NetworkError(DownloadError):
    """The server could not be reached or the transfer broke off: worth a retry or a fallback."""

    def __init__(self, url: str, cause: str) -> None:
        self.url = url
        self.cause = cause
        super().__init__(f"download of {url} failed ({cause}); {_RESUME_HINT}")


class _TooLargeError(DownloadError):
    """More bytes than allowed: the partial file is junk."""


# --- the stage --------------------------------------------------------------------------


def fetch_extract(cfg: RegionConfig, paths: RegionPaths, *, timeout_s: float = 30.0) -> dict:
    """Make sure the region's OSM extract is on disk; write and return the record in paths.sources.

    Parameters
    ----------
    cfg : RegionConfig
        The validated region; ``cfg.source`` says where the extract comes from.
    paths : RegionPaths
        The region's folders; the extract goes to ``paths.raw`` and the record to
        ``paths.sources`` (``SOURCES.json``).
    timeout_s : float
        Seconds to wait for a connection and between received blocks (downloads; the
        Overpass source waits :data:`pipeline.inputs.overpass.TIMEOUT_S`, osmnx's one timeout).

    Returns
    -------
    dict
        The record written to ``SOURCES.json``: ``mode`` is ``"osm"`` (with ``format``
        ``"pbf"`` or ``"osm_xml"``, ``file``, ``size_bytes``, ``sha256`` and ``url`` or
        ``source``) or ``"fallback"`` (with ``reason`` and ``urls_tried``).

    Raises
    ------
    ExtractError
        A local or downloaded file is missing, corrupt or has the wrong checksum.
    DownloadError
        A download failed and the region has no ``[offline]`` section, or a download arrived
        wrong (checksum, size, content type).
    ConfigError
        The region file gives no way to get an extract.
    """
    source = cfg.source
    if source.kind == "overpass":
        record = _fetch_overpass(cfg, paths)
    elif source.local_pbf is not None:
        record = _local_pbf_record(cfg)
    else:
        record = _existing_pbf_record(cfg, paths) or _download_pbf(cfg, paths, timeout_s)
    _write_sources(paths.sources, record)
    if record["mode"] == "osm":
        logger.info(
            "fetch: %s %s, %.1f MB, sha256 %s -> %s",
            record["format"],
            record["file"],
            record["size_bytes"] / 1e6,
            record["sha256"][:12],
            paths.sources,
        )
    return record


def _local_pbf_record(cfg: RegionConfig) -> dict:
    """Check ``source.local_pbf`` and describe it; the file stays where it is."""
    path = cfg.resolve(cfg.source.local_pbf).resolve()
    if not path.is_file():
        raise ExtractError(
            f"source.local_pbf = {str(cfg.source.local_pbf)!r} not found (looked for {path}); "
            f"put the .osm.pbf there or fix the path in {cfg.region_file}"
        )
    check_pbf_header(path)
    sha256 = sha256_of(path)
    if cfg.source.sha256 and sha256 != cfg.source.sha256:
        raise ExtractError(
            f"{path} has sha256 {sha256}, but source.sha256 in {cfg.region_file} is "
            f"{cfg.source.sha256}; put the right file there or update source.sha256"
        )
    return _file_record(path, sha256, "local file")


def _file_record(path: Path, sha256: str, source: str) -> dict:
    """SOURCES.json's record of a PBF already on disk (not downloaded by this run)."""
    return {
        "mode": "osm",
        "format": "pbf",
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "sha256": sha256,
        "recorded_at": _now_iso(),
        "source": source,
    }


def _existing_pbf_record(cfg: RegionConfig, paths: RegionPaths) -> dict | None:
    """The record of an extract already at ``paths.extract_pbf``, or None to download one.

    A complete earlier download (``SOURCES.json`` names it with its sha256) is reused unless
    the region file now asks for another URL or checksum. A file with no matching record was
    put there by hand (as the fallback warning suggests) and is used after a check.
    """
    target = paths.extract_pbf.resolve()
    if not target.is_file():
        return None
    earlier = _read_sources(paths.sources)
    sha256 = sha256_of(target)
    ours = (earlier.get("mode"), earlier.get("format"), earlier.get("file"), earlier.get("sha256"))
    if ours == ("osm", "pbf", str(target), sha256):
        stale_url = "url" in earlier and earlier["url"] not in cfg.source.urls
        stale_sha = cfg.source.sha256 is not None and sha256 != cfg.source.sha256
        if stale_url or stale_sha:
            logger.info("%s is not from the source the region file names; downloading", target)
            return None
        logger.info("reusing %s (complete, sha256 %s)", target, sha256[:12])
        return earlier
    check_pbf_header(target)
    if cfg.source.sha256 and sha256 != cfg.source.sha256:
        raise ExtractError(
            f"{target} has sha256 {sha256}, but source.sha256 in {cfg.region_file} is "
            f"{cfg.source.sha256}; delete the file to download it again, or update source.sha256"
        )
    logger.info("using %s, found on disk without a download record", target)
    return _file_record(target, sha256, "existing file")


def _download_pbf(cfg: RegionConfig, paths: RegionPaths, timeout_s: float) -> dict:
    """Try each URL in turn; fall back (or raise) only when all fail for network reasons."""
    urls = cfg.source.urls
    if not urls:
        if cfg.offline is None:
            raise ConfigError(
                f"{cfg.region_file}: [source] gives neither local_pbf nor urls; "
                'set one of them (or kind = "overpass")'
            )
        return _fallback(cfg, paths, [], "the region file names no OSM source")
    failures: list[_NetworkError] = []
    for url in urls:
        try:
            got = download(
                url,
                paths.extract_pbf,
                max_bytes=int(cfg.source.max_download_mb * 1e6),
                expected_sha256=cfg.source.sha256,
                timeout_s=timeout_s,
            )
        except _NetworkError as exc:
            logger.warning("%s", exc)
            failures.append(exc)
            continue
        keep = ("file", "url", "size_bytes", "sha256", "downloaded_at")
        return {"mode": "osm", "format": "pbf", **{key: got[key] for key in keep}}
    if cfg.offline is None:
        raise failures[-1]
    reason = "no network: " + "; ".join(f"{exc.url}: {exc.cause}" for exc in failures)
    return _fallback(cfg, paths, urls, reason)


def _fallback(cfg: RegionConfig, paths: RegionPaths, urls_tried: list[str], reason: str) -> dict:
    """Record that later stages must use the bundled reference data, and say so loudly."""
    offline = cfg.offline
    if cfg.source.kind == "overpass":  # reads no extract file: one has to be named
        how = 'replace kind = "overpass" by source.local_pbf = a .osm.pbf that covers the region'
    elif urls_tried:
        how = f"download {urls_tried[0]} to {paths.extract_pbf}"
    else:
        how = f"put the region's .osm.pbf at {paths.extract_pbf}"
    logger.warning(
        "results for %s will be APPROXIMATE: no OpenStreetMap extract could be fetched (%s). "
        "Using the bundled reference data (%s) and a straight-line model (distance x %g at "
        "%g km/h) instead of the road network. For road-based results, %s, or run "
        "`make fetch region=%s` with internet.",
        cfg.name,
        reason,
        cfg.resolve(offline.settlements).parent,
        offline.detour_factor,
        offline.speed_kph,
        how,
        cfg.name,
    )
    return {
        "mode": "fallback",
        "reason": reason,
        "urls_tried": list(urls_tried),
        "recorded_at": _now_iso(),
    }


def _read_sources(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


_TIMESTAMPS = ("recorded_at", "downloaded_at")


def _write_sources(path: Path, record: dict) -> None:
    # Unchanged but for the time: leave the file (and its mtime) alone, so Make redoes nothing.
    old = _read_sources(path)
    if old and {k: v for k, v in old.items() if k not in _TIMESTAMPS} == {
        k: v for k, v in record.items() if k not in _TIMESTAMPS
    }:
        return
    text = json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- downloading a PBF ----------------------------------------------------------------------


def download(
    url: str,
    target: Path,
    *,
    max_bytes: int,
    expected_sha256: str | None = None,
    timeout_s: float = 30.0,
) -> dict:
    """Resumable download to target (via target.with_suffix(target.suffix + '.part')).

    An existing ``.part`` is resumed with a ``Range`` request (and ``If-Range``, so a file
    that changed on the server meanwhile is fetched afresh). ``target`` appears only when the
    whole file has arrived, matches ``expected_sha256`` and starts like an OSM PBF.

    Parameters
    ----------
    url : str
        An http(s) URL of a ``.osm.pbf`` file.
    target : Path
        Where the finished file goes.
    max_bytes : int
        Refuse files larger than this (checked on ``Content-Length`` and while streaming).
    expected_sha256 : str, optional
        Hex sha256 the finished file must have.
    timeout_s : float
        Seconds to wait for a connection and between received blocks (downloads; the
        Overpass source waits :data:`pipeline.inputs.overpass.TIMEOUT_S`, osmnx's one timeout).

    Returns
    -------
    dict
        ``url``, ``file`` (absolute), ``size_bytes``, ``sha256``, ``downloaded_at`` (UTC ISO)
        and ``resumed_from_bytes`` (0 when the download started from the beginning).

    Raises
    ------
    DownloadError
        Network failure (the ``.part`` is kept for a resume), HTTP error, wrong content type,
        too large, or checksum mismatch (the ``.part`` is deleted).
    ExtractError
        The file is not an OSM PBF (the ``.part`` is deleted).
    """
    target = Path(target)
    part = _part_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    offset_bytes = part.stat().st_size if part.is_file() else 0
    headers = {"Accept-Encoding": "identity"}  # byte ranges of the file itself, not of a gzip
    if offset_bytes:
        headers["Range"] = f"bytes={offset_bytes}-"
        validator = _read_validator(part)
        if validator:
            headers["If-Range"] = validator
    try:
        with requests.get(url, headers=headers, stream=True, timeout=timeout_s) as resp:
            if resp.status_code == 416 and offset_bytes:
                restart = True  # the .part is as long as the file or longer: start over
            else:
                restart = False
                offset_bytes = _receive(url, resp, part, offset_bytes, max_bytes)
    except _NETWORK_ERRORS as exc:
        raise _NetworkError(url, _describe(exc)) from exc
    if restart:
        logger.info("%s: the server refused to resume %s; starting over", url, part)
        _discard(part)
        return download(
            url, target, max_bytes=max_bytes, expected_sha256=expected_sha256, timeout_s=timeout_s
        )
    return _finish(url, part, target, expected_sha256, offset_bytes)


def _receive(
    url: str, resp: requests.Response, part: Path, offset_bytes: int, max_bytes: int
) -> int:
    """Check the response, stream its body into ``part``; return the offset resumed from."""
    if resp.status_code not in (200, 206):
        raise _NetworkError(url, f"HTTP {resp.status_code} {resp.reason}")
    _check_content_type(url, resp)
    if resp.status_code == 206:
        _check_content_range(url, resp, part, offset_bytes)
    elif offset_bytes:
        logger.info("%s: the server sent the whole file instead of resuming; starting over", url)
        offset_bytes = 0
    length_bytes = _content_length(resp)
    total_bytes = None if length_bytes is None else offset_bytes + length_bytes
    if total_bytes is not None and total_bytes > max_bytes:
        raise DownloadError(
            f"{url} is {total_bytes / 1e6:.1f} MB, more than the limit of "
            f"{max_bytes / 1e6:.1f} MB; raise source.max_download_mb in the region file "
            "or pick a smaller extract"
        )
    _write_validator(part, resp)
    try:
        with part.open("ab" if offset_bytes else "wb") as fh:
            size_bytes = _copy_body(url, resp, fh, offset_bytes, total_bytes, max_bytes, part.name)
    except _TooLargeError:
        _discard(part)
        raise
    if total_bytes is not None and size_bytes != total_bytes:
        raise _NetworkError(url, f"the transfer stopped at {size_bytes} of {total_bytes} bytes")
    return offset_bytes


def _copy_body(
    url: str,
    resp: requests.Response,
    fh: IO[bytes],
    start_bytes: int,
    total_bytes: int | None,
    max_bytes: int,
    label: str,
) -> int:
    """Stream the body into ``fh`` with a progress bar; return the size with ``start_bytes``."""
    size_bytes = start_bytes
    with tqdm(
        total=total_bytes,
        initial=start_bytes,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        mininterval=1.0,
    ) as bar:
        for chunk in _iter_body(resp):
            size_bytes += len(chunk)
            if size_bytes > max_bytes:
                raise _TooLargeError(
                    f"{url} sent more than the limit of {max_bytes / 1e6:.1f} MB; raise "
                    "source.max_download_mb in the region file or pick a smaller extract"
                )
            fh.write(chunk)
            bar.update(len(chunk))
    return size_bytes


def _iter_body(resp: requests.Response) -> Iterator[bytes]:
    """Blocks of the body as they arrive, so a dropped connection loses no byte received."""
    read1 = getattr(resp.raw, "read1", None)  # urllib3 >= 2.3
    if read1 is None:  # older urllib3: whole blocks only; a drop loses the last one
        yield from resp.iter_content(chunk_size=64 * 1024)
        return
    while chunk := read1(_CHUNK_BYTES, decode_content=True):
        yield chunk


def _finish(
    url: str, part: Path, target: Path, expected_sha256: str | None, resumed_from_bytes: int
) -> dict:
    """Verify the complete ``.part`` and move it onto ``target``."""
    sha256 = sha256_of(part)
    if expected_sha256 and sha256 != expected_sha256:
        _discard(part)
        raise DownloadError(
            f"{url} has sha256 {sha256}, expected {expected_sha256} (source.sha256); the file "
            "was deleted: check the URL and the checksum in the region file"
        )
    problem = _pbf_header_problem(part)
    if problem:
        _discard(part)
        raise ExtractError(
            f"{url} did not deliver an OSM PBF ({problem}); point source.urls at a .osm.pbf file"
        )
    size_bytes = part.stat().st_size
    part.replace(target)  # atomic on one file system
    _validator_path(part).unlink(missing_ok=True)
    logger.info("downloaded %s to %s (%.1f MB)", url, target, size_bytes / 1e6)
    return {
        "url": url,
        "file": str(target.resolve()),
        "size_bytes": size_bytes,
        "sha256": sha256,
        "downloaded_at": _now_iso(),
        "resumed_from_bytes": resumed_from_bytes,
    }


def _check_content_type(url: str, resp: requests.Response) -> None:
    content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if _TEXT_TYPE.match(content_type):
        raise DownloadError(
            f"{url} answered with Content-Type {content_type!r}, not a binary .osm.pbf (an "
            "error or login page?); open the URL in a browser and fix source.urls in the "
            "region file"
        )


def _check_content_range(url: str, resp: requests.Response, part: Path, offset_bytes: int) -> None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", "").strip())
    if match is None or int(match.group(1)) != offset_bytes:
        raise DownloadError(
            f"{url} resumed at a different byte than asked ({offset_bytes}; Content-Range "
            f"{resp.headers.get('Content-Range')!r}); delete {part} and run `make fetch` again"
        )


def _content_length(resp: requests.Response) -> int | None:
    """The body size in bytes as sent, or None when unknown or counted before decompression."""
    if resp.headers.get("Content-Encoding", "identity").lower() not in ("identity", ""):
        return None
    value = resp.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _part_path(target: Path) -> Path:
    return target.with_suffix(target.suffix + ".part")


def _validator_path(part: Path) -> Path:
    """Beside the ``.part``: the ETag or Last-Modified of the file it is a piece of."""
    return part.with_suffix(part.suffix + ".validator")


def _write_validator(part: Path, resp: requests.Response) -> None:
    etag = resp.headers.get("ETag", "")
    strong_etag = etag if not etag.startswith("W/") else ""  # If-Range takes strong ones only
    validator = strong_etag or resp.headers.get("Last-Modified", "")
    path = _validator_path(part)
    if validator:
        path.write_text(validator, encoding="utf-8")
    elif resp.status_code == 200:
        path.unlink(missing_ok=True)


def _read_validator(part: Path) -> str | None:
    with contextlib.suppress(OSError):
        return _validator_path(part).read_text(encoding="utf-8").strip() or None
    return None


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _validator_path(part).unlink(missing_ok=True)


def _describe(exc: BaseException) -> str:
    """A short cause, e.g. ``ConnectionError: [Errno 111] Connection refused``."""
    text = str(exc)
    found = (
        re.search(r"\[Errno -?\d+\][^'\")]*", text)
        or re.search(r"Connection broken: [^'\"]*\)?", text)
        or re.search(r"(?:[Rr]ead|[Cc]onnect(?:ion)?) timed out|timed out", text)
    )
    detail = found.group(0).strip() if found else text[:200]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


# --- checking a PBF -------------------------------------------------------------------------


def check_pbf_header(path: Path) -> None:
    """Raise ExtractError unless the file starts like an OSM PBF.

    An OSM PBF starts with a 4-byte big-endian BlobHeader length (at most 64 KiB), then a
    BlobHeader protobuf whose field 1 (``type``) is the string ``"OSMHeader"``. This catches
    HTML error pages, XML files, compressed files and truncated downloads early.

    Parameters
    ----------
    path : Path
        The file to check.

    Raises
    ------
    ExtractError
        The file is missing or does not start like an OSM PBF; the message says why.

    Examples
    --------
    >>> from pipeline.config import REGIONS_DIR
    >>> check_pbf_header(REGIONS_DIR / "andorra" / "andorra-2023-05-02.osm.pbf")
    """
    problem = _pbf_header_problem(Path(path))
    if problem:
        raise ExtractError(
            f"{path} is not an OSM PBF file ({problem}); delete it and download the extract "
            "again, or point source.local_pbf at a .osm.pbf file"
        )


def _pbf_header_problem(path: Path) -> str | None:
    """Why ``path`` does not start like an OSM PBF, or None when it does."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4 + _MAX_BLOB_HEADER_BYTES)
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    if len(head) < 4:
        return f"only {len(head)} bytes long"
    if head.lstrip().startswith(b"<"):
        return "it is text starting with '<': an .osm XML file or an HTML error page"
    if head.startswith(b"\x1f\x8b") or head.startswith(b"BZh"):
        return "it is gzip/bzip2 compressed: use the .osm.pbf download, not .osm.gz/.osm.bz2"
    header_bytes = int.from_bytes(head[:4], "big")
    if not 0 < header_bytes < _MAX_BLOB_HEADER_BYTES:
        return f"first BlobHeader length {header_bytes} is not in 1..{_MAX_BLOB_HEADER_BYTES - 1}"
    header = head[4 : 4 + header_bytes]
    if len(header) < header_bytes:
        return f"truncated inside the first BlobHeader ({len(head)} bytes)"
    try:
        blob_type = _protobuf_string_field(header, field_number=1)
    except ValueError as exc:
        return f"first BlobHeader is not valid protobuf: {exc}"
    if blob_type != "OSMHeader":
        return f"first block is {blob_type!r}, expected 'OSMHeader'"
    return None


def _protobuf_string_field(message: bytes, field_number: int) -> str | None:
    """The first length-delimited field ``field_number`` of a protobuf message, decoded."""
    pos = 0
    while pos < len(message):
        key, pos = _read_varint(message, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, pos = _read_varint(message, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            length, pos = _read_varint(message, pos)
            if pos + length > len(message):
                raise ValueError(f"field {field} runs past the end")
            if field == field_number:
                return message[pos : pos + length].decode("utf-8", errors="replace")
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
    return None


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 64 bits")


# --- Overpass -------------------------------------------------------------------------------


def _fetch_overpass(cfg: RegionConfig, paths: RegionPaths) -> dict:
    """The region through osmnx's Overpass layer (:mod:`pipeline.inputs.overpass`), as one OSM PBF."""
    from pipeline.inputs import overpass

    try:
        got = overpass.download(cfg, paths)
    except overpass.OverpassUnavailableError as exc:
        if cfg.offline is None:
            raise
        return _fallback(cfg, paths, [exc.url], f"no network: {exc.url}: {exc.cause}")
    return {"mode": "osm", "format": "pbf", **got}
