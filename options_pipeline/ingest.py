"""ingest_day(): one trading day of option chains into PostgreSQL; every path calls it.

The Dagster asset, the `ingest_options` CLI (through the asset) and the tests all run this. It skips
symbols whose (date, symbol) is already complete, fetches the rest in a stable order -- on worker
threads, ahead of the writes, up to the provider's concurrency -- and writes each symbol
atomically, up to WRITERS at once on connections of their own (PostgreSQL runs each COPY on one
core; two streams keep a second core busy). Provider failures are recorded, never fatal.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from uuid import UUID

import psycopg
from psycopg.conninfo import make_conninfo

from options_pipeline.db import store
from options_pipeline.db.connection import DatabaseUnavailable, connect
from options_pipeline.messages import first_line
from options_pipeline.models import ChainSnapshot
from options_pipeline.providers.base import (
    OptionsProvider,
    ProviderError,
    ProviderTimeout,
    ProviderUnreachable,
    Unauthorized,
)

_log = logging.getLogger(__name__)

MISSING_TICKER = "missing_ticker_id"
# symbols in a row whose provider could not even be connected to before the range stops: an
# outage would otherwise cost every symbol its full connect-retry budget (~15 s each)
UNREACHABLE_LIMIT = 3
# (session, symbol) writes in flight at once, each its own transaction on its own connection: a
# COPY keeps one server core busy (parsing, index inserts, the foreign-key check per row), so a
# second stream roughly doubles what the server takes on two or more cores (BENCHMARKS.md, #15)
WRITERS = 2
# "D SYMBOL" of the fetch in progress, prefixed to the provider transport's own log lines
_FETCHING: contextvars.ContextVar[str | None] = contextvars.ContextVar("fetching", default=None)


class _NameTheSymbol(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fetching = _FETCHING.get()
        if fetching and not str(record.msg).startswith(fetching):
            record.msg = f"{fetching}: {record.msg}"
        return True


logging.getLogger("options_pipeline.providers.transport").addFilter(_NameTheSymbol())


class ProviderDown(ProviderUnreachable):
    """The provider's host refused or never answered UNREACHABLE_LIMIT symbols in a row."""


def write_error(exc: psycopg.Error, day: date) -> DatabaseUnavailable:
    """A database error during ingestion, named by its cause (PostgreSQL's SQLSTATE)."""
    causes = {
        "53100": "PostgreSQL is out of disk space",
        "53200": "PostgreSQL is out of memory",
        "25006": "the database is read-only (a hot standby, or default_transaction_read_only)",
        "42501": "permission denied on the database",
        "54000": "PostgreSQL refused the write (a configured limit)",
    }
    cause = causes.get(exc.sqlstate or "")
    if cause is None and (exc.sqlstate or "").startswith("53"):
        cause = "PostgreSQL is out of resources"
    if cause is None:
        cause = "lost the PostgreSQL connection"
    return DatabaseUnavailable(
        f"{cause} while ingesting {day}: {first_line(exc)}; the symbols "
        "written before are complete, a re-run resumes"
    )


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
        raise NothingToIngest(
            f"no active symbols in {where}; add some with "
            "'options-pipeline watchlist add NAME SYMBOL...'"
        )
    if not symbols:
        return active
    unknown = sorted(set(symbols) - set(active))
    if unknown:
        raise NothingToIngest(f"not active in {where}: {', '.join(unknown)}")
    return sorted(set(symbols))


def _record(conn: psycopg.Connection, day: date, provider: str, failure: SymbolFailure) -> None:
    """Persist the failure so `options-pipeline gaps` can say why a pair is missing."""
    store.record_failure(
        conn,
        day=day,
        symbol=failure.symbol,
        provider=provider,
        reason=failure.reason,
        message=failure.message,
    )


class _Fetcher:
    """Fetches the day's chains in order on worker threads -- and encodes each for COPY there --
    while the caller writes the previous one. Up to `provider.max_concurrency` fetches run at
    once (1 unless the provider says it is safe to call from several threads; its own rate
    limiter paces them), and at most one more finished chain waits, so memory stays bounded."""

    def __init__(self, provider: OptionsProvider, day: date, todo: list[tuple[str, UUID]]):
        self._provider = provider
        self._day = day
        workers = max(1, int(getattr(provider, "max_concurrency", 1)))
        # one fetch at a time until one succeeds: bad credentials or a dead provider then cost
        # one request, not one per worker
        self._window = 1
        self._open_window = workers + 1
        self._todo = iter(todo)
        self._pending: dict[str, Future[tuple[ChainSnapshot, bytes]]] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")
        self._fill()

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # queued fetches are dropped; one in flight is waited for only on a normal end: after an
        # interrupt (Ctrl-C, SIGTERM) or a failure the caller must stop now, not after a timeout
        self._pool.shutdown(wait=exc_type is None, cancel_futures=True)

    def _fill(self) -> None:
        while len(self._pending) < self._window:
            item = next(self._todo, None)
            if item is None:
                return
            self._pending[item[0]] = self._pool.submit(self._fetch, *item)

    def _fetch(self, symbol: str, ticker_id: UUID) -> tuple[ChainSnapshot, bytes]:
        token = _FETCHING.set(f"{self._day} {symbol}")  # this thread's log lines name the pair
        try:
            snapshot = self._provider.fetch_chain(symbol, self._day)
            return snapshot, store.chain_copy_buffer(snapshot, ticker_id=ticker_id)
        finally:
            _FETCHING.reset(token)

    def result(self, symbol: str) -> tuple[ChainSnapshot, bytes]:
        """`symbol`'s snapshot and COPY buffer, or the exception its fetch raised."""
        if symbol not in self._pending:  # after a failed first fetch nothing was queued
            self._fill()
        future = self._pending.pop(symbol)
        if self._window < self._open_window:
            value = future.result()  # a failure raises here: still one at a time
            self._window = self._open_window
            self._fill()
            return value
        self._fill()  # start the next fetch before waiting for this one
        return future.result()


class _Writers:
    """Writes chains on up to `n` connections of their own (opened on first use with the
    caller's connection parameters), each (session, symbol) in one transaction, while the caller
    fetches the next. `n` = 1 writes on the caller's connection, in the caller's thread.

    On an error or an interrupt every write in flight is cancelled (the server rolls its
    transaction back: nothing of that symbol stays) before the block ends."""

    def __init__(self, conn: psycopg.Connection, n: int) -> None:
        self._conn = conn
        self._n = max(1, n)
        self._conninfo = make_conninfo(conn.info.dsn, password=conn.info.password or None)
        self._idle: list[psycopg.Connection] = []
        self._opened: list[psycopg.Connection] = []
        self._pending: dict[Future[int], str] = {}
        self.written: dict[str, int] = {}
        self._stopping = False
        self._pool = (
            ThreadPoolExecutor(max_workers=self._n, thread_name_prefix="write")
            if self._n > 1
            else None
        )

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if self._pool is not None:
                if exc_type is not None:
                    self._stop()
                self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            for conn in self._opened:
                conn.close()

    def _stop(self) -> None:
        """Roll back what is in flight, now: cancel each writer's statement until every write
        has ended (a writer between two statements, or still connecting, is caught on a later
        round)."""
        self._stopping = True
        pending = set(self._pending)
        while pending:
            for conn in list(self._opened):
                if not conn.closed:
                    with contextlib.suppress(psycopg.Error):
                        conn.cancel_safe(timeout=5.0)
            pending = wait(pending, timeout=0.2).not_done

    def submit(self, symbol: str, ticker_id: UUID, snapshot: ChainSnapshot, buffer: bytes) -> None:
        """Write `symbol`'s chain (now, or on a writer once one is free)."""
        if self._pool is None:
            self.written[symbol] = store.write_chain(
                self._conn, ticker_id=ticker_id, snapshot=snapshot, buffer=buffer
            )
            return
        while len(self._pending) >= self._n:
            self._collect(wait(self._pending, return_when=FIRST_COMPLETED).done)
        self._pending[self._pool.submit(self._write, ticker_id, snapshot, buffer)] = symbol

    def drain(self) -> None:
        """Wait for every write; the first failure raises."""
        self._collect(wait(self._pending).done)

    def _collect(self, done: set[Future[int]]) -> None:
        for future in done:
            symbol = self._pending.pop(future)
            self.written[symbol] = future.result()  # a write's error raises here

    def _write(self, ticker_id: UUID, snapshot: ChainSnapshot, buffer: bytes) -> int:
        if self._stopping:
            raise InterruptedError("ingestion stopped")
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = connect(self._conninfo)
            self._opened.append(conn)
        rows = store.write_chain(conn, ticker_id=ticker_id, snapshot=snapshot, buffer=buffer)
        self._idle.append(conn)  # only after a clean write: a failed connection is not reused
        return rows


def ingest_day(
    conn: psycopg.Connection,
    *,
    provider: OptionsProvider,
    day: date,
    watchlist: str | None = None,
    symbols: Sequence[str] | None = None,
    heartbeat: int = 25,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _log,
    writers: int = WRITERS,
) -> DayReport:
    """Ingest every active symbol of `day` that is not complete yet, through `conn`.

    A provider error fails only its symbol, except Unauthorized (bad credentials), which stops
    the day; a lost database connection raises DatabaseUnavailable. Up to `writers` symbols are
    written at once, each on a connection of its own with `conn`'s parameters.
    """
    started = time.monotonic()
    requests_before = provider.requests_made
    skipped: list[str] = []
    failed: list[SymbolFailure] = []
    rejected: dict[str, int] = {}
    unreachable = 0
    try:
        with store.ingestion_lock(conn), ExitStack() as stack:
            selected = resolve_symbols(conn, watchlist=watchlist, symbols=symbols)
            ids = store.ticker_ids(conn, selected)
            complete = store.completed_ticker_ids(conn, day)
            # providers reading one file per day for every symbol read it once, for these
            prepare = getattr(provider, "prepare", None)
            if prepare is not None:
                prepare(day, [s for s in selected if ids.get(s) not in complete])
            todo = [(s, ids[s]) for s in selected if s in ids and ids[s] not in complete]
            # entered first, left last: the fetches stop before the writes in flight are undone
            writer = stack.enter_context(_Writers(conn, writers))
            fetcher = stack.enter_context(_Fetcher(provider, day, todo))
            for n, symbol in enumerate(selected, start=1):
                ticker_id = ids.get(symbol)
                if ticker_id is None:
                    failure = SymbolFailure(symbol, MISSING_TICKER, "no row in public.tickers")
                    _record(conn, day, provider.name, failure)
                    failed.append(failure)
                elif ticker_id in complete:  # named in the day's metadata, not logged
                    skipped.append(symbol)
                else:
                    token = _FETCHING.set(f"{day} {symbol}")
                    try:
                        snapshot, buffer = fetcher.result(symbol)
                    except Unauthorized as exc:
                        _record(
                            conn, day, provider.name, SymbolFailure(symbol, exc.reason, str(exc))
                        )
                        writer.drain()  # the chains fetched before are written, as before
                        raise  # every other symbol would be refused the same way
                    except ProviderError as exc:
                        slow = isinstance(exc, ProviderTimeout | ProviderUnreachable)
                        level = logging.WARNING if slow else logging.INFO
                        log.log(level, "%s %s: failed (%s): %s", day, symbol, exc.reason, exc)
                        failure = SymbolFailure(symbol, exc.reason, str(exc))
                        _record(conn, day, provider.name, failure)
                        failed.append(failure)
                        unreachable = unreachable + 1 if isinstance(exc, ProviderUnreachable) else 0
                        if unreachable >= UNREACHABLE_LIMIT:
                            writer.drain()
                            raise ProviderDown(
                                f"provider {provider.name} is unreachable: {unreachable} symbols "
                                f"in a row failed to connect, the last: {exc}; stopped (not a "
                                "market holiday); re-run when it is back"
                            ) from None
                    else:
                        unreachable = 0
                        writer.submit(symbol, ticker_id, snapshot, buffer)
                        rejected[symbol] = snapshot.rejected_count
                    finally:
                        _FETCHING.reset(token)
                if heartbeat > 0 and n % heartbeat == 0 and n < len(selected):
                    log.info("%s: heartbeat %d/%d symbols processed", day, n, len(selected))
            writer.drain()
    except psycopg.Error as exc:
        raise write_error(exc, day) from None
    ingested = [s for s in selected if s in writer.written]
    report = DayReport(
        day=day,
        provider=provider.name,
        symbols=tuple(selected),
        ingested=tuple(ingested),
        skipped=tuple(skipped),
        failed=tuple(failed),
        rows_written=sum(writer.written.values()),
        rows_rejected=sum(rejected[s] for s in ingested),
        provider_requests=provider.requests_made - requests_before,
        duration_s=round(time.monotonic() - started, 3),
    )
    log.info("%s", report.summary())
    if not report.has_data:
        reasons = {f.reason for f in report.failed}
        if reasons <= {"no_contracts", "not_available"}:
            log.warning("no data for any symbol on %s — market holiday?", day)
        else:
            log.warning(
                "no data for any symbol on %s: every fetch failed (%s)",
                day,
                ", ".join(sorted(reasons)),
            )
    return report
