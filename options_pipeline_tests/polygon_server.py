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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from options_pipeline.calendar import sessions_in_range
from options_pipeline.models import ChainSnapshot, OptionQuote
from options_pipeline.providers.normalize import market_closed_reason, occ_symbol, parse_occ
from options_pipeline.providers.polygon import PolygonProvider

if TYPE_CHECKING:
    from options_pipeline.resources import PolygonProviderResource
from options_pipeline.providers.sample import RISK_FREE, profile
from options_pipeline.symbols import INDEX_SYMBOLS as _INDEX_SYMBOLS
from options_pipeline_tests import stand_in
from options_pipeline_tests.stand_in import Answer, Asked, Recorded, StandInBase

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
class RecordedRequest(Recorded):
    """`query` without apiKey; `endpoint`: "snapshot" | "analytics" | "open_interest" | "other";
    `day`: the session asked for (snapshot: the server's today)."""

    page: int  # 1-based
    auth: str  # "bearer" | "query" | "none"
    authorized: bool


@dataclass
class _Asked(Asked):
    """A request as understood here: its page (a cursor carries everything after the first)."""

    page: int = 1
    auth: str = "none"
    authorized: bool = False
    cursor: dict[str, Any] | None = None  # None: a cursor that does not decode


def session_served(r: RecordedRequest) -> date | None:
    """The session a history request serves: analytics' `date`; for open interest the session
    after its `date` (the figure known at that session's open)."""
    if r.endpoint != "open_interest" or r.day is None:
        return r.day
    return sessions_in_range(r.day + timedelta(days=1), r.day + timedelta(days=10))[0]


@dataclass
class Fault(stand_in.Fault):
    status: int = 503
    page: int | None = None  # only that page of a listing (1-based); None: every page
    retry_after: str | None = None
    message: str = ""
    rows: list[Any] = field(default_factory=list)
    n: int = 0
    old: str = ""
    new: str = ""

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


class PolygonTestServer(StandInBase[RecordedRequest]):
    """See the module docstring. Thread-safe; start()/stop() or use as a context manager."""

    secret_param = "apiKey"

    def __init__(
        self,
        *,
        api_key: str = TEST_API_KEY,
        today: date = DEFAULT_TODAY,
        contracts_per_symbol: int = 600,
        history_limit_cap: int = HISTORY_LIMIT_CAP,
    ) -> None:
        super().__init__(contracts_per_symbol=contracts_per_symbol)
        self.secret = self.api_key = api_key
        self.today = today
        self.history_limit_cap = history_limit_cap

    # ------------------------------------------------------------------ scripting

    def reset(self) -> None:
        """Clear the log, the faults and the rate limit (429 beyond it: `set_rate_limit`)."""
        super().reset()
        self.set_rate_limit(None)

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
        kwargs = self.client_settings(
            api_key=self.api_key, rate_limit_per_minute=60_000.0, clock=lambda: self.today
        )
        return PolygonProvider(**(kwargs | overrides))

    def listed(self, underlying: str, day: date) -> list[OptionQuote]:
        """The contracts of `underlying` on `day` by OCC root (see split_roots); [] if closed."""
        chain = self.chain(underlying, day)
        return split_roots(chain) if chain is not None else []

    # ------------------------------------------------------------------ request handling

    def _body(self, status: str, request_id: str, **extra: Any) -> bytes:
        return json.dumps({"status": status, "request_id": request_id, **extra}).encode()

    def fault_applies(self, fault: stand_in.Fault, asked: Asked) -> bool:
        """Also by page, when the fault names one."""
        assert isinstance(fault, Fault) and isinstance(asked, _Asked)
        return super().fault_applies(fault, asked) and (
            fault.page is None or fault.page == asked.page
        )

    def route(
        self, path: str, query: dict[str, str], raw: dict[str, str], headers: dict[str, str]
    ) -> tuple[Asked, Callable[[], Answer]]:
        url_key = next((v for k, v in raw.items() if k.lower() == "apikey"), None)
        auth_header = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        given = auth_header.removeprefix("Bearer ").strip() if auth_header else url_key

        # what is being asked (a cursor carries everything for pages after the first)
        cur = _uncursor(query["cursor"]) if "cursor" in query else {}
        asked = _Asked(
            "other",
            auth="bearer" if auth_header else "query" if url_key else "none",
            authorized=given == self.api_key,
            cursor=cur,
        )
        if path.startswith(SNAPSHOT_PREFIX) and len(path) > len(SNAPSHOT_PREFIX):
            asked.endpoint, asked.symbol, asked.day = (
                "snapshot",
                path[len(SNAPSHOT_PREFIX) :],
                self.today,
            )
        elif path in (ANALYTICS, OPEN_INTEREST):
            asked.endpoint = "analytics" if path == ANALYTICS else "open_interest"
            asked.symbol = (
                (cur or {}).get("s") or query.get("underlying_ticker") or query.get("root")
            )
            raw_day = (cur or {}).get("d") or query.get("date")
            try:
                asked.day = date.fromisoformat(raw_day) if raw_day else None
            except ValueError:
                asked.day = None
        asked.page = int((cur or {}).get("p", 1))
        rid = uuid.uuid4().hex
        return asked, lambda: self._answer(asked, path, query, rid)

    def record(self, asked: Asked, common: dict[str, Any]) -> RecordedRequest:
        assert isinstance(asked, _Asked)
        return RecordedRequest(
            **common, page=asked.page, auth=asked.auth, authorized=asked.authorized
        )

    def _answer(self, asked: _Asked, path: str, query: dict[str, str], rid: str) -> Answer:
        endpoint, symbol, day, page, cur = (
            asked.endpoint,
            asked.symbol,
            asked.day,
            asked.page,
            asked.cursor,
        )
        if not asked.authorized:
            return Answer(401, self._body("ERROR", rid, error="API Key was not provided"))
        if self.rate_limited(asked):
            return Answer(
                429,
                self._body(
                    "ERROR",
                    rid,
                    error="You've exceeded the maximum requests per minute, please wait or upgrade "
                    "your subscription to continue. https://polygon.io/pricing",
                ),
            )
        if endpoint == "other":
            return Answer(404, self._body("NOT_FOUND", rid, message="Not Found"))
        if cur is None:
            return Answer(400, self._body("ERROR", rid, error="invalid cursor"))
        if endpoint != "snapshot" and day is None:
            return Answer(400, self._body("ERROR", rid, error="date must be YYYY-MM-DD"))

        fault = self.take_fault(asked)
        assert fault is None or isinstance(fault, Fault)
        kind = fault.kind if fault else ""
        delay = fault.delay if kind == "slow" else 0.0
        if kind == "429":
            headers = {"Retry-After": fault.retry_after} if fault and fault.retry_after else {}
            return Answer(
                429,
                self._body("ERROR", rid, error="You've exceeded the maximum requests per minute."),
                headers=headers,
            )
        if kind == "5xx" and fault:
            return Answer(fault.status, self._body("ERROR", rid, error="Internal server error"))
        if kind == "401":
            return Answer(401, self._body("ERROR", rid, error="Unknown API Key"))
        if kind == "403" and fault:
            return Answer(403, self._body("NOT_AUTHORIZED", rid, message=fault.message))
        if kind == "malformed_json":
            return Answer(200, b'{"status": "OK", "results": [{"details": {"strike_price": 1')
        if kind == "wrong_shape":
            return Answer(200, self._body("OK", rid, results={"unexpected": True}))

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
            return Answer(400, self._body("ERROR", rid, error="limit must be an integer"))
        if endpoint != "snapshot" and limit > max_limit:
            return Answer(
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
        return Answer(200, data, delay=delay, truncate=kind == "truncated")


@pytest.fixture
def polygon_server() -> Iterator[PolygonTestServer]:
    """A started PolygonTestServer (today=2025-03-14, 600 contracts a symbol, TEST_API_KEY)."""
    with PolygonTestServer() as server:
        yield server
