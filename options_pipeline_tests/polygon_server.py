"""A local Polygon/Massive API for tests: real HTTP on 127.0.0.1, Polygon's JSON, sample data.

No mocks: the provider under test talks HTTP to this server exactly as it would to api.polygon.io.

API
---
    from options_pipeline_tests.polygon_server import Fault, PolygonTestServer, TEST_API_KEY

    with PolygonTestServer(today=date(2025, 3, 14), contracts_per_symbol=600) as srv:
        provider = srv.provider()                  # PolygonProvider wired to srv, fast settings
        resource = srv.resource()                  # PolygonProviderResource wired to srv
        srv.add_fault(Fault.rate_limited(3), symbol="SPY")        # 429 x3, then normal answers
        srv.add_fault(Fault.plan_error(), endpoint="analytics")   # any symbol, one endpoint
        srv.set_rate_limit(5, per_seconds=1.0)     # 429 when >5 requests in any 1 s (sliding)
        snap = provider.fetch_chain("SPY", srv.today)
        srv.requests                               # list[RecordedRequest], in arrival order
        srv.count(endpoint="snapshot", symbol="SPY", day=srv.today, status=200)
        srv.reset()                                # clear log, faults and the rate limit

    pytest fixture `polygon_server` (a started server with the defaults above). Register it once,
    in the root conftest.py:  pytest_plugins = ["options_pipeline_tests.polygon_server"]
    (or define a two-line fixture around PolygonTestServer, as the provider tests do).

Endpoints (auth: `Authorization: Bearer <key>` or `apiKey=` query; else 401 Polygon JSON):
- GET /v3/snapshot/options/{symbol}?limit=N (default 10, max 250) - the sample market on
  `srv.today` (the snapshot has no date parameter, as on Polygon), paginated by `next_url` with an
  opaque `cursor` that carries everything (the other parameters are not repeated).
  Index underlyings are asked as `I:SPX` (a plain `SPX` or `I:SPY` finds nothing).
- GET /options/v1/analytics?underlying_ticker=S&date=D[&limit=N] - greeks/IV rows of every root
  of S on D (D < today; today or closed days -> empty results). S is plain: `I:SPX` finds nothing.
- GET /options/v1/open-interest?root=R&date=D[&limit=N] - open-interest rows of the OCC root R
  only (SPX and SPXW are separate), `date` = the session the figure is for (D < today: it is
  published the next morning); the figure is the sample market's OI of session D.
  Both: default limit 100; above `history_limit_cap` (default 999) -> 400 about `limit`.
- Every listing pages with an opaque `next_url`.
Roots: SPX, NDX and RUT have a second root (SPXW, NDXP, RUTW) holding every expiry; their
monthly (third-Friday) expiries are listed under both roots, with the OI split between them and
slightly different IV and quotes, so (expiration, strike, type) collides as on the real chain.
The /options/v1 JSON field names are the provider's assumed ones (polygon.HISTORY_FIELDS first
candidates): these tests prove the plumbing, not Massive's real field names.

Faults (`add_fault(fault, symbol=None, endpoint=None)`; endpoint in "snapshot", "analytics",
"open_interest"; `times` = how many matching requests it hits, None = all; `page` = only that page):
    Fault.rate_limited(n, retry_after=None)   Fault.server_error(n, status=503)
    Fault.slow(seconds, times=None)           Fault.repeat_cursor()
    Fault.malformed_json()                    Fault.truncated()
    Fault.extra_rows(rows, page=1)            Fault.repeat_rows(n, page=1)
    Fault.empty()                             Fault.unauthorized()
    Fault.plan_error(message)                 Fault.wrong_shape()
    Fault.rename_field(old, new)              (rows: top-level key renamed, e.g. history mapping)
Rows in `extra_rows` are sent as given (NaN allowed), so partial/malformed rows can be scripted.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest

from options_pipeline.calendar import sessions_in_range
from options_pipeline.models import ChainSnapshot, OptionQuote
from options_pipeline.providers.base import ProviderError
from options_pipeline.providers.normalize import market_closed_reason, occ_symbol, parse_occ
from options_pipeline.providers.polygon import PolygonProvider

if TYPE_CHECKING:
    from options_pipeline.resources import PolygonProviderResource
from options_pipeline.providers.sample import RISK_FREE, profile, sample_chain
from options_pipeline.symbols import INDEX_SYMBOLS as _INDEX_SYMBOLS

TEST_API_KEY = "pk-TEST-0123-never-log-this-key-9f8e7d"
DEFAULT_TODAY = date(2025, 3, 14)  # a Friday, NYSE open
PLAN_MESSAGE = (
    "Your plan doesn't include this data timeframe. Please upgrade your plan at "
    "https://polygon.io/pricing"
)
SNAPSHOT_PREFIX = "/v3/snapshot/options/"
ANALYTICS = "/options/v1/analytics"
OPEN_INTEREST = "/options/v1/open-interest"
HISTORY_LIMIT_CAP = 999  # the documented cap of the /options/v1 family
SECOND_ROOTS = {"SPX": "SPXW", "NDX": "NDXP", "RUT": "RUTW"}  # underlying -> PM/weekly root
_UNDERLYING_OF_ROOT = {v: k for k, v in SECOND_ROOTS.items()}
_NY = ZoneInfo("America/New_York")


def underlying_of_root(root: str) -> str:
    return _UNDERLYING_OF_ROOT.get(root, root)


def is_monthly(expiration: date) -> bool:
    """Third-Friday expiry (or the Thursday before when that Friday is a holiday)."""
    friday = expiration + timedelta(days=1) if expiration.weekday() == 3 else expiration
    if friday != expiration and market_closed_reason(friday) is None:
        return False  # an ordinary Thursday
    return friday.weekday() == 4 and 15 <= friday.day <= 21


def split_roots(chain: ChainSnapshot) -> list[OptionQuote]:
    """The chain as listed by OCC root: one root, or (for SECOND_ROOTS) weeklies under the
    second root and monthlies under both, with OI, volume, IV and quotes split/shifted."""
    second = SECOND_ROOTS.get(chain.symbol)
    if second is None:
        return list(chain.quotes)
    out: list[OptionQuote] = []
    for q in chain.quotes:
        pm = replace(
            q, contract_symbol=occ_symbol(second, q.expiration_date, q.option_type, q.strike)
        )
        if not is_monthly(q.expiration_date):
            out.append(pm)
            continue
        oi, vol = q.open_interest or 0, q.volume or 0
        out.append(replace(q, open_interest=oi - oi // 3, volume=vol - vol // 3))  # AM: SPX
        out.append(
            replace(
                pm,
                open_interest=oi // 3,
                volume=vol // 3,
                implied_volatility=round((q.implied_volatility or 0.2) * 1.006, 6),
                bid=None if q.bid is None else round(q.bid + 0.05, 2),
                ask=None if q.ask is None else round(q.ask + 0.05, 2),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    t: float  # time.monotonic() when the request line arrived
    path: str
    query: dict[str, str]  # apiKey removed
    endpoint: str  # "snapshot" | "analytics" | "open_interest" | "other"
    symbol: str | None
    day: date | None  # the session asked for (snapshot: the server's today)
    page: int  # 1-based
    auth: str  # "bearer" | "query" | "none"
    authorized: bool
    key_in_url: bool  # the API key appeared in the request URL
    status: int


def session_served(r: RecordedRequest) -> date | None:
    """The session a history request serves: analytics' `date`; for open interest the session
    after its `date` (the figure known at that session's open)."""
    if r.endpoint != "open_interest" or r.day is None:
        return r.day
    return sessions_in_range(r.day + timedelta(days=1), r.day + timedelta(days=10))[0]


@dataclass
class Fault:
    kind: str
    times: int | None = 1
    page: int | None = None
    status: int = 503
    delay: float = 0.0
    retry_after: str | None = None
    message: str = ""
    rows: list[Any] = field(default_factory=list)
    n: int = 0
    old: str = ""
    new: str = ""
    symbol: str | None = None
    endpoint: str | None = None

    @classmethod
    def rate_limited(cls, times: int = 1, retry_after: float | None = None) -> Fault:
        ra = None if retry_after is None else f"{retry_after:g}"
        return cls("429", times=times, retry_after=ra)

    @classmethod
    def server_error(cls, times: int = 1, status: int = 503) -> Fault:
        return cls("5xx", times=times, status=status)

    @classmethod
    def slow(cls, seconds: float, times: int | None = None, page: int | None = None) -> Fault:
        return cls("slow", times=times, delay=seconds, page=page)

    @classmethod
    def repeat_cursor(cls) -> Fault:
        return cls("repeat_cursor", times=None)

    @classmethod
    def malformed_json(cls, times: int | None = None, page: int | None = None) -> Fault:
        return cls("malformed_json", times=times, page=page)

    @classmethod
    def truncated(cls, times: int | None = None, page: int | None = None) -> Fault:
        return cls("truncated", times=times, page=page)

    @classmethod
    def extra_rows(cls, rows: list[Any], page: int = 1) -> Fault:
        return cls("extra_rows", times=None, page=page, rows=list(rows))

    @classmethod
    def repeat_rows(cls, n: int, page: int = 1) -> Fault:
        return cls("repeat_rows", times=None, page=page, n=n)

    @classmethod
    def empty(cls) -> Fault:
        return cls("empty", times=None)

    @classmethod
    def unauthorized(cls) -> Fault:
        return cls("401", times=None)

    @classmethod
    def plan_error(cls, message: str = PLAN_MESSAGE) -> Fault:
        return cls("403", times=None, message=message)

    @classmethod
    def wrong_shape(cls) -> Fault:
        return cls("wrong_shape", times=None)

    @classmethod
    def rename_field(cls, old: str, new: str) -> Fault:
        return cls("rename_field", times=None, old=old, new=new)


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False


def _ns(day: date) -> int:
    return int(datetime.combine(day, dtime(16, 0), tzinfo=_NY).timestamp() * 1e9)


def _cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _uncursor(token: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def snapshot_row(q: OptionQuote, chain: ChainSnapshot) -> dict[str, Any]:
    """One chain-snapshot result in Polygon's documented shape."""
    stamp = _ns(chain.as_of)
    row: dict[str, Any] = {
        "break_even_price": round(q.strike + (q.ask or 0) * (1 if q.option_type == "C" else -1), 4),
        "day": {
            "close": q.last,
            "volume": q.volume,
            "open": q.last,
            "high": q.last,
            "low": q.last,
            "vwap": q.last,
            "last_updated": _ns(chain.as_of) - 16 * 3600 * 10**9,
        },
        "details": {
            "contract_type": "call" if q.option_type == "C" else "put",
            "exercise_style": "american",
            "expiration_date": q.expiration_date.isoformat(),
            "shares_per_contract": q.multiplier,
            "strike_price": q.strike,
            "ticker": f"O:{q.contract_symbol}",
        },
        "implied_volatility": q.implied_volatility,
        "last_quote": {
            "bid": q.bid,
            "ask": q.ask,
            "bid_size": 10,
            "ask_size": 12,
            "midpoint": round(((q.bid or 0) + (q.ask or 0)) / 2, 4),
            "last_updated": stamp,
            "timeframe": "REAL-TIME",
        },
        "open_interest": q.open_interest,
        "underlying_asset": {
            "price": chain.underlying_price,
            "ticker": chain.symbol,
            "last_updated": stamp,
            "timeframe": "REAL-TIME",
        },
    }
    if q.delta is not None and abs(q.delta) < 0.995:  # Polygon omits greeks for deep ITM
        row["greeks"] = {"delta": q.delta, "gamma": q.gamma, "theta": q.theta, "vega": q.vega}
    return row


def analytics_row(q: OptionQuote, chain: ChainSnapshot) -> dict[str, Any]:
    """One /options/v1/analytics row, in the provider's assumed (unverified) field names."""
    return {
        "ticker": f"O:{q.contract_symbol}",
        "underlying_ticker": chain.symbol,
        "date": chain.as_of.isoformat(),
        "contract_type": "call" if q.option_type == "C" else "put",
        "expiration_date": q.expiration_date.isoformat(),
        "strike_price": q.strike,
        "implied_volatility": q.implied_volatility,
        "delta": q.delta,
        "gamma": q.gamma,
        "theta": q.theta,
        "vega": q.vega,
        "rho": None,
        "underlying_price": chain.underlying_price,
        "dividend_yield": profile(chain.symbol).dividend_yield,
        "risk_free_rate": RISK_FREE,
    }


def open_interest_row(q: OptionQuote, chain: ChainSnapshot) -> dict[str, Any]:
    """One /options/v1/open-interest row, in the provider's assumed (unverified) field names."""
    return {
        "ticker": f"O:{q.contract_symbol}",
        "underlying_ticker": chain.symbol,
        "root": _root(q),
        "date": chain.as_of.isoformat(),
        "contract_type": "call" if q.option_type == "C" else "put",
        "expiration_date": q.expiration_date.isoformat(),
        "strike_price": q.strike,
        "open_interest": q.open_interest,
    }


def _root(q: OptionQuote) -> str:
    occ = parse_occ(q.contract_symbol)
    assert occ is not None
    return occ[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms ACK stalls
    server: _HTTPServer

    def do_GET(self) -> None:
        arrival = time.monotonic()
        answer = self.server.owner._dispatch(self.path, dict(self.headers.items()), arrival)
        try:
            if answer.delay:
                time.sleep(answer.delay)
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            for k, v in answer.headers.items():
                self.send_header(k, v)
            if answer.truncate:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            body = answer.body[: len(answer.body) // 2] if answer.truncate else answer.body
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (read timeout)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: PolygonTestServer


class PolygonTestServer:
    """See the module docstring. Thread-safe; start()/stop() or use as a context manager."""

    def __init__(
        self,
        *,
        api_key: str = TEST_API_KEY,
        today: date = DEFAULT_TODAY,
        contracts_per_symbol: int = 600,
        history_limit_cap: int = HISTORY_LIMIT_CAP,
    ) -> None:
        self.api_key = api_key
        self.today = today
        self.contracts_per_symbol = contracts_per_symbol
        self.history_limit_cap = history_limit_cap
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._chains: dict[tuple[str, date], ChainSnapshot | None] = {}
        self._rate: tuple[int, float] | None = None
        self._window: deque[float] = deque()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PolygonTestServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> PolygonTestServer:
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
        """Answer 429 when more than `max_requests` arrive within any `per_seconds` (None: off)."""
        with self._lock:
            self._rate = None if max_requests is None else (max_requests, per_seconds)
            self._window.clear()

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self._faults.clear()
            self._rate = None
            self._window.clear()

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def requests_for(
        self,
        *,
        endpoint: str | None = None,
        symbol: str | None = None,
        day: date | None = None,
        status: int | None = None,
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (endpoint is None or r.endpoint == endpoint)
            and (symbol is None or r.symbol == symbol)
            and (day is None or r.day == day)
            and (status is None or r.status == status)
        ]

    def count(self, **filters: Any) -> int:
        return len(self.requests_for(**filters))

    # ------------------------------------------------------------------ client helpers

    def resource(self, **overrides: Any) -> PolygonProviderResource:
        """A PolygonProviderResource on this server (the provider's real clock: ask past days)."""
        from options_pipeline.resources import PolygonProviderResource

        fields: dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "rate_limit_per_minute": 60_000.0,
            "read_timeout": 5.0,
            "max_retries": 3,
        }
        fields.update(overrides)
        return PolygonProviderResource(**fields)

    def provider(self, **overrides: Any) -> PolygonProvider:
        """A PolygonProvider on this server with test-fast settings (overridable)."""
        kwargs: dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "rate_limit_per_minute": 60_000.0,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "max_retries": 3,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
            "clock": lambda: self.today,
        }
        kwargs.update(overrides)
        return PolygonProvider(**kwargs)

    def chain(self, symbol: str, day: date) -> ChainSnapshot | None:
        """The sample chain this server serves for (symbol, day); None on closed days."""
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

    def listed(self, underlying: str, day: date) -> list[OptionQuote]:
        """The contracts of `underlying` on `day` by OCC root (see split_roots); [] if closed."""
        chain = self.chain(underlying, day)
        return split_roots(chain) if chain is not None else []

    # ------------------------------------------------------------------ request handling

    def _body(self, status: str, request_id: str, **extra: Any) -> bytes:
        return json.dumps({"status": status, "request_id": request_id, **extra}).encode()

    def _take_fault(self, endpoint: str, symbol: str | None, page: int) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.times is not None and f.times <= 0:
                    continue
                if f.endpoint is not None and f.endpoint != endpoint:
                    continue
                if f.symbol is not None and f.symbol != symbol:
                    continue
                if f.page is not None and f.page != page:
                    continue
                if f.times is not None:
                    f.times -= 1
                return f
        return None

    def _rate_limited(self, now: float) -> bool:
        with self._lock:
            if self._rate is None:
                return False
            limit, window = self._rate
            while self._window and self._window[0] <= now - window:
                self._window.popleft()
            if len(self._window) >= limit:
                return True
            self._window.append(now)
            return False

    def _dispatch(self, raw_path: str, headers: dict[str, str], arrival: float) -> _Answer:
        parts = urlsplit(raw_path)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = {k: v for k, v in pairs if k.lower() != "apikey"}
        url_key = next((v for k, v in pairs if k.lower() == "apikey"), None)
        auth_header = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        auth = "bearer" if auth_header else "query" if url_key else "none"
        given = auth_header.removeprefix("Bearer ").strip() if auth_header else url_key
        authorized = given == self.api_key
        path = unquote(parts.path)

        # what is being asked (a cursor carries everything for pages after the first)
        cur = _uncursor(query["cursor"]) if "cursor" in query else {}
        endpoint, symbol, day = "other", None, None
        if path.startswith(SNAPSHOT_PREFIX) and len(path) > len(SNAPSHOT_PREFIX):
            endpoint, symbol, day = "snapshot", path[len(SNAPSHOT_PREFIX) :], self.today
        elif path in (ANALYTICS, OPEN_INTEREST):
            endpoint = "analytics" if path == ANALYTICS else "open_interest"
            symbol = (cur or {}).get("s") or query.get("underlying_ticker") or query.get("root")
            raw_day = (cur or {}).get("d") or query.get("date")
            try:
                day = date.fromisoformat(raw_day) if raw_day else None
            except ValueError:
                day = None
        page = int((cur or {}).get("p", 1))
        rid = uuid.uuid4().hex

        answer = self._answer(
            endpoint, path, query, cur, symbol, day, page, rid, authorized, arrival
        )
        record = RecordedRequest(
            t=arrival,
            path=path,
            query=query,
            endpoint=endpoint,
            symbol=symbol,
            day=day,
            page=page,
            auth=auth,
            authorized=authorized,
            key_in_url=self.api_key in raw_path,
            status=answer.status,
        )
        with self._lock:
            self._log.append(record)
        return answer

    def _answer(
        self,
        endpoint: str,
        path: str,
        query: dict[str, str],
        cur: dict[str, Any] | None,
        symbol: str | None,
        day: date | None,
        page: int,
        rid: str,
        authorized: bool,
        arrival: float,
    ) -> _Answer:
        if not authorized:
            return _Answer(401, self._body("ERROR", rid, error="API Key was not provided"))
        if self._rate_limited(arrival):
            return _Answer(
                429,
                self._body(
                    "ERROR",
                    rid,
                    error="You've exceeded the maximum requests per minute, please wait or upgrade "
                    "your subscription to continue. https://polygon.io/pricing",
                ),
            )
        if endpoint == "other":
            return _Answer(404, self._body("NOT_FOUND", rid, message="Not Found"))
        if cur is None:
            return _Answer(400, self._body("ERROR", rid, error="invalid cursor"))
        if endpoint != "snapshot" and day is None:
            return _Answer(400, self._body("ERROR", rid, error="date must be YYYY-MM-DD"))

        fault = self._take_fault(endpoint, symbol, page)
        kind = fault.kind if fault else ""
        delay = fault.delay if kind == "slow" else 0.0
        if kind == "429":
            headers = {"Retry-After": fault.retry_after} if fault and fault.retry_after else {}
            return _Answer(
                429,
                self._body("ERROR", rid, error="You've exceeded the maximum requests per minute."),
                headers,
            )
        if kind == "5xx" and fault:
            return _Answer(fault.status, self._body("ERROR", rid, error="Internal server error"))
        if kind == "401":
            return _Answer(401, self._body("ERROR", rid, error="Unknown API Key"))
        if kind == "403" and fault:
            return _Answer(403, self._body("NOT_AUTHORIZED", rid, message=fault.message))
        if kind == "malformed_json":
            return _Answer(200, b'{"status": "OK", "results": [{"details": {"strike_price": 1')
        if kind == "wrong_shape":
            return _Answer(200, self._body("OK", rid, results={"unexpected": True}))

        # the data
        if endpoint == "snapshot":
            default_limit, max_limit, to_row = 10, 250, snapshot_row
        elif endpoint == "analytics":
            default_limit, max_limit, to_row = 100, self.history_limit_cap, analytics_row
        else:
            default_limit, max_limit, to_row = 100, self.history_limit_cap, open_interest_row
        try:
            limit = int(cur.get("l") or query.get("limit") or default_limit)
        except ValueError:
            return _Answer(400, self._body("ERROR", rid, error="limit must be an integer"))
        if endpoint != "snapshot" and limit > max_limit:
            return _Answer(
                400,
                self._body("ERROR", rid, error=f"limit must be less than or equal to {max_limit}"),
            )
        limit = max(1, min(limit, max_limit))  # the snapshot clamps
        offset = int(cur.get("o", 0))
        assert symbol is not None and day is not None
        published = endpoint == "snapshot" or day < self.today  # EOD data: only past sessions
        underlying: str | None = symbol
        if endpoint == "snapshot":  # indices only as I:SPX; nothing else has a prefix
            plain = symbol.removeprefix("I:")
            underlying = plain if (plain in _INDEX_SYMBOLS) == symbol.startswith("I:") else None
        elif endpoint == "analytics":
            underlying = None if ":" in symbol else symbol  # plain underlying_ticker only
        else:
            underlying = underlying_of_root(symbol)
        chain = (
            self.chain(underlying, day) if underlying and published and kind != "empty" else None
        )
        quotes: list[OptionQuote] = split_roots(chain) if chain is not None else []
        if endpoint == "open_interest":
            quotes = [q for q in quotes if _root(q) == symbol]  # one OCC root per request
        rows: list[Any] = [to_row(q, chain) for q in quotes[offset : offset + limit] if chain]

        if kind == "extra_rows" and fault:
            rows.extend(fault.rows)
        if kind == "repeat_rows" and fault:
            rows.extend(rows[: fault.n])
        if kind == "rename_field" and fault:
            rows = [{(fault.new if k == fault.old else k): v for k, v in r.items()} for r in rows]

        body: dict[str, Any] = {"status": "OK", "request_id": rid, "results": rows}
        next_offset = offset + limit
        if kind == "repeat_cursor":
            next_offset = offset  # the same cursor forever (polygon-io/issues#289)
        if next_offset < len(quotes) or (kind == "repeat_cursor" and quotes):
            token = _cursor(
                {
                    "o": next_offset,
                    "l": limit,
                    "s": symbol,
                    "d": day.isoformat(),
                    "p": page + 1 if kind != "repeat_cursor" else page,
                }
            )
            path_q = quote(path)
            body["next_url"] = f"{self.base_url}{path_q}?cursor={token}"
        data = json.dumps(body).encode()
        return _Answer(200, data, delay=delay, truncate=kind == "truncated")


@pytest.fixture
def polygon_server() -> Iterator[PolygonTestServer]:
    """A started PolygonTestServer (today=2025-03-14, 600 contracts a symbol, TEST_API_KEY)."""
    with PolygonTestServer() as server:
        yield server
