"""Run presence: a shared PostgreSQL advisory lock a live run holds while it may own the
options_chains pool slot.

PostgreSQL drops a session's locks when its process dies (SIGKILL, OOM, a lost machine), so
"nobody holds run R's lock" means no live process works for R, whoever launched it (the CLI, the
UI's run worker, `dagster asset materialize`) and on whatever host. Holders take the lock shared
(the CLI and the run's own step may both hold it); a probe tries it exclusively and lets go at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from options_pipeline.db.connection import connect

_KEY = "hashtextextended('options_pipeline:run:' || %s, 0)"


@contextmanager
def run_presence(url: str, run_id: str) -> Iterator[None]:
    """Hold run `run_id`'s presence lock on a connection of its own until the block ends."""
    conn = connect(url)
    try:
        conn.execute(f"SELECT pg_advisory_lock_shared({_KEY})", (run_id,))
        yield
    finally:
        conn.close()  # releases the lock


def run_is_present(conn: psycopg.Connection, run_id: str) -> bool:
    """True while some live session holds `run_id`'s presence lock (autocommit `conn`)."""
    row = conn.execute(f"SELECT pg_try_advisory_lock({_KEY})", (run_id,)).fetchone()
    assert row is not None  # a SELECT of one value always returns one row
    free = row[0]
    if free:
        conn.execute(f"SELECT pg_advisory_unlock({_KEY})", (run_id,))
    return not free
