"""Population figures as the data gives them: one parser for a population written as text, and
one reading of a population column in which unknown stays unknown (NaN) or counts as nobody.

>>> parse_population("1 200")
1200
>>> parse_population("about 300") is None
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["known_population", "parse_population", "population_or_zero"]


def parse_population(text: str | None) -> int | None:
    """A population as OSM tags write it ("1200", "1 200", "1,200"); None when it is no count.

    Parameters
    ----------
    text : str or None
        The tag's value.

    Returns
    -------
    int or None
        The count, or None for a missing or unreadable value ("about 300", "1.2k").
    """
    if text is None:
        return None
    digits = text.replace(" ", "").replace(",", "").replace("\u00a0", "")
    return int(digits) if digits.isdigit() else None


def known_population(values) -> np.ndarray:
    """A population column as floats, NaN where the population is unknown (or not a number)."""
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def population_or_zero(values) -> np.ndarray:
    """A population column as floats in which an unknown population counts as nobody."""
    return np.nan_to_num(known_population(values), nan=0.0)
