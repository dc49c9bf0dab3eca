"""Option chains from files people already own: CBOE DataShop EOD files and CBOE quote tables.

The provider reads a directory (OPTIONS_PIPELINE_FILES_DIR, searched recursively, `.csv` files
and `.csv` members of `.zip` files) and answers "the chain of SYMBOL on session D" from it, so
files backfill through the same partitions, CLI and skip logic as any API.

Two kinds of file are recognised by their content, never by their name:

- CBOE DataShop "Option EOD Summary" (Quotes layout, 26 columns) and "EOD Calcs" (34 columns):
  one file per quote date holding every root of every purchased underlying. Read with pyarrow's
  streaming CSV reader (constant memory: one block at a time), keeping only the rows of the
  requested symbols; the session is the rows' `quote_date`.
- CBOE quote tables (the delayed-quotes page's "Download CSV"): one underlying, any file name;
  the session comes from the timestamp in the header (`session_of_saved_at`).

Field maps (column -> meaning) are the tables `DATASHOP_*` and `QUOTE_TABLE_*` below; the layouts
are described in the project's historical-sources notes ([P]: seen in several independent
codebases, not on a CBOE page). Unverified choices, marked [U] where they are made:

- Open interest: both kinds are taken as the OI known at D's open (the end of D−1, which OPRA
  publishes around 06:30 ET on sessions): the quote table shows what the page showed after the
  close, i.e. "held at the end of the last trading day" [U for DataShop's `open_interest`].
- DataShop greeks are stored as the file gives them (units [U]); greeks computed here from a
  solved IV follow pricing.py: theta per calendar day, vega per volatility point.

IV is solved (pricing.implied_volatility, from the bid/ask mid and the spot of the same moment)
wherever a file has none: the Quotes layout, and rows whose IV is blank or 0 (0DTE rows of quote
tables). A contract whose quote is not live any more (it expired at D's close and the quote was
taken at or after the close) keeps no IV, and so does a price outside the no-arbitrage bounds;
both are counted in the snapshot's `annotations`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from options_pipeline import calendar, pricing
from options_pipeline.messages import first_line
from options_pipeline.models import ChainColumns, ChainSnapshot
from options_pipeline.provider_names import FILES_DIR_ENV
from options_pipeline.providers.base import (
    NoContracts,
    NotAvailable,
    ProviderConfigError,
    ProviderError,
)
from options_pipeline.providers.normalize import (
    BAD_OPTION_TYPE,
    WRONG_DATE,
    ChainBuilder,
    occ_symbol,
    parse_occ,
)

NAME = "files"
DIR_ENV = FILES_DIR_ENV
RATE_ENV = "OPTIONS_PIPELINE_FILES_RISK_FREE_RATE"
DIVIDEND_ENV = "OPTIONS_PIPELINE_FILES_DIVIDEND_YIELD"

_log = logging.getLogger(__name__)
_NY = ZoneInfo(calendar.MARKET_TIMEZONE)
MARKET_OPEN = time(9, 30)
QUOTE_1545 = time(15, 45)
SECONDS_PER_YEAR = pricing.DAYS_PER_YEAR * 86400.0
# CSV bytes per pyarrow block: memory stays flat whatever the file size. 1 MiB measured faster
# and far leaner than 4 MiB (every included column of a block is materialised as text).
BLOCK_SIZE = 1 << 20

# Annotation keys (ChainSnapshot.annotations): kept contracts the provider changed or left empty.
IV_FROM_FILE = "iv_from_file"
IV_SOLVED = "iv_solved"
IV_OUTSIDE_BOUNDS = "iv_outside_bounds"  # mid outside the no-arbitrage bounds: no IV
IV_NOT_LIVE = "iv_not_live"  # quote taken at/after the contract's expiry: no IV
IV_NO_QUOTE = "iv_no_quote"  # no two-sided quote to solve from
IV_UNSOLVED = "iv_unsolved"  # inside the bounds but needing a vol outside pricing's interval
QUOTES_EOD_FALLBACK = "quotes_eod_fallback"  # 15:45 bid/ask blank: the EOD quote was used


class FilesError(ProviderError):
    """A file is malformed for the requested symbol (the message names the file and line)."""

    reason = "malformed_file"


class ConflictingFiles(ProviderError):
    """Two files claim the same (session, symbol): nothing is stored until one is removed."""

    reason = "conflicting_files"


class _Unreadable(Exception):
    """A file that is neither kind, or an intraday snapshot; the scan lists it with this reason."""


# --------------------------------------------------------------------------- DataShop layouts

# Column order of the two layouts (historical-sources.md, "Files people already own" [P]).
DATASHOP_QUOTES_COLUMNS = (
    "underlying_symbol",
    "quote_date",
    "root",
    "expiration",
    "strike",
    "option_type",
    "open",
    "high",
    "low",
    "close",
    "trade_volume",
    "bid_size_1545",
    "bid_1545",
    "ask_size_1545",
    "ask_1545",
    "underlying_bid_1545",
    "underlying_ask_1545",
    "bid_size_eod",
    "bid_eod",
    "ask_size_eod",
    "ask_eod",
    "underlying_bid_eod",
    "underlying_ask_eod",
    "vwap",
    "open_interest",
    "delivery_code",
)
DATASHOP_CALCS_ONLY = (
    "implied_underlying_price_1545",
    "active_underlying_price_1545",
    "implied_volatility_1545",
    "delta_1545",
    "gamma_1545",
    "theta_1545",
    "vega_1545",
    "rho_1545",
)
DATASHOP_CALCS_COLUMNS = (
    DATASHOP_QUOTES_COLUMNS[:17] + DATASHOP_CALCS_ONLY + DATASHOP_QUOTES_COLUMNS[17:]
)
# What each column read here means for a stored contract.
DATASHOP_FIELD_MAP: dict[str, str] = {
    "underlying_symbol": "the watchlist symbol (index underlyings written ^SPX -> SPX)",
    "quote_date": "the session D (every row must carry it)",
    "root": "the contract's root (SPX, SPXW, ...), for the OCC symbol",
    "expiration": "expiration_date (YYYY-MM-DD)",
    "strike": "strike",
    "option_type": "option_type (c/p/C/P)",
    "close": "last (the day's last trade)",
    "trade_volume": "volume (D's trades)",
    "bid_1545": "bid (15:45 ET; bid_eod when the 15:45 quote is blank)",
    "ask_1545": "ask (15:45 ET; ask_eod when the 15:45 quote is blank)",
    "bid_eod": "bid at the close (fallback)",
    "ask_eod": "ask at the close (fallback)",
    "underlying_bid_1545": "spot = mid of the underlying at 15:45 (Quotes layout)",
    "underlying_ask_1545": "spot = mid of the underlying at 15:45 (Quotes layout)",
    "underlying_bid_eod": "spot at the close when the 15:45 quote is blank",
    "underlying_ask_eod": "spot at the close when the 15:45 quote is blank",
    "active_underlying_price_1545": "spot (Calcs layout, preferred)",
    "implied_volatility_1545": "implied_volatility (Calcs; blank or 0 -> solved here)",
    "delta_1545": "delta (Calcs)",
    "gamma_1545": "gamma (Calcs)",
    "theta_1545": "theta (Calcs, units [U])",
    "vega_1545": "vega (Calcs, units [U])",
    "open_interest": "open_interest, taken as known at D's open [U]",
}
_DATASHOP_TEXT = ("underlying_symbol", "quote_date", "root", "expiration", "option_type")
_DATASHOP_NUMBERS = (
    "strike",
    "close",
    "trade_volume",
    "bid_1545",
    "ask_1545",
    "bid_eod",
    "ask_eod",
    "underlying_bid_1545",
    "underlying_ask_1545",
    "underlying_bid_eod",
    "underlying_ask_eod",
    "open_interest",
)
_DATASHOP_CALCS_NUMBERS = (
    "active_underlying_price_1545",
    "implied_volatility_1545",
    "delta_1545",
    "gamma_1545",
    "theta_1545",
    "vega_1545",
)

# --------------------------------------------------------------------------- quote tables

# One side (calls left of "Strike", puts right of it) of the header row -> OptionQuote field.
# The legacy 2019-20 layout names volume "Vol" and open interest "Open Int".
QUOTE_TABLE_SIDE_MAP: dict[str, str] = {
    "Last Sale": "last",
    "Bid": "bid",
    "Ask": "ask",
    "Volume": "volume",
    "Vol": "volume",
    "IV": "implied_volatility",  # a fraction (0.25 = 25%); 0 on 0DTE rows -> solved or none
    "Delta": "delta",
    "Gamma": "gamma",
    "Open Interest": "open_interest",  # held at the end of D−1: known at D's open
    "Open Int": "open_interest",
}
_REQUIRED_SIDE = ("Bid", "Ask", "IV", "Delta", "Gamma")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_TZ = {
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "ET": "America/New_York",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "CT": "America/Chicago",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "MT": "America/Denver",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "PT": "America/Los_Angeles",
    "UTC": "UTC",
    "GMT": "UTC",
}
# "Date: February 5, 2022, 8:26 PM EST" / "Date: February 5 2022, 8:26 PM EST" /
# "Date: February 5, 2022 at 8:26 PM EST"
_DATE_RE = re.compile(
    r"Date:\s*(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})"
    r"(?:\s*,|\s+at)?\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::\d{2})?\s*"
    r"(?P<ampm>[AaPp])\.?[Mm]\.?(?:\s+(?P<tz>[A-Za-z]{2,4}))?"
)
_LAST_RE = re.compile(r"Last:\s*(?P<spot>[-+0-9.,]+)")
_TICKER_RE = re.compile(r"^\^?[A-Z][A-Z0-9.]{0,5}$")
# Weekly/PM-settled index roots whose underlying is another symbol.
_ROOT_UNDERLYING = {
    "SPXW": "SPX",
    "SPXQ": "SPX",
    "NDXP": "NDX",
    "RUTW": "RUT",
    "VIXW": "VIX",
    "XSPW": "XSP",
    "DJXW": "DJX",
    "NQX": "NDX",
}


def plain_symbol(raw: str) -> str:
    """The stored form of a file's underlying: '^SPX' -> 'SPX', upper case, trimmed."""
    return raw.strip().lstrip("^").upper()


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True, slots=True)
class Source:
    """One readable CSV: a plain file, or one member of a zip."""

    path: Path
    member: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    @contextmanager
    def open_binary(self) -> Iterator[IO[bytes]]:
        if self.member is None:
            with open(self.path, "rb") as f:
                yield f
        else:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as f:
                yield f

    @contextmanager
    def arrow_input(self) -> Iterator[str | IO[bytes]]:
        """What pyarrow reads: a plain file by path (its native reader, no Python buffers)."""
        if self.member is None:
            yield str(self.path)
        else:
            with self.open_binary() as f:
                yield f

    @contextmanager
    def open_text(self) -> Iterator[IO[str]]:
        with (
            self.open_binary() as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as text,
        ):
            yield text


@dataclass(frozen=True, slots=True)
class DataShopFile:
    source: Source
    session: date
    layout: str  # "calcs" | "quotes"
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QuoteTableFile:
    source: Source
    session: date
    symbol: str
    spot: float | None
    saved_at: datetime  # the header's timestamp, New York time


@dataclass(frozen=True, slots=True)
class UnreadableFile:
    label: str
    reason: str


@dataclass(slots=True)
class Catalog:
    datashop: list[DataShopFile] = field(default_factory=list)
    quote_tables: list[QuoteTableFile] = field(default_factory=list)
    unreadable: list[UnreadableFile] = field(default_factory=list)

    def datashop_on(self, day: date) -> list[DataShopFile]:
        return [f for f in self.datashop if f.session == day]

    def quote_tables_for(self, symbol: str, day: date) -> list[QuoteTableFile]:
        return [f for f in self.quote_tables if f.session == day and f.symbol == symbol]


def _sources(directory: Path) -> Iterator[Source | UnreadableFile]:
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if suffix == ".csv":
            yield Source(path)
        elif suffix == ".zip":
            try:
                with zipfile.ZipFile(path) as zf:
                    members = [
                        n
                        for n in zf.namelist()
                        if n.lower().endswith(".csv") and not n.endswith("/")
                    ]
            except (zipfile.BadZipFile, OSError) as exc:
                yield UnreadableFile(str(path), f"not a readable zip ({exc})")
                continue
            if not members:
                yield UnreadableFile(str(path), "zip holds no .csv file")
            for member in sorted(members):
                yield Source(path, member)


def build_catalog(directory: Path) -> Catalog:
    """Classify every CSV under `directory` by its first lines (cheap: no file is read whole)."""
    catalog = Catalog()
    for item in _sources(directory):
        if isinstance(item, UnreadableFile):
            catalog.unreadable.append(item)
            continue
        try:
            entry = classify(item)
        except _Unreadable as exc:
            catalog.unreadable.append(UnreadableFile(item.label, str(exc)))
        except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            catalog.unreadable.append(UnreadableFile(item.label, f"cannot be read ({exc})"))
        else:
            if isinstance(entry, DataShopFile):
                catalog.datashop.append(entry)
            else:
                catalog.quote_tables.append(entry)
    return catalog


def classify(source: Source) -> DataShopFile | QuoteTableFile:
    with source.open_text() as f:
        head = [line for _, line in zip(range(6), f, strict=False)]
    first = next((line for line in head if line.strip()), "")
    if not first:
        raise _Unreadable("empty file")
    if first.lstrip().lstrip('"').lower().startswith("underlying_symbol"):
        return _classify_datashop(source, head)
    if _LAST_RE.search(first) or any(_DATE_RE.search(line) for line in head):
        return _classify_quote_table(source)
    raise _Unreadable(
        f"neither a DataShop EOD file nor a CBOE quote table (line 1: {first.strip()[:60]!r})"
    )


def _classify_datashop(source: Source, head: list[str]) -> DataShopFile:
    columns = tuple(c.strip().lower() for c in next(csv.reader([head[0].lstrip()])))
    required: tuple[str, ...]
    if "implied_volatility_1545" in columns:
        layout, required = "calcs", DATASHOP_CALCS_COLUMNS
    else:
        layout, required = "quotes", DATASHOP_QUOTES_COLUMNS
    missing = [c for c in required if c not in columns]
    if missing:
        raise _Unreadable(f"DataShop {layout} header lacks {', '.join(missing)}")
    if len(head) < 2 or not head[1].strip():
        raise _Unreadable("DataShop file without data rows")
    row = next(csv.reader([head[1]]))
    try:
        session = date.fromisoformat(row[columns.index("quote_date")].strip()[:10])
    except (ValueError, IndexError):
        raise _Unreadable("line 2: quote_date is not a YYYY-MM-DD date") from None
    return DataShopFile(source, session, layout, columns)


def parse_saved_at(line: str) -> datetime:
    """The header timestamp ("Date: February 5 2022, 8:26 PM EST", all three variants) in NY."""
    m = _DATE_RE.search(line)
    if m is None:
        raise _Unreadable("quote table without a 'Date: <Month> <d> <yyyy> <h:mm> AM|PM' line")
    month = _MONTHS.get(m["month"][:3].lower())
    hour = int(m["hour"]) % 12 + (12 if m["ampm"].lower() == "p" else 0)
    tz_name = _TZ.get((m["tz"] or "ET").upper())
    if month is None or tz_name is None:
        raise _Unreadable(f"unreadable header timestamp {m.group(0)!r}")
    try:
        local = datetime(
            int(m["year"]), month, int(m["day"]), hour, int(m["minute"]), tzinfo=ZoneInfo(tz_name)
        )
    except ValueError:
        raise _Unreadable(f"unreadable header timestamp {m.group(0)!r}") from None
    return local.astimezone(_NY)


def session_of_saved_at(saved_at: datetime) -> date:
    """The session a quote table saved at `saved_at` shows, or _Unreadable when intraday.

    After the close on a session -> that session; on a weekend or holiday, or before the open
    -> the previous session; between the open and the close -> refused (not end-of-day).
    """
    ny = saved_at.astimezone(_NY)
    day = ny.date()
    if not calendar.is_session(day):
        return calendar.previous_session(day)
    if ny >= calendar.close_time(day):
        return day
    if ny.time() < MARKET_OPEN:
        return calendar.previous_session(day)
    raise _Unreadable(
        f"intraday snapshot saved {ny:%Y-%m-%d %H:%M} ET, during market hours "
        "(not an end-of-day chain)"
    )


def _classify_quote_table(source: Source) -> QuoteTableFile:
    name_line, saved_at, header, first_row = _quote_table_head(source)
    session = session_of_saved_at(saved_at)
    roots: Counter[str] = Counter()
    for cell in (first_row[1], first_row[_side_start(header, "puts")]):
        parsed = parse_occ(cell)
        if parsed is not None:
            roots[parsed[0]] += 1
    symbol = _quote_table_symbol(name_line[0], roots)
    if symbol is None:
        raise _Unreadable(
            "quote table whose underlying cannot be told (no ticker in line 2 "
            "and no OCC contract ids)"
        )
    m = _LAST_RE.search(",".join(name_line))
    spot = _spot(m["spot"]) if m else None
    return QuoteTableFile(source, session, symbol, spot, saved_at)


def _spot(text: str) -> float | None:
    try:
        v = float(text.replace(",", ""))
    except ValueError:
        return None
    return v if math.isfinite(v) and v > 0 else None


def _quote_table_head(source: Source) -> tuple[list[str], datetime, list[str], list[str]]:
    with source.open_text() as f:
        reader = csv.reader(f)
        lines = [row for _, row in zip(range(6), reader, strict=False)]
    rows = [r for r in lines if any(c.strip() for c in r)]
    if len(rows) < 3:
        raise _Unreadable("quote table shorter than its 3 header lines")
    name_line, date_line, header = rows[0], rows[1], [c.strip() for c in rows[2]]
    saved_at = parse_saved_at(",".join(date_line))
    if not header or header[0] != "Expiration Date" or "Strike" not in header:
        raise _Unreadable(
            "quote table without its 'Expiration Date,Calls,...,Strike,Puts,...' header line"
        )
    first_row = rows[3] if len(rows) > 3 else []
    if len(first_row) != len(header):
        first_row = [""] * len(header)
    return name_line, saved_at, header, first_row


def _side_start(header: list[str], side: str) -> int:
    strike = header.index("Strike")
    return 1 if side == "calls" else strike + 1


def _quote_table_symbol(name: str, roots: Counter[str]) -> str | None:
    name = name.strip()
    if _TICKER_RE.match(name):
        return plain_symbol(name)
    if not roots:
        return None
    shortest = min(roots, key=len)
    if all(r.startswith(shortest) for r in roots):
        return _ROOT_UNDERLYING.get(shortest, shortest)
    return _ROOT_UNDERLYING.get(shortest, shortest)


# --------------------------------------------------------------------------- rows -> snapshot


@dataclass(slots=True)
class _Rows:
    """One symbol's rows from one file, as arrays (floats: NaN = blank)."""

    label: str
    contract: NDArray[np.object_]  # OCC symbol, or None to synthesise
    expiration: NDArray[np.datetime64]  # datetime64[D]
    strike: NDArray[np.float64]
    option_type: NDArray[np.str_]  # "C", "P", or anything else (rejected)
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]
    last: NDArray[np.float64]
    volume: NDArray[np.float64]
    open_interest: NDArray[np.float64]
    iv: NDArray[np.float64]  # NaN where the file has none
    delta: NDArray[np.float64]
    gamma: NDArray[np.float64]
    theta: NDArray[np.float64]
    vega: NDArray[np.float64]
    spot: NDArray[np.float64]  # per row: the underlying at the moment of the row's quote
    quote_time: NDArray[np.float64]  # per row: when bid/ask were taken, Unix seconds
    underlying_price: float | None
    underlying_price_source: str
    open_interest_column: str  # the file's column, for the snapshot's open_interest_source
    wrong_date: int = 0
    annotations: Counter[str] = field(default_factory=Counter)


def _expiry_seconds(expirations: NDArray[np.datetime64]) -> NDArray[np.float64]:
    """Per row: when the contract stops trading (its expiration's close, 16:00 if unknown)."""
    out = np.full(expirations.size, np.nan)
    uniq, inverse = np.unique(expirations, return_inverse=True)
    ends = np.empty(uniq.size)
    for i, exp in enumerate(uniq.tolist()):
        if exp is None:
            ends[i] = np.nan
            continue
        try:
            ends[i] = calendar.close_time(exp).timestamp()
        except ValueError:  # not a session, or outside the calendar's span
            ends[i] = datetime.combine(exp, time(16, 0), tzinfo=_NY).timestamp()
    out[:] = ends[inverse.reshape(-1)]
    return out


def solve_missing_iv(rows: _Rows, *, r: float, q: float) -> None:
    """Fill IV (and greeks from it) where the file has none; count what was left empty."""
    if rows.strike.size == 0:
        return
    with np.errstate(invalid="ignore"):
        have = np.isfinite(rows.iv) & (rows.iv > 0)
    rows.annotations[IV_FROM_FILE] += int(have.sum())
    need = np.flatnonzero(~have)
    # zero IV from the file is no measurement: greeks computed from it are dropped too
    for arr in (rows.iv, rows.delta, rows.gamma, rows.theta, rows.vega):
        arr[need] = np.nan
    if need.size == 0:
        return
    strike = rows.strike[need]
    cp = rows.option_type[need]
    is_call = cp == "C"
    t = (_expiry_seconds(rows.expiration[need]) - rows.quote_time[need]) / SECONDS_PER_YEAR
    bid, ask, spot = rows.bid[need], rows.ask[need], rows.spot[need]
    with np.errstate(invalid="ignore"):
        valid = (is_call | (cp == "P")) & np.isfinite(strike) & (strike > 0) & np.isfinite(t)
        quoted = valid & np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (ask >= bid)
        mid = np.where(quoted, 0.5 * (bid + ask), np.nan)
        live = valid & (t > 0)
        rows.annotations[IV_NOT_LIVE] += int((valid & ~live).sum())
        rows.annotations[IV_NO_QUOTE] += int((live & ~quoted).sum())
        solvable = live & quoted & np.isfinite(spot) & (spot > 0)
        lower, upper = pricing.no_arbitrage_bounds(spot, strike, t, is_call, r, q)
        inside = solvable & (mid > lower) & (mid < upper)
    rows.annotations[IV_OUTSIDE_BOUNDS] += int((solvable & ~inside).sum())
    iv = np.full(need.size, np.nan)
    idx = np.flatnonzero(inside)
    if idx.size:
        iv[idx] = pricing.implied_volatility(
            mid[idx], spot[idx], strike[idx], t[idx], is_call[idx], r, q
        )
    solved = np.isfinite(iv)
    rows.annotations[IV_UNSOLVED] += int((inside & ~solved).sum())
    rows.annotations[IV_SOLVED] += int(solved.sum())
    ok = np.flatnonzero(solved)
    if ok.size:
        g = pricing.greeks(spot[ok], strike[ok], t[ok], iv[ok], is_call[ok], r, q)
        target = need[ok]
        rows.iv[target] = iv[ok]
        rows.delta[target], rows.gamma[target] = g.delta, g.gamma
        rows.theta[target], rows.vega[target] = g.theta, g.vega


def build_snapshot(symbol: str, day: date, rows: _Rows, *, r: float, q: float) -> ChainSnapshot:
    """Solve missing IVs, then validate every row at once through ChainBuilder.add_columns."""
    solve_missing_iv(rows, r=r, q=q)
    builder = ChainBuilder(symbol, day)
    if rows.wrong_date:
        builder.reject(WRONG_DATE, rows.wrong_date)
    known = (rows.option_type == "C") | (rows.option_type == "P")
    if not known.all():
        builder.reject(BAD_OPTION_TYPE, int((~known).sum()))
    keep = np.flatnonzero(known)
    contract = rows.contract[keep]
    # None as a 0-d object array: what np.equal makes of None, in the form its types accept
    missing = np.flatnonzero(np.equal(contract, np.array(None, dtype=object)))
    for i in missing:  # quote tables with a blank id: the OCC symbol from the row itself
        j = keep[i]
        k = rows.strike[j]
        exp = rows.expiration[j]
        if math.isfinite(k) and k > 0 and not np.isnat(exp):
            contract[i] = occ_symbol(symbol, exp.astype(date), str(rows.option_type[j]), float(k))
    columns = ChainColumns(
        expiration_date=rows.expiration[keep],
        strike=rows.strike[keep],
        is_call=rows.option_type[keep] == "C",
        bid=rows.bid[keep],
        ask=rows.ask[keep],
        last=rows.last[keep],
        volume=rows.volume[keep],
        open_interest=rows.open_interest[keep],
        implied_volatility=rows.iv[keep],
        delta=rows.delta[keep],
        gamma=rows.gamma[keep],
        theta=rows.theta[keep],
        vega=rows.vega[keep],
        multiplier=np.full(keep.size, 100, dtype=np.int64),
        contract_symbol=contract,
        root=symbol,
    )
    builder.add_columns(columns)
    snapshot = builder.build(
        provider=NAME,
        underlying_price=rows.underlying_price,
        underlying_price_source=rows.underlying_price_source,
        # the OI known at D's open: held at the end of the previous session
        open_interest_as_of=calendar.previous_session(day),
        open_interest_source=f"files:{rows.label} {rows.open_interest_column}",
    )
    notes = {k: v for k, v in sorted(rows.annotations.items()) if v}
    snapshot = replace(snapshot, annotations=notes)
    _log.info(
        "%s %s from %s: %d contracts; %s",
        day,
        symbol,
        rows.label,
        snapshot.contract_count,
        ", ".join(f"{k}={v}" for k, v in notes.items()) or "-",
    )
    return snapshot


# --------------------------------------------------------------------------- quote-table reader


def _num(text: str, column: str, where: str) -> float:
    t = text.strip().replace(",", "")
    if t in ("", "-", "--", "N/A", "NA", "null"):
        return math.nan
    try:
        v = float(t)
    except ValueError:
        raise FilesError(f"{where}: {column} {text.strip()!r} is not a number") from None
    if not math.isfinite(v):
        raise FilesError(f"{where}: {column} {text.strip()!r} is not a finite number")
    return v


def _expiration(text: str, where: str) -> date:
    t = text.strip()
    for fmt in ("%a %b %d %Y", "%m/%d/%Y", "%Y-%m-%d", "%b %d %Y"):
        try:
            return datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    raise FilesError(f"{where}: Expiration Date {t!r} is not a date like 'Fri Jan 05 2024'")


def read_quote_table(entry: QuoteTableFile) -> _Rows:
    """Every contract of a quote table (calls and puts) as columns; FilesError on a bad line."""
    name = entry.source.label
    _, _, header, _ = _quote_table_head(entry.source)
    strike_at = header.index("Strike")
    sides: list[tuple[str, int, dict[str, int]]] = []
    for cp, lo, hi in (("C", 1, strike_at), ("P", strike_at + 1, len(header))):
        names = {header[i]: i for i in range(lo + 1, hi)}  # lo = the contract-id column
        missing = [c for c in _REQUIRED_SIDE if c not in names]
        if "Open Interest" not in names and "Open Int" not in names:
            missing.append("Open Interest")
        if missing:
            raise FilesError(
                f"{name} line 4: header lacks {', '.join(missing)} "
                f"({'calls' if cp == 'C' else 'puts'})"
            )
        sides.append(
            (
                cp,
                lo,
                {QUOTE_TABLE_SIDE_MAP[h]: i for h, i in names.items() if h in QUOTE_TABLE_SIDE_MAP},
            )
        )
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "bid",
            "ask",
            "last",
            "volume",
            "open_interest",
            "implied_volatility",
            "delta",
            "gamma",
        )
    }
    contract: list[str | None] = []
    expiration: list[date] = []
    strike: list[float] = []
    option_type: list[str] = []
    header_seen = False
    with entry.source.open_text() as f:
        reader = csv.reader(f)
        for row in reader:
            line = reader.line_num
            if not header_seen:
                header_seen = bool(row) and row[0].strip() == "Expiration Date"
                continue
            if not any(c.strip() for c in row):
                continue
            where = f"{name} line {line}"
            if len(row) != len(header):
                raise FilesError(f"{where}: {len(row)} fields, the header has {len(header)}")
            exp = _expiration(row[0], where)
            k = _num(row[strike_at], "Strike", where)
            if not k > 0:
                raise FilesError(f"{where}: Strike {row[strike_at].strip()!r} is not a price")
            for cp, id_at, fields in sides:
                contract.append(row[id_at].strip() or None)
                expiration.append(exp)
                strike.append(k)
                option_type.append(cp)
                for key in cols:
                    at = fields.get(key)
                    cols[key].append(math.nan if at is None else _num(row[at], header[at], where))
    n = len(contract)
    spot = entry.spot if entry.spot is not None else math.nan
    close = calendar.close_time(entry.session)  # the quotes are the session's closing quotes
    return _Rows(
        label=Path(name).name,
        contract=np.array(contract, dtype=object),
        expiration=np.array(expiration, dtype="datetime64[D]"),
        strike=np.array(strike, dtype=np.float64),
        option_type=np.array(option_type),
        bid=np.array(cols["bid"]),
        ask=np.array(cols["ask"]),
        last=np.array(cols["last"]),
        volume=np.array(cols["volume"]),
        open_interest=np.array(cols["open_interest"]),
        iv=np.array(cols["implied_volatility"]),
        delta=np.array(cols["delta"]),
        gamma=np.array(cols["gamma"]),
        theta=np.full(n, np.nan),
        vega=np.full(n, np.nan),
        spot=np.full(n, spot),
        quote_time=np.full(n, close.timestamp()),
        underlying_price=entry.spot,
        underlying_price_source=f"files:quote table {Path(name).name} 'Last'",
        open_interest_column="'Open Interest'",
    )


# --------------------------------------------------------------------------- DataShop reader


def _datashop_wanted(symbols: Iterable[str]) -> dict[str, str]:
    """Raw underlying_symbol values to look for -> stored symbol (both SPX and ^SPX)."""
    wanted: dict[str, str] = {}
    for s in symbols:
        wanted[s] = s
        wanted["^" + s] = s
    return wanted


@dataclass(slots=True)
class _DataShopPart:
    """One symbol's rows of one DataShop file: string columns as pyarrow arrays (or an error)."""

    batches: list[Any] = field(default_factory=list)  # pyarrow.RecordBatch
    bad_line_text: str | None = None
    rows: int = 0


def scan_datashop(entry: DataShopFile, symbols: Iterable[str]) -> dict[str, _DataShopPart]:
    """Stream the file once, keeping only rows whose underlying is one of `symbols`.

    Every column is read as text (so one bad number cannot break other symbols) and only the
    columns used here; memory is bounded by the block size plus the kept rows. A file that
    cannot be read at all raises FilesError naming it.
    """
    try:
        return _scan_datashop(entry, symbols)
    except (OSError, ValueError, zipfile.BadZipFile, StopIteration) as exc:
        # pyarrow's ArrowInvalid is a ValueError; ArrowIOError an OSError
        first = first_line(exc)
        raise FilesError(f"{entry.source.label}: cannot be read ({first})") from None


def _scan_datashop(entry: DataShopFile, symbols: Iterable[str]) -> dict[str, _DataShopPart]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    wanted = _datashop_wanted(symbols)
    parts: dict[str, _DataShopPart] = {s: _DataShopPart() for s in set(wanted.values())}
    needed = list(_DATASHOP_TEXT + _DATASHOP_NUMBERS)
    if entry.layout == "calcs":
        needed += list(_DATASHOP_CALCS_NUMBERS)
    # header names may differ in case/spacing from ours: map the file's spelling
    by_lower: dict[str, str] = {}
    with entry.source.open_text() as f:
        raw_header = next(csv.reader(f))
    for raw in raw_header:
        by_lower[raw.strip().lower()] = raw
    include = [by_lower[c] for c in needed]
    under = by_lower["underlying_symbol"]
    wanted_arr = pa.array(list(wanted))

    def on_invalid(row: Any) -> str:  # pyarrow.csv.InvalidRow (pyarrow is untyped)
        first = (row.text or "").split(",", 1)[0].strip().strip('"')
        symbol = wanted.get(first)
        if symbol is not None and parts[symbol].bad_line_text is None:
            parts[symbol].bad_line_text = row.text
        return "skip"

    with entry.source.arrow_input() as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE, use_threads=True),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                include_columns=include,
                column_types={c: pa.string() for c in include},
                strings_can_be_null=True,
            ),
        )
        for batch in reader:
            col = batch.column(under)
            mask = pc.is_in(col, value_set=wanted_arr)
            if not pc.any(mask).as_py():
                continue
            kept = batch.filter(mask)
            keys = kept.column(under).to_pylist()
            if len(set(keys)) == 1:
                part = parts[wanted[keys[0]]]
                part.batches.append(kept)
                part.rows += kept.num_rows
                continue
            for raw in set(keys):
                sub = kept.filter(pc.equal(kept.column(under), raw))
                part = parts[wanted[raw]]
                part.batches.append(sub)
                part.rows += sub.num_rows
    return parts


def _locate_bad_line(
    entry: DataShopFile,
    symbol: str,
    predicate_msg: Callable[[list[str], list[str]], str | None],
) -> str:
    """The first line of `symbol` that `predicate_msg(fields, header)` finds fault with."""
    wanted = _datashop_wanted([symbol])
    with entry.source.open_text() as f:
        reader = csv.reader(f)
        header = [c.strip().lower() for c in next(reader)]
        for row in reader:
            if not row or row[0].strip() not in wanted:
                continue
            problem = predicate_msg(row, header)
            if problem:
                return f"{entry.source.label} line {reader.line_num}: {problem}"
    return f"{entry.source.label}: malformed rows for {symbol}"


def _row_problem(row: list[str], header: list[str]) -> str | None:
    if len(row) != len(header):
        return f"{len(row)} fields, the header has {len(header)}"
    for name in _DATASHOP_NUMBERS + _DATASHOP_CALCS_NUMBERS:
        if name not in header:
            continue
        text = row[header.index(name)].strip()
        if text == "":
            continue
        try:
            v = float(text)
        except ValueError:
            return f"{name} {text!r} is not a number"
        if not math.isfinite(v):
            return f"{name} {text!r} is not a finite number"
    for name in ("expiration", "quote_date"):
        try:
            date.fromisoformat(row[header.index(name)].strip()[:10])
        except ValueError:
            return f"{name} {row[header.index(name)].strip()!r} is not a YYYY-MM-DD date"
    return None


def datashop_rows(entry: DataShopFile, symbol: str, part: _DataShopPart, day: date) -> _Rows:
    """Convert one symbol's kept text columns to typed arrays (pyarrow compute, no per-row
    Python); FilesError names the first bad line."""
    import pyarrow as pa
    import pyarrow.compute as pc

    label = entry.source.label
    if part.bad_line_text is not None:
        raise FilesError(_locate_bad_line(entry, symbol, _row_problem))
    table = pa.Table.from_batches(part.batches)
    table = table.rename_columns([c.strip().lower() for c in table.column_names])

    def text(name: str) -> Any:  # a pyarrow.ChunkedArray (pyarrow is untyped)
        return pc.utf8_trim_whitespace(table.column(name))

    numbers: dict[str, NDArray[np.float64]] = {}
    try:
        for name in _DATASHOP_NUMBERS + (
            _DATASHOP_CALCS_NUMBERS if entry.layout == "calcs" else ()
        ):
            arr = pc.cast(text(name), pa.float64())
            numbers[name] = arr.to_numpy(zero_copy_only=False).astype(np.float64)
        exp_text = pc.utf8_slice_codeunits(text("expiration"), 0, 10)
        dates: dict[str, NDArray[np.datetime64]] = {}
        for name, values in (
            ("expiration", exp_text),
            ("quote_date", pc.utf8_slice_codeunits(text("quote_date"), 0, 10)),
        ):
            parsed = pc.cast(values, pa.date32())
            if parsed.null_count:
                raise ValueError(name)
            dates[name] = parsed.to_numpy(zero_copy_only=False).astype("datetime64[D]")
    except (pa.ArrowInvalid, ValueError):
        raise FilesError(_locate_bad_line(entry, symbol, _row_problem)) from None
    n = table.num_rows
    expiration = dates["expiration"]
    wrong = dates["quote_date"] != np.datetime64(day, "D")

    def col(name: str) -> NDArray[np.float64]:
        return numbers[name] if name in numbers else np.full(n, np.nan)

    bid15, ask15 = col("bid_1545"), col("ask_1545")
    blank15 = np.isnan(bid15) | np.isnan(ask15)
    bid = np.where(blank15, col("bid_eod"), bid15)
    ask = np.where(blank15, col("ask_eod"), ask15)
    with np.errstate(invalid="ignore"):
        mid15 = 0.5 * (col("underlying_bid_1545") + col("underlying_ask_1545"))
        mid15 = np.where(mid15 > 0, mid15, np.nan)
        active = col("active_underlying_price_1545")
        spot15 = np.where(active > 0, active, mid15)
        mid_eod = 0.5 * (col("underlying_bid_eod") + col("underlying_ask_eod"))
        spot_eod = np.where(mid_eod > 0, mid_eod, np.nan)
    spot = np.where(blank15, spot_eod, spot15)
    quote_1545 = datetime.combine(day, QUOTE_1545, tzinfo=_NY)
    close = calendar.close_time(day) if calendar.is_session(day) else quote_1545
    quote_time = np.where(blank15, close.timestamp(), quote_1545.timestamp())
    underlying, source = _median_spot(spot15, spot_eod, entry.layout)

    # OCC symbols built column-wise: root + yymmdd + C/P + strike in thousandths (8 digits)
    cp = pc.fill_null(pc.utf8_upper(pc.utf8_slice_codeunits(text("option_type"), 0, 1)), "")
    strikes = numbers["strike"]
    with np.errstate(invalid="ignore"):
        thousandths = np.where(
            np.isfinite(strikes) & (strikes > 0), np.round(strikes * 1000), 0
        ).astype(np.int64)
    root = pc.fill_null(pc.utf8_upper(pc.utf8_ltrim(text("root"), characters="^")), symbol)
    root = pc.if_else(pc.equal(root, ""), symbol, root)
    occ = pc.binary_join_element_wise(
        root,
        pc.utf8_slice_codeunits(exp_text, 2, 4),
        pc.utf8_slice_codeunits(exp_text, 5, 7),
        pc.utf8_slice_codeunits(exp_text, 8, 10),
        cp,
        pc.utf8_lpad(pc.cast(pa.array(thousandths), pa.string()), 8, "0"),
        "",
    )
    keep = np.flatnonzero(~wrong)
    rows = _Rows(
        label=Path(label).name,
        contract=occ.to_numpy(zero_copy_only=False).astype(object)[keep],
        expiration=expiration[keep],
        strike=strikes[keep],
        option_type=cp.to_numpy(zero_copy_only=False).astype(str)[keep],
        bid=bid[keep],
        ask=ask[keep],
        last=col("close")[keep],
        volume=col("trade_volume")[keep],
        open_interest=col("open_interest")[keep],
        iv=col("implied_volatility_1545")[keep],
        delta=col("delta_1545")[keep],
        gamma=col("gamma_1545")[keep],
        theta=col("theta_1545")[keep],
        vega=col("vega_1545")[keep],
        spot=spot[keep],
        quote_time=quote_time[keep],
        underlying_price=underlying,
        underlying_price_source=f"files:{Path(label).name} {source}",
        open_interest_column="open_interest",
        wrong_date=int(wrong.sum()),
    )
    rows.annotations[QUOTES_EOD_FALLBACK] += int(blank15[keep].sum())
    return rows


def _median_spot(
    spot15: NDArray[np.float64], spot_eod: NDArray[np.float64], layout: str
) -> tuple[float | None, str]:
    good = spot15[np.isfinite(spot15)]
    if good.size:
        name = "active_underlying_price_1545" if layout == "calcs" else "underlying mid at 15:45"
        return float(np.median(good)), name
    good = spot_eod[np.isfinite(spot_eod)]
    if good.size:
        return float(np.median(good)), "underlying mid at the close"
    return None, "none"


# --------------------------------------------------------------------------- provider


def _rate(env: str, default: float) -> float:
    text = os.environ.get(env)
    if not text:
        return default
    try:
        v = float(text)
    except ValueError:
        raise ProviderConfigError(f"{env}={text!r} is not a number") from None
    if not math.isfinite(v) or abs(v) > 1:
        raise ProviderConfigError(f"{env}={text!r} is not a rate (use a fraction, 0.04 = 4%)")
    return v


class FilesProvider:
    """Chains from a directory of DataShop EOD files and CBOE quote tables (no network)."""

    name = NAME

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        risk_free_rate: float | None = None,
        dividend_yield: float | None = None,
    ) -> None:
        raw = directory if directory is not None else os.environ.get(DIR_ENV)
        if not raw:
            raise ProviderConfigError(f"the files provider needs a directory: set {DIR_ENV}")
        self.directory = Path(raw).expanduser()
        if not self.directory.is_dir():
            raise ProviderConfigError(f"{DIR_ENV}: {self.directory} is not a directory")
        self.risk_free_rate = risk_free_rate if risk_free_rate is not None else _rate(RATE_ENV, 0.0)
        self.dividend_yield = (
            dividend_yield if dividend_yield is not None else _rate(DIVIDEND_ENV, 0.0)
        )
        self.requests_made = 0
        self._catalog: Catalog | None = None
        self._day: date | None = None
        self._parts: dict[str, dict[str, _DataShopPart]] = {}  # source label -> symbol -> rows

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = build_catalog(self.directory)
        return self._catalog

    def prepare(self, day: date, symbols: Sequence[str]) -> None:
        """Read each DataShop file of `day` once for all `symbols` (instead of once per symbol)."""
        self._parts = {}
        self._day = day
        if not symbols or not calendar.is_session(day):
            return
        for entry in self.catalog.datashop_on(day):
            try:
                self._parts[entry.source.label] = scan_datashop(entry, symbols)
            except FilesError:
                continue  # each symbol's fetch reports it (and fails only that symbol)

    def _datashop_part(self, entry: DataShopFile, symbol: str, day: date) -> _DataShopPart:
        label = entry.source.label
        cached = self._parts.get(label) if self._day == day else None
        if cached is not None and symbol in cached:
            return cached.pop(symbol)
        return scan_datashop(entry, [symbol])[symbol]

    def fetch_chain(self, symbol: str, as_of: date) -> ChainSnapshot:
        why = calendar.closure_reason(as_of)
        if why is not None:
            raise NoContracts(f"no trading on {as_of.isoformat()} ({why})")
        symbol = plain_symbol(symbol)
        claims: list[tuple[str, QuoteTableFile | tuple[DataShopFile, _DataShopPart]]] = [
            (f.source.label, f) for f in self.catalog.quote_tables_for(symbol, as_of)
        ]
        for entry in self.catalog.datashop_on(as_of):
            part = self._datashop_part(entry, symbol, as_of)
            if part.rows or part.bad_line_text is not None:
                claims.append((entry.source.label, (entry, part)))
        if not claims:
            raise NotAvailable(f"no file in {self.directory} holds {symbol} on {as_of.isoformat()}")
        if len(claims) > 1:
            names = " and ".join(label for label, _ in claims)
            raise ConflictingFiles(
                f"{len(claims)} files claim {symbol} on {as_of.isoformat()}: {names}; keep one"
            )
        _, found = claims[0]
        if isinstance(found, QuoteTableFile):
            rows = read_quote_table(found)
        else:
            entry, part = found
            rows = datashop_rows(entry, symbol, part, as_of)
        return build_snapshot(symbol, as_of, rows, r=self.risk_free_rate, q=self.dividend_yield)

    def estimate_requests(self, symbol: str, day: date, contracts_hint: int) -> int:
        """Dry-run plans: files cost no requests."""
        return 0

    def close(self) -> None:
        self._parts = {}


# --------------------------------------------------------------------------- scan


@dataclass(frozen=True, slots=True)
class ScanReport:
    directory: Path
    coverage: dict[tuple[date, str], list[str]]  # (session, symbol) -> file labels
    unreadable: list[UnreadableFile]

    @property
    def sessions(self) -> list[date]:
        return sorted({d for d, _ in self.coverage})

    @property
    def symbols(self) -> list[str]:
        return sorted({s for _, s in self.coverage})

    @property
    def conflicts(self) -> dict[tuple[date, str], list[str]]:
        return {k: v for k, v in self.coverage.items() if len(v) > 1}


def datashop_symbols(entry: DataShopFile) -> set[str]:
    """Every underlying a DataShop file holds (one streamed pass over one column)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    with entry.source.open_text() as f:
        raw_header = next(csv.reader(f))
    under = next(c for c in raw_header if c.strip().lower() == "underlying_symbol")
    found: set[str] = set()
    with entry.source.arrow_input() as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(invalid_row_handler=lambda _row: "skip"),
            convert_options=pacsv.ConvertOptions(
                include_columns=[under], column_types={under: pa.string()}
            ),
        )
        for batch in reader:
            found.update(v for v in pc.unique(batch.column(0)).to_pylist() if v)
    return {plain_symbol(s) for s in found}


def scan_directory(directory: Path) -> ScanReport:
    catalog = build_catalog(directory)
    coverage: dict[tuple[date, str], list[str]] = {}
    unreadable = list(catalog.unreadable)
    for qt in catalog.quote_tables:
        coverage.setdefault((qt.session, qt.symbol), []).append(qt.source.label)
    for ds in catalog.datashop:
        try:
            symbols = datashop_symbols(ds)
        except Exception as exc:  # pyarrow raises several types; the scan reports, not fails
            first = first_line(exc)
            unreadable.append(UnreadableFile(ds.source.label, f"cannot be read ({first})"))
            continue
        for s in symbols:
            coverage.setdefault((ds.session, s), []).append(ds.source.label)
    return ScanReport(directory, dict(sorted(coverage.items())), unreadable)
