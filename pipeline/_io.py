"""Where a region's files live, and writing them so a killed run never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from pipeline.config import PROJECT_ROOT, RegionConfig
from pipeline.errors import OutputError

__all__ = [
    "FileDigests",
    "RegionPaths",
    "atomic_path",
    "csv_language",
    "one_commit",
    "region_paths",
    "sha256_of",
    "sha256_of_open",
    "write_if_changed",
]


@dataclass(frozen=True)
class RegionPaths:
    """Every file a region's run reads or writes. The Makefile names the same paths."""

    raw: Path
    processed: Path
    maps: Path
    logs: Path
    shared: Path | None = None  # a run's folder reads the region's extract and network from here

    def for_run(self, scenario: str | None = None, season: str | None = None) -> RegionPaths:
        """Paths of a what-if run: results under runs/<scenario|baseline>/<season|default>/.

        The default run (no scenario, default season) keeps the region's own folders.
        """
        if scenario is None and season is None:
            return self
        sub = Path("runs") / (scenario or "baseline") / (season or "default")
        return replace(
            self,
            processed=self.processed / sub,
            maps=self.maps / sub,
            logs=self.logs / sub,
            shared=self.shared or self.processed,
        )

    @property
    def sources(self) -> Path:
        return self.raw / "SOURCES.json"

    @property
    def extract_pbf(self) -> Path:
        return self.raw / "extract.osm.pbf"

    @property
    def osm_gpkg(self) -> Path:
        return (self.shared or self.processed) / "osm.gpkg"

    @property
    def network(self) -> Path:
        return (self.shared or self.processed) / "network.npz"

    def gpkg(self, name: str) -> Path:
        return self.processed / f"{name}.gpkg"

    @property
    def travel_time_tif(self) -> Path:
        return self.processed / "travel_time.tif"

    @property
    def summary_json(self) -> Path:
        return self.processed / "summary.json"

    @property
    def summary_csv(self) -> Path:
        return self.processed / "summary.csv"

    @property
    def map_html(self) -> Path:
        return self.maps / "index.html"

    @property
    def report_html(self) -> Path:
        return self.maps / "report.html"

    @property
    def settlements_csv(self) -> Path:
        return self.processed / "settlements.csv"

    def qgis_project(self, name: str) -> Path:
        return self.processed / f"{name}.qgz"

    @property
    def config_stamps(self) -> Path:
        """`.config/`: what each stage read of the region file last (see `python -m pipeline
        deps`); the Makefile's rules depend on these files."""
        return (self.shared or self.processed) / ".config"


# The language of each region's results folder (`region_paths` records it): CSV files written
# there use that language's separator and decimal mark (pipeline/outputs/export.py, write_csv).
_CSV_LANGUAGE: dict[Path, str] = {}


def region_paths(cfg: RegionConfig, root: Path | None = None) -> RegionPaths:
    """Folders for a region under the project root (or `root`, for tests)."""
    root = root or Path(os.environ.get("PIPELINE_ROOT", PROJECT_ROOT))
    paths = RegionPaths(
        raw=root / "data_raw" / cfg.name,
        processed=root / "data_processed" / cfg.name,
        maps=root / "maps" / cfg.name,
        logs=root / "logs" / cfg.name,
    )
    _CSV_LANGUAGE[paths.processed.absolute()] = cfg.language
    return paths


def csv_language(path: Path) -> str:
    """The language ("ru", "en") of the region whose results folder holds `path`; "en" if none
    is known."""
    path = Path(path).absolute()
    for folder in path.parents:
        if folder in _CSV_LANGUAGE:
            return _CSV_LANGUAGE[folder]
    return "en"


# Inside `one_commit()`: the files written so far, (temporary path, target), not yet renamed.
_PENDING: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar(
    "pending_renames", default=None
)


@contextlib.contextmanager
def one_commit() -> Iterator[None]:
    """Hold back every rename of :func:`atomic_path` inside the block until it ends, then make
    them all at once.

    A stage run inside it that fails, is interrupted (Ctrl-C) or killed leaves every earlier
    output as it was: its new files exist only under hidden `.tmp-*` names (removed on failure
    or interrupt) until the last one is complete. Code inside must not read back a file it
    wrote inside the block.
    """
    if _PENDING.get() is not None:  # nested: the outer block commits
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = None
    try:  # everything inside: a Ctrl-C between two lines must still reach the finally
        token = _PENDING.set(pending)
        yield
        while pending:  # in the order written
            tmp, target = pending[0]
            try:
                tmp.replace(target)
            except OSError as exc:
                raise OutputError(
                    f"cannot write {target}: {exc.strerror}; check the folder is writable"
                ) from None
            pending.pop(0)
    finally:
        for tmp, _ in pending:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if token is not None:
            _PENDING.reset(token)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds.

    A run killed inside the block leaves at most a `.tmp-*` file, never a partial `target`,
    and an earlier `target` stays as it was. Inside :func:`one_commit` the rename waits for
    the end of that block.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(target.parent, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as exc:
        raise OutputError(
            f"cannot write {target.parent}: {exc.strerror}; check the folder exists and is writable"
        ) from None
    # Only a name here: the writer creates the file inside the try below, so a Ctrl-C can
    # never land between the file's creation and the code that removes it. (tempfile.mkstemp
    # would create it first, outside; GDAL and others want to create the file themselves anyway.)
    tmp = target.with_name(f".tmp-{target.stem}-{secrets.token_hex(8)}{target.suffix}")
    held = False
    try:
        yield tmp
        pending = _PENDING.get()
        if pending is None:
            tmp.replace(target)
        else:
            for i, (earlier, same) in enumerate(pending):  # written twice: the last one counts
                if same == target:
                    earlier.unlink(missing_ok=True)
                    del pending[i]
                    break
            pending.append((tmp, target))
            held = True
    finally:
        if not held:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with path.open("rb") as fh:
        return sha256_of_open(fh)


def sha256_of_open(fh: BinaryIO) -> str:
    """Hex sha256 of an open binary file, from where it stands to its end."""
    return hashlib.file_digest(fh, "sha256").hexdigest()


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` to `path` (whole or not at all) unless it holds exactly that already, so
    its time stamp moves only when its content does. Returns whether it was written."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return True


class FileDigests:
    """sha256 of files, remembered by size and modification time in a small JSON file, so a
    large extract is hashed once, not on every `make`."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        try:
            self._known = json.loads(cache.read_text(encoding="utf-8"))
            if not isinstance(self._known, dict):
                self._known = {}
        except (OSError, ValueError):
            self._known = {}
        self._used: dict[str, list] = {}

    def of(self, path: Path) -> str | None:
        """The file's sha256, or None if there is no such file."""
        file = Path(path).absolute()
        key = str(file)
        try:
            stat = file.stat()
        except OSError:
            return None
        if not file.is_file():
            return None
        entry = self._known.get(key)
        if not (
            isinstance(entry, list)
            and len(entry) == 3
            and entry[:2] == [stat.st_size, stat.st_mtime_ns]
        ):
            entry = [stat.st_size, stat.st_mtime_ns, sha256_of(file)]
        self._used[key] = entry
        return entry[2]

    def save(self) -> None:
        """Keep the digests of the files asked for this time (others are dropped)."""
        text = json.dumps(self._used, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
        write_if_changed(self.cache, text)
