"""Ticker symbols as accepted: A–Z, digits, '.', '-', '^', at most 20 characters, upper-case.

Index underlyings are stored in their plain form (`SPX`); the vendor notations `^SPX` (Yahoo and
others) and `I:SPX` (Polygon/Massive) are accepted as aliases. Each provider maps the plain form
to its own notation when it asks.
"""

from __future__ import annotations

import re

_SYMBOL = re.compile(r"[A-Z0-9.^-]{1,20}")

# Cash-settled index option underlyings (CBOE): S&P 500, Nasdaq-100, Russell 2000, VIX,
# mini-S&P 500, 1/100 Dow Jones Industrial Average.
INDEX_SYMBOLS: frozenset[str] = frozenset({"SPX", "NDX", "RUT", "VIX", "XSP", "DJX"})
_INDEX_PREFIXES = ("^", "I:")


def is_index(symbol: str) -> bool:
    """True for an index underlying (SPX, ^SPX, I:SPX, ...), whose options have no shares."""
    plain = symbol.strip().upper()
    for prefix in _INDEX_PREFIXES:
        if plain.startswith(prefix):
            plain = plain[len(prefix) :]
            break
    return plain in INDEX_SYMBOLS


def normalize_symbol(raw: str) -> str:
    """The stored form of `raw`, or ValueError with a one-line reason."""
    symbol = raw.strip().upper()
    for prefix in _INDEX_PREFIXES:
        if symbol.startswith(prefix) and symbol[len(prefix) :] in INDEX_SYMBOLS:
            return symbol[len(prefix) :]
    if not raw.isascii() or not _SYMBOL.fullmatch(symbol):
        shown = raw if len(raw) <= 24 else raw[:21] + "..."
        raise ValueError(
            f"invalid symbol {shown!r}: use A-Z, 0-9, '.', '-', '^', at most 20 "
            "characters (index aliases like ^SPX or I:SPX are stored as SPX)"
        )
    return symbol
