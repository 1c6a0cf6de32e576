"""The one sanitiser for untrusted text shown on pages.

Streamlit renders the text of ``st.error``/``st.warning``/``st.markdown``/... as Markdown, so a
URL parameter such as ``?model=[log in again](https://evil.example/login)``, an uploaded file's
name, a CSV column name or a cell echoed in an error would otherwise render as a working link,
an image or HTML, and a 100,000-character value would be echoed whole. ``safe_text`` makes any
such value inert and short: control and invisible formatting characters (bidi overrides,
zero-width) removed, cut to ``limit`` characters with an ellipsis, and every ASCII punctuation
character backslash-escaped (CommonMark: an escaped character is shown literally, so no link,
autolink, emphasis, HTML, colour directive or LaTeX can form). Use it inside Markdown text, not
inside code spans (```…```) or ``st.code``/``st.text``/dataframes, which show the backslashes.
"""

from __future__ import annotations

import re
import unicodedata

ID_CHARS = 64          # ids, names, file names, URL values
MESSAGE_CHARS = 1_000  # error messages (which may quote data)

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def _visible(ch: str, multiline: bool) -> str:
    if ch == "\n" and multiline:
        return ch
    category = unicodedata.category(ch)
    if category == "Cc" or category in ("Zl", "Zp"):
        return " "
    if category in ("Cf", "Cs", "Co", "Cn"):
        return ""
    return ch


def safe_text(value: object, limit: int = ID_CHARS, *, multiline: bool = False) -> str:
    """``value`` as inert Markdown text of at most ``limit`` visible characters (``…`` when cut).

    ``multiline`` keeps line breaks (as Markdown hard breaks); otherwise they become spaces.
    """
    text = str(value)
    head = text[:2 * limit + 16]  # cleaning a 100,000-character value whole is wasted work
    cleaned = "".join(_visible(ch, multiline) for ch in head)
    if len(cleaned) > limit or len(head) < len(text):
        cleaned = cleaned[:max(limit - 1, 0)] + "…"
    escaped = _PUNCTUATION.sub(r"\\\1", cleaned)
    return escaped.replace("\n", "  \n") if multiline else escaped


def safe_bullets(items) -> str:
    """A Markdown bullet list of untrusted messages (e.g. a DataValidationError's problems)."""
    return "\n".join(f"- {safe_text(item, MESSAGE_CHARS)}" for item in items)


def safe_code(value: object, limit: int = ID_CHARS) -> str:
    """``value`` for inside a Markdown code span (`` `…` ``): nothing is interpreted there but a backtick
    (which would end the span) and a line break; both are replaced, invisible characters removed, cut."""
    text = "".join(_visible(ch, False) for ch in str(value)[:2 * limit + 16]).replace("`", "'")
    return text if len(text) <= limit else text[:max(limit - 1, 0)] + "…"
