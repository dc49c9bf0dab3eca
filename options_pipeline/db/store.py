"""All SQL the pipeline runs (besides schema.sql). Parameters only, never string-built values."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
import psycopg.errors

from options_pipeline.db import pgcopy
from options_pipeline.models import ChainSnapshot

SNAPSHOT_SOURCE = "options-pipeline"
INGESTION_LOCK = "options_pipeline:ingestion"


def snapshot_time(day: date) -> datetime:
    """The snapshot identity of trading day `day`: D at 23:59:59 UTC (the user's convention)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


# --- tickers and watchlists ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    watchlist_id: str
    symbol: str
    active: bool
    effective_date: date


def add_to_watchlist(conn: psycopg.Connection, name: str, symbols: Sequence[str]) -> dict[str, str]:
    """Register each symbol's ticker and add it (active) to watchlist `name`, in one transaction.

    Returns each symbol's prior state: "added", "already active" or "reactivated"."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT symbol, active FROM public.watchlists "
            "WHERE watchlist_id = %s AND symbol = ANY(%s) FOR UPDATE",
            (name, list(symbols)),
        )
        before: dict[Any, Any] = dict(cur.fetchall())
        cur.executemany(
            "INSERT INTO public.tickers (symbol) VALUES (%s) ON CONFLICT (symbol) DO NOTHING",
            [(s,) for s in symbols],
        )
        cur.executemany(
            """
            INSERT INTO public.watchlists (watchlist_id, symbol, active, source, effective_date)
            VALUES (%s, %s, true, %s, current_date)
            ON CONFLICT (watchlist_id, symbol) DO UPDATE SET active = true, updated_at = now()
            """,
            [(name, s, SNAPSHOT_SOURCE) for s in symbols],
        )
    return {
        s: "added" if s not in before else "already active" if before[s] else "reactivated"
        for s in symbols
    }


def remove_from_watchlist(conn: psycopg.Connection, name: str, symbols: Sequence[str]) -> int:
    with conn.transaction():
        cur = conn.execute(
            "DELETE FROM public.watchlists WHERE watchlist_id = %s AND symbol = ANY(%s)",
            (name, list(symbols)),
        )
        return cur.rowcount


def set_watchlist_active(
    conn: psycopg.Connection, name: str, symbols: Sequence[str], *, active: bool
) -> int:
    with conn.transaction():
        cur = conn.execute(
            """
            UPDATE public.watchlists SET active = %s, updated_at = now()
            WHERE watchlist_id = %s AND symbol = ANY(%s)
            """,
            (active, name, list(symbols)),
        )
        return cur.rowcount


def list_watchlists(conn: psycopg.Connection, name: str | None = None) -> list[WatchlistEntry]:
    rows = conn.execute(
        """
        SELECT watchlist_id, symbol, active, effective_date FROM public.watchlists
        WHERE %(name)s::text IS NULL OR watchlist_id = %(name)s
        ORDER BY watchlist_id, symbol
        """,
        {"name": name},
    ).fetchall()
    return [WatchlistEntry(*row) for row in rows]


def active_symbols(conn: psycopg.Connection, watchlist: str | None = None) -> list[str]:
    """Distinct, sorted symbols active in any watchlist (or in the named one)."""
    rows = conn.execute(
        """
        SELECT DISTINCT symbol FROM public.watchlists
        WHERE active AND (%(name)s::text IS NULL OR watchlist_id = %(name)s)
        ORDER BY symbol
        """,
        {"name": watchlist},
    ).fetchall()
    return [row[0] for row in rows]


def ticker_ids(conn: psycopg.Connection, symbols: Sequence[str]) -> dict[str, UUID]:
    rows = conn.execute(
        "SELECT symbol, id FROM public.tickers WHERE symbol = ANY(%s)", (list(symbols),)
    ).fetchall()
    return dict(rows)


# --- the completion ledger and chain writes --------------------------------------------------


def completed_ticker_ids(conn: psycopg.Connection, day: date) -> set[UUID]:
    """Tickers whose chain for `day` is complete (they have a ledger row)."""
    rows = conn.execute(
        "SELECT ticker_id FROM public.option_chain_snapshots WHERE time = %s",
        (snapshot_time(day),),
    ).fetchall()
    return {row[0] for row in rows}


@contextmanager
def ingestion_lock(conn: psycopg.Connection) -> Iterator[None]:
    """One ingestion at a time per database, across processes and Dagster instances: a session
    advisory lock, released by PostgreSQL if the holder dies. It backs up Dagster's pool, whose
    slot claims can race on dagster-postgres."""
    conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (INGESTION_LOCK,))
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (INGESTION_LOCK,))


_CHAIN_COLUMNS = (
    "time",
    "ticker_id",
    "expiration_date",
    "strike_price",
    "option_type",
    "bid",
    "ask",
    "last",
    "volume",
    "open_interest",
    "implied_volatility",
    "delta",
    "gamma",
    "theta",
    "vega",
)
_CONFLICT_KEY = "(time, ticker_id, expiration_date, strike_price, option_type)"


def chain_copy_buffer(snapshot: ChainSnapshot, *, ticker_id: UUID) -> bytes:
    """The snapshot's options_chains rows as one binary COPY stream (columns `_CHAIN_COLUMNS`),
    built from its column arrays."""
    c = snapshot.columns
    numeric, int4 = "numeric", "int4"
    return pgcopy.copy_buffer(
        len(c),
        constants=[("timestamptz", snapshot_time(snapshot.as_of)), ("uuid", ticker_id)],
        columns=[
            pgcopy.Column("date", c.expiration_date),
            pgcopy.Column(numeric, c.strike),
            pgcopy.Column("char1", np.where(c.is_call, b"C", b"P")),
            pgcopy.Column(numeric, c.bid),
            pgcopy.Column(numeric, c.ask),
            pgcopy.Column(numeric, c.last),
            pgcopy.Column(int4, c.volume),
            pgcopy.Column(int4, c.open_interest),
            pgcopy.Column(numeric, c.implied_volatility),
            pgcopy.Column(numeric, c.delta),
            pgcopy.Column(numeric, c.gamma),
            pgcopy.Column(numeric, c.theta),
            pgcopy.Column(numeric, c.vega),
        ],
    )


def _open_interest_total(snapshot: ChainSnapshot) -> int:
    """Σ open interest as the COPY writes it (NaN = NULL, values cast to int like int4 fields)."""
    oi = snapshot.columns.open_interest
    return int(np.where(np.isnan(oi), 0, oi).astype(np.int64).sum())


def write_chain(
    conn: psycopg.Connection,
    *,
    ticker_id: UUID,
    snapshot: ChainSnapshot,
    buffer: bytes | None = None,
) -> int:
    """Write one symbol's chain and its ledger row atomically; returns options_chains rows added.

    The rows go in as one binary COPY (`buffer`, from `chain_copy_buffer`, may be built ahead,
    e.g. on another thread), straight into options_chains in one transaction with the ledger
    row. When that meets a row already there (e.g. from the user's older system) the
    transaction rolls back and the write is redone through a temporary table and INSERT ... ON
    CONFLICT DO NOTHING, so rows already present are kept, never duplicated. (No look-up first:
    the normal case costs the COPY and the ledger insert only.)
    """
    when = snapshot_time(snapshot.as_of)
    if buffer is None:
        buffer = chain_copy_buffer(snapshot, ticker_id=ticker_id)
    try:
        return _write_chain(conn, when, ticker_id, snapshot, buffer, direct=True)
    except psycopg.errors.UniqueViolation:  # rolled back: nothing of it was written
        return _write_chain(conn, when, ticker_id, snapshot, buffer, direct=False)


def _write_chain(
    conn: psycopg.Connection,
    when: datetime,
    ticker_id: UUID,
    snapshot: ChainSnapshot,
    buffer: bytes,
    *,
    direct: bool,
) -> int:
    columns = ", ".join(_CHAIN_COLUMNS)
    with conn.transaction(), conn.cursor() as cur:
        if direct:  # the normal case, no row of this (time, ticker) yet: straight in
            with cur.copy(
                f"COPY public.options_chains ({columns}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(buffer)
            rows_written = cur.rowcount
        else:
            cur.execute(
                "CREATE TEMP TABLE options_chains_load ON COMMIT DROP AS "
                f"SELECT {columns} FROM public.options_chains WITH NO DATA"
            )
            load = f"COPY options_chains_load ({columns}) FROM STDIN (FORMAT BINARY)"
            with cur.copy(load) as copy:
                copy.write(buffer)
            cur.execute(
                f"""
                INSERT INTO public.options_chains ({columns})
                SELECT {columns} FROM options_chains_load
                ON CONFLICT {_CONFLICT_KEY} DO NOTHING
                """
            )
            rows_written = cur.rowcount
        cur.execute(
            """
            INSERT INTO public.option_chain_snapshots (
                time, ticker_id, as_of, provider, underlying_price, underlying_price_source,
                provider_mark_time, contract_count, rows_written, rejected_count,
                rejected_reasons, provider_requests, open_interest_as_of, open_interest_source,
                open_interest_total)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (time, ticker_id) DO NOTHING
            """,
            (
                when,
                ticker_id,
                snapshot.as_of,
                snapshot.provider,
                snapshot.underlying_price,
                snapshot.underlying_price_source,
                snapshot.provider_mark_time,
                snapshot.contract_count,
                rows_written,
                snapshot.rejected_count,
                json.dumps(_ledger_reasons(snapshot), sort_keys=True),
                snapshot.requests,
                snapshot.open_interest_as_of,
                snapshot.open_interest_source,
                _open_interest_total(snapshot),
            ),
        )
    return rows_written


MERGED_IDENTITY = "merged_identity"  # ledger reason: rows folded into another root's row


def _ledger_reasons(snapshot: ChainSnapshot) -> dict[str, int]:
    reasons = dict(snapshot.rejected)
    if snapshot.merged:
        reasons[MERGED_IDENTITY] = snapshot.merged
    return reasons


# --- reads for dealer metrics and checks -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerRow:
    as_of: date
    ticker_id: UUID
    underlying_price: float | None


def ledger_rows(conn: psycopg.Connection, days: Iterable[date], symbol: str) -> list[LedgerRow]:
    """Ledger rows of `symbol` for the given days (missing days are simply absent)."""
    times = [snapshot_time(d) for d in days]
    rows = conn.execute(
        """
        SELECT s.as_of, s.ticker_id, s.underlying_price::float8
        FROM public.option_chain_snapshots s JOIN public.tickers t ON t.id = s.ticker_id
        WHERE s.time = ANY(%s) AND t.symbol = %s
        ORDER BY s.as_of
        """,
        (times, symbol),
    ).fetchall()
    return [LedgerRow(*row) for row in rows]


def chain_columns(conn: psycopg.Connection, *, ticker_id: UUID, day: date) -> dict[str, list[Any]]:
    """One stored chain as columns, for the vectorised metrics (no per-row objects)."""
    cur = conn.execute(
        """
        SELECT expiration_date, strike_price::float8, option_type,
               implied_volatility::float8, open_interest, volume
        FROM public.options_chains WHERE time = %s AND ticker_id = %s
        """,
        (snapshot_time(day), ticker_id),
    )
    names = (
        "expiration_date",
        "strike",
        "option_type",
        "implied_volatility",
        "open_interest",
        "volume",
    )
    rows = cur.fetchall()
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def missing_symbols(
    conn: psycopg.Connection, days: Sequence[date], watchlist: str | None = None
) -> list[tuple[date, str]]:
    """(day, symbol) pairs among the active symbols (of `watchlist`, or of any) with no ledger
    row."""
    rows = conn.execute(
        """
        SELECT d::date, w.symbol
        FROM unnest(%s::date[]) AS d
        CROSS JOIN (SELECT DISTINCT symbol FROM public.watchlists
                    WHERE active AND (%s::text IS NULL OR watchlist_id = %s)) w
        LEFT JOIN public.tickers t ON t.symbol = w.symbol
        LEFT JOIN public.option_chain_snapshots s
               ON s.ticker_id = t.id AND s.time = (d::date + time '23:59:59') AT TIME ZONE 'UTC'
        WHERE s.ticker_id IS NULL
        ORDER BY 1, 2
        """,
        (list(days), watchlist, watchlist),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


# --- failed attempts and gaps ------------------------------------------------------------------


def record_failure(
    conn: psycopg.Connection, *, day: date, symbol: str, provider: str, reason: str, message: str
) -> None:
    """Upsert the last failed attempt of (day, symbol); one statement, so atomic on its own."""
    conn.execute(
        """
        INSERT INTO public.option_chain_attempts (as_of, symbol, provider, reason, message)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (as_of, symbol) DO UPDATE SET
            provider = EXCLUDED.provider, reason = EXCLUDED.reason, message = EXCLUDED.message,
            failures = public.option_chain_attempts.failures + 1, last_failed_at = now()
        """,
        (day, symbol, provider, reason, message[:2000]),
    )


@dataclass(frozen=True, slots=True)
class Gap:
    """A (session, symbol) with no ledger row, and its last recorded failure if any."""

    as_of: date
    symbol: str
    reason: str | None  # None: never attempted (or attempted before failures were recorded)
    message: str | None
    provider: str | None
    failures: int
    last_failed_at: datetime | None


def gaps(conn: psycopg.Connection, days: Sequence[date], symbols: Sequence[str]) -> list[Gap]:
    """Every (day, symbol) of the cross product without a completed snapshot, ordered."""
    rows = conn.execute(
        """
        SELECT d::date, sym, a.reason, a.message, a.provider, coalesce(a.failures, 0),
               a.last_failed_at
        FROM unnest(%s::date[]) AS d
        CROSS JOIN unnest(%s::text[]) AS sym
        LEFT JOIN public.tickers t ON t.symbol = sym
        LEFT JOIN public.option_chain_snapshots s
               ON s.ticker_id = t.id AND s.time = (d::date + time '23:59:59') AT TIME ZONE 'UTC'
        LEFT JOIN public.option_chain_attempts a ON a.as_of = d::date AND a.symbol = sym
        WHERE s.ticker_id IS NULL
        ORDER BY 1, 2
        """,
        (list(days), list(symbols)),
    ).fetchall()
    return [Gap(*row) for row in rows]


def last_contract_counts(
    conn: psycopg.Connection, symbols: Sequence[str]
) -> dict[str, tuple[int, date]]:
    """Each symbol's (contract_count, as_of) in its latest ledger row (plans' chain-size hint)."""
    rows = conn.execute(
        """
        SELECT DISTINCT ON (t.symbol) t.symbol, s.contract_count, s.as_of
        FROM public.option_chain_snapshots s JOIN public.tickers t ON t.id = s.ticker_id
        WHERE t.symbol = ANY(%s)
        ORDER BY t.symbol, s.time DESC
        """,
        (list(symbols),),
    ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def completed_pairs(
    conn: psycopg.Connection, days: Sequence[date], symbols: Sequence[str]
) -> set[tuple[date, str]]:
    """The (day, symbol) pairs among `days` × `symbols` that the ledger holds."""
    rows = conn.execute(
        """
        SELECT s.as_of, t.symbol
        FROM public.option_chain_snapshots s JOIN public.tickers t ON t.id = s.ticker_id
        WHERE s.time = ANY(%s) AND t.symbol = ANY(%s)
        """,
        ([snapshot_time(d) for d in days], list(symbols)),
    ).fetchall()
    return {(row[0], row[1]) for row in rows}


# --- dealer metrics ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DealerMetricsRow:
    """One stored dealer_metrics row; `document` holds everything that is not a column."""

    ticker_id: UUID
    as_of: date
    status: str
    confidence: str
    days_present: int
    window_days: int
    spot: float | None
    gex_net: float | None
    gex_total: float | None
    gamma_flip: float | None
    call_wall: float | None
    put_wall: float | None
    abs_gamma_strike: float | None
    gex_slope: float | None
    dealer_position: str | None
    eligible_contracts: int
    total_contracts: int
    sign_convention: str
    units: str
    document: dict[str, Any]
    model_version: str


def replace_dealer_metrics(conn: psycopg.Connection, rows: Sequence[DealerMetricsRow]) -> None:
    """Replace the rows for their (time, ticker_id) in one transaction (idempotent re-runs)."""
    if not rows:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO public.dealer_metrics (
                time, ticker_id, as_of, status, confidence, days_present, window_days, spot,
                gex_net, gex_total, gamma_flip, call_wall, put_wall, abs_gamma_strike, gex_slope,
                dealer_position, eligible_contracts, total_contracts, sign_convention, units,
                document, model_version)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                    %s, %s, %s)
            ON CONFLICT (time, ticker_id) DO UPDATE SET
                status = EXCLUDED.status, confidence = EXCLUDED.confidence,
                days_present = EXCLUDED.days_present, window_days = EXCLUDED.window_days,
                spot = EXCLUDED.spot, gex_net = EXCLUDED.gex_net, gex_total = EXCLUDED.gex_total,
                gamma_flip = EXCLUDED.gamma_flip, call_wall = EXCLUDED.call_wall,
                put_wall = EXCLUDED.put_wall, abs_gamma_strike = EXCLUDED.abs_gamma_strike,
                gex_slope = EXCLUDED.gex_slope, dealer_position = EXCLUDED.dealer_position,
                eligible_contracts = EXCLUDED.eligible_contracts,
                total_contracts = EXCLUDED.total_contracts,
                sign_convention = EXCLUDED.sign_convention, units = EXCLUDED.units,
                document = EXCLUDED.document, model_version = EXCLUDED.model_version,
                computed_at = now()
            """,
            [
                (
                    snapshot_time(r.as_of),
                    r.ticker_id,
                    r.as_of,
                    r.status,
                    r.confidence,
                    r.days_present,
                    r.window_days,
                    r.spot,
                    r.gex_net,
                    r.gex_total,
                    r.gamma_flip,
                    r.call_wall,
                    r.put_wall,
                    r.abs_gamma_strike,
                    r.gex_slope,
                    r.dealer_position,
                    r.eligible_contracts,
                    r.total_contracts,
                    r.sign_convention,
                    r.units,
                    json.dumps(r.document, allow_nan=False),
                    r.model_version,
                )
                for r in rows
            ],
        )


def dealer_metrics_with_nan(conn: psycopg.Connection, day: date) -> list[str]:
    """Symbols whose stored metrics for `day` contain a NaN in any numeric column."""
    rows = conn.execute(
        """
        SELECT t.symbol FROM public.dealer_metrics m JOIN public.tickers t ON t.id = m.ticker_id
        WHERE m.time = %s AND 'NaN'::numeric IN (m.spot, m.gex_net, m.gex_total, m.gamma_flip,
              m.call_wall, m.put_wall, m.abs_gamma_strike, m.gex_slope)
        ORDER BY 1
        """,
        (snapshot_time(day),),
    ).fetchall()
    return [row[0] for row in rows]


def day_row_count(conn: psycopg.Connection, day: date) -> int:
    """options_chains rows stored for session `day` (every symbol)."""
    row = conn.execute(
        "SELECT count(*) FROM public.options_chains WHERE time = %s", (snapshot_time(day),)
    ).fetchone()
    return int(row[0]) if row else 0


def dealer_metrics_row_count(conn: psycopg.Connection, day: date) -> int:
    row = conn.execute(
        "SELECT count(*) FROM public.dealer_metrics WHERE time = %s", (snapshot_time(day),)
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class StoredDealerState:
    """What is stored for one symbol and day, as the dealer_metrics checks see it."""

    symbol: str
    has_snapshot: bool
    has_metrics: bool
    status: str | None
    total_contracts: int | None
    spot: float | None
    min_strike: float | None
    max_strike: float | None
    stored_open_interest: int | None
    ledger_open_interest: int | None


def stored_dealer_state(
    conn: psycopg.Connection, day: date, symbols: Sequence[str]
) -> list[StoredDealerState]:
    """Per symbol: ledger row?, dealer row?, its status/spot/contracts, the stored chain's strike
    range and Σ open interest next to the ledger's."""
    when = snapshot_time(day)
    rows = conn.execute(
        """
        SELECT t.symbol, s.ticker_id IS NOT NULL, m.ticker_id IS NOT NULL, m.status,
               m.total_contracts, m.spot::float8, c.min_strike, c.max_strike, c.oi,
               s.open_interest_total
        FROM unnest(%s::text[]) AS sym(symbol)
        JOIN public.tickers t ON t.symbol = sym.symbol
        LEFT JOIN public.option_chain_snapshots s ON s.ticker_id = t.id AND s.time = %s
        LEFT JOIN public.dealer_metrics m ON m.ticker_id = t.id AND m.time = %s
        LEFT JOIN LATERAL (
            SELECT min(strike_price)::float8 AS min_strike, max(strike_price)::float8 AS max_strike,
                   sum(open_interest)::bigint AS oi
            FROM public.options_chains WHERE time = %s AND ticker_id = t.id) c ON true
        ORDER BY t.symbol
        """,
        (list(symbols), when, when, when),
    ).fetchall()
    return [StoredDealerState(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class StoredDealerMetrics:
    as_of: date
    symbol: str
    status: str
    confidence: str
    days_present: int
    window_days: int
    document: dict[str, Any]
    provider: str | None  # of the session's snapshot ("sample" = the synthetic market)


def stored_dealer_metrics(
    conn: psycopg.Connection, days: Sequence[date], symbols: Sequence[str] | None = None
) -> list[StoredDealerMetrics]:
    """Stored dealer metrics of `days` (of `symbols`, or every symbol), by session and symbol."""
    rows = conn.execute(
        """
        SELECT m.as_of, t.symbol, m.status, m.confidence, m.days_present, m.window_days,
               m.document, s.provider
        FROM public.dealer_metrics m JOIN public.tickers t ON t.id = m.ticker_id
        LEFT JOIN public.option_chain_snapshots s ON s.time = m.time AND s.ticker_id = m.ticker_id
        WHERE m.time = ANY(%s) AND (%s::text[] IS NULL OR t.symbol = ANY(%s))
        ORDER BY m.as_of, t.symbol
        """,
        (
            [snapshot_time(d) for d in days],
            None if symbols is None else list(symbols),
            None if symbols is None else list(symbols),
        ),
    ).fetchall()
    return [StoredDealerMetrics(*row) for row in rows]


def _one(row: tuple[Any, ...] | None) -> Any:
    """The single value of a one-column query that always returns a row."""
    assert row is not None
    return row[0]
