"""Which PostgreSQL to use (DATABASE_URL when set, the embedded one otherwise) and connections."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from options_pipeline.db import embedded
from options_pipeline.messages import first_line

DATABASE_URL_ENV = "DATABASE_URL"
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL cannot be reached; the message is one line and never contains a password."""


class DatabaseUrlInvalid(DatabaseUnavailable):
    """DATABASE_URL is not a PostgreSQL DSN; the message never contains the password."""


_URL_SCHEMES = ("postgresql://", "postgres://")


def check_database_url(url: str) -> str:
    """`url` if libpq accepts it as a PostgreSQL URI or key=value DSN, else DatabaseUrlInvalid."""
    text = url.strip()
    scheme = text.split("://", 1)[0] if "://" in text else None
    if scheme is not None and not text.lower().startswith(_URL_SCHEMES):
        hint = " (use postgresql://, not a SQLAlchemy URL)" if scheme.startswith("postgres") else ""
        raise DatabaseUrlInvalid(
            f"{DATABASE_URL_ENV} has scheme {scheme!r}, not postgresql://"
            f"{hint}; expected postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        )
    if scheme is None and "=" not in text:
        raise DatabaseUrlInvalid(
            f"{DATABASE_URL_ENV} is not a PostgreSQL URL; expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        )
    try:
        conninfo_to_dict(text)
    except psycopg.ProgrammingError as exc:
        raise DatabaseUrlInvalid(
            f"{DATABASE_URL_ENV} is not a valid PostgreSQL URL: {mask_password(first_line(exc))}"
        ) from None
    return text


def resolve_database_url(state_dir: Path, configured: str | None = None) -> str:
    """The DSN to use: `configured`, else $DATABASE_URL, else the embedded server (started)."""
    url = configured or os.environ.get(DATABASE_URL_ENV)
    if url:
        return check_database_url(url)
    try:
        return embedded.ensure_running(state_dir)
    except embedded.EmbeddedDatabaseError as exc:
        raise DatabaseUnavailable(str(exc)) from None


def mask_password(url: str) -> str:
    """The DSN with any password replaced by ***, for anything shown to a person."""
    masked = re.sub(r"(://[^:/@?]*:)[^@/?]*@", r"\1***@", url)
    return re.sub(r"(password\s*=\s*)[^&\s]+", r"\1***", masked)


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection (writes use explicit `conn.transaction()` blocks)."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {mask_password(url)}: {first_line(exc)}"
        ) from None


@contextmanager
def connection(url: str) -> Iterator[psycopg.Connection]:
    conn = connect(url)
    try:
        yield conn
    finally:
        conn.close()


def schema_sql() -> str:
    return resources.files("options_pipeline.db").joinpath("schema.sql").read_text()


def apply_schema(url: str) -> None:
    """Create the tables if missing; idempotent. Serialised so concurrent callers don't race."""
    with connection(url) as conn:
        try:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended('options_pipeline:schema', 0))"
                )
                conn.execute(schema_sql())
        except psycopg.errors.ReadOnlySqlTransaction:
            raise DatabaseUnavailable(
                f"the database at {mask_password(url)} is read-only (a hot standby, or "
                "default_transaction_read_only is on); point DATABASE_URL at the primary"
            ) from None
        except psycopg.Error as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DatabaseUnavailable(
                f"cannot apply the schema on {mask_password(url)}: {first_line}"
            ) from None
