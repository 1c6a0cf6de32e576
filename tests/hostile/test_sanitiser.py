"""Untrusted text on pages (#11.6): ``ui.text.safe_text`` leaves nothing Markdown or HTML can act on."""

from __future__ import annotations

import re

import pytest

from ui.text import ID_CHARS, MESSAGE_CHARS, safe_bullets, safe_text

HOSTILE = [
    "[log in again](https://evil.example/login)",
    "![tracker](https://evil.example/pixel.png)",
    "<https://evil.example>",
    "https://evil.example/login",
    "www.evil.example",
    "mail me: attacker@evil.example",
    "[x][1]\n\n[1]: https://evil.example",
    "<img src=x onerror=alert(1)>",
    "<script>alert(document.cookie)</script>",
    "<a href='https://evil.example'>x</a>",
    "&lt;b&gt;entity&lt;/b&gt;",
    "**bold** _it_ ~~gone~~ `code`",
    ":red[alarm] :material/warning: :smile:",
    "$\\frac{1}{0}$",
    "# Heading\n> quote\n- item",
    "javascript:alert(1)",
    "[click](javascript:alert(1))",
    "a\\](https://evil.example)",
    "| a | b |\n|---|---|",
]
CONTROL = ["a\x00b", "a\x1b[31mred", "a\x7fb", "a\u202egnp.exe", "a\u200bb", "a\u2028b", "a\rb", "a\tb"]


def visible(md: str) -> str:
    """The text a reader sees: each backslash escape shows its character."""
    return re.sub(r"\\(.)", r"\1", md, flags=re.S)


def unescaped_punctuation(md: str) -> list[str]:
    """ASCII punctuation not preceded by a backslash (what Markdown could act on)."""
    return re.findall(r"[!-/:-@\[-`{-~]", re.sub(r"\\.", "", md, flags=re.S))


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_and_html_are_inert(value):
    md = safe_text(value, MESSAGE_CHARS)
    assert unescaped_punctuation(md) == []
    assert "](" not in md and "<" not in md.replace("\\<", "")
    assert visible(md) == value.replace("\n", " "), "the reader still sees what was sent"


@pytest.mark.parametrize("value", HOSTILE)
def test_rendered_by_a_commonmark_renderer_there_is_no_link_image_or_html(value):
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).render(safe_text(value, MESSAGE_CHARS))
    for tag in ("<a ", "<img", "<script", "<h1", "<blockquote", "<strong", "<em>", "<code"):
        assert tag not in html, html


@pytest.mark.parametrize("value", CONTROL)
def test_control_and_invisible_characters_are_removed(value):
    md = safe_text(value)
    assert all(ch.isprintable() for ch in md)
    assert "\u202e" not in md and "\u200b" not in md


@pytest.mark.parametrize(("length", "limit"), [(100_000, ID_CHARS), (65, ID_CHARS), (5_000, MESSAGE_CHARS), (10, 3)])
def test_long_values_are_cut_with_an_ellipsis(length, limit):
    shown = visible(safe_text("x" * length, limit))
    assert len(shown) == limit and shown.endswith("…")


@pytest.mark.parametrize("value", ["hierarchical_negbinom", "E003", "20260101-000000-000000-abcdef", "x" * ID_CHARS])
def test_ordinary_ids_read_the_same(value):
    assert visible(safe_text(value)) == value


def test_a_long_value_of_escapable_characters_is_still_cut_by_what_is_visible():
    md = safe_text("[" * 100_000)
    assert len(visible(md)) == ID_CHARS and unescaped_punctuation(md) == []


def test_multiline_messages_keep_their_lines_as_hard_breaks():
    assert safe_text("first\nsecond", multiline=True) == "first  \nsecond"
    assert safe_text("first\nsecond") == "first second"


def test_bullets_escape_each_item():
    md = safe_bullets(["column '[x](https://e.x)': empty value in row 2", "ok"])
    assert md.startswith("- ") and "](" not in md and md.count("\n- ") == 1


def test_non_text_values_are_shown_too():
    assert safe_text(ValueError("bad <b>")) == "bad \\<b\\>"
    assert safe_text(None) == "None" and safe_text(12.5) == "12\\.5"


@pytest.mark.parametrize("value, shown", [
    ("20261125-120000-1a2b3c4d", "20261125-120000-1a2b3c4d"),
    ("x` [link](https://evil.example) `y", "x' [link](https://evil.example) 'y"),  # cannot leave the code span
    ("a\nb\u202ec", "a bc"),
    ("j" * 1_000, "j" * 63 + "…"),
])
def test_code_span_text_cannot_end_the_span(value, shown):
    from ui.text import safe_code

    assert safe_code(value) == shown
