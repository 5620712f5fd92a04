"""Keyed hashes (blind indexes) that let encrypted contact details be matched.

Each is an HMAC-SHA256 under CONTACT_HASH_KEY, so equal details give equal hashes
but nobody without the key can test a guess against the database. Every kind of
hash has its own prefix, so an email can never match a name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata

from django.conf import settings

# Short per-word tokens keep the name index small; a collision only adds a false
# match to a search a person reads anyway.
WORD_TOKEN_LENGTH = 12
WORD_PATTERN = re.compile(r"[^\W_]+")


def _hmac(purpose: str, value: str) -> str:
    key = settings.CONTACT_HASH_KEY.encode()
    message = f"{purpose}:{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def name_words(name: str) -> list[str]:
    """The words of a name, case-folded and without accents: "José O'Neil" gives
    ["jose", "o", "neil"]."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return WORD_PATTERN.findall(plain)


def email_hash(email: str) -> str:
    email = email.strip().lower()
    return _hmac("email", email) if email else ""


def mobile_hash(mobile: str) -> str:
    """Of a number already in E.164, as contacts.normalise_mobile gives it."""
    mobile = mobile.strip()
    return _hmac("mobile", mobile) if mobile else ""


def name_dob_hash(full_name: str, date_of_birth: dt.date | None) -> str:
    words = name_words(full_name)
    if not words or date_of_birth is None:
        return ""
    return _hmac("name-dob", f"{' '.join(words)}|{date_of_birth.isoformat()}")


def name_word_token(word: str) -> str:
    return _hmac("name-word", word)[:WORD_TOKEN_LENGTH]


def name_word_index(full_name: str) -> str:
    """Tokens of the name's words between spaces, so that a search can ask for
    " token " and match whole words only."""
    tokens = sorted({name_word_token(word) for word in name_words(full_name)})
    return f" {' '.join(tokens)} " if tokens else ""
