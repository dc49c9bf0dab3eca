"""Alpha Vantage provider ("alphavantage"): `function=HISTORICAL_OPTIONS&symbol=S&date=D`.

One request per symbol-day returns the whole chain with every value a string. Alpha Vantage answers
errors with HTTP 200: a body keyed `Error Message` (bad request or key), `Information` or `Note`
(rate limit, premium-only). A premium-gated call may also come back as a normal-looking envelope
full of artificial sample data whose `message` says so, so only `message == "success"` is accepted.

There is no underlying price in the payload: spot is the session's close from `TIME_SERIES_DAILY`
(one request covers ~100 sessions - `outputsize=full` on premium keys - and is cached per symbol),
or, when that is unavailable, put-call parity on the nearest expiration; `underlying_price_source`
records which. Open interest in a D row is stored for D (UNVERIFIED when Alpha Vantage takes it).
Alpha Vantage documents equity options only: index underlyings are refused.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

from options_pipeline.calendar import previous_session
from options_pipeline.models import ChainSnapshot, OptionQuote
from options_pipeline.providers.base import (
    NoContracts,
    NotAvailable,
    ProviderConfigError,
    ProviderError,
    RateLimited,
    Unauthorized,
)
from options_pipeline.providers.check import (
    EndpointCheck,
    ProviderCheckReport,
    json_paths,
    match_fields,
)
from options_pipeline.providers.history import (
    HistoryWindow,
    history_symbol,
    now_in_new_york,
    plain_symbol,
)
from options_pipeline.providers.normalize import MALFORMED_ROW, WRONG_DATE, ChainBuilder, parse_day
from options_pipeline.providers.transport import HttpTransport, RequestStats, RetryableAnswer
from options_pipeline.symbols import is_index

log = logging.getLogger(__name__)

NAME = "alphavantage"
DEFAULT_BASE_URL = "https://www.alphavantage.co"
QUERY_PATH = "/query"
# Free keys: 25 requests a day [P]; premium plans start at 75 a minute [P]. The default suits the
# smallest premium plan; set ALPHAVANTAGE_RATE_LIMIT_PER_MINUTE to yours.
DEFAULT_RATE_LIMIT_PER_MINUTE = 75.0
HISTORY_START = date(2008, 1, 2)  # "any date later than 2008-01-01 is accepted"
# UNVERIFIED: when a session's history exists. Without `date` the API serves "the previous trading
# session", so a session is only asked for from the next calendar day on.
PUBLISHED, PUBLISHED_DAYS_AFTER = dtime(0, 0), 1
OI_SOURCE = "alphavantage:HISTORICAL_OPTIONS date=D (as-of assumed, undocumented)"
PARITY_STRIKES = 5  # strikes nearest the money averaged (median) for the parity spot
WINDOW = HistoryWindow(
    NAME,
    earliest=HISTORY_START,
    published=PUBLISHED,
    published_days_after=PUBLISHED_DAYS_AFTER,
)

# The field map: our name -> (Alpha Vantage field, verification). Sources: the documentation page
# https://www.alphavantage.co/documentation/#options (HISTORICAL_OPTIONS: parameters symbol, date,
# datatype, apikey; whole chain sorted by expiration then strike) and its linked demo JSON (the
# envelope and the row fields below, every value a string); alphavantage/alpha_vantage_mcp
# api/src/av_api/tools/options_data_apis.py (the official client: same parameters). Error keys:
# the community client RomelTorres/alpha_vantage (`Error Message`, `Information`, `Note`) [V].
# TIME_SERIES_DAILY: https://www.alphavantage.co/documentation/#daily [V].
FIELD_MAP: dict[str, tuple[str, str]] = {
    # the envelope {"endpoint", "message", "data": [...]} [V] demo; accepted only with message
    # "success"; no multiplier in the payload [V]: 100 assumed
    "contract_symbol": ("contractID", "[V] OCC without padding"),
    "root": ("symbol", "[V]"),
    "expiration_date": ("expiration", "[V] YYYY-MM-DD"),
    "strike": ("strike", "[V] string dollars"),
    "option_type": ("type", "[V] call / put"),
    "last": ("last", "[V]; stored only when the day's volume > 0"),
    "bid": ("bid", "[V]"),
    "ask": ("ask", "[V]"),
    "volume": ("volume", "[V]"),
    "open_interest": ("open_interest", "[V] field; its as-of time [U]"),
    "session": ("date", "[V] YYYY-MM-DD"),
    "implied_volatility": ("implied_volatility", "[V] decimal; 0 = not solved -> not stored"),
    "delta": ("delta", "[V]"),
    "gamma": ("gamma", "[V]"),
    "theta": ("theta", "[V] field; unit (per day) [U]"),
    "vega": ("vega", "[V] field; unit (per vol point) [U]"),
    "underlying_price": (
        "4. close",
        '[V] TIME_SERIES_DAILY "Time Series (Daily)".<date>; else put-call parity on mids',
    ),
}
F = {name: vendor for name, (vendor, _) in FIELD_MAP.items()}  # what the code below reads
CHECK_REQUIRED = (
    "contract_symbol",
    "expiration_date",
    "strike",
    "option_type",
    "bid",
    "ask",
    "volume",
    "open_interest",
    "session",
    "implied_volatility",
    "delta",
    "gamma",
)
DAILY_SERIES_KEY = "Time Series (Daily)"
DAILY_CLOSE_KEY = F["underlying_price"]
_SLOW_DOWN_WORDS = ("frequency", "per minute", "rate limit", "spreading out", "burst")


def _float(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v and abs(v) != float("inf") else None


def _answer_errors(body: Mapping[str, Any], what: str, scrub: Callable[[str], str]) -> None:
    """Alpha Vantage's HTTP-200 errors -> typed errors (or RetryableAnswer for "slow down")."""
    if "Error Message" in body:
        message = scrub(str(body["Error Message"]))[:300]
        if "apikey" in message.lower():
            raise Unauthorized(f"Alpha Vantage rejected the API key on {what}: {message}")
        raise ProviderError(f"Alpha Vantage error on {what}: {message}")
    for key in ("Information", "Note"):
        if key in body:
            message = scrub(str(body[key]))[:300]
            lowered = message.lower()
            # rate-limit texts link the premium page too, so they are recognised first
            if "per day" in lowered or "daily" in lowered:
                raise RateLimited(f"Alpha Vantage daily request budget spent ({what}): {message}")
            if key == "Note" or any(w in lowered for w in _SLOW_DOWN_WORDS):
                raise RetryableAnswer(message)
            if "premium" in lowered:
                raise NotAvailable(f"not available on this Alpha Vantage plan ({what}): {message}")
            raise ProviderError(f"Alpha Vantage answered {what} with {key!r}: {message}")


class AlphaVantageProvider:
    """Provider "alphavantage". `requests_made` counts every HTTP request this instance sent."""

    name = NAME
    # How many symbols ingest_day may fetch at once. Alpha Vantage documents requests per minute
    # by plan (https://www.alphavantage.co/premium/: from 75 a minute [P]), which the limiter keeps,
    # and no bound on requests in flight [U]; at 75 a minute (0.8 s apart) a second request in
    # flight already covers a whole chain's answer time. The daily-series cache is locked.
    max_concurrency = 2

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit_per_minute: float = DEFAULT_RATE_LIMIT_PER_MINUTE,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 4,
        backoff_base: float = 2.0,
        backoff_max: float = 60.0,
        now: Callable[[], datetime] = now_in_new_york,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if api_key is None or not api_key.strip():
            raise ProviderConfigError(
                "ALPHAVANTAGE_API_KEY is not set: export ALPHAVANTAGE_API_KEY to use the "
                "'alphavantage' provider"
            )
        self._http = HttpTransport(
            base_url=base_url,
            api_key=api_key.strip(),
            auth="query:apikey",
            rate_limit_per_minute=rate_limit_per_minute,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            sleep=sleep,
        )
        self._now = now
        self._spot_lock = threading.Lock()
        # symbol -> (closes by session, whether the full history was asked for)
        self._closes: dict[str, tuple[dict[date, float], bool]] = {}

    @property
    def requests_made(self) -> int:
        return self._http.requests

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def rate_limit_per_minute(self) -> float:
        return self._http.limiter.per_minute

    @property
    def request_interval_seconds(self) -> float:
        return self._http.limiter.interval

    def estimate_requests(self, symbol: str, day: date, contracts_hint: int) -> int:
        """One unpaged request, plus the symbol's daily series the first time it is needed;
        0 when the day is refused before any request."""
        sym = plain_symbol(symbol)
        if is_index(sym) or not WINDOW.serves(day, now=self._now):
            return 0
        with self._spot_lock:
            cached = day in self._closes.get(sym, ({}, False))[0]
        return 1 if cached else 2

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AlphaVantageProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ contract

    def fetch_chain(self, symbol: str, as_of: date) -> ChainSnapshot:
        sym = history_symbol(symbol)
        if is_index(sym):
            raise NotAvailable(
                f"{sym} is an index: Alpha Vantage documents options on US equities only"
            )
        WINDOW.refuse(as_of, now=self._now)
        stats = RequestStats()
        rows = self._chain_rows(sym, as_of, stats)
        if not rows:
            raise NoContracts(
                f"no contracts for {sym} on {as_of.isoformat()} from alphavantage (empty 'data')"
            )
        builder = ChainBuilder(sym, as_of)
        added: list[OptionQuote] = []
        for row in rows:
            if not isinstance(row, Mapping):
                builder.reject(MALFORMED_ROW)
                continue
            row_day = parse_day(row.get(F["session"]))
            if row_day != as_of:
                builder.reject(WRONG_DATE if row_day else MALFORMED_ROW)
                continue
            quote = self._add(builder, row)
            if quote is not None:
                added.append(quote)
        if not builder and builder.rejected.get(WRONG_DATE):
            raise ProviderError(
                f"Alpha Vantage answered {sym} on {as_of.isoformat()} with rows of another "
                "session only; refusing to substitute them"
            )
        spot, source = self._spot(sym, as_of, stats, added)
        snap = builder.build(
            provider=NAME,
            underlying_price=spot,
            underlying_price_source=source,
            provider_mark_time=None,  # the payload carries no time of day
            requests=stats.requests,
            open_interest_as_of=previous_session(as_of),  # assumed: OCC's morning figure
            open_interest_source=OI_SOURCE,
        )
        log.debug(
            "%s %s: %d quotes, %d rejected, %d requests, spot from %s",
            sym,
            as_of,
            len(snap.columns),  # never materialise per-contract objects for a log line
            snap.rejected_count,
            snap.requests,
            source,
        )
        return snap

    def check(self, symbol: str, day: date | None = None) -> ProviderCheckReport:
        """The requests fetch_chain makes (the chain, the daily series) and which FIELD_MAP
        entries their answers carry; a premium sample answer fails the chain endpoint."""
        sym = plain_symbol(symbol)
        day = day or previous_session(self._now().date())
        stats = RequestStats()
        request = (
            f"{QUERY_PATH}?function=HISTORICAL_OPTIONS&symbol={sym}&date={day.isoformat()}"
            "&datatype=json"
        )  # never the key
        chain_fields = [n for n in F if n != "underlying_price"]
        try:
            rows = self._chain_rows(sym, day, stats)
        except ProviderError as exc:
            chain = EndpointCheck("HISTORICAL_OPTIONS", request, str(exc), error=True)
        else:
            seen = json_paths(rows[:100])
            matched, missing, optional = match_fields(
                seen,
                {n: (F[n],) for n in chain_fields},
                CHECK_REQUIRED,
                [n for n in chain_fields if n not in CHECK_REQUIRED],
            )
            chain = EndpointCheck(
                "HISTORICAL_OPTIONS",
                request,
                "HTTP 200, message 'success'",
                len(rows),
                seen,
                matched,
                missing,
                optional,
            )
        request = f"{QUERY_PATH}?function=TIME_SERIES_DAILY&symbol={sym}&outputsize=compact"
        try:
            closes = self._daily_closes(sym, False, stats)
        except ProviderError as exc:
            daily = EndpointCheck("TIME_SERIES_DAILY", request, str(exc), error=True)
        else:
            seen = (DAILY_CLOSE_KEY,) if closes else ()
            matched, missing, _ = match_fields(
                seen, {"underlying_price": (DAILY_CLOSE_KEY,)}, ("underlying_price",), ()
            )
            daily = EndpointCheck(
                "TIME_SERIES_DAILY", request, "HTTP 200", len(closes), seen, matched, missing
            )
        notes = (
            "spot: the session's close from TIME_SERIES_DAILY, else put-call parity on the "
            "nearest expiration (recorded per snapshot)",
            "open interest of the `date` row is stored for that session as the previous "
            "session's figure (Alpha Vantage does not document when it is taken)",
        )
        return ProviderCheckReport(NAME, sym, day, (chain, daily), stats.requests, notes)

    # ------------------------------------------------------------------ requests

    def _chain_rows(self, sym: str, as_of: date, stats: RequestStats) -> list[Any]:
        what = "HISTORICAL_OPTIONS"

        def inspect(body: dict[str, Any]) -> None:
            _answer_errors(body, what, self._http.scrub)
            message = body.get("message")
            if message != "success":
                shown = self._http.scrub(str(message))[:200]
                raise NotAvailable(
                    f"Alpha Vantage answered {sym} on {as_of.isoformat()} with message {shown!r} "
                    "instead of 'success' (a premium-gated answer carries artificial sample "
                    "data); refusing it"
                )

        params = {
            "function": "HISTORICAL_OPTIONS",
            "symbol": sym,
            "date": as_of.isoformat(),
            "datatype": "json",
        }
        body = self._http.get_json(QUERY_PATH, params, stats=stats, inspect=inspect)
        data = body.get("data")
        if not isinstance(data, list):
            raise ProviderError(
                f"unexpected response shape from {what}: 'data' is "
                f"{'missing' if data is None else type(data).__name__}"
            )
        return data

    def _daily_closes(self, sym: str, full: bool, stats: RequestStats) -> dict[date, float]:
        what = "TIME_SERIES_DAILY"
        params = {"function": what, "symbol": sym, "outputsize": "full" if full else "compact"}
        body = self._http.get_json(
            QUERY_PATH,
            params,
            stats=stats,
            inspect=lambda b: _answer_errors(b, what, self._http.scrub),
        )
        series = body.get(DAILY_SERIES_KEY)
        if not isinstance(series, Mapping):
            raise ProviderError(f"unexpected response shape from {what}: no '{DAILY_SERIES_KEY}'")
        closes: dict[date, float] = {}
        for day, bar in series.items():
            session = parse_day(day)
            close = _float(bar.get(DAILY_CLOSE_KEY)) if isinstance(bar, Mapping) else None
            if session is not None and close is not None and close > 0:
                closes[session] = close
        return closes

    # ------------------------------------------------------------------ spot

    def _spot(
        self, sym: str, as_of: date, stats: RequestStats, quotes: list[OptionQuote]
    ) -> tuple[float | None, str]:
        try:
            close = self._cached_close(sym, as_of, stats)
        except Unauthorized:
            raise
        except ProviderError as exc:
            log.debug("%s %s: no daily close (%s); using put-call parity", sym, as_of, exc)
            close = None
        if close is not None:
            return close, f"alphavantage:TIME_SERIES_DAILY.{DAILY_CLOSE_KEY}"
        parity = parity_spot(quotes, as_of)
        if parity is None:
            return None, "alphavantage:unavailable"
        value, expiration, n = parity
        return value, f"alphavantage:put-call parity ({expiration.isoformat()}, {n} strikes)"

    def _cached_close(self, sym: str, as_of: date, stats: RequestStats) -> float | None:
        with self._spot_lock:  # one daily-series request per symbol, whichever thread asks
            closes, full = self._closes.get(sym, ({}, False))
            if as_of in closes:
                return closes[as_of]
            if not closes or as_of > max(closes):
                closes = {**closes, **self._daily_closes(sym, False, stats)}
                self._closes[sym] = (closes, full)
            if as_of not in closes and closes and as_of < min(closes) and not full:
                try:
                    closes = {**closes, **self._daily_closes(sym, True, stats)}
                finally:
                    self._closes[sym] = (closes, True)
            return closes.get(as_of)

    def _add(self, builder: ChainBuilder, row: Mapping[str, Any]) -> OptionQuote | None:
        volume = _float(row.get(F["volume"]))
        iv = _float(row.get(F["implied_volatility"]))
        return builder.add(
            contract_symbol=row.get(F["contract_symbol"]),
            expiration_date=row.get(F["expiration_date"]),
            strike=row.get(F["strike"]),
            option_type=row.get(F["option_type"]),
            bid=row.get(F["bid"]),
            ask=row.get(F["ask"]),
            last=row.get(F["last"]) if volume and volume > 0 else None,
            volume=row.get(F["volume"]),
            open_interest=row.get(F["open_interest"]),
            implied_volatility=row.get(F["implied_volatility"]) if iv and iv > 0 else None,
            delta=row.get(F["delta"]),
            gamma=row.get(F["gamma"]),
            theta=row.get(F["theta"]),
            vega=row.get(F["vega"]),
        )


def parity_spot(quotes: list[OptionQuote], as_of: date) -> tuple[float, date, int] | None:
    """Spot from put-call parity, S = K + C - P, on the nearest expiration with two-sided quotes.

    The carry term (K*(1 - e^-rT) less dividends) is ignored: on the nearest expiration it is a
    few cents; the median over the strikes nearest the money (smallest |C - P|) damps bad quotes.
    """
    mids: dict[date, dict[float, dict[str, float]]] = {}
    for q in quotes:
        if q.bid is None or q.ask is None or q.bid <= 0 or q.ask < q.bid:
            continue
        mids.setdefault(q.expiration_date, {}).setdefault(q.strike, {})[q.option_type] = (
            q.bid + q.ask
        ) / 2.0
    for expiration in sorted(e for e in mids if e >= as_of):
        pairs = [(k, s["C"] - s["P"]) for k, s in mids[expiration].items() if len(s) == 2]
        if len(pairs) < 3:
            continue
        nearest = sorted(pairs, key=lambda p: abs(p[1]))[:PARITY_STRIKES]
        return statistics.median(k + d for k, d in nearest), expiration, len(nearest)
    return None
