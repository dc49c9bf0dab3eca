"""ThetaData provider ("thetadata"): end-of-day chains from the local Theta Terminal's v3 REST API.

Per symbol-day and option root: `GET /v3/option/history/greeks/eod` with `expiration=*` (the whole
chain: EOD NBBO, volume, greeks, IV, underlying price; built by ThetaData at 17:15 ET) and
`GET /v3/option/history/open_interest` for the same date. OPRA reports open interest at ~06:30 ET
for the end of the previous session, so the figure for date D is already the one known at D's
open: it is stored for D as is (`open_interest_source` names the endpoint and date).

The terminal holds the login (no key). Tiers limit *outstanding* requests (FREE 1, VALUE 2,
STANDARD 4, PRO 8), not a rate: `concurrency` bounds the requests in flight across threads; a
day's requests for one symbol run in parallel up to that bound. Status codes: 472 NO_DATA -> no
contracts (greeks) or open interest not available; 471 PERMISSION -> not in the plan; 429 OS_LIMIT
-> back off and retry; 474 DISCONNECTED / 571 SERVER_STARTING -> retried.

Index underlyings list their weeklies under a second root (SPX + SPXW, ...): both are fetched and
merged by ChainBuilder's identity handling.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

from options_pipeline.calendar import previous_session
from options_pipeline.models import ChainSnapshot
from options_pipeline.providers.base import (
    NoContracts,
    NotAvailable,
    ProviderConfigError,
    ProviderError,
)
from options_pipeline.providers.check import (
    EndpointCheck,
    ProviderCheckReport,
    json_paths,
    match_fields,
)
from options_pipeline.providers.history import (
    NEW_YORK,
    HistoryWindow,
    history_symbol,
    now_in_new_york,
    plain_symbol,
)
from options_pipeline.providers.normalize import (
    MALFORMED_ROW,
    WRONG_DATE,
    ChainBuilder,
    occ_symbol,
)
from options_pipeline.providers.transport import HttpTransport, RequestStats

log = logging.getLogger(__name__)

NAME = "thetadata"
DEFAULT_BASE_URL = "http://127.0.0.1:25503"
# greeks/eod needs the Standard tier (x-min-subscription: standard), whose limit is 4 in flight.
DEFAULT_CONCURRENCY = 4
TIER_CONCURRENCY = {"free": 1, "value": 2, "standard": 4, "pro": 8}
GREEKS_EOD_PATH = "/v3/option/history/greeks/eod"
OPEN_INTEREST_PATH = "/v3/option/history/open_interest"
OI_SOURCE = "thetadata:/v3/option/history/open_interest date=D (OPRA ~06:30 ET)"
EOD_REPORT_TIME = dtime(17, 15)  # ThetaData builds its EOD report at 17:15 ET
WINDOW = HistoryWindow(NAME, published=EOD_REPORT_TIME)

# Option roots per index underlying (weeklies/PM-settled listed under their own root). [P]: the
# roots are OCC's; that the terminal serves each under `symbol=<root>` is seen in users' code only.
INDEX_ROOTS: dict[str, tuple[str, ...]] = {
    "SPX": ("SPX", "SPXW"),
    "NDX": ("NDX", "NDXP"),
    "RUT": ("RUT", "RUTW"),
    "VIX": ("VIX", "VIXW"),
    "XSP": ("XSP",),
    "DJX": ("DJX",),
}

# The field map: our name -> (endpoint, ThetaData column, verification). Source [S] = ThetaData's
# own OpenAPI spec of the v3 terminal (openapiv3.yaml behind https://docs.thetadata.us, paths
# /option/history/greeks/eod and /option/history/open_interest: the response schema, the CSV
# example `symbol,expiration,strike,right,timestamp,...` and the JSON example
# {"response":[{"contract":{...},"data":[{...}]}]}), mirrored in api-evangelist/thetadata
# openapi/_original/thetadata-v3-openapi.yml. Units checked against the spec's own example row
# (AAPL 2024-11-08 220 CALL on 2024-11-04): vega 8.9221 is per 1.00 of volatility (closed-form
# Black-Scholes vega at S=221.87, sigma=0.3334, T=4d gives 8.92), so it is divided by 100 to our
# per-vol-point convention; theta -0.3892 is per calendar day.
FIELD_MAP: dict[str, tuple[str, str, str]] = {
    "root": ("greeks/eod, open_interest", "symbol", "[V] S"),
    "expiration_date": ("greeks/eod, open_interest", "expiration", "[V] S: YYYY-MM-DD"),
    "strike": ("greeks/eod, open_interest", "strike", "[V] S: dollars, e.g. 220.000"),
    "option_type": ("greeks/eod, open_interest", "right", "[V] S: CALL / PUT"),
    "session_time": ("greeks/eod, open_interest", "timestamp", "[V] S: YYYY-MM-DDTHH:mm:ss.SSS ET"),
    "last": ("greeks/eod", "close", "[V] S: closing trade; 0 when volume is 0 -> not stored"),
    "volume": ("greeks/eod", "volume", "[V] S"),
    "bid": ("greeks/eod", "bid", "[V] S: last NBBO bid at report time"),
    "ask": ("greeks/eod", "ask", "[V] S: last NBBO ask at report time"),
    "implied_volatility": ("greeks/eod", "implied_vol", "[V] S: 0 = not solved -> not stored"),
    "delta": ("greeks/eod", "delta", "[V] S"),
    "gamma": ("greeks/eod", "gamma", "[V] S"),
    "theta": ("greeks/eod", "theta", "[V] S: per calendar day"),
    "vega": ("greeks/eod", "vega", "[V] S: per 1.00 vol, divided by 100"),
    "underlying_price": ("greeks/eod", "underlying_price", "[V] S"),
    "underlying_time": ("greeks/eod", "underlying_timestamp", "[V] S: the 17:15 ET report"),
    "open_interest": ("open_interest", "open_interest", "[V] S: end of the previous session"),
}
F = {name: column for name, (_, column, _) in FIELD_MAP.items()}  # what the code below reads
_IDENTITY = (F["expiration_date"], F["strike"], F["option_type"])
GREEKS_REQUIRED = (
    "root",
    "expiration_date",
    "strike",
    "option_type",
    "session_time",
    "bid",
    "ask",
    "volume",
    "implied_volatility",
    "delta",
    "gamma",
    "underlying_price",
)
OI_REQUIRED = ("root", "expiration_date", "strike", "option_type", "session_time", "open_interest")
OI_FIELDS = ("root", "expiration_date", "strike", "option_type", "session_time", "open_interest")
GREEKS_FIELDS = tuple(n for n, (where, _, _) in FIELD_MAP.items() if "greeks/eod" in where)


class _NoData(NoContracts):
    """472 NO_DATA; what it means depends on the endpoint (see fetch_chain)."""


def tier_concurrency(value: int | str) -> int:
    """Requests in flight from a number or a tier name (free 1, value 2, standard 4, pro 8)."""
    if isinstance(value, str):
        key = value.strip().lower()
        if key in TIER_CONCURRENCY:
            return TIER_CONCURRENCY[key]
        try:
            value = int(key)
        except ValueError:
            raise ProviderConfigError(
                f"THETADATA_CONCURRENCY must be 1..8 or a tier ({', '.join(TIER_CONCURRENCY)}): "
                f"{value!r}"
            ) from None
    if isinstance(value, bool) or not 1 <= value <= 64:
        raise ProviderConfigError(f"THETADATA_CONCURRENCY must be 1..64: {value!r}")
    return value


def _field(row: Mapping[str, Any], name: str) -> Any:
    value = row.get(name)
    return None if value == "" else value


def _float(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _stamp(value: Any) -> datetime | None:
    """ThetaData's ET wall-clock timestamp (YYYY-MM-DDTHH:mm:ss[.SSS]) as an aware datetime."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=NEW_YORK)


def parse_csv(text: str, required: Iterable[str], what: str) -> list[dict[str, str]]:
    """Rows of a ThetaData CSV answer (header line first, CRLF or LF)."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        raise ProviderError(
            f"unexpected response shape from {what}: CSV header lacks {', '.join(missing)}"
        )
    return list(reader)


def parse_json(body: Mapping[str, Any], what: str) -> Iterator[dict[str, Any]]:
    """Flattened rows of the grouped JSON answer {"response":[{"contract":{},"data":[{}]}]}."""
    groups = body.get("response")
    if not isinstance(groups, list):
        raise ProviderError(f"unexpected response shape from {what}: 'response' is not a list")
    for group in groups:
        contract = group.get("contract") if isinstance(group, Mapping) else None
        data = group.get("data") if isinstance(group, Mapping) else None
        if not isinstance(contract, Mapping) or not isinstance(data, list):
            yield {}
            continue
        for item in data:
            yield {**item, **contract} if isinstance(item, Mapping) else {}


class ThetaDataProvider:
    """Provider "thetadata". `requests_made` counts every HTTP request this instance sent."""

    name = NAME

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        concurrency: int | str = DEFAULT_CONCURRENCY,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        response_format: str = "csv",
        now: Callable[[], datetime] = now_in_new_york,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if response_format not in ("csv", "json"):
            raise ProviderConfigError(f"response_format must be csv or json: {response_format!r}")
        self.concurrency = tier_concurrency(concurrency)
        self._http = HttpTransport(
            base_url=base_url,
            api_key=None,
            auth="none",
            rate_limit_per_minute=None,  # no request-rate limit, only outstanding requests
            max_concurrent=self.concurrency,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            sleep=sleep,
            retry_statuses=(474, 571),
            status_errors={471: NotAvailable, 472: _NoData},
            accept="text/csv" if response_format == "csv" else "application/json",
        )
        self._format = response_format
        self._now = now

    @property
    def requests_made(self) -> int:
        return self._http.requests

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def rate_limit_per_minute(self) -> float | None:
        return None  # tiers bound requests in flight, not a rate

    def estimate_requests(self, symbol: str, day: date, contracts_hint: int) -> int:
        """Two unpaged requests (EOD greeks, open interest) per option root; 0 when refused."""
        if not WINDOW.serves(day, now=self._now):
            return 0
        return 2 * len(self.roots(symbol))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ThetaDataProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def max_concurrency(self) -> int:
        """Symbols ingest_day may fetch at once: the tier's outstanding requests (FREE 1, VALUE 2,
        STANDARD 4, PRO 8: "Outstanding Requests" by tier on
        https://docs.thetadata.us/Articles/Data-And-Requests/Concurrent-Requests.html).
        The transport holds every request to that bound across all threads, so more symbols at
        once only keeps the terminal's slots full; it never sends more."""
        return self.concurrency

    # ------------------------------------------------------------------ contract

    def roots(self, symbol: str) -> tuple[str, ...]:
        sym = plain_symbol(symbol)
        return INDEX_ROOTS.get(sym, (sym,))

    def fetch_chain(self, symbol: str, as_of: date) -> ChainSnapshot:
        sym = history_symbol(symbol)
        WINDOW.refuse(as_of, now=self._now)
        stats = RequestStats()
        roots = self.roots(sym)
        # every (root, endpoint) request of this symbol-day, in flight together up to the bound
        tasks = [(root, path) for root in roots for path in (GREEKS_EOD_PATH, OPEN_INTEREST_PATH)]
        workers = min(len(tasks), self.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thetadata") as pool:
            futures = {t: pool.submit(self._rows, t[1], t[0], as_of, stats) for t in tasks}
            answers = {t: self._outcome(f) for t, f in futures.items()}

        builder = ChainBuilder(sym, as_of)
        underlying: float | None = None
        mark: datetime | None = None
        roots_with_chain = 0
        for root in roots:
            greeks = answers[(root, GREEKS_EOD_PATH)]
            oi_rows = answers[(root, OPEN_INTEREST_PATH)]
            if isinstance(greeks, _NoData):
                continue  # this root lists nothing that day
            if isinstance(greeks, BaseException):
                raise greeks
            if isinstance(oi_rows, _NoData):
                raise NotAvailable(
                    f"open interest for {sym} ({root}) on {as_of.isoformat()} is not available "
                    f"from ThetaData (472 NO_DATA on {OPEN_INTEREST_PATH}); OPRA publishes it "
                    "at ~06:30 ET"
                )
            if isinstance(oi_rows, BaseException):
                raise oi_rows
            roots_with_chain += 1
            price, when = self._add_root(builder, root, as_of, greeks, oi_rows)
            underlying = underlying or price
            if when is not None and (mark is None or when > mark):
                mark = when
        if roots_with_chain == 0:
            raise NoContracts(
                f"no contracts for {sym} on {as_of.isoformat()} from thetadata (472 NO_DATA for "
                f"{', '.join(roots)})"
            )
        if not builder and builder.rejected.get(WRONG_DATE):
            raise ProviderError(
                f"ThetaData answered {sym} on {as_of.isoformat()} with rows of other dates only; "
                "refusing to substitute them"
            )
        snap = builder.build(
            provider=NAME,
            underlying_price=underlying,
            underlying_price_source=(
                f"thetadata:{GREEKS_EOD_PATH}.underlying_price"
                if underlying
                else "thetadata:unavailable"
            ),
            provider_mark_time=mark,
            requests=stats.requests,
            open_interest_as_of=previous_session(as_of),  # OPRA's figure for the end of D-1
            open_interest_source=OI_SOURCE,
        )
        log.debug(
            "%s %s: %d quotes, %d rejected, %d requests",
            sym,
            as_of,
            len(snap.columns),  # never materialise per-contract objects for a log line
            snap.rejected_count,
            snap.requests,
        )
        return snap

    def check(self, symbol: str, day: date | None = None) -> ProviderCheckReport:
        """The requests fetch_chain makes (both endpoints, every root) and which FIELD_MAP
        entries their answers carry."""
        sym = plain_symbol(symbol)
        day = day or previous_session(self._now().date())
        stats = RequestStats()
        endpoints = []
        for root in self.roots(sym):
            for label, path, required in (
                ("greeks/eod", GREEKS_EOD_PATH, GREEKS_REQUIRED),
                ("open_interest", OPEN_INTEREST_PATH, OI_REQUIRED),
            ):
                names = GREEKS_FIELDS if path == GREEKS_EOD_PATH else OI_FIELDS
                when = (
                    f"start_date={day:%Y%m%d}&end_date={day:%Y%m%d}"
                    if path == GREEKS_EOD_PATH
                    else f"date={day:%Y%m%d}"
                )
                request = f"{path}?symbol={root}&expiration=*&{when}&format={self._format}"
                try:
                    rows = self._rows(path, root, day, stats)
                except ProviderError as exc:
                    endpoints.append(
                        EndpointCheck(f"{label} ({root})", request, str(exc), error=True)
                    )
                    continue
                seen = json_paths(rows[:100])
                matched, missing, optional = match_fields(
                    seen,
                    {n: (F[n],) for n in names},
                    required,
                    [n for n in names if n not in required],
                )
                endpoints.append(
                    EndpointCheck(
                        f"{label} ({root})",
                        request,
                        "HTTP 200",
                        len(rows),
                        seen,
                        matched,
                        missing,
                        optional,
                    )
                )
        notes = (
            "open interest dated D is OPRA's ~06:30 ET figure for the end of the previous "
            "session: stored for D as the figure known at its open",
            f"requests in flight bounded at {self.concurrency} (THETADATA_CONCURRENCY)",
        )
        return ProviderCheckReport(NAME, sym, day, tuple(endpoints), stats.requests, notes)

    @staticmethod
    def _outcome(future: Any) -> Any:
        try:
            return future.result()
        except ProviderError as exc:
            return exc

    # ------------------------------------------------------------------ requests

    def _rows(self, path: str, root: str, as_of: date, stats: RequestStats) -> list[dict[str, Any]]:
        day = f"{as_of:%Y%m%d}"
        params: dict[str, str] = {"symbol": root, "expiration": "*", "format": self._format}
        if path == GREEKS_EOD_PATH:
            params.update(start_date=day, end_date=day)  # expiration=* is served day by day
            required = [F[n] for n in GREEKS_REQUIRED[:5]]
        else:
            params["date"] = day
            required = [F[n] for n in OI_REQUIRED]
        if self._format == "csv":
            return parse_csv(self._http.get_text(path, params, stats=stats), required, path)
        return list(parse_json(self._http.get_json(path, params, stats=stats), path))

    # ------------------------------------------------------------------ rows

    def _add_root(
        self,
        builder: ChainBuilder,
        root: str,
        as_of: date,
        greeks: list[dict[str, Any]],
        oi_rows: list[dict[str, Any]],
    ) -> tuple[float | None, datetime | None]:
        oi: dict[tuple[str, str, str], tuple[Any, dict[str, Any]]] = {}
        for row in oi_rows:
            key = self._key(row)
            if key is None:
                builder.reject(MALFORMED_ROW)
                continue
            stamp = _stamp(_field(row, F["session_time"]))
            if stamp is not None and stamp.date() != as_of:
                builder.reject(WRONG_DATE)
                continue
            oi[key] = (_field(row, F["open_interest"]), row)

        underlying: float | None = None
        mark: datetime | None = None
        for row in greeks:
            key = self._key(row)
            if key is None:
                builder.reject(MALFORMED_ROW)
                continue
            stamp = _stamp(_field(row, F["session_time"]))
            if stamp is not None and stamp.date() != as_of:
                builder.reject(WRONG_DATE)  # never file another session's values under D
                continue
            oi_value, _ = oi.pop(key, (None, None))
            added = self._add(builder, root, row, oi_value)
            if added is None:
                continue
            price = _float(_field(row, F["underlying_price"]))
            if underlying is None and price is not None and price > 0:
                underlying = price
            when = _stamp(_field(row, F["underlying_time"]))
            if when is not None and when.date() == as_of and (mark is None or when > mark):
                mark = when
        for oi_value, row in oi.values():  # listed with open interest but not in the EOD report
            self._add(builder, root, {k: row.get(k) for k in _IDENTITY}, oi_value)
        return underlying, mark

    @staticmethod
    def _key(row: Mapping[str, Any]) -> tuple[str, str, str] | None:
        exp, strike, right = (_field(row, k) for k in _IDENTITY)
        if exp is None or strike is None or right is None:
            return None
        return (str(exp), f"{_float(strike)}", str(right).upper())

    @staticmethod
    def _add(builder: ChainBuilder, root: str, row: Mapping[str, Any], oi: Any) -> Any:
        strike = _float(_field(row, F["strike"]))
        right = str(_field(row, F["option_type"]) or "").strip().upper()
        cp = {"CALL": "C", "PUT": "P", "C": "C", "P": "P"}.get(right)
        try:
            expiration = date.fromisoformat(str(_field(row, F["expiration_date"])))
        except ValueError:
            expiration = None
        symbol = (
            occ_symbol(root, expiration, cp, strike)
            if expiration and cp and strike and strike > 0
            else None
        )
        volume = _float(_field(row, F["volume"]))
        traded = volume is not None and volume > 0
        iv = _float(_field(row, F["implied_volatility"]))
        solved = iv is not None and iv > 0  # 0 = no IV solved; its greeks are placeholders then
        vega = _float(_field(row, F["vega"])) if solved else None
        return builder.add(
            contract_symbol=symbol,
            expiration_date=_field(row, F["expiration_date"]),
            strike=_field(row, F["strike"]),
            option_type=right.lower() if right else None,
            bid=_field(row, F["bid"]),
            ask=_field(row, F["ask"]),
            last=_field(row, F["last"]) if traded else None,
            volume=_field(row, F["volume"]),
            open_interest=oi,
            implied_volatility=iv if solved else None,
            delta=_field(row, F["delta"]) if solved else None,
            gamma=_field(row, F["gamma"]) if solved else None,
            theta=_field(row, F["theta"]) if solved else None,
            vega=None if vega is None else vega / 100.0,
        )
