"""Declarative data schemas: a model names its columns; the base class validates every upload.

Validation reports every problem at once, naming the column and the first offending rows
(row numbers as in the CSV, header = row 1), and returns a cleaned, typed copy.

Magnitudes are bounded: a whole number must be exact in float64 and fit int64 (|n| ≤ 2**53), a
float must be finite and |x| ≤ ``MAX_ABS_FLOAT`` unless its column declares a tighter ``max_abs``
— values like 1e308 or 2e19 otherwise pass and overflow the sampler. A header naming a column
twice is refused before pandas renames the copy (``count.1``) and the first one is used silently.

A schema whose requirements depend on the model's options (a target column the analyst names, a
window that sets the fewest rows) declares them in ``depends_on_options``, so a page knows to
re-validate the data whenever those options change, and a column named by an option carries an
``OptionRef``: when it is missing the message says which option to set and to what.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from bayes_core.errors import DataValidationError

ColumnKind = Literal["integer", "float", "string", "date", "boolean"]
_MAX_ROWS_LISTED = 5
MAX_ABS_INTEGER = 2**53  # every whole number up to here is exact in float64 and fits int64
MAX_ABS_FLOAT = 1e15     # beyond this a sum of squares of a few million values can overflow
MAX_COLUMNS = 10_000     # a CSV wider than this is not data for these models (and pandas slows down on it)
MAX_TEXT_CHARS = 1_000   # an id, a name, an option: longer text is a mistake (or an attack on whoever shows it)
#: Characters that make two texts look the same while they differ, reorder what is shown around them
#: (bidirectional overrides, as in "Trojan Source"), or end text early (NUL): control characters, zero-width
#: and direction marks, the BOM and soft hyphen. Joiners (U+200C/U+200D) stay: some scripts and emoji need them.
INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064"
                       "\u2066-\u2069\ufeff\ufff9-\ufffb]")


def text_problem(text: str) -> str | None:
    """Why a text value (an id, a name, an option) cannot be used; None when it can."""
    hidden = INVISIBLE.search(text)
    if hidden:
        return (f"holds an invisible or control character (U+{ord(hidden.group()):04X}): remove it, so that "
                "texts that look the same are the same")
    if len(text) > MAX_TEXT_CHARS:
        return f"is longer than {MAX_TEXT_CHARS:,} characters"
    return None


@dataclass(frozen=True)
class OptionRef:
    """The model option whose value names a column (``many``: the option lists several columns)."""

    name: str
    label: str = ""
    many: bool = False

    def __str__(self) -> str:
        # Plain text (no Markdown): the same words in the CLI and, escaped, on a page.
        if self.label and self.label.lower() != self.name.replace("_", " ").lower():
            return f"the {self.label} option ({self.name})"
        return f"the option '{self.name}'"


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    min_value: float | None = None
    max_value: float | None = None
    required: bool = True
    description: str = ""
    #: Largest |value| of a numeric column (the model's own limit; defaults above apply without it).
    max_abs: float | None = None
    #: The model option that named this column (a missing one is then an option to set, not a file to fix).
    option: OptionRef | None = None


@dataclass(frozen=True)
class DataSchema:
    columns: tuple[Column, ...]
    min_rows: int = 1
    description: str = ""
    extra: list[str] = field(default_factory=list)  # notes shown to users (e.g. accepted extras)
    #: Model options whose values change what the data must hold (columns, fewest rows, windows):
    #: data must be validated with the options it will be trained with, and again when they change.
    depends_on_options: tuple[str, ...] = ()
    #: Why ``min_rows`` is what it is, when an option sets it (added to the "needs at least" message).
    min_rows_reason: str = ""

    def __post_init__(self) -> None:
        undeclared = sorted({c.option.name for c in self.columns if c.option} - set(self.depends_on_options))
        if undeclared:  # a programming error in the model: the page would not re-validate on a change
            raise ValueError(f"columns named by option(s) {', '.join(undeclared)} need them in depends_on_options")

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def validate(self, df: pd.DataFrame) -> pd.DataFrame:
        dupes = duplicate_names(df.columns)
        if dupes:
            raise DataValidationError([ambiguous_header(dupes)])
        problems: list[str] = []
        missing = [c for c in self.columns if c.required and c.name not in df.columns]
        fixed = [c.name for c in missing if c.option is None]
        if fixed:
            problems.append(f"missing column(s): {', '.join(fixed)} (expected: {', '.join(self.column_names())})")
        by_option: dict[OptionRef, list[Column]] = {}
        for col in missing:
            if col.option is not None:
                by_option.setdefault(col.option, []).append(col)
        for option, cols in by_option.items():  # offer only the file's columns without another role
            taken = {c.name for c in self.columns if c.option is None or c.option.name != option.name}
            problems.append(_option_columns_missing(option, cols, df, taken))
        out = df.copy()
        for col in self.columns:
            if col.name not in df.columns:
                continue
            converted, col_problems = _convert(df[col.name], col)
            problems.extend(col_problems)
            out[col.name] = converted
        if not problems and len(out) < self.min_rows:
            reason = f" ({self.min_rows_reason})" if self.min_rows_reason else ""
            problems.append(f"needs at least {self.min_rows} rows{reason}, got {len(out)}")
        if problems:
            raise DataValidationError(problems)
        return out.reset_index(drop=True)


def _listed(names: list[str], most: int = 12) -> str:
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _option_columns_missing(option: OptionRef, cols: list[Column], df: pd.DataFrame, taken: set[str]) -> str:
    """Columns an option names are not in the file: say which option to set, and to which of the
    file's columns (of the right kind, and not one the schema already uses for something else)."""
    numeric = all(c.kind in ("integer", "float") for c in cols)
    fits = [str(c) for c in df.columns if str(c) not in taken and (
        not numeric or pd.to_numeric(df[c], errors="coerce").notna().sum() == df[c].notna().sum() > 0)]
    names = ", ".join(f"'{c.name}'" for c in cols)
    absent = f"no column {names}" if len(cols) == 1 else f"no columns {names}"
    what = "numeric columns" if numeric else "columns"
    if not fits:
        return f"{absent} ({option} names {'it' if len(cols) == 1 else 'them'}), and this file has no {what} to name instead"
    if option.many:
        return f"{absent}: {option} lists {'it' if len(cols) == 1 else 'them'}; list only {what} of this file: {_listed(fits)}"
    return f"{absent}: set {option} to one of {_listed(fits)}"


def _rows(mask: np.ndarray) -> str:
    rows = (np.flatnonzero(mask) + 2).tolist()  # +1 for 1-based, +1 for the header line
    listed = ", ".join(map(str, rows[:_MAX_ROWS_LISTED]))
    more = f" and {len(rows) - _MAX_ROWS_LISTED} more" if len(rows) > _MAX_ROWS_LISTED else ""
    return f"row{'s' if len(rows) > 1 else ''} {listed}{more}"


def _limit(x: float) -> str:
    return f"{x:,.0f}" if x < 1e10 else f"{x:.3g}"


def _convert(series: pd.Series, col: Column) -> tuple[pd.Series, list[str]]:
    name, problems = col.name, []
    blank = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
    if blank.any():
        problems.append(f"column '{name}': empty value in {_rows(blank)}")
    if col.kind == "string":
        text = series.astype(str).str.strip()
        hidden = text.str.contains(INVISIBLE, regex=True).to_numpy() & ~blank
        if hidden.any():
            problems.append(f"column '{name}': invisible or control character (e.g. a zero-width space, a "
                            f"text-direction override, NUL) in {_rows(hidden)}; remove it, so that names that look "
                            "the same are the same")
        long = (text.str.len() > MAX_TEXT_CHARS).to_numpy()
        if long.any():
            problems.append(f"column '{name}': text longer than {MAX_TEXT_CHARS:,} characters in {_rows(long)}")
        return text, problems
    if col.kind == "boolean":
        text = series.astype(str).str.strip().str.lower()
        mapping = {"true": True, "1": True, "1.0": True, "yes": True, "false": False, "0": False, "0.0": False, "no": False}
        bad = ~text.isin(mapping) & ~blank
        if bad.any():
            problems.append(f"column '{name}': not true/false or 1/0 in {_rows(bad.to_numpy())}")
        return text.map(mapping), problems
    if col.kind == "date":
        parsed = pd.to_datetime(series, format="%Y-%m-%d", errors="coerce")
        bad = parsed.isna().to_numpy() & ~blank
        if bad.any():
            problems.append(f"column '{name}': not a YYYY-MM-DD date in {_rows(bad)}")
        return parsed, problems
    numbers = pd.to_numeric(series, errors="coerce")
    values = numbers.to_numpy(dtype=float)
    bad = np.isnan(values) & ~blank
    if bad.any():
        problems.append(f"column '{name}': not a number in {_rows(bad)}")
    inf = np.isinf(values)
    if inf.any():
        problems.append(f"column '{name}': infinite value in {_rows(inf)}")
    finite = np.isfinite(values)
    limit = col.max_abs if col.max_abs is not None else MAX_ABS_INTEGER if col.kind == "integer" else MAX_ABS_FLOAT
    huge = finite & (np.abs(values) > limit)
    if huge.any():
        problems.append(f"column '{name}': value beyond ±{_limit(limit)} in {_rows(huge)} "
                        "(too large for this model; check the units)")
        finite &= ~huge
    if col.kind == "integer":
        frac = finite & (values != np.round(values))
        if frac.any():
            problems.append(f"column '{name}': not a whole number in {_rows(frac)}")
    if col.min_value is not None:
        low = finite & (values < col.min_value)
        if low.any():
            what = "negative value" if col.min_value == 0 else f"value below {col.min_value:g}"
            problems.append(f"column '{name}': {what} in {_rows(low)}")
    if col.max_value is not None:
        high = finite & (values > col.max_value)
        if high.any():
            problems.append(f"column '{name}': value above {col.max_value:g} in {_rows(high)}")
    if col.kind == "integer" and not problems:
        return numbers.astype("int64"), problems
    return numbers.astype(float), problems


def duplicate_names(names) -> list[str]:
    """Names given more than once (after trimming spaces), in order of first repeat."""
    seen, dupes = set(), []
    for name in (str(n).strip() for n in names):
        if name in seen and name not in dupes:
            dupes.append(name)
        seen.add(name)
    return dupes


def ambiguous_header(dupes: list[str]) -> str:
    return (f"the header names column(s) {', '.join(repr(d) for d in dupes)} more than once; "
            "keep one column per name")


def _header(source: str | Path | bytes) -> list[str]:
    """The CSV's first record, read before pandas renames duplicates (``count`` → ``count.1``)."""
    if isinstance(source, bytes):
        text = io.TextIOWrapper(io.BytesIO(source), encoding="utf-8-sig", errors="replace", newline="")
    else:
        text = open(source, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115
    with text:
        return next(csv.reader(text), [])


_SAVE_AS = "save it as CSV UTF-8 (in Excel: Save As → CSV UTF-8)"
_NOT_CSV = ((b"\x1f\x8b", "gzip-compressed", "decompress it first"),
            (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx)", _SAVE_AS),
            (b"\xd0\xcf\x11\xe0", "an Excel 97–2003 workbook (.xls)", _SAVE_AS),
            (b"\xff\xfe", "UTF-16 text", _SAVE_AS), (b"\xfe\xff", "UTF-16 text", _SAVE_AS),
            (b"%PDF", "a PDF document", "export the table as CSV"), (b"\x89PNG", "a PNG image", "give the CSV file"))


def _not_csv(source: str | Path | bytes) -> str | None:
    """What a file is instead of CSV text, from its first bytes (Excel files renamed .csv, gzip, UTF-16)."""
    if isinstance(source, bytes):
        head = source[:8]
    else:
        try:
            with open(source, "rb") as fh:
                head = fh.read(8)
        except OSError:
            return None  # read_csv says why
    return next((f"the file is {what}, not CSV text: {advice}" for magic, what, advice in _NOT_CSV
                 if head.startswith(magic)), None)


def _first_non_utf8(source: str | Path | bytes) -> str:
    """Where a file stops being UTF-8: ``byte 0xe9 on line 3`` (pandas' own position is within a chunk)."""
    decoder, line = codecs.getincrementaldecoder("utf-8")(), 1
    with (io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")) as fh:
        while chunk := fh.read(2**20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return f"byte 0x{exc.object[exc.start]:02x} on line {line + exc.object[:exc.start].count(b'\n'):,}"
            line += chunk.count(b"\n")
    return "an incomplete character at the end"


def read_csv(source: str | Path | bytes) -> pd.DataFrame:
    """Read a CSV (path or raw bytes) with a clear error; a header naming a column twice is refused."""
    not_csv = _not_csv(source)
    if not_csv:
        raise DataValidationError([not_csv])
    try:
        header = _header(source)
        # The header's own problems first: pandas renames duplicate names in quadratic time (a line of
        # 40,000 equal names took a minute) and builds a column per name.
        dupes = duplicate_names(header)
        if dupes:
            raise DataValidationError([ambiguous_header(dupes)])
        if len(header) > MAX_COLUMNS:
            raise DataValidationError([f"the header has {len(header):,} columns, more than the {MAX_COLUMNS:,} a CSV "
                                       "may have here (a model reads a few): check the file and its delimiter"])
        df = pd.read_csv(io.BytesIO(source) if isinstance(source, bytes) else source)
    except FileNotFoundError:
        raise DataValidationError([f"file not found: {source}"]) from None
    except IsADirectoryError:
        raise DataValidationError([f"{source} is a folder; give the path of a CSV file"]) from None
    except OSError as exc:
        raise DataValidationError([f"cannot read {source}: {exc.strerror or exc}"]) from None
    except csv.Error as exc:
        raise DataValidationError([f"cannot read the CSV header: {exc}"]) from None
    except DataValidationError:
        raise
    except UnicodeDecodeError:
        raise DataValidationError([f"the file is not UTF-8 text ({_first_non_utf8(source)}): {_SAVE_AS}"]) from None
    except pd.errors.EmptyDataError:
        raise DataValidationError(["cannot read the CSV: the file is empty (no header line)"]) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataValidationError([f"cannot read the CSV: {exc}"]) from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df
