"""ingest_day fetches ahead of its writes and, when the provider allows, several symbols at once;
the result is the same as fetching one by one; one rate limiter per provider key per process."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.ingest import ingest_day
from options_pipeline.providers.base import NoContracts
from options_pipeline.providers.sample import SampleProvider
from options_pipeline.providers.transport import HttpTransport

DAY = date(2025, 12, 15)
SYMBOLS = ["AAPL", "IWM", "MSFT", "NVDA", "QQQ", "SPY"]


class RecordingProvider(SampleProvider):
    """The sample market, recording how many fetches run at once; the 2nd and 3rd fetch must
    meet at a barrier, which only happens if they run concurrently (else it times out)."""

    def __init__(self, max_concurrency: int, barrier: bool) -> None:
        super().__init__(contracts_per_symbol=200)
        self.max_concurrency = max_concurrency
        self._lock = threading.Lock()
        self.active = self.peak = self.calls = 0
        self.order: list[str] = []
        self._barrier = threading.Barrier(2, timeout=10) if barrier else None

    def fetch_chain(self, symbol, as_of):
        with self._lock:
            self.calls += 1
            call = self.calls
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.order.append(symbol)
        try:
            if self._barrier is not None and call in (2, 3):
                self._barrier.wait()
            if symbol == "MSFT":
                raise NoContracts("no contracts for MSFT (test)")
            return super().fetch_chain(symbol, as_of)
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def two_databases(server_url, template_url, database_url):
    """This test's database and a second fresh one (same template) for the oracle run."""
    import uuid

    import psycopg
    from psycopg import sql

    from options_pipeline.db.connection import with_database

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier("options_pipeline_template")
            )
        )
    other = with_database(server_url, name)
    for url in (database_url, other):
        with connection(url) as conn:
            store.add_to_watchlist(conn, "w", SYMBOLS)
    yield database_url, other
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _stored(url: str) -> list[tuple]:
    with connection(url) as conn:
        return conn.execute(
            "SELECT t.symbol, c.expiration_date, c.strike_price, c.option_type, c.bid, c.ask, "
            "c.volume, c.open_interest, c.delta FROM options_chains c JOIN tickers t "
            "ON t.id = c.ticker_id ORDER BY 1, 2, 3, 4"
        ).fetchall()


def test_concurrent_fetches_store_what_one_by_one_stores(two_databases):
    concurrent_url, sequential_url = two_databases
    fast = RecordingProvider(max_concurrency=3, barrier=True)
    with connection(concurrent_url) as conn:
        report = ingest_day(conn, provider=fast, day=DAY)
    assert fast.peak >= 2  # fetches overlapped (the barrier would have timed out otherwise)
    assert fast.peak <= 3
    one = RecordingProvider(max_concurrency=1, barrier=False)
    with connection(sequential_url) as conn:
        expected = ingest_day(conn, provider=one, day=DAY)
    assert one.peak == 1 and one.order == SYMBOLS
    assert sorted(fast.order) == SYMBOLS and fast.order[0] == SYMBOLS[0]
    assert report.ingested == expected.ingested == tuple(s for s in SYMBOLS if s != "MSFT")
    assert [f.symbol for f in report.failed] == ["MSFT"]
    assert report.rows_written == expected.rows_written == 5 * 200
    assert _stored(concurrent_url) == _stored(sequential_url)


def test_a_failing_first_symbol_is_not_followed_by_a_burst(database_url):
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "w", ["MSFT", "NVDA", "QQQ", "SPY"])
        provider = RecordingProvider(max_concurrency=4, barrier=False)
        report = ingest_day(conn, provider=provider, day=DAY)
    assert [f.symbol for f in report.failed] == ["MSFT"]
    assert provider.order[:2] == ["MSFT", "NVDA"]  # the 2nd started only after the 1st failed
    assert len(report.ingested) == 3


def test_one_rate_limiter_per_provider_key_in_the_process():
    def transport(key: str, url: str = "http://127.0.0.1:9/v1") -> HttpTransport:
        return HttpTransport(base_url=url, api_key=key, rate_limit_per_minute=5)

    a, b = transport("key-one"), transport("key-one")
    assert a.limiter is b.limiter  # a new run (a new client) does not get a fresh budget
    assert transport("key-two").limiter is not a.limiter
    assert transport("key-one", "http://127.0.0.1:8/v1").limiter is not a.limiter
    a.limiter.acquire()
    slept: list[float] = []
    sleep, b.limiter._sleep = b.limiter._sleep, slept.append  # observe the wait, do not wait
    try:
        b.limiter.acquire()
    finally:
        b.limiter._sleep = sleep
    assert slept and slept[0] == pytest.approx(12.0 * 1.02, abs=0.5)
    for t in (a, b):
        t.close()
