"""Uploaded CSV files: one uploader and one error box, the same on every page.

Streamlit's own type filter (``type=["csv"]``) rejects a ``.txt`` in the browser but keeps the
previous file, and with it that file's success or error message, on screen. This uploader takes
any file, so a new one always replaces the previous one, and says itself why a non-CSV cannot be
used. Problems are listed in one red box: the heading, then one bullet per problem.
"""

from __future__ import annotations

import re
from typing import Iterable

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from ui.text import safe_bullets

ROW_NUMBERS = "row numbers as in the file, header = row 1"


def shown_name(upload: UploadedFile) -> str:
    """The file's name as inline code (Markdown and line breaks taken out, length capped)."""
    name = re.sub(r"[`\r\n]", "", upload.name)
    return f"`{name[:80]}{'…' if len(name) > 80 else ''}`"


def problems_box(heading: str, problems: Iterable[str]) -> None:
    """One red box: the heading, then a bullet per problem. Problems can quote the file's own
    column names and cells, so they go through the shared sanitiser."""
    st.error(heading + "\n\n" + safe_bullets(problems), icon=":material/error:")


def csv_uploader(label: str, key: str, help: str | None = None) -> UploadedFile | None:
    """The uploaded file when it is named ``*.csv``; None (with the reason shown) otherwise."""
    upload = st.file_uploader(label, key=key, help=help)
    if upload is None:
        return None
    if not upload.name.lower().endswith(".csv"):
        problems_box(f"{shown_name(upload)} is not a CSV file:",
                     ["save it as CSV (comma-separated values, a .csv file) and upload that instead"])
        return None
    return upload
