"""Faults of the database under ingestion, named by their cause; first-use races."""

from __future__ import annotations

import threading
import uuid
from datetime import date

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from options_pipeline.db import store
from options_pipeline.db.connection import DatabaseUnavailable, connection, with_database
from options_pipeline.ingest import ingest_day
from options_pipeline.instance import ensure_database
from options_pipeline.providers.sample import SampleProvider


def _read_only(database_url: str) -> None:
    name = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
                sql.Identifier(name)
            )
        )


def test_two_first_commands_creating_the_dagster_database_at_once_both_succeed(server_url: str):
    name = f"race_{uuid.uuid4().hex[:8]}"
    barrier, errors = threading.Barrier(6), []

    def first_command() -> None:
        barrier.wait()
        try:
            ensure_database(server_url, name)
        except Exception as exc:  # any failure is the defect
            errors.append(exc)

    threads = [threading.Thread(target=first_command) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        with psycopg.connect(server_url) as conn:
            n = conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()[0]
        assert n == 1
        # the database it created commits asynchronously (event-log writes)
        with psycopg.connect(with_database(server_url, name)) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def test_a_read_only_database_during_ingestion_is_named_as_such(database_url: str):
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "w", ["SPY"])
    _read_only(database_url)
    with pytest.raises(DatabaseUnavailable) as raised, connection(database_url) as conn:
        ingest_day(conn, provider=SampleProvider(contracts_per_symbol=20), day=date(2025, 12, 16))
    message = str(raised.value)
    assert message.startswith("the database is read-only") and "connection" not in message


def test_an_existing_dagster_database_keeps_its_settings(server_url: str):
    name = f"mine_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        ensure_database(server_url, name)
        with psycopg.connect(with_database(server_url, name)) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
