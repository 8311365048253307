"""Unit conversions used across the pipeline (one place, so no stage divides by 3.6 on its own)."""

from __future__ import annotations

__all__ = ["kph_to_mps"]


def kph_to_mps(speed_kph):
    """Kilometres per hour → metres per second (works on numbers and arrays).

    >>> kph_to_mps(36.0)
    10.0
    """
    return speed_kph / 3.6
