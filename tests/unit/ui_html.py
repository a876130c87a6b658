"""Rendering the UI's partial templates as the app does (autoescape on), and checking the HTML a browser
would build from them holds no live markup that came from user data."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2

import kubeline.ui

PARTIALS = Path(kubeline.ui.__file__).parent / "templates" / "partials"
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PARTIALS), autoescape=True, undefined=jinja2.StrictUndefined
)

#: What attackers put into names, values, logs and Markdown.
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "javascript:alert(1)",
]


def render(template: str, **context: Any) -> str:
    return ENVIRONMENT.get_template(template).render(**context)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """The start tags a browser sees, with their attributes (values unescaped, as the DOM holds them)."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def assert_inert(html: str) -> None:
    """No script, no event handler, no URL but http(s), the site's own or an image data: URL, no element the
    templates never write."""
    for tag, attrs in tags(html):
        assert tag not in ("script", "object", "embed", "base", "meta", "link"), (tag, attrs)
        if tag == "svg":
            assert ("role", "img") in attrs, attrs  # only the templates' own charts
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name, value)
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                assert _safe_url((value or "").strip().lower()), (tag, name, value)


def _safe_url(url: str) -> bool:
    if url.startswith("/"):
        return not url.startswith("//")
    return url.startswith(("http://", "https://")) or url.split(";")[0] in _IMAGE_DATA


_IMAGE_DATA = {"data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp"}
