"""A circular body as HTML: Markdown through markdown-it-py, then nh3 (Ammonia) sanitising.

Raw HTML in the Markdown is not rendered (``html=False``), and whatever markup comes out is
cleaned again by an allow-list, so a body can never inject script, styles or event handlers.
"""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt

TAGS = frozenset(
    {
        "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
        "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "td": {"style"}, "th": {"style"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown_html(body: str) -> str:
    """Safe HTML of a Markdown body."""
    return nh3.clean(
        _markdown().render(body),
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="nofollow noopener noreferrer",
        filter_style_properties={"text-align"},
    )
