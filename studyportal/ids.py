"""Database ids read from text that a browser sent.

Every id that arrives in a query string or a form field outside a Django form
is read here. ``str.isdigit()`` is no test for this: it is true for "²" and for
digits of other scripts, which ``int()`` then refuses or reads, and a long run
of digits passes ``int()`` but not PostgreSQL's bigint.
"""

from __future__ import annotations

import re

_ID = re.compile(r"[1-9][0-9]{0,18}")
LARGEST_ID = 2**63 - 1


def parse_id(value: object) -> int | None:
    """The id ``value`` names, or None when it names none."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return None
    number = int(value)
    return number if number <= LARGEST_ID else None
