"""Text that people upload or hand to a command: UTF-8, and never binary."""

from __future__ import annotations


class NotText(ValueError):
    """Why bytes are not text: ``reason`` is "encoding" or "binary"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode_text(raw: bytes) -> str:
    """``raw`` as text, a UTF-8 byte-order mark dropped.

    NotText if it is not UTF-8, or if it holds a NUL: that decodes, but marks a
    binary file, and no PostgreSQL text column accepts it.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotText("encoding") from None
    if "\x00" in text:
        raise NotText("binary")
    return text
