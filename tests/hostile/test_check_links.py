"""Hostile deep links to the Checks page: ``?model=`` and ``?check=`` values are shown only through
the sanitiser (no live link, no HTML, never echoed whole), never used to build a path, and the page
keeps serving with the stored checks it has."""

from __future__ import annotations

import re

import pytest

from tests.hostile.conftest import NB
from tests.hostile.test_deep_links import HOSTILE_RUNS, HTML, LINK, assert_inert, open_page, shown_texts

PAGE = "pages/checks.py"


@pytest.mark.parametrize("value", [LINK, HTML], ids=["markdown_link", "html"])
def test_hostile_model_parameter_shows_no_link(app, value):
    assert_inert(open_page(app, PAGE, model=value), value)


@pytest.mark.parametrize("key", ["traversal", "absolute_path", "missing_run", "html", "rtl_override", "spaces"])
def test_hostile_check_parameter_is_an_error_and_no_path_is_read(app, key):
    at = open_page(app, PAGE, model=NB, check=HOSTILE_RUNS[key])
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error if "no readable SBC check" in e.value]
    assert len(errors) == 1 and len(errors[0]) < 1_000, [e.value for e in at.error]
    assert "\u202e" not in errors[0] and not re.search(r"(?<!\\)<img", errors[0]), errors[0]


def test_a_100k_character_check_parameter_is_not_echoed_whole(app):
    at = open_page(app, PAGE, model=NB, check="C" * 100_000)
    assert not at.exception
    assert all(len(t) < 2_000 for t in shown_texts(at))
    assert any("C" * 63 + "…" in t for t in shown_texts(at)), "the error shows the cut value"


def test_a_markdown_link_as_check_shows_no_link(app):
    assert_inert(open_page(app, PAGE, model=NB, check=LINK), LINK)
