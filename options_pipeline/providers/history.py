"""What an end-of-day history provider can serve, decided before any request is sent.

The honest-history rule: a session a provider cannot serve (closed market, before its history
starts, in the future, or not published yet) is refused with a reason that names the date and the
publication time; nothing else is ever substituted for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from options_pipeline.calendar import NEW_YORK, now_in_new_york
from options_pipeline.providers.base import NotAvailable, ProviderError
from options_pipeline.providers.normalize import raise_if_closed

__all__ = [
    "NEW_YORK",
    "HistoryWindow",
    "history_symbol",
    "now_in_new_york",
    "plain_symbol",
    "refuse_unservable",
]

_SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")


def refuse_unservable(
    provider: str,
    as_of: date,
    *,
    now: Callable[[], datetime] = now_in_new_york,
    earliest: date | None = None,
    published: time | None = None,
    published_days_after: int = 0,
) -> None:
    """Raise NoContracts (market closed) or NotAvailable (cannot be served yet / at all).

    `published` is the New York time at which the provider's data for a session exist, on the
    session day itself or `published_days_after` calendar days later.
    """
    raise_if_closed(as_of)
    if earliest is not None and as_of < earliest:
        raise NotAvailable(
            f"{provider} history starts on {earliest.isoformat()}: {as_of.isoformat()} cannot be "
            "served"
        )
    current = now().astimezone(NEW_YORK)
    if as_of > current.date():
        raise NotAvailable(
            f"{as_of.isoformat()} is after today ({current.date().isoformat()}, America/New_York):"
            " no data exists yet"
        )
    if published is not None:
        ready = datetime.combine(
            as_of + timedelta(days=published_days_after), published, tzinfo=NEW_YORK
        )
        if current < ready:
            raise NotAvailable(
                f"{provider} publishes the end-of-day data for {as_of.isoformat()} at "
                f"{ready:%Y-%m-%d %H:%M} America/New_York; it is {current:%Y-%m-%d %H:%M} now"
            )


def plain_symbol(symbol: str) -> str:
    """SPX from ^SPX or I:SPX (index aliases are stored plain); upper-case, stripped."""
    sym = symbol.strip().upper()
    return sym.removeprefix("I:").removeprefix("^")


def history_symbol(symbol: str) -> str:
    """`plain_symbol(symbol)`, or ProviderError when that is not a ticker (a letter, then up to
    nine of A-Z, 0-9 and '.'), before any request is built from it."""
    sym = plain_symbol(symbol)
    if not _SYMBOL_RE.match(sym):
        raise ProviderError(f"invalid underlying symbol {symbol!r}")
    return sym


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    """The sessions a provider's end-of-day history can serve: from `earliest`, once published
    (`published` New York time, `published_days_after` calendar days after the session)."""

    provider: str
    earliest: date | None = None
    published: time | None = None
    published_days_after: int = 0

    def refuse(self, as_of: date, *, now: Callable[[], datetime] = now_in_new_york) -> None:
        """`refuse_unservable` with this provider's window."""
        refuse_unservable(
            self.provider,
            as_of,
            now=now,
            earliest=self.earliest,
            published=self.published,
            published_days_after=self.published_days_after,
        )

    def serves(self, as_of: date, *, now: Callable[[], datetime] = now_in_new_york) -> bool:
        """False when `refuse` would refuse the session (closed, too early, not published)."""
        try:
            self.refuse(as_of, now=now)
        except ProviderError:
            return False
        return True
