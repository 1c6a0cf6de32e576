"""What a run's files must look like: the one place their shape is checked before anything uses them.

A run folder is data from disk, and disks hold whatever someone (or a crash, a copy, a bundle from
elsewhere) left there: ``diagnostics.json`` may be ``[1]``, ``metadata.json`` may say
``created_at: 5``, ``summary.csv`` may be garbage, ``model.dot`` may carry a ``URL=`` that the
browser would render as a live link, ``trace.nc`` may be cut short. Each check here names the problem
in a few words (``RunFileError``); ``runs.store.Run`` adds which run and file it is and what to do,
so every listing shows the run as unreadable and every page or command that opens it says why.

Files are read only when they are regular files inside the run folder (a link leading out of it, a
FIFO or a device is refused: reading one could leak another file or block forever) and not larger
than any run writes.
"""

from __future__ import annotations

import json
import os
import re
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 16 * 2**20      # metadata, diagnostics, reports: a few KB when written by the store
MAX_SUMMARY_BYTES = 64 * 2**20   # one row per scalar element
MAX_DOT_BYTES = 2**20            # the model graph's DOT source

VERDICTS = ("good", "warning", "problem", "approximate")
SUMMARY_COLUMNS = ("mean", "r_hat", "ess_bulk", "ess_tail")
INTERVAL_PREFIXES = ("hdi", "eti")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

_NUMBER = (int, float)
_OPTIONAL = type(None)
#: metadata.json: key -> (allowed types, required). Old runs may lack optional keys; none may have a wrong type.
METADATA_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "created_at": ((str,), True),
    "run_id": ((str,), False), "model_id": ((str,), False), "model_name": ((str, _OPTIONAL), False),
    "model_version": ((str, _OPTIONAL), False), "config_hash": ((str, _OPTIONAL), False),
    "data_hash": ((str, _OPTIONAL), False), "data_rows": ((int, _OPTIONAL), False),
    "settings": ((dict,), False), "seed": ((int, _OPTIONAL), False), "sampler": ((str, _OPTIONAL), False),
    "device": ((str, _OPTIONAL), False), "fit_path": ((str, _OPTIONAL), False),
    "fit_method": ((str, _OPTIONAL), False), "options": ((dict,), False), "priors": ((dict,), False),
    "timings": ((dict,), False), "package_versions": ((dict,), False), "python_version": ((str, _OPTIONAL), False),
    "verdict": ((str, _OPTIONAL), False), "trace_sha256": ((str, _OPTIONAL), False),
}
#: diagnostics.json: the fields pages format and colour by.
DIAGNOSTICS_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "verdict": ((str,), True),
    "r_hat_max": ((*_NUMBER, _OPTIONAL), False), "ess_bulk_min": ((*_NUMBER, _OPTIONAL), False),
    "ess_tail_min": ((*_NUMBER, _OPTIONAL), False), "bfmi_min": ((*_NUMBER, _OPTIONAL), False),
    "divergences": ((int, _OPTIONAL), False), "chains": ((int, _OPTIONAL), False), "draws": ((int, _OPTIONAL), False),
    "bfmi_per_chain": ((list,), False), "converged": ((bool,), False), "verdicts": ((dict,), False),
    "per_variable": ((dict,), False), "worst_elements": ((list,), False), "fallback": ((dict, _OPTIONAL), False),
}
_PER_VARIABLE_NUMBERS = ("r_hat_max", "ess_bulk_min", "ess_tail_min")


class RunFileError(ValueError):
    """A run file that is present but cannot be used; the message names the problem in a few words."""


# -- reading ---------------------------------------------------------------------------------------
def read_bytes(path: Path, folder: Path, limit: int | None) -> bytes:
    """The bytes of a run file: FileNotFoundError when absent; RunFileError when it is a link out of
    ``folder``, not a regular file, or larger than ``limit``."""
    check_file(path, folder, limit)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RunFileError(f"cannot be read ({exc.strerror or exc})") from exc


def check_file(path: Path, folder: Path, limit: int | None) -> os.stat_result:
    """``path`` is a regular file inside ``folder`` of at most ``limit`` bytes (else RunFileError)."""
    try:
        info = path.stat()  # follows links: what would be read
    except FileNotFoundError:
        if path.is_symlink():
            raise RunFileError("is a broken link") from None
        raise
    except OSError as exc:
        raise RunFileError(f"cannot be read ({exc.strerror or exc})") from exc
    if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
        raise RunFileError("is a link to a file outside the run folder")
    if stat.S_ISDIR(info.st_mode):
        raise RunFileError("is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise RunFileError("is not a regular file (a pipe or a device)")
    if limit is not None and info.st_size > limit:
        raise RunFileError(f"is {info.st_size / 2**20:.0f} MB, larger than any run writes ({limit / 2**20:.0f} MB)")
    return info


def short(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, cut to ``limit`` characters (parsers can quote whole lines)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunFileError(f"is not UTF-8 text (byte {exc.start})") from None


def parse_json(raw: bytes) -> Any:
    text = decode(raw)
    try:
        return json.loads(text)
    except RecursionError:
        raise RunFileError("is nested too deeply to be a run file") from None
    except ValueError as exc:
        raise RunFileError(f"is not valid JSON ({exc})") from None


# -- shapes ----------------------------------------------------------------------------------------
def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "a whole number", float: "a number", str: "text", dict: "an object", list: "a list",
             bool: "true/false", _OPTIONAL: "null"}
    if float in types:  # a whole number is a number too
        types = tuple(t for t in types if t is not int)
    return " or ".join(dict.fromkeys(names[t] for t in types))


def shown(value: Any) -> str:
    """A value of a run file for a message: JSON, cut to 40 characters."""
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _field_problems(data: Any, fields: dict[str, tuple[tuple[type, ...], bool]]) -> list[str]:
    if not isinstance(data, dict):
        return [f"holds {shown(data)} instead of an object of fields"]
    problems = []
    for key, (types, required) in fields.items():
        if key not in data:
            if required:
                problems.append(f"has no {key!r}")
            continue
        value = data[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if ok and isinstance(value, float) and int in types and float not in types:
            ok = False
        if not ok:
            problems.append(f"{key!r} is {shown(value)}, not {_type_names(types)}")
    return problems


def check_metadata(data: Any, model_id: str, run_id: str) -> dict[str, Any]:
    """``metadata.json``'s content, checked: an object with a parseable ``created_at``, every known
    key of its type, and naming this run (when it names one)."""
    problems = _field_problems(data, METADATA_FIELDS)
    if not problems:
        try:
            datetime.fromisoformat(data["created_at"])
        except ValueError:
            problems.append(f"'created_at' is {shown(data['created_at'])}, not a date and time")
        for key, expected in (("model_id", model_id), ("run_id", run_id)):
            if data.get(key) not in (None, expected):
                problems.append(f"names {key} {shown(data[key])} (it was written for another run)")
    if problems:
        raise RunFileError("; ".join(problems))
    return data


def check_diagnostics(data: Any) -> dict[str, Any]:
    """``diagnostics.json``'s content, checked: a known verdict, numbers where pages format numbers."""
    problems = _field_problems(data, DIAGNOSTICS_FIELDS)
    if not problems:
        if data["verdict"] not in VERDICTS:
            problems.append(f"'verdict' is {shown(data['verdict'])}, not one of {', '.join(VERDICTS)}")
        for metric, verdict in (data.get("verdicts") or {}).items():
            if verdict not in VERDICTS:
                problems.append(f"'verdicts.{metric}' is {shown(verdict)}, not one of {', '.join(VERDICTS)}")
        for name, info in (data.get("per_variable") or {}).items():
            if not isinstance(info, dict) or info.get("verdict") not in (*VERDICTS, None) or any(
                    not _is_number_or_none(info.get(k)) for k in _PER_VARIABLE_NUMBERS):
                problems.append(f"'per_variable.{name}' is {shown(info)}, not a verdict with numbers")
        for item in data.get("worst_elements") or []:
            if not (isinstance(item, dict) and isinstance(item.get("element"), str)
                    and isinstance(item.get("reasons", []), list)):
                problems.append(f"'worst_elements' holds {shown(item)}, not an element with reasons")
                break
    if problems:
        raise RunFileError("; ".join(problems[:5]))
    return data


def _is_number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, _NUMBER) and not isinstance(value, bool))


def check_summary(frame) -> Any:
    """``summary.csv`` read as a table: the columns pages read, numbers in every column, some rows."""
    import pandas as pd

    missing = [c for c in SUMMARY_COLUMNS if c not in frame.columns]
    intervals = [c for c in frame.columns if str(c).startswith(INTERVAL_PREFIXES)]
    text = [str(c) for c in frame.columns if len(frame) and not pd.api.types.is_numeric_dtype(frame[c])]
    problems = []
    if missing:
        problems.append(f"has no column {', '.join(missing)}")
    if len(intervals) != 2:
        problems.append(f"has {len(intervals)} interval columns (hdi…/eti…), not 2")
    if text:
        problems.append(f"has text where numbers belong (column {shown(text[0])})")
    if not len(frame):
        problems.append("has no rows")
    if problems:
        raise RunFileError("; ".join(problems))
    return frame


def summary_header_problem(raw_head: bytes) -> str | None:
    """A cheap look at ``summary.csv``'s first line (for listings): the columns pages read."""
    try:
        header = raw_head.split(b"\n", 1)[0].decode("utf-8").strip().split(",")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    missing = [c for c in SUMMARY_COLUMNS if c not in header]
    return f"has no column {', '.join(missing)}" if missing else None


# -- the model graph ---------------------------------------------------------------------------------
#: DOT attributes the model graph may carry: what PyMC writes and the Diagnostics page adds. Anything
#: else (``URL``, ``href``, ``image``, ``fontpath``, HTML labels ...) is refused: the browser renders the
#: graph as SVG, where a ``URL`` becomes a live link.
DOT_ATTRIBUTES = frozenset({
    "label", "shape", "style", "fillcolor", "color", "fontcolor", "fontname", "fontsize", "labeljust", "labelloc",
    "rankdir", "tooltip", "penwidth", "arrowhead", "arrowtail", "arrowsize", "dir", "width", "height", "margin",
    "nodesep", "ranksep", "splines", "compound", "bgcolor", "peripheries", "xlabel", "rank", "ordering", "size",
    "ratio", "concentrate", "newrank", "fixedsize", "constraint", "weight", "minlen", "headlabel", "taillabel",
})
_DOT_TOKEN = re.compile(r'''
    (?P<space>\s+|//[^\n]*|/\*.*?\*/|^\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<html><)
  | (?P<id>[A-Za-z_\x80-\U0010ffff][\w\x80-\U0010ffff]*|-?(?:\.\d+|\d+(?:\.\d*)?))
  | (?P<edge>->|--)
  | (?P<punct>[\[\]{};,=:])
''', re.VERBOSE | re.DOTALL | re.MULTILINE)


def check_dot(text: str) -> str:
    """The DOT source of a model graph if it only names attributes of ``DOT_ATTRIBUTES``."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _DOT_TOKEN.match(text, pos)
        if match is None:
            raise RunFileError(f"is not a DOT graph (unexpected {shown(text[pos:pos + 10])})")
        kind = match.lastgroup
        if kind == "html":
            raise RunFileError("holds an HTML label, which the product never writes")
        if kind != "space":
            value = match.group()
            tokens.append(value[1:-1] if kind == "string" else value)
        pos = match.end()
    if not tokens or tokens[0].lower() not in ("digraph", "graph", "strict"):
        raise RunFileError("is not a DOT graph (it does not start with digraph)")
    for before, after in zip(tokens, tokens[1:]):
        if after == "=" and before not in DOT_ATTRIBUTES:
            raise RunFileError(f"sets the attribute {shown(before)}, which the product never writes")
    return text


# -- the trace ---------------------------------------------------------------------------------------
def trace_problem(path: Path) -> str | None:
    """A cheap look at ``trace.nc`` (for listings): an HDF5 file as long as its header says it is.

    NetCDF-4 files are HDF5; the superblock (versions 0–3) records the end-of-file address, so a
    file cut short by a crash or a partial copy is found without opening it. The full check is
    loading it (``Run.idata``)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not head.startswith(HDF5_SIGNATURE):
        return "is not a NetCDF-4 file" if not head.startswith(b"CDF") else None
    eof = _hdf5_end_of_file(head)
    if eof is not None and size < eof:
        return f"is cut short ({size:,} of {eof:,} bytes)"
    return None


def _hdf5_end_of_file(head: bytes) -> int | None:
    """The end-of-file address in an HDF5 superblock at offset 0 (None when it cannot be read)."""
    if len(head) < 12:
        return None
    version = head[8]
    if version in (0, 1):
        offsets = head[13]
        start = 24 + (4 if version == 1 else 0) + 2 * offsets
    elif version in (2, 3):
        offsets = head[9]
        start = 12 + 2 * offsets
    else:
        return None
    if offsets not in (2, 4, 8) or len(head) < start + offsets:
        return None
    value = int.from_bytes(head[start:start + offsets], "little")
    return None if value == 2 ** (8 * offsets) - 1 else value
