"""Where a region's files live, and writing them so a killed run never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.config import PROJECT_ROOT, RegionConfig
from pipeline.errors import OutputError

__all__ = ["RegionPaths", "atomic_path", "region_paths", "sha256_of"]


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


def region_paths(cfg: RegionConfig, root: Path | None = None) -> RegionPaths:
    """Folders for a region under the project root (or `root`, for tests)."""
    root = root or Path(os.environ.get("PIPELINE_ROOT", PROJECT_ROOT))
    return RegionPaths(
        raw=root / "data_raw" / cfg.name,
        processed=root / "data_processed" / cfg.name,
        maps=root / "maps" / cfg.name,
        logs=root / "logs" / cfg.name,
    )


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds.

    A run killed inside the block leaves at most a `.tmp-*` file, never a partial `target`,
    and an earlier `target` stays as it was.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".tmp-{target.stem}-", suffix=target.suffix, dir=target.parent
        )
    except OSError as exc:
        raise OutputError(
            f"cannot write {target.parent}: {exc.strerror}; check the folder exists and is writable"
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as GDAL want to create the file themselves
    try:
        yield tmp
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
