"""The Dagster instance's configuration: storage on the same PostgreSQL server, pools, monitoring.

`$DAGSTER_HOME/dagster.yaml` (default `<state dir>/dagster_home`) is written once, when absent, and
never overwritten: it is the operator's file (run queue, run launcher, retention...). It holds no
secret: the storage URL is an `{env: DAGSTER_PG_URL}` reference that Dagster resolves when the
instance loads, and the project's commands set DAGSTER_PG_URL from DATABASE_URL when it is unset.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql

from options_pipeline.db.connection import DatabaseUnavailable, connection, with_database
from options_pipeline.settings import SettingsError

DAGSTER_DATABASE = "dagster"
DAGSTER_PG_URL_ENV = "DAGSTER_PG_URL"
INSTANCE_FILE = "dagster.yaml"

# Run monitoring (the daemon): the default run launcher cannot see a dead run worker, so a run
# whose process died stays STARTED until it exceeds MAX_RUNTIME_SECONDS; it is then marked failed
# and, FREE_SLOTS_AFTER_SECONDS later, its options_chains pool slot is freed. A longer backfill
# run can carry the `dagster/max_runtime` tag; a cut-off run is re-run idempotently.
MAX_RUNTIME_SECONDS = 6 * 3600
FREE_SLOTS_AFTER_SECONDS = 60

TEMPLATE = f"""\
# The options_pipeline Dagster instance. Written once by options-pipeline when absent and never
# overwritten: edit it (run queue, run launcher, monitoring); delete it to get the default back.
storage:
  postgres:
    # read from the environment when the instance loads: no password in this file. The
    # options-pipeline / ingest_options commands set DAGSTER_PG_URL from DATABASE_URL (or the
    # embedded server) when it is unset; `options-pipeline db dagster-url` prints that value.
    postgres_url:
      env: {DAGSTER_PG_URL_ENV}
concurrency:
  pools:
    # options_chains runs in the "options_chains" pool: one day at a time, across UI backfills,
    # CLI runs and schedules alike.
    default_limit: 1
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  # a run whose worker died is failed after this long and its pool slot freed without any
  # manual step; tag a longer run with dagster/max_runtime
  max_runtime_seconds: {MAX_RUNTIME_SECONDS}
  free_slots_after_run_end_seconds: {FREE_SLOTS_AFTER_SECONDS}
python_logs:
  managed_python_loggers: [options_pipeline]
  # every captured line is an event-log write (a connection, an insert, a commit): INFO keeps
  # them to a few per session (per-symbol detail is in the materialization's metadata);
  # DEBUG adds the providers' per-request lines (about +30 % on an HTTP backfill)
  python_log_level: INFO
telemetry:
  enabled: false
"""


def dagster_storage_url(database_url: str, database: str = DAGSTER_DATABASE) -> str:
    """The SQLAlchemy URL of `database` on `database_url`'s server (psycopg2 driver), user and
    password percent-encoded so any character survives."""
    params = psycopg.conninfo.conninfo_to_dict(with_database(database_url, database))
    user = quote(str(params.get("user", "postgres")), safe="")
    password = f":{quote(str(params['password']), safe='')}" if params.get("password") else ""
    host, port = str(params.get("host", "")), params.get("port")
    query = {
        k: str(v)
        for k, v in params.items()
        if k not in ("user", "password", "host", "port", "dbname")
    }
    if host.startswith("/"):  # a Unix socket (the embedded server)
        netloc = ""
        query = {"host": host, **({"port": str(port)} if port else {}), **query}
    else:
        netloc = f"{host}:{port}" if port else host
    suffix = f"?{urlencode(query)}" if query else ""
    return f"postgresql+psycopg2://{user}{password}@{netloc}/{quote(database)}{suffix}"


def checked_storage_url(url: str) -> str:
    """DAGSTER_PG_URL as dagster-postgres needs it, or SettingsError (the value is not shown:
    it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        parsed = None
    if (
        parsed is None
        or parsed.drivername not in ("postgresql", "postgresql+psycopg2")
        or not (parsed.database)
    ):
        raise SettingsError(
            f"{DAGSTER_PG_URL_ENV} is not a PostgreSQL URL (expected "
            "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE)"
        )
    return url


def ensure_database(database_url: str, name: str) -> None:
    """CREATE DATABASE once, serialised: two first commands at once otherwise race on it
    (pg_database's unique index raises UniqueViolation, not DuplicateDatabase).

    The database it creates commits asynchronously (synchronous_commit = off): every Dagster
    event is a commit, and waiting for its WAL flush (2-5 ms each, more on a busy disk) was most
    of a run's event-log cost. A server crash can lose the last fraction of a second of run
    bookkeeping, never corrupt it; the chains and their completion ledger live in the user's
    database, which keeps synchronous commits, and decide what a re-run does. A database that
    already exists (an operator's) is left as it is."""
    with connection(database_url) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtextextended('options_pipeline:createdb', 0))")
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            try:
                with contextlib.suppress(
                    psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation
                ):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                            sql.Identifier(name)
                        )
                    )
            except psycopg.Error as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise DatabaseUnavailable(
                    f"cannot create the Dagster database {name!r}: {first} (create it, or set "
                    f"{DAGSTER_PG_URL_ENV})"
                ) from None


def export_storage_url(database_url: str) -> None:
    """Set DAGSTER_PG_URL for this process and its children, unless the operator set it; the
    `dagster` database is created on first use."""
    configured = os.environ.get(DAGSTER_PG_URL_ENV)
    if configured:
        checked_storage_url(configured)
    else:
        ensure_database(database_url, DAGSTER_DATABASE)
        os.environ[DAGSTER_PG_URL_ENV] = dagster_storage_url(database_url)


def write_instance_config(home: Path) -> Path:
    """`home/dagster.yaml` with the default configuration if it does not exist; an existing file
    (the operator's edits) is never touched. Created atomically: concurrent first runs agree."""
    path = home / INSTANCE_FILE
    try:
        home.mkdir(parents=True, exist_ok=True)
        if path.exists():
            return path
        partial = home / f".{INSTANCE_FILE}.{os.getpid()}"
        partial.write_text(TEMPLATE)
        try:
            os.link(partial, path)  # fails if another process created it first: theirs stays
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    except OSError as exc:
        raise SettingsError(
            f"DAGSTER_HOME {home} is not a usable directory ({exc.strerror or type(exc).__name__})"
        ) from None
    return path
