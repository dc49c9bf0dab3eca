"""One real PostgreSQL server per test session; a fresh database per test, cloned from a template.

The server is the project's own embedded mechanism (pgserver binaries) under a temporary folder,
so tests need no DSN and never skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from options_pipeline.db import embedded
from options_pipeline.db.connection import apply_schema, with_database

TEMPLATE_DB = "options_pipeline_template"


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


@pytest.fixture
def database_url(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh database with the schema applied, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE_DB)))
    yield with_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def pipeline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    """Environment of a user running the CLI against this test's database; returns the state dir."""
    state = tmp_path / "state"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("OPTIONS_PIPELINE_HOME", str(state))
    monkeypatch.setenv("DAGSTER_HOME", str(state / "dagster_home"))
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("OPTIONS_PIPELINE_PROVIDER", raising=False)
    monkeypatch.setenv("SAMPLE_CONTRACTS_PER_SYMBOL", "300")
    return state
