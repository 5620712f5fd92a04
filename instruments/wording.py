"""How a definition's wording reaches a page.

A definition keeps its text as given, so that it round-trips to REDCap, whose
labels may carry a little markup (bold, italics, line breaks, links). Whatever
a definition says is shown through one of these two functions, never marked
safe on its own: ``as_html`` keeps a short list of harmless tags and drops the
rest (scripts, event handlers, ``style``, which the content security policy
forbids anyway), ``as_text`` keeps none, for places that cannot hold markup
(page titles, drop-down options, summaries, truncated tables).
"""

from __future__ import annotations

import html
import re

import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = frozenset({"b", "strong", "i", "em", "u", "sup", "sub", "br", "a"})
ALLOWED_ATTRIBUTES = {"a": {"href"}}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def as_html(text: str | None) -> SafeString:
    """The text with only harmless formatting kept, ready to put in a page."""
    cleaned = nh3.clean(
        text or "",
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer",
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitised above, nothing else passes


def as_text(text: str | None) -> str:
    """The text without markup, to be escaped wherever it is shown."""
    spaced = LINE_BREAK.sub(" ", text or "")
    return html.unescape(nh3.clean(spaced, tags=set()))
