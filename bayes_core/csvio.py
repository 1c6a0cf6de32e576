"""Every CSV the product writes for people to download or open: formula cells escaped.

A spreadsheet runs a cell such as ``=HYPERLINK("https://evil.example")``, ``@SUM(1+1)`` or
``=cmd|' /C calc'!A0`` as a formula; requests, entity ids and column names come from users, so a
prediction CSV could carry one. Following OWASP's CSV-injection rule, a text cell (and a column or
index name) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'``, which spreadsheets show as text. Numbers are never touched: numeric cells, and text that is
only a plain number such as ``-1.5`` (a spreadsheet reads that as the number it is), stay as they are.

Lines end in CRLF (RFC 4180): the csv writer then quotes every cell holding a carriage return
or a line feed, so a cell such as ``ok\r=1+1`` cannot break into a new row that starts with ``=``.

Not escaped on purpose: a run's own ``data.csv`` and ``summary.csv`` (written by the run store),
which the product reads back as data — escaping would change the values and the data hash.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def escape_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _escape_labels(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_escape_labels(level) for level in index.levels]).set_names(
            [escape_cell(n) for n in index.names])
    if pd.api.types.is_numeric_dtype(index.dtype) or pd.api.types.is_datetime64_any_dtype(index.dtype):
        return index.set_names(escape_cell(index.name))
    return pd.Index([escape_cell(v) for v in index], name=escape_cell(index.name), dtype=object)


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells, column names and index labels are escaped."""
    out = df.copy()
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        dtype = column.dtype
        if (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                or pd.api.types.is_datetime64_any_dtype(dtype)):
            continue
        out.isetitem(i, column.astype(object).map(escape_cell))
    out.columns = _escape_labels(out.columns)
    out.index = _escape_labels(out.index)
    return out


def to_csv_bytes(df: pd.DataFrame, *, index: bool = False, **to_csv_kwargs: Any) -> bytes:
    """The CSV of ``df`` as UTF-8 bytes (for download buttons), formula cells escaped."""
    return escape_frame(df).to_csv(index=index, lineterminator="\r\n", **to_csv_kwargs).encode("utf-8")


def write_csv(df: pd.DataFrame, path: str | Path, *, index: bool = False, **to_csv_kwargs: Any) -> None:
    """Write ``df`` as a CSV file, formula cells escaped."""
    escape_frame(df).to_csv(path, index=index, lineterminator="\r\n", **to_csv_kwargs)
