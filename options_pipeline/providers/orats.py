"""ORATS provider ("orats"): end-of-day chains from `GET /datav2/hist/strikes` (history from 2007).

One request per symbol-day returns one row per (expiration, strike) with the call and the put side
by side; each row becomes two contracts. IV is the side's mid IV (`callMidIv` / `putMidIv`), the
smoothed `smvVol` where the mid IV is 0 (no two-sided market); the row's greeks are the call's, so
the put's delta is `delta - 1` and the put's theta is left empty (it needs the carry). Spot is the
row's `stockPrice`. 1,000 requests a minute (documented); the token is a query parameter, added to
the prepared request only and scrubbed from every log line and error.

Open interest: ORATS snapshots the chain shortly before the close; the open interest in a D row is
the OCC figure published that morning, i.e. the end of the previous session = the figure known at
D's open (UNVERIFIED: ORATS does not say when its OI is taken). It is stored for D as is.

A request that comes back with exactly `row_cap` rows may have been cut: it is re-asked in `dte`
windows (documented filter, e.g. dte=30,45) until every window is below the cap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

import numpy as np

from options_pipeline.calendar import previous_session
from options_pipeline.models import ChainColumns, ChainSnapshot
from options_pipeline.providers.base import NoContracts, ProviderConfigError, ProviderError
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
from options_pipeline.providers.normalize import (
    MALFORMED_ROW,
    WRONG_DATE,
    ChainBuilder,
    iso_date_column,
    occ_symbol,
    parse_day,
)
from options_pipeline.providers.transport import HttpTransport, RequestStats

log = logging.getLogger(__name__)

NAME = "orats"
DEFAULT_BASE_URL = "https://api.orats.io"
STRIKES_PATH = "/datav2/hist/strikes"
DEFAULT_RATE_LIMIT_PER_MINUTE = 1000.0  # documented for the data API
HISTORY_START = date(2007, 1, 3)  # the earliest tradeDate ORATS lists (its /tickers example)
OI_SOURCE = "orats:hist/strikes tradeDate=D (as-of assumed, undocumented)"
PUBLISHED = dtime(18, 0)  # UNVERIFIED: when a session's history rows exist; conservative
# UNVERIFIED for /datav2: ORATS' older data API documents a 6,000-row cap on strikes per request.
DEFAULT_ROW_CAP = 6000
DTE_WINDOWS = ((0, 7), (8, 30), (31, 90), (91, 365), (366, 100_000))
WINDOW = HistoryWindow(NAME, earliest=HISTORY_START, published=PUBLISHED)

# The field map: our name -> (ORATS field(s), verification). Source: ORATS' historical data API
# page https://orats.com/docs/historical-data-api ("Strikes History", GET /datav2/hist/strikes:
# parameters ticker, tradeDate (YYYY-MM-DD), fields, dte ("30,45"), delta; response example) and
# https://docs.orats.io/datav2-api-guide/data.html (the same row layout for /datav2/strikes, the
# 1,000 requests/minute limit, the `token` query parameter). [V] = named there.
FIELD_MAP: dict[str, tuple[str, str]] = {
    # ours: (ORATS field, verification); the envelope is {"data": [...]} [V]
    "root": ("ticker", "[V]"),
    "session": ("tradeDate", "[V] YYYY-MM-DD"),
    "expiration_date": ("expirDate", "[V] YYYY-MM-DD"),
    "strike": ("strike", "[V]"),
    "underlying_price": ("stockPrice", "[V]"),
    "call.bid": ("callBidPrice", "[V]"),
    "call.ask": ("callAskPrice", "[V]"),
    "put.bid": ("putBidPrice", "[V]"),
    "put.ask": ("putAskPrice", "[V]"),
    "call.volume": ("callVolume", "[V]"),
    "put.volume": ("putVolume", "[V]"),
    "call.open_interest": ("callOpenInterest", "[V] field; its as-of time [U]"),
    "put.open_interest": ("putOpenInterest", "[V] field; its as-of time [U]"),
    "call.implied_volatility": ("callMidIv", "[V] field; 0 = no two-sided market [P]"),
    "put.implied_volatility": ("putMidIv", "[V] field; 0 = no two-sided market [P]"),
    "implied_volatility.fallback": ("smvVol", "[V] field: ORATS' smoothed vol"),
    "call.delta": ("delta", "[V] field; that it is the call's [P] (1 on deep ITM call rows)"),
    "put.delta": ("delta", "[P] derived: delta - 1"),
    "gamma": ("gamma", "[V] field; shared by call and put [P]"),
    "vega": ("vega", "[V] field; shared by call and put [P]; unit (per vol point) [U]"),
    "call.theta": ("theta", "[V] field; the call's [P]; put theta not stored"),
    "provider_mark_time": ("updatedAt", "[V] ISO-8601 UTC"),
    # no last price: callValue/putValue are ORATS' theoretical values [V]
}
F = {name: vendor for name, (vendor, _) in FIELD_MAP.items()}  # what the code below reads
CHECK_REQUIRED = (
    "root",
    "session",
    "expiration_date",
    "strike",
    "underlying_price",
    "call.bid",
    "call.ask",
    "put.bid",
    "put.ask",
    "call.volume",
    "put.volume",
    "call.open_interest",
    "put.open_interest",
    "call.delta",
    "gamma",
)


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value > 0 else None


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


_PLAIN_NUMBERS = frozenset({float, int, type(None)})  # JSON numbers and null; not bool


def _floats(rows: list[dict[str, Any]], field: str) -> np.ndarray | None:
    """`field` of every row as float64 (absent/null -> NaN); None unless all are plain numbers."""
    values = [row.get(field) for row in rows]
    if not set(map(type, values)) <= _PLAIN_NUMBERS:
        return None
    out = np.array(values, dtype=np.float64)
    if int(np.count_nonzero(np.isnan(out))) != values.count(None):
        return None  # a NaN literal from a lenient decoder: the row path rejects it as such
    return out


def _strike_columns(
    rows: list[Any], root: str, as_of: date
) -> tuple[ChainColumns, float | None, datetime | None, int] | None:
    """The rows as contract columns (call, put, call, put, ... as `_add_pair` adds them), the
    spot (first positive stockPrice), the latest updatedAt and how many sides took smvVol;
    None when a row needs the per-row path (not an object, another tradeDate, a value that is
    not a plain JSON number, an expiration that is not YYYY-MM-DD), which then decides every
    row exactly as before. Pays where the rate does not bound: 6,000 contracts a request."""
    n = len(rows)
    if not n or set(map(type, rows)) != {dict}:
        return None
    day = as_of.isoformat()
    if any(row.get(F["session"]) != day for row in rows):
        return None
    expirations = [row.get(F["expiration_date"]) for row in rows]
    expiration = iso_date_column(expirations)
    if expiration is None:
        return None
    names = ("strike", "underlying_price", "gamma", "vega", "call.delta", "call.theta",
             "implied_volatility.fallback", "call.implied_volatility", "put.implied_volatility",
             "call.bid", "call.ask", "put.bid", "put.ask", "call.volume", "put.volume",
             "call.open_interest", "put.open_interest")  # fmt: skip
    v: dict[str, np.ndarray] = {}
    for name in names:
        values = _floats(rows, F[name])
        if values is None:
            return None
        v[name] = values

    def pair(call: np.ndarray, put: np.ndarray) -> np.ndarray:
        out = np.empty(2 * n, dtype=call.dtype)
        out[0::2], out[1::2] = call, put
        return out

    smv = v["implied_volatility.fallback"]
    smoothed = 0
    ivs = []
    for side in ("call", "put"):
        mid = v[f"{side}.implied_volatility"]
        with np.errstate(invalid="ignore"):
            fallback = np.where(smv > 0, smv, np.nan)
            own = mid > 0
        smoothed += int(np.count_nonzero(~own & ~np.isnan(fallback)))
        ivs.append(np.where(own, mid, fallback))
    delta, nan = v["call.delta"], np.full(n, np.nan)
    columns = ChainColumns(
        expiration_date=pair(expiration, expiration),
        strike=pair(v["strike"], v["strike"]),
        is_call=pair(np.ones(n, dtype=bool), np.zeros(n, dtype=bool)),
        bid=pair(v["call.bid"], v["put.bid"]),
        ask=pair(v["call.ask"], v["put.ask"]),
        last=pair(nan, nan),  # callValue/putValue are theoretical, not trades
        volume=pair(v["call.volume"], v["put.volume"]),
        open_interest=pair(v["call.open_interest"], v["put.open_interest"]),
        implied_volatility=pair(ivs[0], ivs[1]),
        delta=pair(delta, delta - 1.0),
        gamma=pair(v["gamma"], v["gamma"]),
        theta=pair(v["call.theta"], nan),
        vega=pair(v["vega"], v["vega"]),
        multiplier=np.full(2 * n, 100, dtype=np.int64),
        root=root,  # symbols: occ_symbol(root, expiration, C/P, strike), as the row path
    )
    with np.errstate(invalid="ignore"):
        priced = np.flatnonzero(v["underlying_price"] > 0)
    spot = float(v["underlying_price"][priced[0]]) if priced.size else None
    marks = {t for t in (row.get(F["provider_mark_time"]) for row in rows) if isinstance(t, str)}
    stamps = (_utc(t) for t in marks)  # one parse per distinct stamp
    mark = max((t for t in stamps if t is not None), default=None)
    return columns, spot, mark, smoothed


class OratsProvider:
    """Provider "orats". `requests_made` counts every HTTP request this instance sent."""

    name = NAME
    # How many symbols ingest_day may fetch at once. ORATS documents a rate (1,000 requests a
    # minute, https://docs.orats.io/datav2-api-guide/data.html), which the limiter keeps, and no
    # bound on requests in flight [U]; 4 overlaps the server's time (a whole chain per request)
    # with our parsing, as for Polygon. fetch_chain keeps no per-call state on the instance.
    max_concurrency = 4

    def __init__(
        self,
        *,
        api_token: str | None,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit_per_minute: float = DEFAULT_RATE_LIMIT_PER_MINUTE,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        row_cap: int = DEFAULT_ROW_CAP,
        now: Callable[[], datetime] = now_in_new_york,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if api_token is None or not api_token.strip():
            raise ProviderConfigError(
                "ORATS_API_TOKEN is not set: export ORATS_API_TOKEN to use the 'orats' provider"
            )
        if row_cap < 1:
            raise ProviderConfigError(f"row_cap must be >= 1: {row_cap}")
        self._http = HttpTransport(
            base_url=base_url,
            api_key=api_token.strip(),
            auth="query:token",
            rate_limit_per_minute=rate_limit_per_minute,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            sleep=sleep,
        )
        self._row_cap = row_cap
        self._now = now

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
        """One request (a row holds a call and a put); a chain at the row cap is asked again in
        the dte windows; 0 when the day is refused before any request."""
        if not WINDOW.serves(day, now=self._now):
            return 0
        rows = max(contracts_hint, 1) / 2
        return 1 if rows < self._row_cap else 1 + len(DTE_WINDOWS)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OratsProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ contract

    def fetch_chain(self, symbol: str, as_of: date) -> ChainSnapshot:
        sym = history_symbol(symbol)
        WINDOW.refuse(as_of, now=self._now)
        stats = RequestStats()
        rows = self._all_rows(sym, as_of, stats)
        if not rows:
            raise NoContracts(
                f"no contracts for {sym} on {as_of.isoformat()} from orats (empty 'data')"
            )
        builder = ChainBuilder(sym, as_of)
        spot: float | None = None
        mark: datetime | None = None
        smoothed = 0
        columns = _strike_columns(rows, sym, as_of)
        if columns is not None:
            pairs, spot, mark, smoothed = columns
            builder.add_columns(pairs)
            rows = []  # every row read column-wise
        for row in rows:
            if not isinstance(row, Mapping):
                builder.reject(MALFORMED_ROW, 2)
                continue
            row_day = parse_day(row.get(F["session"]))
            if row_day != as_of:
                builder.reject(WRONG_DATE if row_day else MALFORMED_ROW, 2)
                continue
            smoothed += self._add_pair(builder, sym, row)
            spot = spot or _positive(row.get(F["underlying_price"]))
            when = _utc(row.get(F["provider_mark_time"]))
            if when is not None and (mark is None or when > mark):
                mark = when
        if not builder and builder.rejected.get(WRONG_DATE):
            raise ProviderError(
                f"ORATS answered {sym} on {as_of.isoformat()} with rows of other dates only; "
                "refusing to substitute them"
            )
        snap = builder.build(
            provider=NAME,
            underlying_price=spot,
            underlying_price_source=(
                "orats:hist/strikes.stockPrice" if spot else "orats:unavailable"
            ),
            provider_mark_time=mark,
            requests=stats.requests,
            open_interest_as_of=previous_session(as_of),  # assumed: OCC's morning figure
            open_interest_source=OI_SOURCE,
        )
        log.debug(
            "%s %s: %d quotes (%d with smvVol as IV), %d rejected, %d requests",
            sym,
            as_of,
            len(snap.columns),  # never materialise per-contract objects for a log line
            smoothed,
            snap.rejected_count,
            snap.requests,
        )
        return snap

    def check(self, symbol: str, day: date | None = None) -> ProviderCheckReport:
        """The one request fetch_chain makes, and which FIELD_MAP entries its rows carry."""
        sym = plain_symbol(symbol)
        day = day or previous_session(self._now().date())
        stats = RequestStats()
        request = f"{STRIKES_PATH}?ticker={sym}&tradeDate={day.isoformat()}"  # never the token
        try:
            rows = self._rows(sym, day, stats)
        except ProviderError as exc:
            endpoint = EndpointCheck("strikes", request, self._http.scrub(str(exc)), error=True)
        else:
            seen = json_paths(rows[:100])
            matched, missing, optional = match_fields(
                seen,
                {k: (v,) for k, v in F.items()},
                CHECK_REQUIRED,
                [k for k in F if k not in CHECK_REQUIRED],
            )
            endpoint = EndpointCheck(
                "strikes", request, "HTTP 200", len(rows), seen, matched, missing, optional
            )
        notes = (
            "one row per (expiration, strike): call and put side by side; the put's delta "
            "is delta - 1",
            "open interest of the tradeDate row is stored for that session as the previous "
            "session's figure (ORATS does not document when it is taken)",
        )
        return ProviderCheckReport(NAME, sym, day, (endpoint,), stats.requests, notes)

    # ------------------------------------------------------------------ requests

    def _rows(
        self, sym: str, as_of: date, stats: RequestStats, dte: tuple[int, int] | None = None
    ) -> list[Any]:
        params = {"ticker": sym, "tradeDate": as_of.isoformat()}
        if dte is not None:
            params["dte"] = f"{dte[0]},{dte[1]}"
        body = self._http.get_json(STRIKES_PATH, params, stats=stats)
        data = body.get("data")
        if not isinstance(data, list):
            raise ProviderError(
                f"unexpected response shape from {STRIKES_PATH}: 'data' is "
                f"{'missing' if data is None else type(data).__name__}"
            )
        return data

    def _all_rows(self, sym: str, as_of: date, stats: RequestStats) -> list[Any]:
        rows = self._rows(sym, as_of, stats)
        if len(rows) < self._row_cap:
            return rows
        log.debug("%s %s: %d rows = the cap; asking again by dte window", sym, as_of, len(rows))
        out: list[Any] = []
        pending = list(DTE_WINDOWS)
        while pending:
            lo, hi = pending.pop(0)
            part = self._rows(sym, as_of, stats, (lo, hi))
            if len(part) < self._row_cap:
                out.extend(part)
            elif lo == hi:
                raise ProviderError(
                    f"ORATS returned the row cap ({self._row_cap}) for {sym} on "
                    f"{as_of.isoformat()} even for dte={lo}; the chain would be incomplete"
                )
            else:
                mid = (lo + hi) // 2
                pending[:0] = [(lo, mid), (mid + 1, hi)]
        return out

    # ------------------------------------------------------------------ rows

    @staticmethod
    def _add_pair(builder: ChainBuilder, root: str, row: Mapping[str, Any]) -> int:
        """Adds the call and the put of one row; returns how many took smvVol as their IV."""
        expiration, strike = row.get(F["expiration_date"]), row.get(F["strike"])
        try:
            exp = date.fromisoformat(expiration) if isinstance(expiration, str) else None
        except ValueError:
            exp = None
        k = _positive(strike)
        delta = row.get(F["call.delta"])
        put_delta = (
            delta - 1.0 if isinstance(delta, int | float) and not isinstance(delta, bool) else delta
        )
        smoothed = 0
        for side, cp, side_delta, theta in (
            ("call", "C", delta, row.get(F["call.theta"])),
            ("put", "P", put_delta, None),
        ):
            iv = row.get(F[f"{side}.implied_volatility"])
            if not _positive(iv):
                iv = _positive(row.get(F["implied_volatility.fallback"]))
                smoothed += iv is not None
            builder.add(
                contract_symbol=occ_symbol(root, exp, cp, k) if exp and k else None,
                expiration_date=expiration,
                strike=strike,
                option_type=cp,
                bid=row.get(F[f"{side}.bid"]),
                ask=row.get(F[f"{side}.ask"]),
                volume=row.get(F[f"{side}.volume"]),
                open_interest=row.get(F[f"{side}.open_interest"]),
                implied_volatility=iv,
                delta=side_delta,
                gamma=row.get(F["gamma"]),
                theta=theta,
                vega=row.get(F["vega"]),
            )
        return smoothed
