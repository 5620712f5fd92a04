"""What the fuzz tests send, and how they tell that nothing was saved."""

from __future__ import annotations

import hashlib

from django.apps import apps
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

# Bounded, repeatable runs; each example rolls back its own changes, so the
# function-scoped database fixture is safe to share between examples.
FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    # Explaining a failure replays it hundreds of times: minutes, here.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)

# Written on every request by design: sessions, the login audit and lockout
# counters, and the log of who looked at contact details.
UNWATCHED = {
    "sessions.Session",
    "axes.AccessAttempt",
    "axes.AccessFailureLog",
    "axes.AccessLog",
    "studyportal.LoginEvent",
    "participants.ContactView",
}


def fingerprint() -> dict[str, str]:
    """A digest of every row of every table the project writes to on purpose."""
    digests = {}
    for model in apps.get_models():
        if model._meta.label in UNWATCHED:
            continue
        rows = model._base_manager.order_by("pk").values_list()
        digests[model._meta.label] = hashlib.sha256(
            repr(list(rows)).encode()
        ).hexdigest()
    return digests


def changed_since(before: dict[str, str]) -> set[str]:
    return {
        label for label, digest in fingerprint().items() if before.get(label) != digest
    }


# Values forms get wrong most often: NUL bytes, impossible dates, numbers out of
# any column's range, text far longer than a field, markup and odd unicode.
MALFORMED = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "abc\x00def",
        "2024-02-30",
        "31/13/2020",
        "0000-00-00",
        "10000-01-01",
        "9999-12-31",
        "1900-01-01",
        "2020-01-01T25:61",
        "-1",
        "0",
        "1e309",
        "NaN",
        "-inf",
        "99999999999999999999999999",
        "-99999999999999999999999999",
        "2147483648",
        "9223372036854775808",
        "1.5",
        "٣",
        "yes",
        "on",
        "<script>alert(1)</script>",
        "'; DROP TABLE participants_participant; --",
        "Zoë Ångström 山田 🙂",
        "x" * 100_000,
        "\u202e\ufeff\r\n\t",
    ]
)
NUMBERS = st.integers(min_value=-(10**30), max_value=10**30).map(str)
# Any character, NUL and control characters included.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
TEXT = st.one_of(MALFORMED, NUMBERS, ANY_TEXT)
# Pieces of files: text, NUL bytes, bytes that are not UTF-8, a byte order mark.
FILE_CONTENT = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.sampled_from(
            [b"Text", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\r\n", b","]
        ),
        max_size=8,
    ).map(b"".join),
    TEXT.map(str.encode),
)
