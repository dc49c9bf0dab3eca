"""ingest_day(): one trading day of option chains into PostgreSQL; every path calls it.

The Dagster asset, the `ingest_options` CLI (through the asset) and the tests all run this. It skips
symbols whose (date, symbol) is already complete, fetches the rest one at a time in a stable
order, and writes each symbol atomically. Provider failures are recorded, never fatal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import psycopg

from options_pipeline.db import store
from options_pipeline.db.connection import DatabaseUnavailable
from options_pipeline.providers.base import (
    OptionsProvider,
    ProviderError,
    ProviderTimeout,
    Unauthorized,
)

_log = logging.getLogger(__name__)

MISSING_TICKER = "missing_ticker_id"


class NothingToIngest(ValueError):
    """The selection resolves to no symbols (an empty watchlist, or symbols not in it)."""


@dataclass(frozen=True, slots=True)
class SymbolFailure:
    symbol: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class DayReport:
    """What one trading day's ingestion did; becomes Dagster metadata and the CLI's report line."""

    day: date
    provider: str
    symbols: tuple[str, ...]
    ingested: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[SymbolFailure, ...] = ()
    rows_written: int = 0
    rows_rejected: int = 0
    provider_requests: int = 0
    duration_s: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.failed

    @property
    def has_data(self) -> bool:
        """False when no symbol is complete for the day (a holiday, or every fetch failed)."""
        return bool(self.ingested or self.skipped)

    def summary(self) -> str:
        return (
            f"{self.day}: {len(self.ingested)} ingested, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed, {self.rows_written} rows, "
            f"{self.provider_requests} requests, {self.duration_s:.1f} s"
        )


def resolve_symbols(
    conn: psycopg.Connection, *, watchlist: str | None, symbols: Sequence[str] | None
) -> list[str]:
    """Active watchlist symbols (distinct, sorted), optionally narrowed to `symbols`."""
    active = store.active_symbols(conn, watchlist)
    where = f"watchlist '{watchlist}'" if watchlist else "any watchlist"
    if not active:
        raise NothingToIngest(f"no active symbols in {where}; add some with "
                              "'options-pipeline watchlist add NAME SYMBOL...'")
    if not symbols:
        return active
    unknown = sorted(set(symbols) - set(active))
    if unknown:
        raise NothingToIngest(f"not active in {where}: {', '.join(unknown)}")
    return sorted(set(symbols))


def _record(conn: psycopg.Connection, day: date, provider: str, failure: SymbolFailure) -> None:
    """Persist the failure so `options-pipeline gaps` can say why a pair is missing."""
    store.record_failure(conn, day=day, symbol=failure.symbol, provider=provider,
                         reason=failure.reason, message=failure.message)


def ingest_day(
    conn: psycopg.Connection,
    *,
    provider: OptionsProvider,
    day: date,
    watchlist: str | None = None,
    symbols: Sequence[str] | None = None,
    heartbeat: int = 25,
    log: logging.Logger | logging.LoggerAdapter = _log,
) -> DayReport:
    """Ingest every active symbol of `day` that is not complete yet, through `conn`.

    A provider error fails only its symbol, except Unauthorized (bad credentials), which stops
    the day; a lost database connection raises DatabaseUnavailable.
    """
    started = time.monotonic()
    requests_before = provider.requests_made
    ingested: list[str] = []
    skipped: list[str] = []
    failed: list[SymbolFailure] = []
    rows_written = rows_rejected = 0
    try:
        with store.ingestion_lock(conn):
            selected = resolve_symbols(conn, watchlist=watchlist, symbols=symbols)
            ids = store.ticker_ids(conn, selected)
            complete = store.completed_ticker_ids(conn, day)
            log.debug("%s: %d symbols to check (provider %s)", day, len(selected), provider.name)
            # providers reading one file per day for every symbol read it once, for these
            prepare = getattr(provider, "prepare", None)
            if prepare is not None:
                prepare(day, [s for s in selected if ids.get(s) not in complete])
            for n, symbol in enumerate(selected, start=1):
                ticker_id = ids.get(symbol)
                if ticker_id is None:
                    failure = SymbolFailure(symbol, MISSING_TICKER, "no row in public.tickers")
                    _record(conn, day, provider.name, failure)
                    failed.append(failure)
                elif ticker_id in complete:
                    log.debug("%s %s: skipped, snapshot already complete", day, symbol)
                    skipped.append(symbol)
                else:
                    try:
                        snapshot = provider.fetch_chain(symbol, day)
                    except Unauthorized as exc:
                        _record(conn, day, provider.name,
                                SymbolFailure(symbol, exc.reason, str(exc)))
                        raise  # every other symbol would be refused the same way
                    except ProviderError as exc:
                        timeout = isinstance(exc, ProviderTimeout)
                        level = logging.WARNING if timeout else logging.INFO
                        log.log(level, "%s %s: failed (%s): %s", day, symbol, exc.reason, exc)
                        failure = SymbolFailure(symbol, exc.reason, str(exc))
                        _record(conn, day, provider.name, failure)
                        failed.append(failure)
                    else:
                        rows_written += store.write_chain(conn, ticker_id=ticker_id,
                                                          snapshot=snapshot)
                        rows_rejected += snapshot.rejected_count
                        ingested.append(symbol)
                if heartbeat > 0 and n % heartbeat == 0 and n < len(selected):
                    log.info("%s: heartbeat %d/%d symbols processed", day, n, len(selected))
    except psycopg.OperationalError as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseUnavailable(f"lost the PostgreSQL connection while ingesting {day}: "
                                  f"{first_line}") from None
    report = DayReport(
        day=day,
        provider=provider.name,
        symbols=tuple(selected),
        ingested=tuple(ingested),
        skipped=tuple(skipped),
        failed=tuple(failed),
        rows_written=rows_written,
        rows_rejected=rows_rejected,
        provider_requests=provider.requests_made - requests_before,
        duration_s=round(time.monotonic() - started, 3),
    )
    log.info("%s", report.summary())
    if not report.has_data:
        log.warning("no data for any symbol on %s — market holiday?", day)
    return report
