"""Set-based reads for dealer metrics over a range of sessions: the ledger of every (symbol,
session) in one query, a session's chains for many symbols in one binary COPY decoded straight into
numpy columns, and stored per-session results that can stand in for a recomputation.

The chain read asks the server for fixed-width binary fields only (NULLs become NaN in SQL), so
every tuple of the COPY stream has the same length and the whole stream is one numpy structured
array: no Python object per value. Layout of the binary COPY format: see `pgcopy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
from numpy.typing import NDArray

from options_pipeline.db.pgcopy import SIGNATURE, TRAILER
from options_pipeline.db.store import snapshot_time


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A ledger row: the (symbol, session) chain is complete and stored."""

    symbol: str
    as_of: date
    ticker_id: UUID
    underlying_price: float | None
    completed_at: datetime


def snapshots(
    conn: psycopg.Connection, days: Sequence[date], symbols: Sequence[str]
) -> list[Snapshot]:
    """The ledger rows of every (symbol, session) of `days` × `symbols` that exist, in one query."""
    rows = conn.execute(
        """
        SELECT t.symbol, s.as_of, s.ticker_id, s.underlying_price::float8, s.completed_at
        FROM public.option_chain_snapshots s JOIN public.tickers t ON t.id = s.ticker_id
        WHERE s.time = ANY(%s) AND t.symbol = ANY(%s)
        ORDER BY s.as_of, t.symbol
        """,
        ([snapshot_time(d) for d in days], list(symbols)),
    ).fetchall()
    return [Snapshot(*row) for row in rows]


# One tuple of the chain COPY: int16 field count, then (int32 length, value) per field.
_CHAIN_TUPLE = np.dtype(
    [
        ("nfields", ">i2"),
        ("l_ticker", ">i4"),
        ("ticker", ">i4"),  # 1-based position of the ticker in the query's array
        ("l_exp", ">i4"),
        ("expiration", ">i4"),  # days since 1970-01-01
        ("l_strike", ">i4"),
        ("strike", ">f8"),
        ("l_call", ">i4"),
        ("is_call", "?"),
        ("l_iv", ">i4"),
        ("iv", ">f8"),
        ("l_oi", ">i4"),
        ("open_interest", ">f8"),
        ("l_volume", ">i4"),
        ("volume", ">f8"),
    ]
)
_CHAIN_COPY = """
COPY (
    SELECT array_position(%s::uuid[], ticker_id)::int4,
           (expiration_date - date '1970-01-01')::int4,
           strike_price::float8,
           option_type = 'C',
           coalesce(implied_volatility::float8, 'NaN'),
           coalesce(open_interest::float8, 'NaN'),
           coalesce(volume::float8, 'NaN')
    FROM public.options_chains
    WHERE time = %s AND ticker_id = ANY(%s::uuid[])
) TO STDOUT (FORMAT BINARY)
"""


def session_chains(
    conn: psycopg.Connection, day: date, ticker_ids: Sequence[UUID]
) -> dict[UUID, dict[str, NDArray[Any]]]:
    """The stored chains of session `day` for `ticker_ids`, in one query, as numpy columns per
    ticker: expiration_date (datetime64[D]), strike, option_type (bool is_call),
    implied_volatility, open_interest, volume (float64, NaN where NULL). Tickers without rows
    are absent."""
    ids = list(ticker_ids)
    if not ids:
        return {}
    buf = bytearray()
    with conn.cursor() as cur, cur.copy(_CHAIN_COPY, (ids, snapshot_time(day), ids)) as copy:
        for block in copy:
            buf += block
    body = memoryview(buf)[len(SIGNATURE) : len(buf) - len(TRAILER)]
    if bytes(buf[: len(SIGNATURE)]) != SIGNATURE or bytes(buf[-len(TRAILER) :]) != TRAILER:
        raise ValueError("unexpected binary COPY framing from the server")
    if len(body) % _CHAIN_TUPLE.itemsize:
        raise ValueError("binary COPY tuples are not fixed width (a NULL slipped through)")
    rows = np.frombuffer(body, dtype=_CHAIN_TUPLE)
    order = np.argsort(rows["ticker"], kind="stable")
    ticker = rows["ticker"][order]
    starts = np.flatnonzero(np.r_[True, ticker[1:] != ticker[:-1]]) if ticker.size else ()
    bounds: list[int] = [*(int(i) for i in starts), int(ticker.size)]
    out: dict[UUID, dict[str, NDArray[Any]]] = {}
    for a, b in pairwise(bounds):
        part = rows[order[a:b]]
        out[ids[int(ticker[a]) - 1]] = {
            "expiration_date": part["expiration"].astype("datetime64[D]"),
            "strike": part["strike"].astype(np.float64),
            "option_type": part["is_call"].astype(bool),
            "implied_volatility": part["iv"].astype(np.float64),
            "open_interest": part["open_interest"].astype(np.float64),
            "volume": part["volume"].astype(np.float64),
        }
    return out


def reusable_documents(
    conn: psycopg.Connection,
    snapshots: Sequence[Snapshot],
    *,
    model_version: str,
    params_fingerprint: str,
) -> dict[tuple[str, date], dict[str, Any]]:
    """Stored dealer_metrics documents that can stand in for recomputing their session: same
    model_version and parameter fingerprint, and computed after the chain's ledger row (a chain
    re-ingested since is recomputed). Keyed by (symbol, session)."""
    if not snapshots:
        return {}
    rows = conn.execute(
        """
        SELECT p.symbol, m.as_of, m.document
        FROM unnest(%s::timestamptz[], %s::uuid[], %s::text[], %s::timestamptz[])
             AS p(time, ticker_id, symbol, completed_at)
        JOIN public.dealer_metrics m ON m.time = p.time AND m.ticker_id = p.ticker_id
        WHERE m.model_version = %s AND m.document->>'params_fingerprint' = %s
          AND m.computed_at >= p.completed_at
        """,
        (
            [snapshot_time(s.as_of) for s in snapshots],
            [s.ticker_id for s in snapshots],
            [s.symbol for s in snapshots],
            [s.completed_at for s in snapshots],
            model_version,
            params_fingerprint,
        ),
    ).fetchall()
    return {(row[0], row[1]): row[2] for row in rows}
