"""store.write_chain's binary COPY from columns stores what a plain text COPY of the same chain
stores; it is atomic per (session, symbol) and idempotent around rows that already exist."""

from __future__ import annotations

from datetime import date

import numpy as np
import psycopg
import pytest

from options_pipeline.db import store
from options_pipeline.models import ChainColumns, ChainSnapshot
from options_pipeline.providers.sample import sample_chain

D = date(2025, 3, 14)
KEY = "time, ticker_id, expiration_date, strike_price, option_type"
EXACT = (
    "expiration_date, strike_price::text, option_type, bid::text, ask::text, last::text, "
    "volume, open_interest, implied_volatility::text"
)
GREEKS = ("delta", "gamma", "theta", "vega")


@pytest.fixture
def spy(db: psycopg.Connection):
    store.add_to_watchlist(db, "w", ["SPY"])
    return store.ticker_ids(db, ["SPY"])["SPY"]


def _text_copy(db: psycopg.Connection, table: str, ticker_id, snap: ChainSnapshot) -> None:
    """The independent expectation: every quote as a row of a text COPY (Python's repr)."""
    cols = (
        f"{KEY}, bid, ask, last, volume, open_interest, implied_volatility, delta, gamma, "
        "theta, vega"
    )
    with db.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        for q in snap.quotes:
            copy.write_row(
                (
                    store.snapshot_time(snap.as_of),
                    ticker_id,
                    q.expiration_date,
                    q.strike,
                    q.option_type,
                    q.bid,
                    q.ask,
                    q.last,
                    q.volume,
                    q.open_interest,
                    q.implied_volatility,
                    q.delta,
                    q.gamma,
                    q.theta,
                    q.vega,
                )
            )


def test_binary_copy_stores_what_a_text_copy_stores(db, spy):
    snap = sample_chain("SPY", D, 3000)
    assert store.write_chain(db, ticker_id=spy, snapshot=snap) == 3000
    db.execute("CREATE TABLE expected (LIKE public.options_chains INCLUDING ALL)")
    _text_copy(db, "expected", spy, snap)
    for a, b in (("options_chains", "expected"), ("expected", "options_chains")):
        extra = db.execute(f"SELECT {EXACT} FROM {a} EXCEPT ALL SELECT {EXACT} FROM {b}")
        assert extra.fetchall() == []
    # greeks carry 16-17 significant digits: stored to 15, i.e. within 1e-14 relative
    worst = db.execute(
        "SELECT "
        + ", ".join(f"max(abs(o.{g} - e.{g}) / nullif(abs(e.{g}), 0))::float8" for g in GREEKS)
        + f", count(*) FROM options_chains o JOIN expected e USING ({KEY})"
    ).fetchone()
    assert worst[-1] == 3000
    assert all(w is not None and w < 1e-14 for w in worst[:-1])
    nulls = db.execute(
        "SELECT count(*) FILTER (WHERE last IS NULL), "
        "count(*) FILTER (WHERE volume = 0) FROM options_chains"
    ).fetchone()
    assert nulls[0] == nulls[1] > 0  # no trade, no last price: NULL, not 0 or NaN
    ledger = db.execute("SELECT contract_count, rows_written FROM option_chain_snapshots")
    assert ledger.fetchall() == [(3000, 3000)]


def test_rewrite_adds_nothing_and_partial_rows_are_completed_not_duplicated(db, spy):
    snap = sample_chain("SPY", D, 1000)
    assert store.write_chain(db, ticker_id=spy, snapshot=snap) == 1000
    assert store.write_chain(db, ticker_id=spy, snapshot=snap) == 0
    # rows from an older system for this (time, ticker), with their own values, and no ledger
    db.execute("DELETE FROM option_chain_snapshots")
    db.execute("DELETE FROM options_chains WHERE option_type = 'P'")
    db.execute("UPDATE options_chains SET bid = 123.45")
    assert store.write_chain(db, ticker_id=spy, snapshot=snap) == 500
    counts = db.execute(
        "SELECT option_type, count(*), count(*) FILTER (WHERE bid = 123.45) "
        "FROM options_chains GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counts == [("C", 500, 500), ("P", 500, 0)]  # existing rows kept as they were


def _with_strikes(snap: ChainSnapshot, strikes: np.ndarray) -> ChainSnapshot:
    c = snap.columns
    fields = {n: getattr(c, n) for n in ChainColumns.__slots__ if n not in ("strike",)}
    return ChainSnapshot(
        symbol=snap.symbol,
        as_of=snap.as_of,
        provider=snap.provider,
        underlying_price=snap.underlying_price,
        underlying_price_source=snap.underlying_price_source,
        columns=ChainColumns(strike=strikes, **fields),
    )


def test_identities_equal_at_the_columns_scale_keep_the_first_row(db, spy):
    # 600.00001 and 600.00002 are one strike in numeric(12,4): the direct COPY meets a duplicate
    # key and the write falls back to ON CONFLICT DO NOTHING, still atomic
    snap = sample_chain("SPY", D, 20)
    strikes = snap.columns.strike.copy()
    strikes[2] = strikes[0] + 1e-5
    strikes[0] += 2e-5
    odd = _with_strikes(snap, strikes)
    assert odd.columns.is_call[0] == odd.columns.is_call[2]
    written = store.write_chain(db, ticker_id=spy, snapshot=odd)
    assert written == 19
    assert db.execute("SELECT count(*) FROM options_chains").fetchone() == (19,)
    assert db.execute("SELECT rows_written FROM option_chain_snapshots").fetchone() == (19,)


def test_a_chain_that_does_not_fit_is_refused_before_anything_is_written(db, spy):
    snap = sample_chain("SPY", D, 200)
    c = snap.columns
    volume = c.volume.copy()
    volume[-1] = 2.0**40  # does not fit integer: the whole symbol-day must be rolled back
    fields = {n: getattr(c, n) for n in ChainColumns.__slots__ if n != "volume"}
    bad = ChainSnapshot(
        symbol="SPY",
        as_of=D,
        provider="sample",
        underlying_price=1.0,
        underlying_price_source="x",
        columns=ChainColumns(volume=volume, **fields),
    )
    with pytest.raises(ValueError):
        store.write_chain(db, ticker_id=spy, snapshot=bad)
    assert db.execute("SELECT count(*) FROM options_chains").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM option_chain_snapshots").fetchone() == (0,)
