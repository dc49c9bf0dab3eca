"""Polygon.io / Massive provider ("polygon"): honest current-session and historical chains.

Which endpoint answers depends only on the as-of date D versus today's date in America/New_York
(`clock`, injectable):

- D == today: the chain snapshot `GET /v3/snapshot/options/{symbol}` (limit=250, every page).
  It has no date parameter and always returns *now*, so it is never used for another day.
- D < today: Massive's end-of-day endpoints, `GET /options/v1/open-interest` (root=symbol,
  date=D) joined by contract ticker with `GET /options/v1/analytics` (underlying_ticker=symbol,
  date=D). A plan without them -> 403 -> NotAvailable; the snapshot is never substituted.
- D > today: NotAvailable. Weekends and NYSE holidays: NoContracts before any request.

Pages are normalised as they arrive (normalize.ChainBuilder), so raw pages are never held.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from options_pipeline.calendar import is_session
from options_pipeline.models import ChainSnapshot
from options_pipeline.providers.base import NotAvailable, ProviderConfigError, ProviderError
from options_pipeline.providers.normalize import (
    MALFORMED_ROW,
    WRONG_DATE,
    ChainBuilder,
    epoch_to_datetime,
    parse_day,
    parse_occ,
    raise_if_closed,
    strip_prefix,
)
from options_pipeline.providers.transport import HttpTransport, RequestStats

log = logging.getLogger(__name__)

NAME = "polygon"
DEFAULT_BASE_URL = "https://api.polygon.io"
SNAPSHOT_PAGE_LIMIT = 250  # the documented maximum of the chain snapshot
# Page size asked of the /options/v1 endpoints. UNVERIFIED for these two endpoints: Massive's other
# "/<dataset>/v1/..." endpoints document `limit` (default 100, max 5000 or 50000); 5000 is the
# smallest documented maximum. If it were ignored we would only spend more pages, not lose rows.
HISTORY_PAGE_LIMIT = 5000
_NY = ZoneInfo("America/New_York")
_SYMBOL_RE = re.compile(r"^(I:)?[A-Z][A-Z0-9.]{0,9}$")

SNAPSHOT_PATH = "/v3/snapshot/options/{symbol}"
ANALYTICS_PATH = "/options/v1/analytics"
OPEN_INTEREST_PATH = "/options/v1/open-interest"
HISTORY_ENDPOINTS = (OPEN_INTEREST_PATH, ANALYTICS_PATH)  # one paged query each per past session

# Field mapping of the two end-of-day endpoints: our name -> candidate JSON paths, first present
# wins ("a.b" = nested). Doc pages:
#   [A] https://massive.com/docs/rest/options/analytics/greeks-iv (GET /options/v1/analytics)
#   [O] https://massive.com/docs/rest/options/analytics/open-interest-by-contract
#       (GET /options/v1/open-interest)
# VERIFIED on those pages: the paths; query parameters `ticker`(+.any_of), `underlying_ticker`
# (+.any_of) and `date` on [A]; `ticker`(+.any_of/.gt/.gte/.lt/.lte), `root` and `date` on [O];
# the *content* of rows: [A] one row per listed contract per day with delta, gamma, theta, vega,
# rho, solved implied volatility and its inputs (underlying price, dividend yield, risk-free rate),
# null greeks when it cannot be priced; [O] underlying ticker, OCC root, contract type, expiration
# date, strike price, open interest, and `date` = the session the figure is for.
# UNVERIFIED (response sections unreadable): every JSON field name below, the page size and that
# pagination is `next_url` like the rest of the API. The first names follow the chain snapshot's
# and the contracts endpoint's naming; later ones are defensive alternatives. Contract identity
# falls back to parsing the OCC ticker, so only `ticker` is strictly required; a page whose rows
# carry no ticker at all is an "unexpected response shape" error, never zero contracts.
HISTORY_FIELDS: dict[str, tuple[str, ...]] = {
    "ticker": ("ticker", "options_ticker", "details.ticker"),  # [A][O]
    "date": ("date", "session_date", "as_of"),  # [A][O] (`date` is a documented query param)
    "contract_type": ("contract_type", "details.contract_type", "type"),  # [A?][O]
    "expiration_date": ("expiration_date", "details.expiration_date"),  # [A?][O]
    "strike_price": ("strike_price", "details.strike_price", "strike"),  # [A?][O]
    "open_interest": ("open_interest", "oi"),  # [O]
    "implied_volatility": ("implied_volatility", "iv", "greeks.implied_volatility"),  # [A]
    "delta": ("delta", "greeks.delta"),  # [A]
    "gamma": ("gamma", "greeks.gamma"),  # [A]
    "theta": ("theta", "greeks.theta"),  # [A]
    "vega": ("vega", "greeks.vega"),  # [A]
    "underlying_price": ("underlying_price", "underlying_asset.price", "underlying.price"),  # [A]
    "shares_per_contract": ("shares_per_contract", "details.shares_per_contract"),  # [A?][O?]
}


def _get(row: Mapping[str, Any], path: str) -> Any:
    node: Any = row
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def history_field(row: Mapping[str, Any], name: str) -> Any:
    """The first present candidate of HISTORY_FIELDS[name] in `row`, else None."""
    for path in HISTORY_FIELDS[name]:
        value = _get(row, path)
        if value is not None:
            return value
    return None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) and v > 0 else None


def _results(page: Mapping[str, Any], path: str) -> list[Any]:
    rows = page.get("results")
    if not isinstance(rows, list):
        raise ProviderError(
            f"unexpected response shape from {path}: 'results' is "
            f"{'missing' if rows is None else type(rows).__name__}",
            request_id=_rid(page),
        )
    return rows


def _rid(page: Mapping[str, Any]) -> str | None:
    rid = page.get("request_id")
    return str(rid) if rid not in (None, "") else None


def today_new_york() -> date:
    """Today's date in America/New_York (the exchange's calendar day)."""
    return datetime.now(_NY).date()


class PolygonProvider:
    """Provider "polygon". `requests_made` counts every HTTP request this instance sent."""

    name = NAME

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit_per_minute: float = 5,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 4,
        clock: Callable[[], date] = today_new_york,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        snapshot_page_limit: int = SNAPSHOT_PAGE_LIMIT,
        history_page_limit: int = HISTORY_PAGE_LIMIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if api_key is None or not api_key.strip():
            raise ProviderConfigError(
                "POLYGON_API_KEY is not set: export POLYGON_API_KEY (or configure "
                "polygon_api_key on the provider resource) to use the 'polygon' provider"
            )
        if not 1 <= snapshot_page_limit <= SNAPSHOT_PAGE_LIMIT:
            raise ProviderConfigError(f"snapshot_page_limit must be 1..250: {snapshot_page_limit}")
        if history_page_limit < 1:
            raise ProviderConfigError(f"history_page_limit must be >= 1: {history_page_limit}")
        self._http = HttpTransport(
            base_url=base_url,
            api_key=api_key.strip(),
            rate_limit_per_minute=rate_limit_per_minute,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            sleep=sleep,
        )
        self._clock = clock
        self._snapshot_limit = snapshot_page_limit
        self._history_limit = history_page_limit

    @property
    def requests_made(self) -> int:
        return self._http.requests

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def close(self) -> None:
        self._http.close()

    @property
    def rate_limit_per_minute(self) -> float:
        return self._http.limiter.per_minute

    @property
    def request_interval_seconds(self) -> float:
        """The limiter's spacing between requests (the rate limit plus its headroom)."""
        return self._http.limiter.interval

    def estimate_requests(self, symbol: str, day: date, contracts_hint: int) -> int:
        """Requests fetch_chain(symbol, day) sends for a chain of about `contracts_hint`
        contracts, retries aside: today the snapshot's pages, ceil(N / 250); a past session one
        paged query per end-of-day endpoint (open interest, analytics), ceil(N / page) each;
        a closed or future day none (refused before any request)."""
        today = self._clock()
        if day > today or not is_session(day):
            return 0
        n = max(contracts_hint, 1)
        if day == today:
            return math.ceil(n / self._snapshot_limit)
        return len(HISTORY_ENDPOINTS) * math.ceil(n / self._history_limit)

    def __enter__(self) -> PolygonProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ contract

    def fetch_chain(self, symbol: str, as_of: date) -> ChainSnapshot:
        sym = symbol.strip().upper()
        if not _SYMBOL_RE.match(sym):
            raise ProviderError(f"invalid underlying symbol {symbol!r}")
        raise_if_closed(as_of)
        today = self._clock()
        if as_of > today:
            raise NotAvailable(
                f"{as_of.isoformat()} is after today ({today.isoformat()}, America/New_York): "
                "no data exists yet"
            )
        stats = RequestStats()
        try:
            if as_of == today:
                snap = self._current_session(sym, as_of, stats)
            else:
                snap = self._historical(sym, as_of, stats)
        except ProviderError as exc:
            log.debug("%s %s: %s after %d requests", sym, as_of, exc.reason, stats.requests)
            raise
        log.debug(
            "%s %s: %d quotes, %d rejected, %d requests",
            sym, as_of, len(snap.quotes), snap.rejected_count, snap.requests,
        )  # fmt: skip
        return snap

    # ------------------------------------------------------------------ current session

    def _current_session(self, sym: str, as_of: date, stats: RequestStats) -> ChainSnapshot:
        path = SNAPSHOT_PATH.format(symbol=quote(sym, safe=":"))
        builder = ChainBuilder(sym, as_of)
        underlying: tuple[float, float] | None = None  # (last_updated, price): the freshest wins
        mark: datetime | None = None
        for page in self._http.iter_pages(path, {"limit": self._snapshot_limit}, stats=stats):
            for row in _results(page, path):
                if not isinstance(row, Mapping) or not isinstance(row.get("details"), Mapping):
                    builder.reject(MALFORMED_ROW)
                    continue
                details = row["details"]
                greeks, day = _dict(row.get("greeks")), _dict(row.get("day"))
                last_quote, asset = _dict(row.get("last_quote")), _dict(row.get("underlying_asset"))
                last = day.get("close")
                if last is None:
                    last = _dict(row.get("last_trade")).get("price")
                added = builder.add(
                    contract_symbol=details.get("ticker"),
                    expiration_date=details.get("expiration_date"),
                    strike=details.get("strike_price"),
                    option_type=details.get("contract_type"),
                    bid=last_quote.get("bid"),
                    ask=last_quote.get("ask"),
                    last=last,
                    volume=day.get("volume"),
                    open_interest=row.get("open_interest"),
                    implied_volatility=row.get("implied_volatility"),
                    delta=greeks.get("delta"),
                    gamma=greeks.get("gamma"),
                    theta=greeks.get("theta"),
                    vega=greeks.get("vega"),
                    multiplier=details.get("shares_per_contract"),
                )
                if added is None:
                    continue
                price = _positive(asset.get("price"))
                if price is not None:
                    stamp = _positive(asset.get("last_updated")) or 0.0
                    if underlying is None or stamp > underlying[0]:
                        underlying = (stamp, price)
                for ts in (last_quote.get("last_updated"), asset.get("last_updated")):
                    when = epoch_to_datetime(ts)
                    if when is not None and (mark is None or when > mark):
                        mark = when
        return builder.build(
            provider=NAME,
            underlying_price=underlying[1] if underlying else None,
            underlying_price_source=(
                "polygon:snapshot.underlying_asset.price" if underlying else "polygon:unavailable"
            ),
            provider_mark_time=mark,
            requests=stats.requests,
        )

    # ------------------------------------------------------------------ history

    def _history_rows(
        self, path: str, params: dict[str, Any], as_of: date, builder: ChainBuilder,
        stats: RequestStats,
    ) -> Iterable[tuple[str, Mapping[str, Any]]]:  # fmt: skip
        """(normalised ticker, row) of every row stamped D; wrong-date/malformed rows counted."""
        params = {**params, "date": as_of.isoformat(), "limit": self._history_limit}
        for page in self._http.iter_pages(path, params, stats=stats):
            rows = _results(page, path)
            with_ticker = 0
            for row in rows:
                ticker = history_field(row, "ticker") if isinstance(row, Mapping) else None
                if not isinstance(ticker, str) or not strip_prefix(ticker):
                    builder.reject(MALFORMED_ROW)
                    continue
                with_ticker += 1
                row_day = parse_day(history_field(row, "date"))
                if row_day is not None and row_day != as_of:
                    builder.reject(WRONG_DATE)  # never file another session's values under D
                    continue
                yield strip_prefix(ticker), row
            if rows and with_ticker == 0:
                raise ProviderError(
                    f"unexpected response shape from {path}: none of {len(rows)} rows has a "
                    f"contract ticker (looked for {', '.join(HISTORY_FIELDS['ticker'])})",
                    request_id=_rid(page),
                )

    def _historical(self, sym: str, as_of: date, stats: RequestStats) -> ChainSnapshot:
        builder = ChainBuilder(sym, as_of)
        day = as_of.isoformat()

        # 1) open interest by contract, kept as small tuples keyed by OCC symbol
        oi: dict[str, tuple[Any, Any, Any, Any]] = {}
        root = {"root": sym.removeprefix("I:")}
        for ticker, row in self._history_rows(OPEN_INTEREST_PATH, root, as_of, builder, stats):
            oi[ticker] = (
                history_field(row, "open_interest"),
                history_field(row, "contract_type"),
                history_field(row, "expiration_date"),
                history_field(row, "strike_price"),
            )
        oi_rows = len(oi)

        # 2) greeks & IV, joined with (1) as each page arrives
        underlying: float | None = None
        analytics_rows = 0
        underlying_q = {"underlying_ticker": sym}
        for ticker, row in self._history_rows(ANALYTICS_PATH, underlying_q, as_of, builder, stats):
            analytics_rows += 1
            oi_row = oi.pop(ticker, None)
            occ = parse_occ(ticker)
            self._add_history(builder, ticker, row, oi_row, occ)
            if underlying is None:
                underlying = _positive(history_field(row, "underlying_price"))

        # 3) contracts OPRA reported but the analytics did not price: kept, with OI only
        for ticker, oi_row in oi.items():
            self._add_history(builder, ticker, {}, oi_row, parse_occ(ticker))

        if analytics_rows and not oi_rows:
            raise NotAvailable(
                f"open interest for {sym} on {day} is not available (yet): "
                f"{OPEN_INTEREST_PATH} returned no rows; it is published the morning after"
            )
        if oi_rows and not analytics_rows:
            raise NotAvailable(
                f"greeks/IV for {sym} on {day} are not available: {ANALYTICS_PATH} returned no rows"
            )
        if not builder and builder.rejected.get(WRONG_DATE):
            raise ProviderError(
                f"the historical endpoints answered {sym} on {day} with rows for other dates only; "
                "refusing to substitute them"
            )
        return builder.build(
            provider=NAME,
            underlying_price=underlying,
            underlying_price_source=(
                "polygon:options/v1/analytics.underlying_price"
                if underlying
                else "polygon:unavailable"
            ),
            provider_mark_time=None,  # documented as a 15:45 ET snapshot, but no timestamp field
            requests=stats.requests,
        )

    @staticmethod
    def _add_history(
        builder: ChainBuilder,
        ticker: str,
        row: Mapping[str, Any],
        oi_row: tuple[Any, Any, Any, Any] | None,
        occ: tuple[str, date, str, float] | None,
    ) -> None:
        oi_val, oi_type, oi_exp, oi_strike = oi_row if oi_row else (None, None, None, None)

        def pick(name: str, from_oi: Any, from_occ: Any) -> Any:
            value = history_field(row, name)
            if value is None:
                value = from_oi
            return from_occ if value is None else value

        builder.add(
            contract_symbol=ticker,
            expiration_date=pick("expiration_date", oi_exp, occ[1] if occ else None),
            strike=pick("strike_price", oi_strike, occ[3] if occ else None),
            option_type=pick("contract_type", oi_type, occ[2] if occ else None),
            open_interest=oi_val,
            implied_volatility=history_field(row, "implied_volatility"),
            delta=history_field(row, "delta"),
            gamma=history_field(row, "gamma"),
            theta=history_field(row, "theta"),
            vega=history_field(row, "vega"),
            multiplier=history_field(row, "shares_per_contract"),
        )
