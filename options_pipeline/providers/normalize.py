"""Provider-neutral normalisation: raw provider rows -> validated OptionQuote, with counted rejects.

Every HTTP provider maps its JSON onto the keyword arguments of `ChainBuilder.add` and lets this
module do the checks, so validation rules live in one place (`ChainBuilder.add_columns` applies
the same rules to whole arrays at once, for providers that produce columns):

- a row that fails validation is dropped and counted under a short reason code (below); it never
  fails the symbol;
- contracts that expired before the as-of date are dropped as "expired";
- a repeated contract (same symbol and identity, e.g. a page served twice) keeps the first row,
  the rest count as "duplicate";
- two roots sharing one storage identity (expiration, strike, type), e.g. SPX (AM-settled) and
  SPXW (PM-settled) on monthly Fridays, are MERGED, because the stored identity has no root: open
  interest and volume summed; IV and greeks OI-weighted (volume, then equal weights, as
  fallbacks); bid/ask/last from the row with the larger OI. Order-independent, on both the row
  and the column path; counted in `ChainSnapshot.merged`;
- an empty result raises NoContracts; a result whose every row was rejected raises ProviderError
  (that is a data or mapping problem, not an empty chain).

Also here, because both the sample market and the HTTP providers need them: OCC symbol helpers and
the closed-day refusal (backed by the one NYSE calendar, `options_pipeline.calendar`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from options_pipeline.calendar import closure_reason
from options_pipeline.models import (
    OPTIONAL_FIELDS,
    SIZE_FIELDS,
    ChainColumns,
    ChainSnapshot,
    OptionQuote,
    OptionType,
)
from options_pipeline.providers.base import NoContracts, ProviderError

# Reason codes for ChainSnapshot.rejected (stable: reports and metadata group by them).
MALFORMED_ROW = "malformed_row"  # not an object, or without the provider's contract block
MISSING_STRIKE = "missing_strike"
BAD_STRIKE = "bad_strike"  # not a number, or <= 0
MISSING_EXPIRATION = "missing_expiration"
BAD_EXPIRATION = "bad_expiration"  # not a YYYY-MM-DD date, or absurdly far out
EXPIRED = "expired"  # expiration before the as-of date
BAD_OPTION_TYPE = "bad_option_type"  # neither call nor put
BAD_NUMBER = "bad_number"  # a numeric field holding something else
NON_FINITE = "non_finite"  # NaN or infinity in a numeric field
NEGATIVE_PRICE = "negative_price"
NEGATIVE_SIZE = "negative_size"  # volume or open interest < 0
NEGATIVE_IV = "negative_iv"
BAD_MULTIPLIER = "bad_multiplier"
WRONG_DATE = "wrong_date"  # a historical row stamped with another session than the one asked
NOT_LISTED = "not_listed"  # an open-interest figure for a contract the session does not list
DUPLICATE = "duplicate"

MAX_EXPIRY_DAYS = 366 * 10  # LEAPS run ~3 years; anything past 10 is a bad date

_OCC_RE = re.compile(r"^(?P<root>[A-Z0-9.]{1,6})(?P<ymd>\d{6})(?P<cp>[CP])(?P<strike>\d{8})$")


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- OCC symbols


def strip_prefix(ticker: str) -> str:
    """Polygon's option tickers carry an "O:" prefix; the OCC symbol is what follows."""
    ticker = ticker.strip()
    return ticker[2:] if ticker.startswith("O:") else ticker


def occ_symbol(root: str, expiration: date, option_type: str, strike: float) -> str:
    """OCC/OSI symbol without padding, e.g. SPY251219C00600000 (strike in thousandths)."""
    return f"{root}{expiration:%y%m%d}{option_type}{round(strike * 1000):08d}"


def parse_occ(symbol: str) -> tuple[str, date, OptionType, float] | None:
    """(root, expiration, "C"/"P", strike) from an OCC symbol (with or without "O:"), or None."""
    m = _OCC_RE.match(strip_prefix(symbol).replace(" ", ""))
    if m is None:
        return None
    ymd = m["ymd"]
    yy = int(ymd[:2])
    try:  # strptime's %y without its cost (a backfill parses every contract's symbol twice)
        expiration = date(2000 + yy if yy < 69 else 1900 + yy, int(ymd[2:4]), int(ymd[4:6]))
    except ValueError:
        return None
    cp: OptionType = "C" if m["cp"] == "C" else "P"
    return m["root"], expiration, cp, int(m["strike"]) / 1000.0


# --------------------------------------------------------------------------- calendar


def market_closed_reason(day: date) -> str | None:
    """ "weekend" or "market holiday (<name>)" when NYSE has no session on `day`, else None."""
    return closure_reason(day)


def raise_if_closed(day: date) -> None:
    """NoContracts("no trading on <date>: <why>") on weekends and NYSE closures, before any
    request (the reason names the holiday, e.g. "market holiday (Christmas)")."""
    why = closure_reason(day)
    if why is not None:
        raise NoContracts(f"no trading on {day.isoformat()}: {why}")


# --------------------------------------------------------------------------- scalars


def epoch_to_datetime(value: Any) -> datetime | None:
    """A Unix timestamp in s, ms, us or ns (Polygon uses ns) -> aware UTC datetime, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    v = float(value)
    for scale in (1e9, 1e6, 1e3, 1.0):  # pick the unit that lands in a plausible range
        seconds = v / scale
        if 946_684_800 <= seconds <= 4_102_444_800:  # 2000-01-01 .. 2100-01-01
            return datetime.fromtimestamp(seconds, UTC)
    return None


def _number(value: Any) -> float | None:
    """None stays None; numbers (and numeric strings) -> float; anything else is rejected."""
    if value is None:
        return None
    if type(value) is float:  # the common case, first: JSON numbers (hot path, every field)
        if math.isfinite(value):
            return value
        raise _Reject(NON_FINITE)
    if isinstance(value, bool):
        raise _Reject(BAD_NUMBER)
    if isinstance(value, int | float):
        v = float(value)
    elif isinstance(value, str):
        try:
            v = float(value)
        except ValueError:
            raise _Reject(BAD_NUMBER) from None
    else:
        raise _Reject(BAD_NUMBER)
    if not math.isfinite(v):
        raise _Reject(NON_FINITE)
    return v


def _price(value: Any) -> float | None:
    v = _number(value)
    if v is not None and v < 0:
        raise _Reject(NEGATIVE_PRICE)
    return v


def _size(value: Any) -> int | None:
    v = _number(value)
    if v is None:
        return None
    if v < 0:
        raise _Reject(NEGATIVE_SIZE)
    if abs(v - round(v)) > 1e-6:
        raise _Reject(BAD_NUMBER)
    return round(v)


def _date(value: Any, missing: str, bad: str) -> date:
    if value is None or value == "":
        raise _Reject(missing)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _Reject(bad)


def parse_day(value: Any) -> date | None:
    """A row's session date ("YYYY-MM-DD" or a date) or None when absent/unparseable."""
    try:
        return _date(value, "", "")
    except _Reject:
        return None


def iso_date_column(values: list[Any]) -> np.ndarray | None:
    """A column of dates written YYYY-MM-DD as datetime64[D], or None when any value is not
    exactly that (another type or length, or a date numpy reads but `date.fromisoformat` would
    refuse): the caller then decides its rows one by one."""
    if set(map(type, values)) != {str} or set(map(len, values)) != {10}:
        return None
    try:
        column = np.array(values, dtype="datetime64[D]")
    except ValueError:
        return None
    if not np.array_equal(column.astype("U10"), np.array(values)):
        return None
    return column


def _option_type(value: Any) -> OptionType:
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("call", "c"):
            return "C"
        if v in ("put", "p"):
            return "P"
    raise _Reject(BAD_OPTION_TYPE)


# --------------------------------------------------------------------------- builder


class ChainBuilder:
    """Accumulates one symbol-day's rows page by page; `build()` returns the ChainSnapshot."""

    def __init__(self, symbol: str, as_of: date) -> None:
        self.symbol = symbol
        self.as_of = as_of
        self.rows_seen = 0
        self.rejected: Counter[str] = Counter()
        self._quotes: dict[tuple[date, float, str], OptionQuote] = {}
        self._batches: list[ChainColumns] = []  # from add_columns, already validated
        # identities seen from more than one contract: every member row, merged in build()
        self._collisions: dict[tuple[date, float, str], list[OptionQuote]] = {}
        self.merged = 0
        self._max_expiry = as_of + timedelta(days=MAX_EXPIRY_DAYS)

    def __len__(self) -> int:
        return len(self._quotes) + sum(len(b) for b in self._batches)

    def add_columns(self, columns: ChainColumns) -> int:
        """Validate a whole batch of rows at once (the same rules as `add`, as array operations);
        keeps the valid rows, counts the others by reason; returns the rows kept."""
        return int(self.add_columns_kept(columns).sum())

    def add_columns_kept(self, columns: ChainColumns) -> np.ndarray:
        """`add_columns`, returning which rows were kept (a boolean mask over the batch)."""
        self.rows_seen += len(columns)
        keep, reasons = validate_columns(columns, self.as_of, self._max_expiry)
        self.rejected.update(reasons)
        if keep.all():
            self._batches.append(columns)
        elif keep.any():
            self._batches.append(columns.take(keep))
        return keep

    def reject(self, reason: str, count: int = 1) -> None:
        """Count rows dropped before they reached `add` (e.g. a row that is not an object)."""
        self.rows_seen += count
        self.rejected[reason] += count

    def add(
        self,
        *,
        contract_symbol: Any,
        expiration_date: Any,
        strike: Any,
        option_type: Any,
        bid: Any = None,
        ask: Any = None,
        last: Any = None,
        volume: Any = None,
        open_interest: Any = None,
        implied_volatility: Any = None,
        delta: Any = None,
        gamma: Any = None,
        theta: Any = None,
        vega: Any = None,
        multiplier: Any = None,
    ) -> OptionQuote | None:
        """Validate one raw row; keep it (returned) or count why it was dropped (None)."""
        self.rows_seen += 1
        try:
            quote = self._quote(
                contract_symbol,
                expiration_date,
                strike,
                option_type,
                bid,
                ask,
                last,
                volume,
                open_interest,
                implied_volatility,
                delta,
                gamma,
                theta,
                vega,
                multiplier,
            )
        except _Reject as r:
            self.rejected[r.reason] += 1
            return None
        key = quote.identity
        first = self._quotes.get(key)
        if first is None:
            self._quotes[key] = quote
            return quote
        members = self._collisions.get(key) or [first]
        if any(m.contract_symbol == quote.contract_symbol for m in members):
            self.rejected[DUPLICATE] += 1
            return None
        members.append(quote)
        self._collisions[key] = members
        self.merged += 1
        return quote

    def _quote(
        self,
        contract_symbol: Any,
        expiration_date: Any,
        strike: Any,
        option_type: Any,
        bid: Any,
        ask: Any,
        last: Any,
        volume: Any,
        open_interest: Any,
        iv: Any,
        delta: Any,
        gamma: Any,
        theta: Any,
        vega: Any,
        multiplier: Any,
    ) -> OptionQuote:
        if strike is None or strike == "":
            raise _Reject(MISSING_STRIKE)
        try:
            k = _number(strike)
        except _Reject as r:
            raise _Reject(NON_FINITE if r.reason == NON_FINITE else BAD_STRIKE) from None
        if k is None or k <= 0:
            raise _Reject(BAD_STRIKE)
        expiration = _date(expiration_date, MISSING_EXPIRATION, BAD_EXPIRATION)
        if expiration > self._max_expiry:
            raise _Reject(BAD_EXPIRATION)
        cp = _option_type(option_type)
        implied = _number(iv)
        if implied is not None and implied < 0:
            raise _Reject(NEGATIVE_IV)
        mult = _size(multiplier)
        if mult is not None and mult <= 0:
            raise _Reject(BAD_MULTIPLIER)
        quote = OptionQuote(
            contract_symbol=self._symbol(contract_symbol, expiration, cp, k),
            expiration_date=expiration,
            strike=k,
            option_type=cp,
            bid=_price(bid),
            ask=_price(ask),
            last=_price(last),
            volume=_size(volume),
            open_interest=_size(open_interest),
            implied_volatility=implied,
            delta=_number(delta),
            gamma=_number(gamma),
            theta=_number(theta),
            vega=_number(vega),
            multiplier=mult if mult is not None else 100,
        )
        # Checked last so that a malformed row counts as malformed even when it is also old.
        if expiration < self.as_of:
            raise _Reject(EXPIRED)
        return quote

    def _symbol(self, raw: Any, expiration: date, cp: str, strike: float) -> str:
        if isinstance(raw, str) and strip_prefix(raw):
            return strip_prefix(raw)
        return occ_symbol(self.symbol, expiration, cp, strike)  # synthesised when absent

    def build(
        self,
        *,
        provider: str,
        underlying_price: float | None,
        underlying_price_source: str,
        provider_mark_time: datetime | None = None,
        requests: int = 0,
        open_interest_as_of: date | None = None,
        open_interest_source: str | None = None,
    ) -> ChainSnapshot:
        """The snapshot, or NoContracts (nothing came back) / ProviderError (all rows rejected)."""
        where = f"{self.symbol} on {self.as_of.isoformat()}"
        if not len(self):
            if self.rows_seen == 0:
                raise NoContracts(f"no contracts for {where} from {provider}")
            reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items()))
            raise ProviderError(
                f"every one of the {self.rows_seen} rows for {where} from {provider} was "
                f"rejected ({reasons})"
            )
        for key, members in self._collisions.items():
            self._quotes[key] = merge_quotes(members)
        self._collisions.clear()
        quotes = tuple(self._quotes.values()) if not self._batches else None
        parts = list(self._batches)
        if self._quotes and self._batches:
            parts.insert(0, ChainColumns.from_quotes(tuple(self._quotes.values())))
        columns = parts[0] if parts else None
        if len(parts) > 1:
            columns = concat_columns(parts, root=self.symbol)
        if columns is not None and (len(parts) > 1 or columns.contract_symbol is not None):
            columns = self._settle_identities(columns)
        return ChainSnapshot(
            symbol=self.symbol,
            as_of=self.as_of,
            provider=provider,
            quotes=quotes,
            columns=columns,
            underlying_price=underlying_price,
            underlying_price_source=underlying_price_source,
            provider_mark_time=provider_mark_time,
            rejected=dict(sorted(self.rejected.items())),
            requests=requests,
            open_interest_as_of=open_interest_as_of,
            open_interest_source=open_interest_source,
            merged=self.merged,
        )

    def _settle_identities(self, columns: ChainColumns) -> ChainColumns:
        """Column rows sharing an identity: the same contract again is a duplicate (first kept),
        different contracts (roots) are merged like `add` does; row order is kept."""
        first = first_occurrences(columns)
        if first.size == len(columns):
            return columns
        _, inverse, counts = np.unique(
            _identity_keys(columns), return_inverse=True, return_counts=True
        )
        multi = counts[inverse] > 1
        positions = np.flatnonzero(multi)
        groups: dict[int, list[tuple[int, OptionQuote]]] = {}
        for pos, group, q in zip(
            positions.tolist(),
            inverse[positions].tolist(),
            columns.take(positions).to_quotes(),
            strict=True,
        ):
            groups.setdefault(group, []).append((pos, q))
        kept_at: list[int] = []
        kept: list[OptionQuote] = []
        for members in groups.values():
            distinct: dict[str, OptionQuote] = {}
            for _, q in members:
                if q.contract_symbol in distinct:
                    self.rejected[DUPLICATE] += 1
                else:
                    distinct[q.contract_symbol] = q
            self.merged += len(distinct) - 1
            kept_at.append(members[0][0])
            kept.append(merge_quotes(list(distinct.values())))
        single = np.flatnonzero(~multi)
        combined = concat_columns(
            [columns.take(single), ChainColumns.from_quotes(kept)], root=self.symbol
        )
        order = np.argsort(
            np.concatenate([single, np.array(kept_at, dtype=np.int64)]), kind="stable"
        )
        return combined.take(order)


def merge_quotes(rows: Sequence[OptionQuote]) -> OptionQuote:
    """One row for contracts of different roots sharing (expiration, strike, type).

    Sums and weights give the book's exposure: Σ OI·Γ(IV) ≈ (Σ OI)·Γ(Σ OI·IV / Σ OI) when the
    roots' IVs are close, as they are for AM/PM-settled twins. Rows are sorted by contract
    symbol first, so the result does not depend on page order.
    """
    ordered = sorted(rows, key=lambda q: q.contract_symbol)
    if len(ordered) == 1:
        return ordered[0]
    primary = min(ordered, key=lambda q: (-(q.open_interest or 0), -(q.volume or 0)))

    def total(values: list[int | None]) -> int | None:
        present = [v for v in values if v is not None]
        return sum(present) if present else None

    def weighted(attr: str) -> float | None:
        have = [(q, getattr(q, attr)) for q in ordered if getattr(q, attr) is not None]
        if not have:
            return None
        for weights in ([q.open_interest or 0 for q, _ in have], [q.volume or 0 for q, _ in have]):
            if sum(weights) > 0:
                return float(
                    sum(w * v for w, (_, v) in zip(weights, have, strict=True)) / sum(weights)
                )
        return float(sum(v for _, v in have) / len(have))

    return replace(
        primary,
        volume=total([q.volume for q in ordered]),
        open_interest=total([q.open_interest for q in ordered]),
        implied_volatility=weighted("implied_volatility"),
        delta=weighted("delta"),
        gamma=weighted("gamma"),
        theta=weighted("theta"),
        vega=weighted("vega"),
    )


# --------------------------------------------------------------------------- columns


def concat_columns(parts: list[ChainColumns], *, root: str) -> ChainColumns:
    names = ("expiration_date", "strike", "is_call", *OPTIONAL_FIELDS, "multiplier")
    arrays = {n: np.concatenate([getattr(p, n) for p in parts]) for n in names}
    symbols = np.concatenate([p.symbols() for p in parts])
    return ChainColumns(**arrays, contract_symbol=symbols, root=root)


def _identity_keys(columns: ChainColumns, *, by_symbol: bool = False) -> np.ndarray:
    fields = [("e", "i8"), ("k", "f8"), ("c", "?")] + ([("s", "i8")] if by_symbol else [])
    keys = np.empty(len(columns), dtype=fields)
    keys["e"] = columns.expiration_date.astype("i8")
    keys["k"] = columns.strike
    keys["c"] = columns.is_call
    if by_symbol:
        keys["s"] = np.unique(columns.symbols(), return_inverse=True)[1]
    return keys


def first_occurrences(columns: ChainColumns, *, by_symbol: bool = False) -> np.ndarray:
    """Ascending indices of the first row of each identity (expiration, strike, type), or of
    each (identity, contract symbol) with `by_symbol` (two roots' twins then both stay)."""
    _, first = np.unique(_identity_keys(columns, by_symbol=by_symbol), return_index=True)
    return np.sort(first)


def validate_columns(
    columns: ChainColumns, as_of: date, max_expiry: date
) -> tuple[np.ndarray, Counter[str]]:
    """(rows to keep, rejected counts by reason): `ChainBuilder.add`'s rules over arrays.

    A row failing several rules counts under the first one `add` would have met (strike,
    expiration, IV, multiplier, prices, sizes, greeks; expired last); a repeated identity keeps
    its first row. NaN is an absent value; infinities are non-finite."""
    n = len(columns)
    reason = np.zeros(n, dtype=np.int8)  # 0 = keep; otherwise 1 + index into `codes`
    codes: list[str] = []

    def flag(bad: np.ndarray, code: str) -> None:
        if code not in codes:
            codes.append(code)
        reason[(reason == 0) & bad] = codes.index(code) + 1

    with np.errstate(invalid="ignore"):
        k = columns.strike
        flag(np.isnan(k), MISSING_STRIKE)
        flag(np.isinf(k), NON_FINITE)
        flag(k <= 0, BAD_STRIKE)
        exp = columns.expiration_date
        flag(np.isnat(exp), MISSING_EXPIRATION)
        flag(exp > np.datetime64(max_expiry, "D"), BAD_EXPIRATION)
        iv = columns.implied_volatility
        flag(np.isinf(iv), NON_FINITE)
        flag(iv < 0, NEGATIVE_IV)
        flag(columns.multiplier <= 0, BAD_MULTIPLIER)
        for name in ("bid", "ask", "last"):
            v = getattr(columns, name)
            flag(np.isinf(v), NON_FINITE)
            flag(v < 0, NEGATIVE_PRICE)
        for name in SIZE_FIELDS:
            v = getattr(columns, name)
            flag(np.isinf(v), NON_FINITE)
            flag(v < 0, NEGATIVE_SIZE)
            flag(np.abs(v - np.round(v)) > 1e-6, BAD_NUMBER)
        for name in ("delta", "gamma", "theta", "vega"):
            flag(np.isinf(getattr(columns, name)), NON_FINITE)
        flag(exp < np.datetime64(as_of, "D"), EXPIRED)
    keep = reason == 0
    rejected: Counter[str] = Counter()
    if not keep.all():
        found = np.bincount(reason, minlength=len(codes) + 1)
        rejected.update({codes[i - 1]: int(c) for i, c in enumerate(found) if i and c})
    kept = np.flatnonzero(keep)
    if kept.size:
        # a contract repeated is a duplicate; other roots' twins are merged in build()
        first = first_occurrences(columns.take(kept), by_symbol=columns.contract_symbol is not None)
        if first.size < kept.size:
            rejected[DUPLICATE] += int(kept.size - first.size)
            keep = np.zeros(n, dtype=bool)
            keep[kept[first]] = True
    return keep, rejected
