"""Ticker symbols as accepted: A–Z, digits, '.', '-', '^', at most 20 characters, upper-case."""

from __future__ import annotations

import re

_SYMBOL = re.compile(r"[A-Z0-9.^-]{1,20}")


def normalize_symbol(raw: str) -> str:
    """The stored form of `raw`, or ValueError with a one-line reason."""
    symbol = raw.strip().upper()
    if not raw.isascii() or not _SYMBOL.fullmatch(symbol):
        shown = raw if len(raw) <= 24 else raw[:21] + "..."
        raise ValueError(f"invalid symbol {shown!r}: use A-Z, 0-9, '.', '-', '^', at most 20 "
                         "characters")
    return symbol
