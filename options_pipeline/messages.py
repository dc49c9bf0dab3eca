"""One-line error messages: what a command prints and a report stores (plain Python)."""

from __future__ import annotations


def first_line(error: BaseException | str) -> str:
    """The first non-blank line of an error's message (its class name when it has none)."""
    text = str(error).strip()
    if text:
        return text.splitlines()[0].strip()
    return type(error).__name__ if isinstance(error, BaseException) else ""
