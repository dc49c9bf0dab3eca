"""The Dagster instance's configuration: storage on the same PostgreSQL server, pools, logging.

Written to $DAGSTER_HOME/dagster.yaml (default `<state dir>/dagster_home`) so that the UI, the
daemon, `dagster asset materialize` and the `ingest_options` CLI share one run history.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import psycopg
from psycopg import sql

from options_pipeline.db.connection import connection, with_database

DAGSTER_DATABASE = "dagster"
DAGSTER_PG_URL_ENV = "DAGSTER_PG_URL"

_TEMPLATE = """\
# Written by options-pipeline; re-written on `options-pipeline instance init`.
storage:
  postgres:
    postgres_url: "{postgres_url}"
concurrency:
  pools:
    # options_chains runs in the "options_chains" pool: one day at a time, across UI backfills,
    # CLI runs and schedules alike.
    default_limit: 1
python_logs:
  managed_python_loggers: [options_pipeline]
  # DEBUG keeps per-symbol skip reasons; the providers' per-request DEBUG lines are off unless
  # asked for (ProviderResource.log_requests): stored as events they cost ~30% (BENCHMARKS.md)
  python_log_level: DEBUG
telemetry:
  enabled: false
"""


def dagster_storage_url(database_url: str) -> str:
    """The SQLAlchemy URL dagster-postgres needs (the psycopg2 driver, see the README)."""
    configured = os.environ.get(DAGSTER_PG_URL_ENV)
    if configured:
        return configured
    dsn = with_database(database_url, DAGSTER_DATABASE)
    ensure_database(database_url, DAGSTER_DATABASE)
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    user = params.get("user", "postgres")
    password = f":{params['password']}" if params.get("password") else ""
    host = params.get("host", "")
    port = params.get("port")
    if str(host).startswith("/"):  # Unix socket (the embedded server)
        query = f"?host={host}" + (f"&port={port}" if port else "")
        return f"postgresql+psycopg2://{user}{password}@/{DAGSTER_DATABASE}{query}"
    netloc = f"{host}:{port}" if port else host
    return f"postgresql+psycopg2://{user}{password}@{netloc}/{DAGSTER_DATABASE}"


def ensure_database(database_url: str, name: str) -> None:
    with connection(database_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def write_instance_config(home: Path, database_url: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    content = _TEMPLATE.format(postgres_url=dagster_storage_url(database_url))
    if not path.exists() or path.read_text() != content:
        path.write_text(content)
        path.chmod(0o600)  # it may hold a database password
    return path
