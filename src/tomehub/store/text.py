"""What text PostgreSQL can store: no NUL character, and valid Unicode (no lone UTF-16 surrogate)."""

from __future__ import annotations


def unstorable(text: str) -> str | None:
    """Returns why PostgreSQL would refuse ``text`` (None when it is fine)."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode"
    return None
