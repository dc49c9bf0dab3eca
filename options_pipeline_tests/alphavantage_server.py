"""A local Alpha Vantage for tests: real HTTP on 127.0.0.1, Alpha Vantage's JSON, sample data.

GET /query?function=HISTORICAL_OPTIONS&symbol=S&date=YYYY-MM-DD&apikey=K[&datatype=json] answers
{"endpoint": "Historical Options", "message": "success", "data": [...]} with every value a string
(the documented demo's layout). GET /query?function=TIME_SERIES_DAILY&symbol=S&outputsize=
compact|full answers {"Meta Data": {...}, "Time Series (Daily)": {"YYYY-MM-DD": {"1. open": ...,
"4. close": ...}}}; compact = the latest 100 sessions; full needs `premium=True`.
Errors are HTTP 200 as on Alpha Vantage: a wrong key -> {"Error Message": ...}; more than
`rate_limit` calls in any minute -> {"Note": ...}; more than `daily_limit` calls -> {"Information":
"... per day ..."}. A non-premium server answers HISTORICAL_OPTIONS with a normal-looking envelope
of artificial sample data whose `message` says so (the documented premium trap); the exact
wording of these messages is not published and is modelled on users' reports.

Faults: "premium_information" ({"Information": "... premium ..."}), "premium_sample" (the sample
envelope even on a premium server), "other_session" (rows of the previous session: what the API
serves when it ignores `date`), "no_series" (TIME_SERIES_DAILY -> Error Message), "rate_note"
({"Note": ...}), "slow" (delay), "bad_row" (one extra row with a non-numeric strike), "rename"
(data=(old, new): a field renamed in every row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from options_pipeline.models import ChainSnapshot
from options_pipeline.providers.alphavantage import AlphaVantageProvider
from options_pipeline.providers.history import NEW_YORK
from options_pipeline.providers.normalize import market_closed_reason
from options_pipeline.providers.sample import spot_price
from options_pipeline_tests.stand_in import Answer, Asked, StandInServer

TEST_KEY = "AV-TEST-KEY-77c2-never-print-me"
DEFAULT_TODAY = date(2025, 12, 19)
RATE_NOTE = (
    "Thank you for using Alpha Vantage! Our standard API call frequency is 75 calls per "
    "minute. Please visit https://www.alphavantage.co/premium/ to target a higher call "
    "frequency."
)
DAILY_INFO = (
    "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per "
    "day. Please subscribe to any of the premium plans to remove daily rate limits."
)
PREMIUM_INFO = (
    "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe "
    "to any of the premium plans at https://www.alphavantage.co/premium/ to instantly "
    "unlock all premium endpoints"
)
SAMPLE_MESSAGE = (
    "This is a premium endpoint; the data below are artificial sample data for "
    "demonstration purposes only. Subscribe at https://www.alphavantage.co/premium/"
)
BAD_KEY = (
    "the parameter apikey is invalid or missing. Please claim your free API key on "
    "(https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds."
)


def _s(x: float | None, digits: int = 2) -> str:
    return "0.00" if x is None else f"{x:.{digits}f}"


def option_rows(chain: ChainSnapshot, session: date) -> list[dict[str, str]]:
    return [
        {
            "contractID": q.contract_symbol,
            "symbol": chain.symbol,
            "expiration": q.expiration_date.isoformat(),
            "strike": f"{q.strike:.2f}",
            "type": "call" if q.option_type == "C" else "put",
            "last": _s(q.last),
            "mark": _s(((q.bid or 0) + (q.ask or 0)) / 2),
            "bid": _s(q.bid),
            "bid_size": "10",
            "ask": _s(q.ask),
            "ask_size": "12",
            "volume": str(q.volume or 0),
            "open_interest": str(q.open_interest or 0),
            "date": session.isoformat(),
            "implied_volatility": _s(q.implied_volatility, 5),
            "delta": _s(q.delta, 5),
            "gamma": _s(q.gamma, 5),
            "theta": _s(q.theta, 5),
            "vega": _s(q.vega, 5),
            "rho": "0.01000",
        }
        for q in chain.quotes
    ]


class AlphaVantageTestServer(StandInServer):
    """See the module docstring."""

    secret_param = "apikey"

    def __init__(
        self,
        *,
        api_key: str = TEST_KEY,
        today: date = DEFAULT_TODAY,
        contracts_per_symbol: int = 300,
        premium: bool = True,
        rate_limit: int | None = None,
        daily_limit: int | None = None,
    ) -> None:
        super().__init__(contracts_per_symbol=contracts_per_symbol)
        self.secret = api_key
        self.today = today
        self.premium = premium
        self.daily_limit = daily_limit
        self.full_series = True  # outputsize=full allowed (premium)
        self.set_rate_limit(rate_limit, per_seconds=60.0)
        self._calls = 0

    def now(self) -> datetime:
        """A clock for providers: the morning after `today`, so `today` has been published."""
        return datetime.combine(self.today + timedelta(days=1), time(8, 0), tzinfo=NEW_YORK)

    def provider(self, **overrides: Any) -> AlphaVantageProvider:
        kwargs = self.client_settings(
            api_key=self.secret, rate_limit_per_minute=60_000.0, now=self.now
        )
        return AlphaVantageProvider(**(kwargs | overrides))

    def sessions(self, last: date, count: int | None) -> list[date]:
        out: list[date] = []
        day = last
        while (count is None or len(out) < count) and day >= date(2024, 1, 2):
            if market_closed_reason(day) is None:
                out.append(day)
            day -= timedelta(days=1)
        return out

    def route(
        self, path: str, query: dict[str, str], raw: dict[str, str], headers: dict[str, str]
    ) -> tuple[Asked, Callable[[], Answer]]:
        function = query.get("function", "") if path == "/query" else ""
        endpoint = {"HISTORICAL_OPTIONS": "options", "TIME_SERIES_DAILY": "daily"}.get(
            function, "other"
        )
        try:
            day = date.fromisoformat(query["date"]) if "date" in query else None
        except ValueError:
            day = None
        asked = Asked(endpoint, query.get("symbol"), day)
        return asked, lambda: self._answer(asked, query, raw.get("apikey"))

    def _json(self, body: Any, delay: float = 0.0) -> Answer:
        return Answer.json(200, body, delay=delay)  # errors too: HTTP 200

    def _limit(self, asked: Asked) -> dict[str, str] | None:
        with self._lock:
            self._calls += 1
            over_the_day = self.daily_limit is not None and self._calls > self.daily_limit
        if over_the_day:
            return {"Information": DAILY_INFO}
        return {"Note": RATE_NOTE} if self.rate_limited(asked) else None

    def _answer(self, asked: Asked, query: dict[str, str], key: str | None) -> Answer:
        if key != self.secret:
            return self._json({"Error Message": BAD_KEY})
        limited = self._limit(asked)
        if limited:
            return self._json(limited)
        if asked.endpoint == "other" or not asked.symbol:
            return self._json(
                {
                    "Error Message": "Invalid API call. Please retry or visit the "
                    "documentation (https://www.alphavantage.co/documentation/)."
                }
            )
        fault = self.take_fault(asked)
        kind = fault.kind if fault else ""
        delay = fault.delay if fault and kind == "slow" else 0.0
        if kind == "rate_note":
            return self._json({"Note": RATE_NOTE})
        if asked.endpoint == "daily":
            return self._daily(asked.symbol, query.get("outputsize", "compact"), kind, delay)
        if kind == "premium_information":
            return self._json({"Information": PREMIUM_INFO})
        session = asked.day or self.sessions(self.today, 1)[0]
        if not self.premium or kind == "premium_sample":
            fake = self.chain("IBM", date(2024, 6, 3))
            rows = option_rows(fake, session) if fake else []
            return self._json(
                {"endpoint": "Historical Options", "message": SAMPLE_MESSAGE, "data": rows[:20]},
                delay,
            )
        if kind == "other_session":
            session = self.sessions(session - timedelta(days=1), 1)[0]
        chain = self.chain(asked.symbol, session) if session <= self.today else None
        rows: list[Any] = option_rows(chain, session) if chain else []
        if kind == "rename" and fault:
            old, new = fault.data
            rows = [{(new if k == old else k): v for k, v in r.items()} for r in rows]
        if kind == "bad_row" and rows:
            rows.append({**rows[0], "strike": "n/a"})
        return self._json(
            {"endpoint": "Historical Options", "message": "success", "data": rows}, delay
        )

    def _daily(self, symbol: str, outputsize: str, kind: str, delay: float) -> Answer:
        if kind == "no_series":
            return self._json(
                {
                    "Error Message": "Invalid API call. Please retry or visit the "
                    "documentation (https://www.alphavantage.co/documentation/) for "
                    "TIME_SERIES_DAILY."
                }
            )
        if outputsize == "full" and not (self.premium and self.full_series):
            return self._json({"Information": PREMIUM_INFO})
        days = self.sessions(self.today, None if outputsize == "full" else 100)
        series = {}
        for d in days:
            close = spot_price(symbol, d)
            series[d.isoformat()] = {
                "1. open": f"{close * 0.998:.4f}",
                "2. high": f"{close * 1.004:.4f}",
                "3. low": f"{close * 0.995:.4f}",
                "4. close": f"{close:.4f}",
                "5. volume": "51234567",
            }
        meta = {
            "1. Information": "Daily Prices (open, high, low, close) and Volumes",
            "2. Symbol": symbol,
            "3. Last Refreshed": self.today.isoformat(),
            "4. Output Size": "Full size" if outputsize == "full" else "Compact",
            "5. Time Zone": "US/Eastern",
        }
        return self._json({"Meta Data": meta, "Time Series (Daily)": series}, delay)


@pytest.fixture
def av_server() -> Iterator[AlphaVantageTestServer]:
    with AlphaVantageTestServer() as server:
        yield server
