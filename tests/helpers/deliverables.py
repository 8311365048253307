"""Helpers of the deliverable tests (QGIS, browser): tools that CI must have, and screenshots.

* :func:`require`: skip with the reason where a tool is missing, but fail under CI (``CI`` set),
  where `.ci/run` installs it: a missing install must never pass as a skip.
* :func:`keep_screenshot`: the README's pictures (``docs/img/*.png``) are taken by the tests'
  own code. They are written when missing, or rewritten with ``UPDATE_SCREENSHOTS=1``; small
  (scaled, 256 colours) so they can be committed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

__all__ = ["DOCS_IMG", "distinct_colours", "keep_screenshot", "require"]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
MAX_SCREENSHOT_BYTES = 200_000


def require(available: bool, reason: str) -> None:
    """Skip (locally) or fail (in CI) when a tool the test needs is not there."""
    if available:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} — CI must have it: .ci/run installs it")
    pytest.skip(reason)


def distinct_colours(png: Path, step: int = 4) -> int:
    """How many colours a screenshot has (sampled on a grid): a blank page has one or two."""
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"))[::step, ::step].reshape(-1, 3)
    return len(np.unique(pixels, axis=0))


def keep_screenshot(png: Path, name: str, width: int = 900) -> Path | None:
    """Copy `png` to ``docs/img/<name>.png`` (scaled to `width`, 256 colours) if it is missing
    or ``UPDATE_SCREENSHOTS`` is set; return the path written, or None."""
    target = DOCS_IMG / f"{name}.png"
    if target.exists() and not os.environ.get("UPDATE_SCREENSHOTS"):
        return None
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    with Image.open(png) as image:
        image = image.convert("RGB")
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        image.save(target, optimize=True)
        if target.stat().st_size > MAX_SCREENSHOT_BYTES:  # then 256 colours
            image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
    assert target.stat().st_size <= MAX_SCREENSHOT_BYTES, f"{target} is too big to commit"
    return target
