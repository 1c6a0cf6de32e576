"""Hostile deep links (#11.6): a URL value is shown only through the sanitiser, on every page —
no live link, no HTML, never echoed whole — and the page keeps serving."""

from __future__ import annotations

import re

import pytest

from tests.hostile.conftest import NB

PAGES = ["pages/catalogue.py", "pages/prior_predictive.py", "pages/training.py", "pages/diagnostics.py",
         "pages/predictions.py"]
TEXT_ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "warning", "error", "info", "success")
LINK = "[log in again](https://evil.example/login)"
HTML = "<img src=x onerror=alert(1)>"


def open_page(app, page: str, **params: str):
    app.run()
    for key, value in params.items():
        app.query_params[key] = value
    app.switch_page(page)
    return app.run()


def shown_texts(at) -> list[str]:
    return [str(e.value) for kind in TEXT_ELEMENTS for e in getattr(at, kind)]


def assert_inert(at, needle: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for text in shown_texts(at):
        # a live link needs an unescaped "](" and a live tag an unescaped "<"
        assert "](http" not in text and not re.search(r"(?<!\\)<img", text), text
    # the value is named in a notice (escaped), so the analyst sees what was ignored
    visible = [re.sub(r"\\(.)", r"\1", t) for t in shown_texts(at)]
    assert any(needle in v for v in visible), visible


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("value", [LINK, HTML], ids=["markdown_link", "html"])
def test_hostile_model_parameter_shows_no_link(app, page, value):
    at = open_page(app, page, model=value)
    assert_inert(at, value)


@pytest.mark.parametrize("page", PAGES)
def test_a_100k_character_model_parameter_is_not_echoed_whole(app, page):
    at = open_page(app, page, model="A" * 100_000)
    assert not at.exception
    assert all(len(t) < 2_000 for t in shown_texts(at))
    assert any("A" * 63 + "…" in t for t in shown_texts(at)), "the notice shows the cut value"


@pytest.mark.parametrize("page", ["pages/diagnostics.py", "pages/predictions.py"])
def test_hostile_run_parameter_shows_no_link(app, nb_run, page):
    at = open_page(app, page, model=NB, run=LINK)
    assert_inert(at, LINK)
