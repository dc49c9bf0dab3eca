"""Transport: rate limiter, retries, timeouts, pagination safety, key scrubbing (real HTTP)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from datetime import date

import pytest

from options_pipeline.providers.base import (
    ProviderError,
    ProviderTimeout,
    RateLimited,
)
from options_pipeline.providers.transport import HttpTransport, RateLimiter
from options_pipeline_tests.polygon_server import (
    TEST_API_KEY,
    Fault,
    PolygonTestServer,
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_rate_limiter_spaces_calls_evenly() -> None:
    ft = FakeTime()
    lim = RateLimiter(5, headroom=0.0, clock=ft.clock, sleep=ft.sleep)
    assert lim.interval == pytest.approx(12.0)

    def call() -> float:
        waited = lim.acquire()
        lim.release()  # answered at once
        return waited

    waits = [call() for _ in range(4)]
    assert waits == pytest.approx([0.0, 12.0, 12.0, 12.0])
    ft.now += 100  # idle time is not banked: no burst afterwards
    assert call() == 0.0
    assert call() == pytest.approx(12.0)
    lim.defer(30)
    assert call() == pytest.approx(30.0)


def test_rate_limiter_keeps_the_window_from_the_answers_not_the_sends() -> None:
    """5 a minute counted over 60 s: a request whose answer came back 10 s late may have been
    stamped that late by the server, so the 6th waits for 60 s after that answer, not 60 s
    after it was sent (which even spacing alone would allow)."""
    ft = FakeTime()
    lim = RateLimiter(5, window=60.0, headroom=0.0, clock=ft.clock, sleep=ft.sleep)
    assert lim.capacity == 5
    sent: list[float] = []
    lim.acquire()
    sent.append(ft.now)
    ft.now += 10.0  # the first answer takes 10 s
    lim.release()
    for _ in range(4):
        lim.acquire()
        sent.append(ft.now)
        lim.release()
    assert sent == pytest.approx([100.0, 112.0, 124.0, 136.0, 148.0])  # spacing only so far
    lim.acquire()
    assert ft.now == pytest.approx(100.0 + 10.0 + 60.0)  # not 160: the window of the answer
    lim.release()


def test_rate_limiter_counts_requests_in_flight_against_the_window() -> None:
    """Capacity 2: with two requests out and unanswered a third waits for an answer, then for
    the window to pass it."""
    lim = RateLimiter(120, window=1.0, headroom=0.0)  # 2 per second, real clock
    lim.acquire()
    lim.acquire()
    started = threading.Event()
    done: list[float] = []

    def third() -> None:
        started.set()
        lim.acquire()
        done.append(time.monotonic())
        lim.release()

    t = threading.Thread(target=third)
    t.start()
    started.wait()
    time.sleep(0.3)
    assert not done  # both places are held by requests still out
    answered = time.monotonic()
    lim.release()
    lim.release()
    t.join(timeout=5)
    assert done and done[0] - answered >= 1.0 - 0.01


def test_rate_limiter_is_thread_safe() -> None:
    ft = FakeTime()
    lock = threading.Lock()
    # a window wide enough that only the spacing is exercised (the clock is frozen)
    lim = RateLimiter(60, window=1_000.0, headroom=0.0, clock=ft.clock, sleep=lambda s: None)
    slots: list[float] = []

    def worker() -> None:
        for _ in range(50):
            w = lim.acquire()
            with lock:
                slots.append(w)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # with a frozen clock every reservation is a distinct slot one interval apart
    assert sorted(slots) == pytest.approx([float(i) for i in range(400)])


def test_rate_limit_against_server_timestamps(srv: PolygonTestServer) -> None:
    """600/min counted per second, from 4 threads, against a server allowing exactly that (10
    in any 1 s, as it stamps arrivals): never refused, and the 12 requests span more than 1 s
    at the server (the 1st and 11th cannot share a second). Nothing here depends on how
    promptly the machine schedules either side: the window is kept from the answers."""
    srv.set_rate_limit(10, per_seconds=1.0)
    symbols = ("SPY", "QQQ", "IWM", "AAPL")
    for s in symbols:  # build the chains first: client and server share this process's GIL
        srv.chain(s, srv.today)
    provider = srv.provider(rate_limit_per_minute=600, rate_limit_window_seconds=1.0)
    errors: list[BaseException] = []

    def fetch(symbol: str) -> None:
        try:
            provider.fetch_chain(symbol, srv.today)  # 3 pages each
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(s,)) for s in symbols]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert srv.count(status=429) == 0
    times = sorted(r.t for r in srv.requests)
    assert len(times) == 12 == provider.requests_made
    assert times[10] - times[0] > 1.0


class _DelayingProxy:
    """A TCP relay in front of the server that holds the first request's bytes for `delay`
    seconds: the server stamps that request late, as a busy network or host would."""

    def __init__(self, upstream: str, delay: float) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self._delay = delay
        self._first = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            for src, dst, hold in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, hold), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, hold: bool) -> None:
        try:
            while data := src.recv(65536):
                if hold and self._first.acquire(blocking=False):
                    time.sleep(self._delay)  # only ever the very first request
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()


def test_a_request_the_server_stamps_late_does_not_crowd_its_window(
    srv: PolygonTestServer,
) -> None:
    """2 requests per second, sliding, as the server stamps them. The first request reaches the
    server 0.4 s late; spacing alone (one per 0.5 s from our clock) would then put the 1st, 2nd
    and 3rd arrivals (0.4, 0.5, 1.0) in one second: a 429. Keeping the window from the
    answers, the 3rd waits for a second after the 1st was answered."""
    srv.set_rate_limit(2, per_seconds=1.0)
    srv.chain("SPY", srv.today)
    proxy = _DelayingProxy(srv.base_url, delay=0.4)
    provider = srv.provider(
        base_url=proxy.base_url,
        rate_limit_per_minute=120,
        rate_limit_window_seconds=1.0,
        max_retries=0,  # a 429 would fail the fetch outright
        snapshot_page_limit=250,
    )
    try:
        provider.fetch_chain("SPY", srv.today)  # 600 contracts: 3 pages
    finally:
        provider.close()
        proxy.close()
    log = srv.requests
    assert [r.status for r in log] == [200, 200, 200]
    assert log[1].t - log[0].t < 0.5  # the first was indeed stamped late
    assert log[2].t - log[0].t > 1.0


def test_429_burst_then_success(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.rate_limited(3), symbol="SPY")
    snap = srv.provider().fetch_chain("SPY", srv.today)
    assert len(snap.quotes) == 600
    assert srv.count(status=429) == 3
    assert snap.requests == 3 + 3 == srv.count(symbol="SPY")


def test_retry_after_is_honoured(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.rate_limited(1, retry_after=0.4), symbol="SPY")
    srv.provider().fetch_chain("SPY", srv.today)
    log = srv.requests
    assert log[0].status == 429 and log[1].status == 200
    assert log[1].t - log[0].t >= 0.4 - 0.02


def test_429_after_retries_is_rate_limited(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.rate_limited(times=100))
    with pytest.raises(RateLimited, match="exceeded the maximum requests per minute") as exc:
        srv.provider(max_retries=2).fetch_chain("SPY", srv.today)
    assert exc.value.request_id and exc.value.request_id in str(exc.value)
    assert srv.count() == 3


def test_5xx_then_success(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.server_error(2, status=502), symbol="SPY")
    snap = srv.provider().fetch_chain("SPY", srv.today)
    assert len(snap.quotes) == 600 and snap.requests == 5


def test_5xx_after_retries_is_a_provider_error(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.server_error(times=100, status=503))
    with pytest.raises(ProviderError, match="server error 503") as exc:
        srv.provider(max_retries=1).fetch_chain("SPY", srv.today)
    assert type(exc.value) is ProviderError


def test_slower_than_read_timeout(srv: PolygonTestServer, caplog: pytest.LogCaptureFixture) -> None:
    srv.add_fault(Fault.slow(0.6))
    provider = srv.provider(read_timeout=0.15, max_retries=1)
    with caplog.at_level(logging.WARNING), pytest.raises(ProviderTimeout, match="read timeout"):
        provider.fetch_chain("SPY", srv.today)
    assert srv.count() == 2  # one try + one retry
    assert any(r.levelno == logging.WARNING and "timeout" in r.message for r in caplog.records)


def test_one_slow_page_is_retried(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.slow(0.5, times=1, page=2))
    snap = srv.provider(read_timeout=0.15).fetch_chain("SPY", srv.today)
    assert len(snap.quotes) == 600 and snap.requests == 4


def test_truncated_body_is_retried_then_fails(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.truncated(times=1), symbol="SPY")
    snap = srv.provider().fetch_chain("SPY", srv.today)
    assert len(snap.quotes) == 600 and snap.requests == 4
    srv.add_fault(Fault.truncated(times=None), symbol="QQQ")
    with pytest.raises(ProviderError, match="truncated response"):
        srv.provider(max_retries=1).fetch_chain("QQQ", srv.today)


def test_malformed_json(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.malformed_json(page=2))
    with pytest.raises(ProviderError, match="malformed JSON from /v3/snapshot/options/SPY"):
        srv.provider().fetch_chain("SPY", srv.today)


def test_repeating_cursor_stops(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.repeat_cursor())
    with pytest.raises(ProviderError, match="cursor repeated"):
        srv.provider().fetch_chain("SPY", srv.today)
    assert srv.count() == 2  # noticed at the first repeat, not after max_pages


def test_connection_refused_is_a_provider_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    http = HttpTransport(
        base_url=f"http://127.0.0.1:{port}",
        api_key=TEST_API_KEY,
        rate_limit_per_minute=60_000,
        max_retries=1,
        backoff_base=0.01,
    )
    with pytest.raises(ProviderError, match="cannot connect"):
        http.get_json("/v3/snapshot/options/SPY")


def test_next_url_is_opaque_but_keyless_and_same_host() -> None:
    http = HttpTransport(base_url="https://api.polygon.io", api_key="k", rate_limit_per_minute=5)
    same = "https://api.polygon.io/v3/snapshot/options/SPY?cursor=YWJj%3D%3D"
    assert http._resolve_next(same) == same
    assert (
        http._resolve_next("https://api.polygon.io/v3/x?cursor=abc&apiKey=SECRET")
        == "https://api.polygon.io/v3/x?cursor=abc"
    )
    assert (
        http._resolve_next("https://api.massive.com/v3/x?cursor=abc")
        == "https://api.polygon.io/v3/x?cursor=abc"
    )
    assert http._resolve_next("/v3/x?cursor=abc") == "https://api.polygon.io/v3/x?cursor=abc"
    assert http.scrub("GET /v3/x?apiKey=abc123&x=1 k") == "GET /v3/x?apiKey=***&x=1 ***"


def test_key_never_appears_in_logs_or_errors(
    srv: PolygonTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root: ours, urllib3's and requests' debug lines
    scenarios: list[tuple[Fault, str | None]] = [
        (Fault.rate_limited(times=10), None),
        (Fault.server_error(times=10), None),
        (Fault.slow(0.4), None),
        (Fault.unauthorized(), None),
        (Fault.plan_error(f"plan error mentioning {TEST_API_KEY}"), None),
        (Fault.truncated(), None),
        (Fault.malformed_json(), None),
        (Fault.repeat_cursor(), None),
        (Fault.wrong_shape(), None),
        (Fault.empty(), None),
        (Fault.plan_error(), "analytics"),
    ]
    messages: list[str] = []
    for fault, endpoint in scenarios:
        srv.reset()
        srv.add_fault(fault, endpoint=endpoint)
        provider = srv.provider(read_timeout=0.1, max_retries=1)
        day = srv.today if endpoint is None else date(2025, 3, 13)
        with pytest.raises(ProviderError) as exc:
            provider.fetch_chain("SPY", day)
        e: BaseException | None = exc.value
        while e is not None:  # the whole chain of causes
            messages += [str(e), repr(e)]
            e = e.__cause__ or e.__context__
        assert all(r.auth == "bearer" and not r.key_in_url for r in srv.requests)
    assert "***" in " ".join(messages)  # the scrubbed plan message
    text = caplog.text + "\n".join(messages)
    assert TEST_API_KEY not in text
    assert "read timeout" in caplog.text and "429" in caplog.text  # the logs did say things
