"""Errors a user can act on.

Every error the pipeline raises for bad input derives from :class:`PipelineError`. The CLI
prints its message as one line and exits with a non-zero code; no traceback. Each subclass
also derives from the matching built-in, so callers can catch either.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AnchorNotFoundError",
    "ConfigError",
    "DownloadError",
    "ExtractError",
    "InputDataError",
    "OutputError",
    "PipelineError",
    "damaged_input",
    "missing_input",
    "missing_layer",
]


class PipelineError(Exception):
    """Base class: a problem with the user's input or environment, with a message that tells the fix."""

    exit_code = 2


class ConfigError(PipelineError, ValueError):
    """The region file (or the region name) is wrong."""


class InputDataError(PipelineError, ValueError):
    """An input data file (anchor CSV, bundled reference data) is missing or malformed."""


class ExtractError(PipelineError, ValueError):
    """The OSM extract is missing, truncated, corrupt or does not cover the region."""


class AnchorNotFoundError(PipelineError, LookupError):
    """An anchor or core name in the region file matches no settlement."""


class DownloadError(PipelineError, OSError):
    """A download failed (network, checksum, size or content type)."""


class OutputError(PipelineError, OSError):
    """An output file or folder cannot be written."""


def missing_input(path: Path) -> InputDataError:
    """A file an earlier stage makes is not there."""
    return InputDataError(
        f"{path} not found; run the earlier stages first (`make` runs every stage in order)"
    )


def damaged_input(path: Path, detail: str) -> InputDataError:
    """A file an earlier stage made cannot be read; `detail` says what is wrong with it."""
    return InputDataError(f"{path} is damaged ({detail}); delete it and run `make` again")


def missing_layer(path: Path, layer: str) -> InputDataError:
    """A file an earlier stage made lacks a layer this stage needs."""
    return InputDataError(
        f"{path} has no layer {layer!r} (made by another version?); delete it and run `make` again"
    )
