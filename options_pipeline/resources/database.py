"""The PostgreSQL holding the chains, as a resource with `get_connection()`."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import PrivateAttr

from options_pipeline import settings
from options_pipeline.db.connection import (
    DATABASE_URL_ENV,
    apply_schema,
    connection,
    resolve_database_url,
)

_schema_lock = threading.Lock()
_schema_applied: set[str] = set()  # DSNs whose schema this process has applied


def ensure_schema(url: str) -> None:
    """Apply the schema to `url` once per process (idempotent DDL, but not free)."""
    with _schema_lock:
        if url not in _schema_applied:
            apply_schema(url)
            _schema_applied.add(url)


class PostgresResource(ConfigurableResource):
    """`database_url` (bind EnvVar("DATABASE_URL")), or the embedded server when unset."""

    database_url: str | None = None
    state_dir: str | None = None  # the embedded server's state directory (default: settings)

    _url: str | None = PrivateAttr(default=None)

    @classmethod
    def from_env(cls) -> PostgresResource:
        """DATABASE_URL as an EnvVar reference when set (its password never lands in run
        storage), otherwise the embedded server."""
        return cls(
            database_url=EnvVar(DATABASE_URL_ENV) if os.environ.get(DATABASE_URL_ENV) else None
        )

    def resolved_url(self) -> str:
        """The DSN in use (the embedded server is started if it is the one), schema applied."""
        if self._url is None:
            state = Path(self.state_dir) if self.state_dir else settings.state_dir()
            url = resolve_database_url(state, self.database_url)
            ensure_schema(url)
            self._url = url
        return self._url

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.resolved_url()

    @contextmanager
    def get_connection(self) -> Iterator[psycopg.Connection]:
        """An autocommit connection (writes use explicit `conn.transaction()` blocks)."""
        with connection(self.resolved_url()) as conn:
            yield conn
