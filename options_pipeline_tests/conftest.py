"""One real PostgreSQL server per test session; a fresh database per test, cloned from a template.

The server is the project's own embedded mechanism (pgserver binaries) under a temporary folder,
so tests need no DSN and never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from options_pipeline.db import embedded
from options_pipeline.db.connection import apply_schema, with_database

TEMPLATE_DB = "options_pipeline_template"
DAGSTER_TEMPLATE_DB = "dagster_template"


# Variables the commands set for themselves and their children; restored after every test.
COMMAND_ENVIRONMENT = ("DAGSTER_HOME", "DAGSTER_PG_URL", "OPTIONS_PIPELINE_LOG_REQUESTS")


@pytest.fixture(autouse=True)
def _restore_command_environment() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in COMMAND_ENVIRONMENT}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def pg_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("pg")
    embedded.ensure_running(state)
    yield state
    embedded.stop(state)


@pytest.fixture(scope="session")
def server_url(pg_state_dir: Path) -> str:
    """DSN of the session server's maintenance database."""
    return embedded.ensure_running(pg_state_dir)


@pytest.fixture(scope="session")
def template_url(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
    url = with_database(server_url, TEMPLATE_DB)
    apply_schema(url)
    return url


@contextmanager
def cloned_database(server_url: str, template: str) -> Iterator[str]:
    """A new database copied from `template` (cheap: a file copy), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def filled_template(server_url: str, fill: Callable[[str], object]) -> Iterator[str]:
    """The name of a database with the schema and what `fill(url)` stores: a template for the
    tests of a module that all read the same data (filled once, cloned per test)."""
    with cloned_database(server_url, TEMPLATE_DB) as url:
        fill(url)
        yield psycopg.conninfo.conninfo_to_dict(url)["dbname"]


def fill_sample(url: str, days: Sequence[date], symbols: Sequence[str] = ("SPY", "QQQ")) -> None:
    """`symbols` (watchlist "demo") ingested from the sample market (400 contracts) for `days`."""
    from options_pipeline.db import store
    from options_pipeline.db.connection import connection
    from options_pipeline.ingest import ingest_day
    from options_pipeline.providers.sample import SampleProvider

    provider = SampleProvider(contracts_per_symbol=400)
    with connection(url) as conn:
        store.add_to_watchlist(conn, "demo", list(symbols))
        for day in days:
            assert ingest_day(conn, provider=provider, day=day).complete


@pytest.fixture
def database_url(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh database with the schema applied, dropped after the test."""
    with cloned_database(server_url, TEMPLATE_DB) as url:
        yield url


@pytest.fixture(scope="session")
def dagster_template(server_url: str) -> str:
    """A database holding Dagster's empty storage schema, created once per session."""
    from dagster import instance_for_test

    from options_pipeline.instance import dagster_storage_url

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DAGSTER_TEMPLATE_DB)))
    storage = dagster_storage_url(server_url, DAGSTER_TEMPLATE_DB)
    with instance_for_test(overrides={"storage": {"postgres": {"postgres_url": storage}}}):
        pass  # creating the instance creates the tables
    return DAGSTER_TEMPLATE_DB


@pytest.fixture
def dagster_pg_url(server_url: str, dagster_template: str) -> Iterator[str]:
    """This test's own Dagster storage (run history, pools), as a DAGSTER_PG_URL value."""
    from options_pipeline.instance import dagster_storage_url

    with cloned_database(server_url, dagster_template) as url:
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        yield dagster_storage_url(server_url, name)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def pipeline_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, dagster_pg_url: str
) -> Path:
    """Environment of a user running the CLI against this test's database and its own Dagster
    storage; returns the state dir."""
    state = tmp_path / "state"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url)
    monkeypatch.setenv("OPTIONS_PIPELINE_HOME", str(state))
    monkeypatch.setenv("DAGSTER_HOME", str(state / "dagster_home"))
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    monkeypatch.delenv("OPTIONS_PIPELINE_PROVIDER", raising=False)
    monkeypatch.setenv("SAMPLE_CONTRACTS_PER_SYMBOL", "300")
    return state
