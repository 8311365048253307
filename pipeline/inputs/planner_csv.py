"""One reader for the CSV files planners keep by hand (anchors, services), as Excel saves them.

Encodings: UTF-8 (with or without a BOM), Windows-1251 (Excel's "CSV" in a Russian locale) and
UTF-16 (Excel's "Unicode text", with or without a BOM) are recognised and read; anything else
that is not UTF-8 is read as Windows-1251 (KOI8-R names then fail as unknown names). Fields are
separated by `,`, `;` (Excel in a Russian locale) or a tab (Excel's "Unicode text"), whichever
the header line uses most. Header names are compared without case or surrounding spaces; cells
are stripped; blank lines are skipped. Numbers may use a decimal comma (`59,22`) — see
:func:`numbers`.

Every problem is one line (:class:`~pipeline.errors.InputDataError`) naming the file, the line
and the fix: an empty file, a header without rows, a row with more fields than the header, a
file that is not text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import InputDataError

__all__ = ["PlannerTable", "decode", "numbers", "read_planner_csv"]

_SEPARATORS = (",", ";", "\t")


@dataclass(frozen=True)
class PlannerTable:
    """A planner's CSV, read: every cell a stripped string ("" where empty)."""

    path: Path
    table: pd.DataFrame  # columns: the header names, stripped and lowercased
    header: list[str]  # the header names as written (stripped), for messages
    lines: np.ndarray  # the line of the file each row of `table` starts on (1-based)
    encoding: str
    separator: str

    def line(self, row: int) -> int:
        """The file's line (1-based) of row `row` of the table."""
        return int(self.lines[row])


def decode(raw: bytes, path: Path) -> tuple[str, str]:
    """(text, encoding name) of a planner's file: UTF-8 (BOM or not), UTF-16 (BOM or not),
    else Windows-1251."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return _decode(raw[3:], "utf-8", path), "UTF-8"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode(raw, "utf-16", path), "UTF-16"
    if b"\x00" in raw:  # UTF-16 without a BOM: every other byte of ASCII text is zero
        even, odd = raw[0::2].count(0), raw[1::2].count(0)
        if len(raw) % 2 == 0 and min(even, odd) == 0:
            return _decode(raw, "utf-16-be" if even > odd else "utf-16-le", path), "UTF-16"
        raise InputDataError(
            f"{path}: not a text file (binary data); save it from Excel as CSV (UTF-8)"
        )
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1251"), "Windows-1251"
    except UnicodeDecodeError:
        raise InputDataError(
            f"{path}: neither UTF-8 nor Windows-1251 text; save it as CSV in UTF-8"
        ) from None


def _decode(raw: bytes, encoding: str, path: Path) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputDataError(
            f"{path}: damaged {encoding.upper()} text (byte {exc.start}); save it again as CSV in UTF-8"
        ) from None


def _separator(header_line: str) -> str:
    counts = [header_line.count(sep) for sep in _SEPARATORS]
    best = max(range(len(_SEPARATORS)), key=lambda i: (counts[i], -i))  # a tie: the first
    return _SEPARATORS[best] if counts[best] else ","


def read_planner_csv(path: Path, what: str, header_hint: str) -> PlannerTable:
    """Read a planner's CSV file.

    Parameters
    ----------
    path : the file (its existence is the caller's check, with the caller's message).
    what : one row's noun for messages, singular ("anchor", "service").
    header_hint : the header the caller expects, for messages ("name", "name,type,lat,lon").

    Raises
    ------
    InputDataError
        Not text, empty, a header alone, a row with more fields than the header, a damaged
        quoted field: one line naming the file (and the line) and the fix.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read it ({exc.strerror})") from None
    text, encoding = decode(raw, path)
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise InputDataError(
            f"{path}: the file is empty; write a header line `{header_hint}` and one {what} per line"
        )
    first = next(line for line in text.splitlines() if line.strip())
    sep = _separator(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    try:
        start = 1
        for row in reader:
            cells = [cell.strip() for cell in row]
            if not any(cells):  # a blank line, or a row of empty cells (Excel's ";;;")
                start = reader.line_num + 1
                continue
            if header is None:
                header = cells
            else:
                rows.append(cells)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputDataError(
            f"{path}, line {reader.line_num}: not a readable CSV ({exc}); check the quotes on that line"
        ) from None
    assert header is not None  # the text has a non-blank line
    while header and header[-1] == "":  # Excel keeps empty columns at the end
        header.pop()
    width = len(header)
    for i, cells in enumerate(rows):
        if len(cells) > width:
            if any(cells[width:]):
                comma = (
                    " (a decimal comma in a file separated by ','? separate the fields by ';')"
                    if sep == ","
                    else ""
                )
                raise InputDataError(
                    f"{path}, line {lines[i]}: {len(cells)} fields but the header "
                    f"`{sep.join(header)}` has {width}{comma}; fix that line"
                )
            del cells[width:]
        cells.extend([""] * (width - len(cells)))
    if not rows:
        raise InputDataError(
            f"{path}: lists no {what}s, only the header; add one {what} per line under the header"
        )
    names = [h.lower() for h in header]
    table = pd.DataFrame(rows, columns=pd.Index(names, dtype=object), dtype=object)
    return PlannerTable(
        path=Path(path),
        table=table,
        header=header,
        lines=np.asarray(lines, dtype=np.int64),
        encoding=encoding,
        separator=sep,
    )


def numbers(values: Sequence[str] | pd.Series) -> pd.Series:
    """Numbers as planners type them: `59.22` or `59,22` (decimal comma), spaces allowed
    around; NaN where a cell is not a number."""
    text = pd.Series(values, dtype=object).astype(str).str.strip()
    text = text.str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
    comma = text.str.count(",").eq(1) & ~text.str.contains(".", regex=False)
    text = text.where(~comma, text.str.replace(",", ".", regex=False))
    return pd.to_numeric(text, errors="coerce").astype(float)
