"""Shared pieces of the benchmarks: one embedded PostgreSQL, fresh databases, rows, timing helpers.

Every benchmark module exposes `run(pg: BenchPostgres) -> list[dict]` (the dealer-metrics and the
other engineer's rate-limiter modules take no argument) and can also be run on its own with
`python -m options_pipeline_tests.benchmarks.<module>`, which starts a private server.

A row is a dict with:
    section  "write path", "rate limiter", ...
    name     what is measured (workload in brackets)
    value    the measured number as shown (a ratio, ms, MB)
    target   the target as text, e.g. ">= 0.5"
    ok       True / False (None: informational, no target)
    detail   the raw timings behind the value
    why      the diagnosis shown under "Missed targets" when ok is False (from profiling done
             when the benchmark was written; the numbers in it are not re-measured)
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from options_pipeline.db import embedded, store
from options_pipeline.db.connection import apply_schema, connection, with_database
from options_pipeline.ingest import DayReport, ingest_day

TEMPLATE_DB = "bench_template"


@dataclass
class BenchPostgres:
    """The embedded server of this benchmark run, and a schema-applied template database."""

    state_dir: Path
    server_url: str
    _created: list[str] = field(default_factory=list)

    def version(self) -> str:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    def ensure_template(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE_DB,)
            ).fetchone()
            if exists:
                return
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
        apply_schema(with_database(self.server_url, TEMPLATE_DB))

    def fresh_database(self, *, watchlist: str | None = None, symbols: Sequence[str] = ()) -> str:
        """A new database cloned from the template (schema applied), optionally a watchlist."""
        self.ensure_template()
        name = f"b_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
                )
            )
        self._created.append(name)
        url = with_database(self.server_url, name)
        if watchlist and symbols:
            with psycopg.connect(url, autocommit=True) as conn:
                store.add_to_watchlist(conn, watchlist, list(symbols))
        return url

    def drop_all(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for name in self._created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._created.clear()


@contextmanager
def postgres() -> Iterator[BenchPostgres]:
    """A private embedded PostgreSQL (the project's own mechanism) in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="options_bench_") as tmp:
        state = Path(tmp)
        url = embedded.ensure_running(state)
        pg = BenchPostgres(state_dir=state, server_url=url)
        try:
            yield pg
        finally:
            try:
                pg.drop_all()
            finally:
                embedded.stop(state)


def run_standalone(run: Callable[[BenchPostgres], list[dict[str, Any]]]) -> None:
    """`python -m ...bench_x`: run one module against its own server and print its rows."""
    with postgres() as pg:
        rows = run(pg)
    for row in rows:
        print(row)


def ingest_at(url: str, **kwargs: Any) -> DayReport:
    """`ingest_day` on a new connection to `url` (the connect is part of what is measured)."""
    with connection(url) as conn:
        return ingest_day(conn, **kwargs)


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect, then keep the cyclic GC out of a timed block."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    with quiet_gc():
        t0 = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - t0
    return elapsed, out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float], scale: float = 1.0, unit: str = "") -> str:
    """ "min..max" of the repetitions, for the detail column."""
    return f"{min(values) * scale:.3g}..{max(values) * scale:.3g}{unit}"


def row(
    section: str,
    name: str,
    value: str,
    target: str,
    ok: bool | None,
    detail: str = "",
    why: str = "",
) -> dict[str, Any]:
    return {
        "section": section,
        "name": name,
        "value": value,
        "target": target,
        "ok": ok,
        "detail": detail,
        "why": why,
    }
