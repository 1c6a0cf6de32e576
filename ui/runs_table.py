"""The Runs page's history: a model's runs as a table (``bayes_core.runs.history.list_rows``) with
verdict chips, the options that tell variants apart, aliases, tags, note, sampler/device, draws,
duration, data hash and evaluation headline,
filtered by verdict and by alias/tag/note text.

Cells are Markdown in ``st.table`` (it wraps long notes instead of cutting them); every value an
analyst typed (tags, notes) goes through ``ui.text.safe_text``.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd
import streamlit as st

from bayes_core.errors import BayesCoreError
from bayes_core.runs import history
from ui.text import MESSAGE_CHARS, safe_text

VERDICT_CHIPS = {"good": ("green", ":material/check_circle:"), "warning": ("orange", ":material/warning:"),
                 "problem": ("red", ":material/error:"), "unreadable": ("gray", ":material/broken_image:")}
VERDICTS = list(VERDICT_CHIPS)


def verdict_chip(verdict: str | None) -> str:
    colour, icon = VERDICT_CHIPS.get(verdict or "unreadable", ("gray", ":material/help:"))
    return f":{colour}-badge[{icon} {safe_text(verdict or 'unreadable')}]"


def load_rows(model_id: str) -> tuple[list[dict[str, Any]], str | None]:
    """``(rows newest first, labels damage message)``; the page stops with the reason when the runs
    cannot be listed at all."""
    try:
        listing = history.list_rows(model_id)
    except BayesCoreError as exc:
        st.error(safe_text(exc, MESSAGE_CHARS), icon=":material/folder_off:")
        st.stop()
    return listing["runs"], listing["labels_error"]


def matches(row: dict[str, Any], verdicts: Iterable[str], text: str) -> bool:
    """Kept by the filters: its verdict is one of ``verdicts`` (all when empty) and ``text`` occurs in
    its id, an alias, a tag (``key=value``) or its note (case-insensitive)."""
    verdicts = set(verdicts)
    if verdicts and (row.get("verdict") or "unreadable") not in verdicts:
        return False
    needle = text.strip().lower()
    if not needle:
        return True
    tags = [f"{k}={v}" for k, v in (row.get("tags") or {}).items()]
    haystack = " ".join([row["run_id"], *(row.get("aliases") or []), *tags, row.get("note") or ""]).lower()
    return needle in haystack


def filters(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    left, right = st.columns([2, 3])
    verdicts = left.multiselect("Verdict", VERDICTS, key=f"{key}_verdicts", placeholder="any verdict",
                                format_func=lambda v: f"{VERDICT_CHIPS[v][1]} {v}")
    text = right.text_input("Alias, tag or note contains", key=f"{key}_text", placeholder="production, data=june…")
    return [row for row in rows if matches(row, verdicts, text)]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def varying_options(rows: list[dict[str, Any]]) -> list[str]:
    """Option keys whose value is not the same in every run: what tells the model variants apart."""
    keys = list(dict.fromkeys(k for row in rows for k in (row.get("options") or {})))
    return [k for k in keys if len({repr((row.get("options") or {}).get(k)) for row in rows}) > 1]


def table(rows: list[dict[str, Any]], option_keys: list[str]) -> pd.DataFrame:
    """The rows as Markdown cells, one line per run; ``option_keys``: the options shown."""
    out = []
    for row in rows:
        created = (row.get("created_at") or "")[:16].replace("T", " ")
        tags = ", ".join(f"{k}={v}" for k, v in (row.get("tags") or {}).items())
        options = ", ".join(f"{k}={(row.get('options') or {}).get(k)}" for k in option_keys)
        sampling = [" / ".join(str(v) for v in (row.get("sampler"), row.get("device")) if v)]
        if row.get("draws") and row.get("chains"):
            sampling.append(f"{row['draws']}×{row['chains']} draws")
        sampling.append(_duration(row.get("duration_s")))
        cells = {
            "verdict": verdict_chip(row.get("verdict")),
            "run": (f"{created} UTC  \n" if created else "") + f"`{row['run_id']}`",
            "options": safe_text(options, 200),
            "aliases": " ".join(f":blue-badge[{safe_text(a)}]" for a in row.get("aliases") or []),
            "tags": safe_text(tags, 200),
            "note": safe_text(row.get("note") or "", 300),
            "sampling": safe_text(" · ".join(p for p in sampling if p), 120),
            "data hash": f"`{str(row['data_hash'])[:10]}`" if row.get("data_hash") else "",
            "evaluation": (safe_text(row["evaluation"], 300) if row.get("evaluation")
                           else safe_text(row["problem"], 200) if row.get("problem") else ":gray[not evaluated yet]"),
        }
        if not option_keys:
            del cells["options"]
        out.append(cells)
    return pd.DataFrame(out)


def render(rows: list[dict[str, Any]], labels_error: str | None, key: str) -> None:
    if labels_error:
        st.warning(safe_text(labels_error, MESSAGE_CHARS), icon=":material/sell:")
    shown = filters(rows, key)
    st.caption(f"{len(shown)} of {len(rows)} runs, newest first. Verdict: convergence diagnostics (good / warning / "
               "problem). Options: those that differ between the model's runs (its variants). Evaluation: PSIS-LOO elpd ± se (higher "
               "predicts better; comparable only between runs on the same data hash), Pareto k̂ (how reliable "
               "LOO is) and LOO-PIT calibration. To put runs side by side, open **Compare runs** above.")
    if shown:
        st.table(table(shown, varying_options(rows)), hide_index=True)
    else:
        st.info("No run matches the filters.")
