"""ingest_day fetches ahead of its writes and, when the provider allows, several symbols at once,
and writes two symbols at once, each atomically;
the result is the same as fetching one by one; one rate limiter per provider key per process."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from options_pipeline.db import store
from options_pipeline.db.connection import connect, connection
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


# --- concurrent writes: each (session, symbol) its own transaction on its own connection -----


def _block_ledger_row(url: str, symbol: str):
    """An open transaction holding an uncommitted ledger row of (DAY, symbol): that symbol's
    write waits on it (ON CONFLICT must know whether it commits), the others do not."""
    conn = connect(url)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO option_chain_snapshots (time, ticker_id, as_of, provider, contract_count, "
        "rows_written) SELECT %s, id, %s, 'blocker', 0, 0 FROM tickers WHERE symbol = %s",
        (store.snapshot_time(DAY), DAY, symbol),
    )
    return conn


def _ledger(url: str) -> dict[str, str]:
    with connection(url) as conn:
        rows = conn.execute(
            "SELECT t.symbol, s.provider FROM option_chain_snapshots s JOIN tickers t "
            "ON t.id = s.ticker_id WHERE s.time = %s",
            (store.snapshot_time(DAY),),
        ).fetchall()
    return dict(rows)


def _wait_for(predicate, seconds: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_symbol_whose_write_waits_does_not_hold_up_the_next(database_url):
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "w", ["AAPL", "SPY"])
    blocker = _block_ledger_row(database_url, "AAPL")  # AAPL comes first and waits
    result: dict[str, object] = {}

    def run() -> None:
        with connection(database_url) as conn:
            result["report"] = ingest_day(
                conn, provider=SampleProvider(contracts_per_symbol=50), day=DAY
            )

    worker = threading.Thread(target=run)
    worker.start()
    try:
        # SPY's transaction commits while AAPL's is still waiting: two writes at once
        assert _wait_for(lambda: "SPY" in _ledger(database_url)), "SPY waited for AAPL"
        assert worker.is_alive()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    worker.join(30)
    report = result["report"]
    assert report.ingested == ("AAPL", "SPY") and report.rows_written == 100
    assert _ledger(database_url) == {"AAPL": "sample", "SPY": "sample"}


def test_one_writer_writes_in_order(database_url):
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "w", ["AAPL", "SPY"])
    blocker = _block_ledger_row(database_url, "AAPL")
    worker = threading.Thread(
        target=lambda: ingest_at_once(database_url, writers=1), name="one-writer"
    )
    worker.start()
    try:
        assert not _wait_for(lambda: "SPY" in _ledger(database_url), seconds=1.5)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    worker.join(30)
    assert set(_ledger(database_url)) == {"AAPL", "SPY"}


def ingest_at_once(url: str, **kwargs) -> None:
    with connection(url) as conn:
        ingest_day(conn, provider=SampleProvider(contracts_per_symbol=50), day=DAY, **kwargs)


class _StopAt(SampleProvider):
    """Interrupted (as by Ctrl-C) when asked for `symbol`."""

    def __init__(self, symbol: str) -> None:
        super().__init__(contracts_per_symbol=50)
        self.symbol = symbol

    def fetch_chain(self, symbol, as_of):
        if symbol == self.symbol:
            raise KeyboardInterrupt
        return super().fetch_chain(symbol, as_of)


def test_an_interrupt_rolls_back_the_write_in_flight_and_keeps_the_finished_ones(database_url):
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "w", ["AAPL", "IWM", "QQQ", "SPY"])
    blocker = _block_ledger_row(database_url, "AAPL")  # AAPL's write is in flight, waiting
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            with connection(database_url) as conn:
                ingest_day(conn, provider=_StopAt("QQQ"), day=DAY)
        except KeyboardInterrupt:
            outcome["interrupted"] = True

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(20)  # ends without the blocker going away: the waiting write was cancelled
    try:
        assert not worker.is_alive() and outcome == {"interrupted": True}
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with connection(database_url) as conn:
        stored = dict(
            conn.execute(
                "SELECT t.symbol, count(*) FROM options_chains c JOIN tickers t "
                "ON t.id = c.ticker_id GROUP BY 1"
            ).fetchall()
        )
    # IWM (written while AAPL waited) is complete; AAPL has nothing, not half a chain
    assert _ledger(database_url) == {"IWM": "sample"} and stored == {"IWM": 50}
