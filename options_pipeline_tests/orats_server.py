"""A local ORATS data API for tests: real HTTP on 127.0.0.1, ORATS' JSON, sample data.

GET /datav2/hist/strikes?token=T&ticker=S&tradeDate=YYYY-MM-DD[&dte=lo,hi] answers
{"data": [...]} with one row per (expiration, strike), call and put side by side, in the field
names of ORATS' documented example (orats.com/docs/historical-data-api). ORATS' `dte` counts the
trade date itself (its example: 2019-12-23 -> 2019-12-27 is dte 5), and the filter is inclusive.
Behaviour not documented by ORATS, modelled conservatively: a wrong token -> 401, a plan without
the endpoint -> 403 (seen in users' reports), a day without data -> {"data": []}, more than
`rate_limit` requests in any minute -> 429, more than `row_cap` rows -> the first `row_cap` only.

Faults: "plan" (403), "slow" (delay), "zero_mid_iv" (callMidIv/putMidIv 0), "wrong_date"
(tradeDate of the previous day), "wrong_shape" ({"data": {}}), "server_error" (500), "empty"
({"data": []}), "rename" (data=(old, new): a field renamed in every row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from options_pipeline.models import ChainSnapshot, OptionQuote
from options_pipeline.providers.history import NEW_YORK
from options_pipeline.providers.orats import OratsProvider
from options_pipeline_tests.stand_in import Answer, Asked, StandInServer

STRIKES = "/datav2/hist/strikes"
TEST_TOKEN = "orats-TEST-token-5c1d-never-log-me"
DEFAULT_TODAY = date(2025, 12, 19)


def strike_rows(chain: ChainSnapshot, trade_date: date) -> list[dict[str, Any]]:
    pairs: dict[tuple[date, float], dict[str, OptionQuote]] = {}
    for q in chain.quotes:
        pairs.setdefault((q.expiration_date, q.strike), {})[q.option_type] = q
    rows = []
    for (exp, strike), sides in sorted(pairs.items()):
        c, p = sides.get("C"), sides.get("P")
        if c is None or p is None:
            continue
        rows.append(
            {
                "ticker": chain.symbol,
                "tradeDate": trade_date.isoformat(),
                "expirDate": exp.isoformat(),
                "dte": (exp - chain.as_of).days + 1,
                "strike": strike,
                "stockPrice": chain.underlying_price,
                "callVolume": c.volume,
                "callOpenInterest": c.open_interest,
                "callBidSize": 10,
                "callAskSize": 12,
                "putVolume": p.volume,
                "putOpenInterest": p.open_interest,
                "putBidSize": 10,
                "putAskSize": 12,
                "callBidPrice": c.bid,
                "callValue": round(((c.bid or 0) + (c.ask or 0)) / 2, 4),
                "callAskPrice": c.ask,
                "putBidPrice": p.bid,
                "putValue": round(((p.bid or 0) + (p.ask or 0)) / 2, 4),
                "putAskPrice": p.ask,
                "callBidIv": c.implied_volatility,
                "callMidIv": c.implied_volatility,
                "callAskIv": c.implied_volatility,
                "smvVol": round(((c.implied_volatility or 0) + (p.implied_volatility or 0)) / 2, 6),
                "putBidIv": p.implied_volatility,
                "putMidIv": p.implied_volatility,
                "putAskIv": p.implied_volatility,
                "residualRate": -0.01,
                "delta": c.delta,
                "gamma": c.gamma,
                "theta": c.theta,
                "vega": c.vega,
                "rho": 0.01,
                "phi": -0.01,
                "driftlessTheta": c.theta,
                "extSmvVol": 0.2,
                "extCallValue": c.bid,
                "extPutValue": p.bid,
                "spotPrice": chain.underlying_price,
                "updatedAt": f"{trade_date.isoformat()}T20:46:00Z",
            }
        )
    return rows


class OratsTestServer(StandInServer):
    """See the module docstring."""

    secret_param = "token"

    def __init__(
        self,
        *,
        token: str = TEST_TOKEN,
        today: date = DEFAULT_TODAY,
        contracts_per_symbol: int = 300,
        row_cap: int | None = None,
        rate_limit: int | None = None,
    ) -> None:
        super().__init__(contracts_per_symbol=contracts_per_symbol)
        self.secret = token
        self.today = today
        self.row_cap = row_cap
        self.set_rate_limit(rate_limit, per_seconds=60.0)

    def now(self) -> datetime:
        return datetime.combine(self.today, time(19, 0), tzinfo=NEW_YORK)

    def provider(self, **overrides: Any) -> OratsProvider:
        kwargs = self.client_settings(
            api_token=self.secret, rate_limit_per_minute=60_000.0, now=self.now
        )
        return OratsProvider(**(kwargs | overrides))

    def route(
        self, path: str, query: dict[str, str], raw: dict[str, str], headers: dict[str, str]
    ) -> tuple[Asked, Callable[[], Answer]]:
        try:
            day = date.fromisoformat(query.get("tradeDate", ""))
        except ValueError:
            day = None
        asked = Asked("strikes" if path == STRIKES else "other", query.get("ticker"), day)
        return asked, lambda: self._answer(asked, query, raw.get("token"))

    def _answer(self, asked: Asked, query: dict[str, str], token: str | None) -> Answer:
        if token != self.secret:
            return Answer.json(401, {"message": "Unauthorized"})
        if self.rate_limited(asked):
            return Answer.json(429, {"message": "Too Many Requests"})
        if asked.endpoint == "other":
            return Answer.json(404, {"message": "Not Found"})
        if asked.day is None or not asked.symbol:
            return Answer.json(400, {"message": "ticker and tradeDate are required"})
        fault = self.take_fault(asked)
        kind = fault.kind if fault else ""
        delay = fault.delay if fault and kind == "slow" else 0.0
        if kind == "plan":
            return Answer.json(403, {"message": "Not authorized to access this endpoint"})
        if kind == "server_error":
            return Answer.json(500, {"message": "Internal Server Error"})
        if kind == "wrong_shape":
            return Answer.json(200, {"data": {}})
        served = asked.day <= self.today and kind != "empty"
        chain = self.chain(asked.symbol, asked.day) if served else None
        trade_date = asked.day - timedelta(days=1) if kind == "wrong_date" else asked.day
        rows = strike_rows(chain, trade_date) if chain else []
        if "dte" in query:
            lo, hi = (int(x) for x in query["dte"].split(","))
            rows = [r for r in rows if lo <= r["dte"] <= hi]
        if kind == "zero_mid_iv":
            for r in rows:
                r["callMidIv"] = r["putMidIv"] = 0
        if kind == "rename" and fault:
            old, new = fault.data
            rows = [{(new if k == old else k): v for k, v in r.items()} for r in rows]
        if self.row_cap is not None:
            rows = rows[: self.row_cap]
        return Answer.json(200, {"data": rows}, delay=delay)


@pytest.fixture
def orats_server() -> Iterator[OratsTestServer]:
    with OratsTestServer() as server:
        yield server
