"""Shared machinery of the local vendor stand-ins: real HTTP on 127.0.0.1, a request log, faults.

Each vendor's server (polygon_server.py, thetadata_server.py, orats_server.py,
alphavantage_server.py) subclasses `StandInServer` (Polygon's, whose log also keeps the page and
the kind of authentication, `StandInBase`) and implements `route()`: it decides what is being
asked and answers in that vendor's documented format. What they share lives here: the
HTTP server and its lifecycle, the secret query parameter kept out of the log, the request log,
scripted faults, a sliding rate-limit window, and JSON / plain-text answers. The data are the
sample market (`sample_chain`), so the provider's output can be compared field by field with an
oracle that never went through the provider.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from options_pipeline.models import ChainSnapshot
from options_pipeline.providers.base import ProviderError
from options_pipeline.providers.sample import sample_chain


@dataclass(frozen=True, slots=True)
class Recorded:
    t: float  # time.monotonic() when the request line arrived
    path: str
    query: dict[str, str]  # the secret parameter removed
    endpoint: str
    symbol: str | None
    day: date | None
    status: int
    key_in_url: bool  # the secret appeared in the URL (where these vendors expect it)
    in_flight: int  # requests being served when this one arrived (itself included)


@dataclass
class Fault:
    """A scripted misbehaviour; `times` = how many matching requests it hits (None = all)."""

    kind: str
    times: int | None = 1
    status: int = 500
    delay: float = 0.0
    body: bytes = b""
    content_type: str = "text/plain"
    symbol: str | None = None
    endpoint: str | None = None
    data: Any = None


RecordT = TypeVar("RecordT", bound=Recorded)


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False  # half the body, then the connection closes (a transfer cut short)

    @classmethod
    def json(cls, status: int, document: Any, *, delay: float = 0.0) -> Answer:
        return cls(status, json.dumps(document).encode(), delay=delay)

    @classmethod
    def text(cls, status: int, message: str) -> Answer:
        return cls(status, message.encode(), "text/plain")


@dataclass
class Asked:
    """What a request asks for, as the vendor server understood it."""

    endpoint: str
    symbol: str | None = None
    day: date | None = None
    in_flight: int = 0  # requests being served when this one arrived (itself included)
    arrival: float = 0.0  # time.monotonic() when the request line arrived


class SlidingWindow:
    """At most `limit` requests in any `seconds` (sliding); only admitted requests count."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._times: deque[float] = deque()

    def admit(self, now: float) -> bool:
        while self._times and self._times[0] <= now - self.seconds:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms ACK stalls
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        arrival = time.monotonic()
        with owner._lock:
            owner._in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner._in_flight)
            in_flight = owner._in_flight
        try:
            answer = owner._dispatch(self.path, dict(self.headers.items()), arrival, in_flight)
            if answer.delay:
                time.sleep(answer.delay)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for k, v in answer.headers.items():
                self.send_header(k, v)
            if answer.truncate:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(
                answer.body[: len(answer.body) // 2] if answer.truncate else answer.body
            )
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (read timeout)
            self.close_connection = True
        finally:
            with owner._lock:
                owner._in_flight -= 1

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: StandInBase[Any]


class StandInBase(Generic[RecordT]):
    """Lifecycle, request log, faults, a rate-limit window and the sample market; subclasses
    implement `route` and `record` (StandInServer: the log is plain `Recorded` entries)."""

    secret_param: str | None = None  # the query parameter carrying the vendor's key, if any

    def __init__(self, *, contracts_per_symbol: int = 300) -> None:
        self.contracts_per_symbol = contracts_per_symbol
        self._lock = threading.Lock()
        self._log: list[RecordT] = []
        self._faults: list[Fault] = []
        self._chains: dict[tuple[str, date], ChainSnapshot | None] = {}
        self._window: SlidingWindow | None = None
        self._httpd: _Server | None = None
        self._in_flight = 0
        self.max_in_flight = 0
        self.secret: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Any:  # the subclass, for `with XTestServer() as srv`
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ scripting

    def add_fault(
        self, fault: Fault, *, symbol: str | None = None, endpoint: str | None = None
    ) -> Fault:
        f = replace(fault, symbol=symbol, endpoint=endpoint)
        with self._lock:
            self._faults.append(f)
        return f

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_rate_limit(self, max_requests: int | None, per_seconds: float = 1.0) -> None:
        """Refuse requests beyond `max_requests` within any `per_seconds` (None: off); each
        vendor answers a refusal in its own words."""
        with self._lock:
            self._window = (
                None if max_requests is None else SlidingWindow(max_requests, per_seconds)
            )

    def rate_limited(self, asked: Asked) -> bool:
        """True when `asked` is over the window; an admitted request counts against it."""
        with self._lock:
            return self._window is not None and not self._window.admit(asked.arrival)

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self._faults.clear()
            self.max_in_flight = 0

    def fault_applies(self, fault: Fault, asked: Asked) -> bool:
        """Whether `fault` is meant for `asked` (endpoint and symbol, when the fault names them)."""
        return (fault.endpoint is None or fault.endpoint == asked.endpoint) and (
            fault.symbol is None or fault.symbol == asked.symbol
        )

    def take_fault(self, asked: Asked) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.times is not None and f.times <= 0:
                    continue
                if not self.fault_applies(f, asked):
                    continue
                if f.times is not None:
                    f.times -= 1
                return f
        return None

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[RecordT]:
        with self._lock:
            return list(self._log)

    def requests_for(self, **filters: Any) -> list[RecordT]:
        return [
            r
            for r in self.requests
            if all(getattr(r, k) == v for k, v in filters.items() if v is not None)
        ]

    def count(self, **filters: Any) -> int:
        return len(self.requests_for(**filters))

    def chain(self, symbol: str, day: date) -> ChainSnapshot | None:
        """The sample chain served for (symbol, day); None on closed days."""
        key = (symbol, day)
        with self._lock:
            if key in self._chains:
                return self._chains[key]
        try:
            chain: ChainSnapshot | None = sample_chain(symbol, day, self.contracts_per_symbol)
        except ProviderError:
            chain = None
        with self._lock:
            self._chains[key] = chain
        return chain

    # ------------------------------------------------------------------ request handling

    def route(
        self, path: str, query: dict[str, str], raw: dict[str, str], headers: dict[str, str]
    ) -> tuple[Asked, Callable[[], Answer]]:
        """(what is asked, how to answer); `raw` still holds the secret parameter."""
        raise NotImplementedError

    def record(self, asked: Asked, common: dict[str, Any]) -> RecordT:
        """The log entry of an answered request; `common` holds the fields of `Recorded`."""
        raise NotImplementedError

    def client_settings(self, **settings: Any) -> dict[str, Any]:
        """A provider's keyword arguments for this server: short timeouts, quick retries."""
        return {
            "base_url": self.base_url,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "max_retries": 3,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
            **settings,
        }

    def _dispatch(
        self, raw_path: str, headers: dict[str, str], arrival: float, in_flight: int
    ) -> Answer:
        parts = urlsplit(raw_path)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        secret_param = (self.secret_param or "").lower()
        query = {k: v for k, v in pairs if k.lower() != secret_param}
        path = unquote(parts.path)
        asked, respond = self.route(path, query, dict(pairs), headers)
        asked.in_flight, asked.arrival = in_flight, arrival
        answer = respond()
        common = {
            "t": arrival,
            "path": path,
            "query": query,
            "endpoint": asked.endpoint,
            "symbol": asked.symbol,
            "day": asked.day,
            "status": answer.status,
            "key_in_url": bool(self.secret) and self.secret in raw_path,
            "in_flight": in_flight,
        }
        entry = self.record(asked, common)
        with self._lock:
            self._log.append(entry)
        return answer


class StandInServer(StandInBase[Recorded]):
    """A stand-in whose log is plain `Recorded` entries."""

    def record(self, asked: Asked, common: dict[str, Any]) -> Recorded:
        return Recorded(**common)
