"""A local Theta Terminal v3 for tests: real HTTP on 127.0.0.1, ThetaData's formats, sample data.

Endpoints (as documented in ThetaData's v3 OpenAPI spec; no key, the terminal holds the login):
- GET /v3/option/history/greeks/eod?symbol=R&expiration=*&start_date=YYYYMMDD&end_date=YYYYMMDD
  [&format=csv|json] - the EOD report of every contract of root R on that day. `expiration=*` is
  served day by day only (start_date != end_date -> 473 INVALID_PARAMS).
- GET /v3/option/history/open_interest?symbol=R&expiration=*&date=YYYYMMDD[&format=csv|json].
CSV (the default) is the documented header line then one line per contract, CRLF; JSON is the
grouped form {"response":[{"contract":{...},"data":[{...}]}]}. v3 has no pagination. Errors are
plain text with ThetaData's status codes: 472 NO_DATA (closed day, future day, no listing), 471
PERMISSION (before `history_start`, the plan's depth), 473 INVALID_PARAMS, 429 OS_LIMIT (more than
`concurrency_limit` requests outstanding), 474 DISCONNECTED.

Index roots: for SPX the SPX root serves the third-Friday expirations of the sample chain, SPXW
the others (as the exchange lists them), so a provider must ask both.

Faults: Fault(kind) with kind in "no_data" (472), "permission" (471), "os_limit" (429),
"disconnected" (474), "slow" (delay=seconds), "wrong_date" (rows stamped the previous day),
"bad_header" (CSV without the `right` column).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from options_pipeline.models import ChainSnapshot, OptionQuote
from options_pipeline.providers.history import NEW_YORK
from options_pipeline.providers.thetadata import INDEX_ROOTS, ThetaDataProvider
from options_pipeline_tests.stand_in import Answer, Asked, StandInServer

GREEKS = "/v3/option/history/greeks/eod"
OPEN_INTEREST = "/v3/option/history/open_interest"
GREEKS_COLUMNS = (  # noqa: SIM905 - the documented CSV header line, verbatim
    "symbol,expiration,strike,right,timestamp,open,high,low,close,volume,count,bid_size,"
    "bid_exchange,bid,bid_condition,ask_size,ask_exchange,ask,ask_condition,delta,theta,vega,rho,"
    "epsilon,lambda,gamma,vanna,charm,vomma,veta,vera,speed,zomma,color,ultima,d1,d2,dual_delta,"
    "dual_gamma,implied_vol,iv_error,underlying_timestamp,underlying_price"
).split(",")
OI_COLUMNS = ["symbol", "expiration", "strike", "right", "timestamp", "open_interest"]
DEFAULT_TODAY = date(2025, 12, 19)
_ROOT_OF = {root: index for index, roots in INDEX_ROOTS.items() for root in roots}


def _third_friday(d: date) -> bool:
    return d.weekday() == 4 and 15 <= d.day <= 21


def _num(x: float | None) -> str:
    return "0.0000" if x is None else repr(round(float(x), 8))


def greeks_row(root: str, q: OptionQuote, chain: ChainSnapshot, day: date) -> dict[str, Any]:
    traded = bool(q.volume)
    row = {
        "symbol": root,
        "expiration": q.expiration_date.isoformat(),
        "strike": f"{q.strike:.3f}",
        "right": "CALL" if q.option_type == "C" else "PUT",
        "timestamp": f"{day.isoformat()}T{'15:59:59.828' if traded else '00:00:00.000'}",
        "open": q.last if traded else 0.0,
        "high": q.last if traded else 0.0,
        "low": q.last if traded else 0.0,
        "close": q.last if traded else 0.0,
        "volume": q.volume or 0,
        "count": (q.volume or 0) // 3 + (1 if traded else 0),
        "bid_size": 9,
        "bid_exchange": 11,
        "bid": q.bid,
        "bid_condition": 50,
        "ask_size": 12,
        "ask_exchange": 5,
        "ask": q.ask,
        "ask_condition": 50,
        "delta": q.delta,
        "theta": q.theta,
        "vega": (q.vega or 0.0) * 100.0,  # per 1.00 vol
        "rho": 0.1,
        "epsilon": -0.1,
        "lambda": 3.0,
        "gamma": q.gamma,
        "vanna": 0.0,
        "charm": 0.0,
        "vomma": 0.0,
        "veta": 0.0,
        "vera": 0.0,
        "speed": 0.0,
        "zomma": 0.0,
        "color": 0.0,
        "ultima": 0.0,
        "d1": 0.1,
        "d2": 0.05,
        "dual_delta": -0.5,
        "dual_gamma": 0.0,
        "implied_vol": q.implied_volatility,
        "iv_error": 0.0001,
        "underlying_timestamp": f"{day.isoformat()}T17:15:28.71",
        "underlying_price": chain.underlying_price,
    }
    # both formats carry the same decimals
    return {k: round(v, 8) if isinstance(v, float) else v for k, v in row.items()}


def oi_row(root: str, q: OptionQuote, day: date) -> dict[str, Any]:
    return {
        "symbol": root,
        "expiration": q.expiration_date.isoformat(),
        "strike": f"{q.strike:.3f}",
        "right": "CALL" if q.option_type == "C" else "PUT",
        "timestamp": f"{day.isoformat()}T06:30:04",
        "open_interest": q.open_interest,
    }


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    lines = [",".join(columns)]
    for r in rows:
        lines.append(
            ",".join(
                _num(r[c]) if isinstance(r[c], float) or r[c] is None else str(r[c])
                for c in columns
            )
        )
    return ("\r\n".join(lines) + "\r\n").encode()


def to_json(rows: list[dict[str, Any]]) -> bytes:
    groups = []
    for r in rows:
        contract = {k: r[k] for k in ("symbol", "strike", "right", "expiration")}
        contract["strike"] = float(contract["strike"])
        data = {k: v for k, v in r.items() if k not in contract}
        groups.append({"contract": contract, "data": [data]})
    return json.dumps({"response": groups}).encode()


class ThetaTestServer(StandInServer):
    """See the module docstring."""

    def __init__(
        self,
        *,
        today: date = DEFAULT_TODAY,
        contracts_per_symbol: int = 300,
        concurrency_limit: int | None = None,
        history_start: date = date(2016, 1, 1),
    ) -> None:
        super().__init__(contracts_per_symbol=contracts_per_symbol)
        self.today = today
        self.concurrency_limit = concurrency_limit
        self.history_start = history_start

    def now(self) -> datetime:
        """A clock for providers: `today` after the 17:15 ET report."""
        return datetime.combine(self.today, time(18, 0), tzinfo=NEW_YORK)

    def provider(self, **overrides: Any) -> ThetaDataProvider:
        kwargs = self.client_settings(concurrency=4, now=self.now)
        return ThetaDataProvider(**(kwargs | overrides))

    def quotes(self, root: str, day: date) -> tuple[ChainSnapshot | None, list[OptionQuote]]:
        underlying = _ROOT_OF.get(root, root)
        chain = self.chain(underlying, day)
        if chain is None:
            return None, []
        roots = INDEX_ROOTS.get(underlying)
        if roots is None or len(roots) == 1:
            return chain, list(chain.quotes)
        monthly = root == roots[0]
        return chain, [q for q in chain.quotes if _third_friday(q.expiration_date) == monthly]

    def route(
        self, path: str, query: dict[str, str], raw: dict[str, str], headers: dict[str, str]
    ) -> tuple[Asked, Callable[[], Answer]]:
        endpoint = {GREEKS: "greeks", OPEN_INTEREST: "open_interest"}.get(path, "other")
        raw_day = query.get("start_date") if endpoint == "greeks" else query.get("date")
        try:
            day = datetime.strptime(raw_day or "", "%Y%m%d").date()
        except ValueError:
            day = None
        asked = Asked(endpoint, query.get("symbol"), day)
        return asked, lambda: self._answer(asked, query)

    def _answer(self, asked: Asked, query: dict[str, str]) -> Answer:
        if asked.endpoint == "other":
            return Answer.text(404, "NO_IMPL: there is no implementation of this request")
        if self.concurrency_limit is not None and asked.in_flight > self.concurrency_limit:
            return Answer.text(429, "OS_LIMIT: too many outstanding requests")
        if asked.day is None or not asked.symbol or query.get("expiration") != "*":
            return Answer.text(473, "INVALID_PARAMS: symbol, expiration=* and a date are required")
        if asked.endpoint == "greeks" and query.get("end_date") != query.get("start_date"):
            return Answer.text(473, "INVALID_PARAMS: expiration=* must be requested day by day")
        fault = self.take_fault(asked)
        kind = fault.kind if fault else ""
        delay = fault.delay if fault and kind == "slow" else 0.0
        if kind == "no_data":
            return Answer.text(472, "NO_DATA: no data for the specified timeframe & contract")
        if kind == "permission" or asked.day < self.history_start:
            return Answer.text(471, "PERMISSION: your subscription does not include this data")
        if kind == "os_limit":
            return Answer.text(429, "OS_LIMIT: the request queue is full")
        if kind == "disconnected":
            return Answer.text(474, "DISCONNECTED: connection lost to Theta Data MDDS")
        if asked.day > self.today:
            return Answer.text(472, "NO_DATA: no data for the specified timeframe & contract")
        chain, quotes = self.quotes(asked.symbol, asked.day)
        if chain is None or not quotes:
            return Answer.text(472, "NO_DATA: no data for the specified timeframe & contract")
        stamp_day = asked.day - timedelta(days=1) if kind == "wrong_date" else asked.day
        if asked.endpoint == "greeks":
            rows = [greeks_row(asked.symbol, q, chain, stamp_day) for q in quotes]
            columns = GREEKS_COLUMNS
        else:
            rows = [oi_row(asked.symbol, q, stamp_day) for q in quotes]
            columns = OI_COLUMNS
        if query.get("format", "csv") == "json":
            return Answer(200, to_json(rows), "application/json", delay=delay)
        if kind == "bad_header":
            columns = [c for c in columns if c != "right"]
        return Answer(200, to_csv(columns, rows), "text/csv", delay=delay)


@pytest.fixture
def theta_server() -> Iterator[ThetaTestServer]:
    with ThetaTestServer() as server:
        yield server
