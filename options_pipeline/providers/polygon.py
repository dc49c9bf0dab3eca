"""Polygon.io / Massive provider ("polygon"): honest current-session and historical chains.

Which endpoint answers depends only on the as-of date D versus today's date in America/New_York
(`clock`, injectable):

- D == today: the chain snapshot `GET /v3/snapshot/options/{symbol}` (limit=250, every page).
  It has no date parameter and always returns *now*, so it is never used for another day.
- D < today: Massive's end-of-day endpoints: `GET /options/v1/analytics` (underlying_ticker=S,
  date=D), which lists every root of S, then `GET /options/v1/open-interest` once per OCC root
  seen there (root=R, date=the session before D), joined by contract ticker. A plan without
  them -> 403 -> NotAvailable; the snapshot is never substituted.
- D > today: NotAvailable. Weekends and NYSE holidays: NoContracts before any request.

Open interest for D is the figure known at D's open, i.e. the one for the end of the previous
session, on both paths (the snapshot shows exactly that; the history endpoint is asked for the
previous session), so a backfilled day means the same as a day collected live.

Index underlyings are stored plain (SPX); the snapshot is asked for `I:SPX`, every other
endpoint for `SPX`.

Pages are normalised as they arrive (normalize.ChainBuilder), so raw pages are never held; a
snapshot page is read column-wise (one array per field, validated as arrays) unless one of its
rows needs the per-row rules.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import repeat
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np

from options_pipeline.calendar import is_session, previous_session, today_in_new_york
from options_pipeline.models import ChainColumns, ChainSnapshot
from options_pipeline.providers.base import NotAvailable, ProviderConfigError, ProviderError
from options_pipeline.providers.check import (
    EndpointCheck,
    ProviderCheckReport,
    json_paths,
    match_fields,
)
from options_pipeline.providers.normalize import (
    MALFORMED_ROW,
    NOT_LISTED,
    WRONG_DATE,
    ChainBuilder,
    epoch_to_datetime,
    iso_date_column,
    parse_day,
    parse_occ,
    raise_if_closed,
    strip_prefix,
)
from options_pipeline.providers.transport import HttpTransport, RequestStats, request_id
from options_pipeline.symbols import is_index, normalize_symbol

log = logging.getLogger(__name__)

NAME = "polygon"
# Official clients default to api.massive.com; api.polygon.io "remains supported for an
# extended period" (massive-com/client-python README).
DEFAULT_BASE_URL = "https://api.massive.com"
API_KEY_ENV_VARS = ("MASSIVE_API_KEY", "POLYGON_API_KEY")  # first set wins
SNAPSHOT_PAGE_LIMIT = 250  # documented max of the chain snapshot (client-python OpenAPI spec)
# Page size of the /options/v1 endpoints. Their cap is UNVERIFIED (not in any official spec):
# the only documented cap of an /options/v1 listing is 999 (/options/v1/exchanges); others in
# the "/<namespace>/v1" family cap at 1000, 5000 or 50000. We ask 5000 first; a 400 about
# `limit` falls back to HISTORY_PAGE_LIMIT_DOCUMENTED for the rest of this provider's life and
# is logged once. A silently clamped size only costs more pages (next_url is followed).
HISTORY_PAGE_LIMIT = 5000
HISTORY_PAGE_LIMIT_DOCUMENTED = 999
CHECK_PAGE_LIMIT = 10  # `provider check`: a few rows prove the field names
_SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")

SNAPSHOT_PATH = "/v3/snapshot/options/{symbol}"
ANALYTICS_PATH = "/options/v1/analytics"
OPEN_INTEREST_PATH = "/options/v1/open-interest"
OI_SOURCE_HISTORY = "polygon:options/v1/open-interest"
OI_SOURCE_SNAPSHOT = "polygon:snapshot.open_interest"

# Chain snapshot field map: our name -> JSON path ("a.b" = nested). VERIFIED: OpenAPI spec in
# massive-com/client-python (2026-07), GET /v3/snapshot/options/{underlyingAsset}.
# Facts: no date parameter (an as_of/date is silently ignored: today's values come back), limit
# max 250; `open_interest` is "held at the end of the last trading day"; `greeks` is absent for
# some contracts (deep ITM); `last_quote`/`last_trade` depend on the plan; index underlyings are
# asked as `I:SPX` (Massive knowledge base).
SNAPSHOT_FIELDS: dict[str, tuple[str, ...]] = {
    "ticker": ("details.ticker",),  # "O:SPY251219C00600000"
    "contract_type": ("details.contract_type",),  # "call" | "put"
    "expiration_date": ("details.expiration_date",),  # "YYYY-MM-DD"
    "strike_price": ("details.strike_price",),
    "shares_per_contract": ("details.shares_per_contract",),
    "open_interest": ("open_interest",),
    "implied_volatility": ("implied_volatility",),
    "delta": ("greeks.delta",),
    "gamma": ("greeks.gamma",),
    "theta": ("greeks.theta",),
    "vega": ("greeks.vega",),
    "bid": ("last_quote.bid",),  # plan-dependent
    "ask": ("last_quote.ask",),  # plan-dependent
    "quote_updated": ("last_quote.last_updated",),  # ns epoch
    "close": ("day.close",),
    "volume": ("day.volume",),
    "last_trade_price": ("last_trade.price",),  # plan-dependent
    "underlying_price": ("underlying_asset.price",),
    "underlying_updated": ("underlying_asset.last_updated",),  # ns epoch
}
SNAPSHOT_REQUIRED = (
    "ticker",
    "contract_type",
    "expiration_date",
    "strike_price",
    "open_interest",
    "implied_volatility",
    "underlying_price",
)
SNAPSHOT_OPTIONAL = tuple(n for n in SNAPSHOT_FIELDS if n not in SNAPSHOT_REQUIRED)

# Field map of the two end-of-day endpoints: our name -> candidate JSON paths, first present
# wins ("a.b" = nested). Doc pages:
#   [A] https://massive.com/docs/rest/options/analytics/greeks-iv (GET /options/v1/analytics)
#   [O] https://massive.com/docs/rest/options/analytics/open-interest-by-contract
#       (GET /options/v1/open-interest)
# VERIFIED on those pages (query side): [A] filters `ticker`(+.any_of), `underlying_ticker`
# (+.any_of, "Underlying symbol": plain, no I: prefix) and `date` (a day or a range);
# [O] filters `ticker`(+.any_of/.gt/.gte/.lt/.lte), `root` and `date`.
# [A] one row per listed contract per trading day, from a 15:45 ET snapshot (12:45 ET on early
#     closes); an unpriceable contract still has a row, with null greeks.
# [A] rows carry delta, gamma, theta, vega, rho, the solved IV and its inputs (underlying
#     price, dividend yield, risk-free rate); no contract type/expiry/strike/quotes listed.
# [O] `root` is the OCC root, which differs from the underlying (SPXW, AMCR1): ask every root.
# [O] "The `date` field is the trading session each figure is for"; it arrives next morning.
# [O] rows carry underlying ticker, OCC root, contract type, expiration, strike, open interest.
# UNVERIFIED (no spec or client has these endpoints yet): every JSON field name below, the page
# cap and that paging is `next_url`. First names follow the snapshot's and the contracts
# endpoint's naming; later ones are defensive alternatives. Identity falls back to the OCC
# ticker, so only `ticker` is strictly needed; a page whose rows carry no ticker at all is an
# "unexpected response shape" error, never zero contracts. `provider check` shows which match.
HISTORY_FIELDS: dict[str, tuple[str, ...]] = {
    "ticker": ("ticker", "options_ticker", "details.ticker"),  # [A][O]
    "date": ("date", "session_date", "as_of"),  # [A][O] (`date` is a documented query param)
    "contract_type": ("contract_type", "details.contract_type", "type"),  # [O] ([A]?)
    "expiration_date": ("expiration_date", "details.expiration_date"),  # [O] ([A]?)
    "strike_price": ("strike_price", "details.strike_price", "strike"),  # [O] ([A]?)
    "open_interest": ("open_interest", "oi"),  # [O]
    "implied_volatility": ("implied_volatility", "iv", "greeks.implied_volatility"),  # [A]
    "delta": ("delta", "greeks.delta"),  # [A]
    "gamma": ("gamma", "greeks.gamma"),  # [A]
    "theta": ("theta", "greeks.theta"),  # [A]
    "vega": ("vega", "greeks.vega"),  # [A]
    "underlying_price": ("underlying_price", "underlying_asset.price", "underlying.price"),  # [A]
    "shares_per_contract": ("shares_per_contract", "details.shares_per_contract"),  # [A?][O?]
}
# Further facts this provider relies on (one line each; source in brackets):
# - listings page with `next_url` until absent; it carries no key, re-attached as Bearer [spec]
# - a repeating options-snapshot cursor never ends: stop at a repeat [polygon-io/issues#289]
# - 401 "API Key was not provided"; 403 NOT_AUTHORIZED "Your plan doesn't include this data
#   timeframe"; 429 above the plan's rate, no documented Retry-After [docs, user issue threads]
# - free tier 5 requests/minute; paid plans "unlimited" (stay under ~100/s) [massive.com]
# - /v3/reference/options/contracts?underlying_ticker=SPX&as_of=D&expired=true lists a past
#   day's roots and shares_per_contract, limit max 1000; unused: analytics list every root [spec]
# - /options/v1/open-interest/underlying totals every root of an underlying: a checksum of the
#   per-contract sum; unused [open-interest-by-underlying page]
# - past-day aggregates, open-close and OPRA flat files carry no OI or IV; unused [knowledge base]
ANALYTICS_REQUIRED = ("ticker", "implied_volatility", "delta", "gamma", "theta", "vega",
                      "underlying_price")  # fmt: skip
ANALYTICS_OPTIONAL = ("date", "contract_type", "expiration_date", "strike_price",
                      "shares_per_contract")  # fmt: skip
OPEN_INTEREST_REQUIRED = ("ticker", "open_interest")
OPEN_INTEREST_OPTIONAL = ("date", "contract_type", "expiration_date", "strike_price")


def _get(row: Mapping[str, Any], path: str) -> Any:
    node: Any = row
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


# HISTORY_FIELDS with each candidate split once: (key,) or (block, key)
_HISTORY_PARTS = {
    name: tuple(tuple(path.split(".")) for path in paths) for name, paths in HISTORY_FIELDS.items()
}


def history_field(row: Mapping[str, Any], name: str) -> Any:
    """The first present candidate of HISTORY_FIELDS[name] in `row`, else None."""
    for parts in _HISTORY_PARTS[name]:
        node: Any = row
        for part in parts:
            if not isinstance(node, Mapping):
                node = None
                break
            node = node.get(part)
        if node is not None:
            return node
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
            request_id=request_id(page),
        )
    return rows


def snapshot_ticker(symbol: str) -> str:
    """The chain snapshot's notation: `I:SPX` for an index, the plain ticker otherwise."""
    return f"I:{symbol}" if is_index(symbol) else symbol


def _split(path: str) -> tuple[str | None, str]:
    block, _, key = path.rpartition(".")
    return (block or None), key


# (name, block, key) of every snapshot field: paths are at most two levels deep
_SNAPSHOT_ITEMS = tuple((name, *_split(paths[0])) for name, paths in SNAPSHOT_FIELDS.items())
_SNAPSHOT_TOP = tuple((name, key) for name, block, key in _SNAPSHOT_ITEMS if block is None)
_SNAPSHOT_NESTED = tuple(
    (block, tuple((name, key) for name, b, key in _SNAPSHOT_ITEMS if b == block))
    for block in dict.fromkeys(b for _, b, _ in _SNAPSHOT_ITEMS if b)
)


def snapshot_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every SNAPSHOT_FIELDS entry of a chain-snapshot row (None when absent)."""
    out = {name: row.get(key) for name, key in _SNAPSHOT_TOP}
    for block, keys in _SNAPSHOT_NESTED:
        node = row.get(block)
        if isinstance(node, dict):
            for name, key in keys:
                out[name] = node.get(key)
        else:
            for name, _ in keys:
                out[name] = None
    return out


# ------------------------------------------------------------------ column-wise pages

_PLAIN_NUMBERS = frozenset({float, int, type(None)})  # JSON numbers and null; not bool
_CALL_PUT = {"call": True, "put": False}
_EMPTY: dict[str, Any] = {}


def _floats(values: list[Any]) -> np.ndarray | None:
    """Plain JSON numbers (null -> NaN) as float64; None when any value is something else."""
    if not set(map(type, values)) <= _PLAIN_NUMBERS:
        return None
    out = np.array(values, dtype=np.float64)
    if int(np.count_nonzero(np.isnan(out))) != values.count(None):
        return None  # a NaN literal from a lenient decoder: the row path rejects it as such
    return out


@dataclass(frozen=True, slots=True)
class _SnapshotPage:
    columns: ChainColumns
    underlying_price: np.ndarray  # NaN where absent
    underlying_updated: np.ndarray  # NaN where absent
    quote_updated: np.ndarray  # NaN where absent


def snapshot_page_columns(rows: list[Any], symbol: str) -> _SnapshotPage | None:
    """A page of chain-snapshot rows as columns (the SNAPSHOT_FIELDS map, `last` = day.close,
    else last_trade.price), or None when some row needs the per-row path: a row or `details`
    that is not an object, a value that is not a plain JSON number where one is expected, a
    contract type other than "call"/"put", an expiration that is not YYYY-MM-DD, a ticker
    missing, a fractional multiplier. The row path then decides those rows exactly as always;
    a clean page (every page a vendor sends in practice) costs a few array operations."""
    n = len(rows)
    if n == 0 or set(map(type, rows)) != {dict}:
        return None
    blocks: dict[str | None, list[dict[str, Any]]] = {None: rows}
    for block, _ in _SNAPSHOT_NESTED:
        nodes = list(map(dict.get, rows, repeat(block, n)))
        blocks[block] = [b if type(b) is dict else _EMPTY for b in nodes]
        if block == "details" and _EMPTY in blocks[block]:
            return None  # a row without its contract block: malformed, counted per row
    raw: dict[str, list[Any]] = {
        name: list(map(dict.get, blocks[block], repeat(key, n)))
        for name, block, key in _SNAPSHOT_ITEMS
    }

    tickers = raw["ticker"]
    if set(map(type, tickers)) != {str}:
        return None
    symbols = [strip_prefix(t) for t in tickers]
    if "" in symbols:
        return None
    types = raw["contract_type"]
    if set(map(type, types)) != {str}:
        return None  # (a list or an object is not even a dictionary key)
    is_call = [_CALL_PUT.get(v) for v in types]
    if None in is_call:
        return None
    expirations = raw["expiration_date"]
    expiration = iso_date_column(expirations)
    if expiration is None:
        return None

    numbers: dict[str, np.ndarray] = {}
    for name in SNAPSHOT_FIELDS:
        if name in ("ticker", "contract_type", "expiration_date"):
            continue
        values = _floats(raw[name])
        if values is None:
            return None
        numbers[name] = values
    multiplier = numbers["shares_per_contract"]
    multiplier = np.where(np.isnan(multiplier), 100.0, multiplier)
    if not (np.isfinite(multiplier).all() and (multiplier == np.round(multiplier)).all()):
        return None
    close = numbers["close"]
    columns = ChainColumns(
        expiration_date=expiration,
        strike=numbers["strike_price"],
        is_call=np.array(is_call, dtype=bool),
        bid=numbers["bid"],
        ask=numbers["ask"],
        last=np.where(np.isnan(close), numbers["last_trade_price"], close),
        volume=numbers["volume"],
        open_interest=numbers["open_interest"],
        implied_volatility=numbers["implied_volatility"],
        delta=numbers["delta"],
        gamma=numbers["gamma"],
        theta=numbers["theta"],
        vega=numbers["vega"],
        multiplier=multiplier.astype(np.int64),
        contract_symbol=np.array(symbols, dtype=object),
        root=symbol,
    )
    return _SnapshotPage(
        columns,
        numbers["underlying_price"],
        numbers["underlying_updated"],
        numbers["quote_updated"],
    )


def _latest_epoch(values: np.ndarray) -> datetime | None:
    """The latest of `epoch_to_datetime(v)` over `values` (NaN = absent), as arrays: each value
    in the first unit (ns, us, ms, s) that lands in 2000..2100, exactly as that function picks."""
    remaining = values[np.isfinite(values)]
    best: float | None = None
    for scale in (1e9, 1e6, 1e3, 1.0):
        seconds = remaining / scale
        plausible = (seconds >= 946_684_800) & (seconds <= 4_102_444_800)
        if plausible.any():
            top = float(seconds[plausible].max())
            best = top if best is None else max(best, top)
        remaining = remaining[~plausible]
    return None if best is None else datetime.fromtimestamp(best, UTC)


class _Freshest:
    """The underlying price with the latest stamp and the latest quote/underlying stamp over
    the contracts kept, row by row or a page of columns at a time (the same choice both ways:
    the first of equal stamps wins)."""

    def __init__(self) -> None:
        self.underlying: tuple[float, float] | None = None  # (last_updated, price)
        self.mark: datetime | None = None

    def see_row(self, v: Mapping[str, Any]) -> None:
        price = _positive(v["underlying_price"])
        asset_stamp = v["underlying_updated"]
        if price is not None:
            stamp = _positive(asset_stamp) or 0.0
            if self.underlying is None or stamp > self.underlying[0]:
                self.underlying = (stamp, price)
        for ts in (v["quote_updated"], asset_stamp):
            when = epoch_to_datetime(ts)
            if when is not None and (self.mark is None or when > self.mark):
                self.mark = when

    def see_columns(self, page: _SnapshotPage, keep: np.ndarray) -> None:
        price, stamp = page.underlying_price, page.underlying_updated
        with np.errstate(invalid="ignore"):
            priced = np.flatnonzero(keep & np.isfinite(price) & (price > 0))
            stamps = np.where(np.isfinite(stamp) & (stamp > 0), stamp, 0.0)
        if priced.size:
            best = priced[int(np.argmax(stamps[priced]))]
            if self.underlying is None or stamps[best] > self.underlying[0]:
                self.underlying = (float(stamps[best]), float(price[best]))
        when = _latest_epoch(np.concatenate([page.quote_updated[keep], stamp[keep]]))
        if when is not None and (self.mark is None or when > self.mark):
            self.mark = when


class PolygonProvider:
    """Provider "polygon". `requests_made` counts every HTTP request this instance sent."""

    name = NAME
    # fetch_chain keeps no per-call state on the instance and the transport is thread-safe (one
    # pooled session, a locked limiter): ingest_day may fetch this many symbols at once, which
    # overlaps the server's time and ours while the limiter keeps the rate
    max_concurrency = 4

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit_per_minute: float = 5,
        rate_limit_window_seconds: float = 60.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 4,
        clock: Callable[[], date] = today_in_new_york,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        snapshot_page_limit: int = SNAPSHOT_PAGE_LIMIT,
        history_page_limit: int = HISTORY_PAGE_LIMIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if api_key is None or not api_key.strip():
            raise ProviderConfigError(
                "no API key: export MASSIVE_API_KEY (or POLYGON_API_KEY), or configure "
                "polygon_api_key on the provider resource, to use the 'polygon' provider"
            )
        if not 1 <= snapshot_page_limit <= SNAPSHOT_PAGE_LIMIT:
            raise ProviderConfigError(f"snapshot_page_limit must be 1..250: {snapshot_page_limit}")
        if history_page_limit < 1:
            raise ProviderConfigError(f"history_page_limit must be >= 1: {history_page_limit}")
        self._http = HttpTransport(
            base_url=base_url,
            api_key=api_key.strip(),
            rate_limit_per_minute=rate_limit_per_minute,
            rate_limit_window=rate_limit_window_seconds,
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
        self._limit_lock = threading.Lock()

    @property
    def requests_made(self) -> int:
        return self._http.requests

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def history_page_limit(self) -> int:
        """The page size asked of the /options/v1 endpoints now (after any fallback)."""
        return self._history_limit

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
        contracts, retries aside: today the snapshot's pages, ceil(N / 250); a past session the
        analytics pages, ceil(N / page), plus the open-interest pages of every root (an index
        has two, e.g. SPX and SPXW: one more first page); a closed or future day none."""
        today = self._clock()
        if day > today or not is_session(day):
            return 0
        n = max(contracts_hint, 1)
        if day == today:
            return math.ceil(n / self._snapshot_limit)
        extra_roots = 1 if is_index(symbol) else 0
        return 2 * math.ceil(n / self._history_limit) + extra_roots

    def __enter__(self) -> PolygonProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ contract

    def _symbol(self, symbol: str) -> str:
        try:
            sym = normalize_symbol(symbol)
        except ValueError:
            sym = ""
        if not _SYMBOL_RE.match(sym):
            raise ProviderError(f"invalid underlying symbol {symbol!r}")
        return sym

    def fetch_chain(self, symbol: str, as_of: date) -> ChainSnapshot:
        sym = self._symbol(symbol)
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
            "%s %s: %d quotes, %d rejected, %d merged, %d requests",
            sym,
            as_of,
            len(snap.columns),  # never materialise per-contract objects for a log line
            snap.rejected_count,
            snap.merged,
            snap.requests,
        )
        return snap

    # ------------------------------------------------------------------ current session

    def _current_session(self, sym: str, as_of: date, stats: RequestStats) -> ChainSnapshot:
        path = SNAPSHOT_PATH.format(symbol=quote(snapshot_ticker(sym), safe=":"))
        builder = ChainBuilder(sym, as_of)
        fresh = _Freshest()
        for page in self._http.iter_pages(path, {"limit": self._snapshot_limit}, stats=stats):
            rows = _results(page, path)
            columns = snapshot_page_columns(rows, sym)
            if columns is not None:
                fresh.see_columns(columns, builder.add_columns_kept(columns.columns))
                continue
            for row in rows:  # a page with an odd row: every row decided one by one
                if not isinstance(row, Mapping) or not isinstance(row.get("details"), Mapping):
                    builder.reject(MALFORMED_ROW)
                    continue
                v = snapshot_values(row)
                last = v["close"]
                if last is None:
                    last = v["last_trade_price"]
                added = builder.add(
                    contract_symbol=v["ticker"],
                    expiration_date=v["expiration_date"],
                    strike=v["strike_price"],
                    option_type=v["contract_type"],
                    bid=v["bid"],
                    ask=v["ask"],
                    last=last,
                    volume=v["volume"],
                    open_interest=v["open_interest"],
                    implied_volatility=v["implied_volatility"],
                    delta=v["delta"],
                    gamma=v["gamma"],
                    theta=v["theta"],
                    vega=v["vega"],
                    multiplier=v["shares_per_contract"],
                )
                if added is not None:
                    fresh.see_row(v)
        underlying, mark = fresh.underlying, fresh.mark
        return builder.build(
            provider=NAME,
            underlying_price=underlying[1] if underlying else None,
            underlying_price_source=(
                "polygon:snapshot.underlying_asset.price" if underlying else "polygon:unavailable"
            ),
            provider_mark_time=mark,
            requests=stats.requests,
            open_interest_as_of=previous_session(as_of),  # "held at the end of the last day"
            open_interest_source=OI_SOURCE_SNAPSHOT,
        )

    # ------------------------------------------------------------------ history

    def _pages(
        self,
        path: str,
        params: Mapping[str, Any],
        stats: RequestStats,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every page of an /options/v1 listing; a 400 about `limit` on the first page falls
        back to the documented page size once (then for good) and says so in the log."""
        while True:
            size = limit or self._history_limit
            first = True
            try:
                for page in self._http.iter_pages(path, {**params, "limit": size}, stats=stats):
                    first = False
                    yield page
                return
            except ProviderError as exc:
                if not (first and limit is None and _refuses_limit(exc)):
                    raise
                if size <= HISTORY_PAGE_LIMIT_DOCUMENTED:
                    raise
                with self._limit_lock:
                    if self._history_limit == size:
                        self._history_limit = HISTORY_PAGE_LIMIT_DOCUMENTED
                        log.warning(
                            "%s refused limit=%d (%s); using %d, the largest documented page "
                            "size, from now on",
                            path,
                            size,
                            exc,
                            HISTORY_PAGE_LIMIT_DOCUMENTED,
                        )

    def _history_rows(
        self,
        path: str,
        params: dict[str, Any],
        day: date,
        builder: ChainBuilder,
        stats: RequestStats,
    ) -> Iterable[tuple[str, Mapping[str, Any]]]:
        """(normalised ticker, row) of every row stamped `day`; wrong-date/malformed counted."""
        params = {**params, "date": day.isoformat()}
        for page in self._pages(path, params, stats):
            rows = _results(page, path)
            with_ticker = 0
            for row in rows:
                ticker = history_field(row, "ticker") if isinstance(row, Mapping) else None
                if not isinstance(ticker, str) or not strip_prefix(ticker):
                    builder.reject(MALFORMED_ROW)
                    continue
                with_ticker += 1
                row_day = parse_day(history_field(row, "date"))
                if row_day is not None and row_day != day:
                    builder.reject(WRONG_DATE)  # never file another session's values under D
                    continue
                yield strip_prefix(ticker), row
            if rows and with_ticker == 0:
                raise ProviderError(
                    f"unexpected response shape from {path}: none of {len(rows)} rows has a "
                    f"contract ticker (looked for {', '.join(HISTORY_FIELDS['ticker'])})",
                    request_id=request_id(page),
                )

    def _historical(self, sym: str, as_of: date, stats: RequestStats) -> ChainSnapshot:
        builder = ChainBuilder(sym, as_of)
        day = as_of.isoformat()
        oi_day = previous_session(as_of)  # the figure known at D's open

        # 1) greeks & IV for every root of the underlying (plain ticker, also for indices)
        greeks: dict[str, tuple[Any, ...]] = {}
        roots: set[str] = set()
        underlying: float | None = None
        q = {"underlying_ticker": sym}
        for ticker, row in self._history_rows(ANALYTICS_PATH, q, as_of, builder, stats):
            greeks[ticker] = tuple(history_field(row, n) for n in _ANALYTICS_KEEP)
            occ = parse_occ(ticker)
            if occ is not None:
                roots.add(occ[0])
            if underlying is None:
                underlying = _positive(history_field(row, "underlying_price"))
        analytics_rows = len(greeks)

        # 2) open interest per OCC root seen (root=SPX misses SPXW), joined by ticker. The
        # analytics list every contract of D ("one row per listed contract"); a figure for any
        # other (expired on the session before, delisted) is not part of D's chain.
        oi_rows = 0
        with_oi: set[str] = set()
        for root in sorted(roots or {sym}):
            for ticker, row in self._history_rows(
                OPEN_INTEREST_PATH, {"root": root}, oi_day, builder, stats
            ):
                oi_rows += 1
                g = greeks.get(ticker)
                if g is None:
                    builder.reject(NOT_LISTED)
                    continue
                oi_row = tuple(history_field(row, n) for n in _OI_KEEP)
                self._add_history(builder, ticker, g, oi_row)
                with_oi.add(ticker)

        # 3) contracts listed on D without an OPRA figure (e.g. new on D): kept, without OI
        for ticker, g in greeks.items():
            if ticker not in with_oi:
                self._add_history(builder, ticker, g, None)

        if analytics_rows and not oi_rows:
            raise NotAvailable(
                f"open interest for {sym} for session {oi_day.isoformat()} (known at the open "
                f"of {day}) is not available (yet): {OPEN_INTEREST_PATH} returned no rows for "
                f"root(s) {', '.join(sorted(roots or {sym}))}; it is published the next morning"
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
            open_interest_as_of=oi_day,
            open_interest_source=OI_SOURCE_HISTORY,
        )

    @staticmethod
    def _add_history(
        builder: ChainBuilder,
        ticker: str,
        g: tuple[Any, ...] | None,
        oi_row: tuple[Any, ...] | None,
    ) -> None:
        iv, delta, gamma, theta, vega, g_type, g_exp, g_strike, mult = g or (None,) * 9
        oi_val, oi_type, oi_exp, oi_strike = oi_row or (None,) * 4
        occ = parse_occ(ticker)
        o_type, o_exp, o_strike = (occ[2], occ[1], occ[3]) if occ else (None, None, None)

        def first(*values: Any) -> Any:
            return next((v for v in values if v is not None), None)

        builder.add(
            contract_symbol=ticker,
            expiration_date=first(g_exp, oi_exp, o_exp),
            strike=first(g_strike, oi_strike, o_strike),
            option_type=first(g_type, oi_type, o_type),
            open_interest=oi_val,
            implied_volatility=iv,
            delta=delta,
            gamma=gamma,
            theta=theta,
            vega=vega,
            multiplier=mult,
        )

    # ------------------------------------------------------------------ provider check

    def check(self, symbol: str, day: date | None = None) -> ProviderCheckReport:
        """One small request per endpoint; which field-map entries the answers carry."""
        sym = self._symbol(symbol)
        session = day or previous_session(self._clock())
        oi_day = previous_session(session)
        stats = RequestStats()
        notes = [
            f"base URL {self.base_url}",
            f"open interest is asked for {oi_day.isoformat()}, the session before "
            f"{session.isoformat()} (the figure known at its open)",
        ]
        results: list[EndpointCheck] = []
        analytics_q = {
            "underlying_ticker": sym,
            "date": session.isoformat(),
            "limit": CHECK_PAGE_LIMIT,
        }
        a_check, a_rows = self._check_endpoint(
            "analytics",
            ANALYTICS_PATH,
            analytics_q,
            HISTORY_FIELDS,
            ANALYTICS_REQUIRED,
            ANALYTICS_OPTIONAL,
            stats,
        )
        results.append(a_check)
        roots = sorted(
            {
                occ[0]
                for occ in (
                    parse_occ(str(history_field(r, "ticker") or ""))
                    for r in a_rows
                    if isinstance(r, Mapping)
                )
                if occ
            }
        )
        root = sym if sym in roots or not roots else roots[0]
        if roots:
            notes.append(
                f"OCC roots in the first analytics rows: {', '.join(roots)} "
                "(open interest is asked once per root seen)"
            )
        oi_q = {"root": root, "date": oi_day.isoformat(), "limit": CHECK_PAGE_LIMIT}
        results.append(
            self._check_endpoint(
                "open_interest",
                OPEN_INTEREST_PATH,
                oi_q,
                HISTORY_FIELDS,
                OPEN_INTEREST_REQUIRED,
                OPEN_INTEREST_OPTIONAL,
                stats,
            )[0]
        )
        snap_path = SNAPSHOT_PATH.format(symbol=quote(snapshot_ticker(sym), safe=":"))
        results.append(
            self._check_endpoint(
                "snapshot",
                snap_path,
                {"limit": CHECK_PAGE_LIMIT},
                SNAPSHOT_FIELDS,
                SNAPSHOT_REQUIRED,
                SNAPSHOT_OPTIONAL,
                stats,
            )[0]
        )
        return ProviderCheckReport(
            provider=NAME,
            symbol=sym,
            day=session,
            endpoints=tuple(results),
            requests=stats.requests,
            notes=tuple(notes),
        )

    def _check_endpoint(
        self,
        name: str,
        path: str,
        params: Mapping[str, Any],
        field_map: Mapping[str, tuple[str, ...]],
        required: tuple[str, ...],
        optional: tuple[str, ...],
        stats: RequestStats,
    ) -> tuple[EndpointCheck, list[Any]]:
        request = f"{path}?{urlencode(params)}"
        try:
            page = self._http.get_json(path, params, stats=stats)
            rows = _results(page, path)
        except ProviderError as exc:
            status = f"HTTP {exc.http_status}: " if exc.http_status else ""
            return EndpointCheck(name, request, f"{status}{exc.reason}: {exc}", error=True), []
        seen = json_paths(rows)
        matched, missing, missing_optional = match_fields(seen, field_map, required, optional)
        status = "HTTP 200" + ("" if rows else " (no rows: nothing to verify; try another --date)")
        return EndpointCheck(
            name,
            request,
            status,
            rows=len(rows),
            fields_seen=seen,
            matched=matched,
            missing=missing,
            missing_optional=missing_optional,
        ), rows


# kept per analytics row / OI row until joined (small tuples, not the raw rows)
_ANALYTICS_KEEP = (
    "implied_volatility",
    "delta",
    "gamma",
    "theta",
    "vega",
    "contract_type",
    "expiration_date",
    "strike_price",
    "shares_per_contract",
)
_OI_KEEP = ("open_interest", "contract_type", "expiration_date", "strike_price")


def _refuses_limit(exc: ProviderError) -> bool:
    return exc.http_status == 400 and "limit" in str(exc).lower()
