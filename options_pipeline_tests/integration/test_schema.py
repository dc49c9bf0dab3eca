from datetime import date

import psycopg
import pytest

from options_pipeline.db.connection import apply_schema

IDENTITY = "('2025-12-15 23:59:59+00', %s, '2025-12-19', 600, %s)"


def _ticker(db: psycopg.Connection, symbol: str = "SPY"):
    insert = "INSERT INTO tickers (symbol) VALUES (%s) RETURNING id"
    return db.execute(insert, (symbol,)).fetchone()[0]


def test_schema_applies_twice_without_error(database_url, db):
    apply_schema(database_url)
    apply_schema(database_url)
    tables = {
        r[0]
        for r in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    assert {
        "tickers",
        "watchlists",
        "options_chains",
        "option_chain_snapshots",
        "dealer_metrics",
    } <= tables


def test_options_chains_columns_match_the_users_deployment(db):
    cols = dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'options_chains'"
        ).fetchall()
    )
    assert cols["time"] == "timestamp with time zone"
    assert cols["ticker_id"] == "uuid"
    assert cols["strike_price"] == "numeric"
    assert cols["option_type"] == "character"
    assert cols["volume"] == "integer"
    indexes = {
        r[0]
        for r in db.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'options_chains'")
    }
    assert any('(ticker_id, "time" DESC)' in i for i in indexes)
    assert any('("time" DESC)' in i and "ticker_id" not in i for i in indexes)


def test_bad_option_type_is_rejected(db):
    tid = _ticker(db)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            f"INSERT INTO options_chains (time, ticker_id, expiration_date, strike_price,"
            f" option_type) VALUES {IDENTITY}",
            (tid, "X"),
        )


def test_duplicate_identity_is_rejected(db):
    tid = _ticker(db)
    insert = (
        f"INSERT INTO options_chains (time, ticker_id, expiration_date, strike_price,"
        f" option_type) VALUES {IDENTITY}"
    )
    db.execute(insert, (tid, "C"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(insert, (tid, "C"))
    db.execute(insert, (tid, "P"))  # a different identity is fine
    assert db.execute("SELECT count(*) FROM options_chains").fetchone()[0] == 2


def test_watchlist_symbol_is_unique_per_watchlist(db):
    insert = (
        "INSERT INTO watchlists (watchlist_id, symbol, source, effective_date) "
        "VALUES ('core', 'SPY', 'test', %s)"
    )
    db.execute(insert, (date(2025, 12, 15),))
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(insert, (date(2025, 12, 16),))


def test_deleting_a_ticker_cascades_to_its_chain(db):
    tid = _ticker(db)
    db.execute(
        f"INSERT INTO options_chains (time, ticker_id, expiration_date, strike_price,"
        f" option_type) VALUES {IDENTITY}",
        (tid, "C"),
    )
    db.execute("DELETE FROM tickers WHERE id = %s", (tid,))
    assert db.execute("SELECT count(*) FROM options_chains").fetchone()[0] == 0
