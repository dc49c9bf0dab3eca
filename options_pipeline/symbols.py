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


# Cash-settled index option underlyings watchlists accept (aliases ^SPX and I:SPX are stored plain).
INDEX_SYMBOLS: frozenset[str] = frozenset({"SPX", "NDX", "RUT", "VIX", "XSP", "DJX"})


def is_index(symbol: str) -> bool:
    """True for an index underlying (SPX, ^SPX, I:SPX, ...), whose options have no shares."""
    return symbol.strip().upper().removeprefix("I:").removeprefix("^") in INDEX_SYMBOLS
