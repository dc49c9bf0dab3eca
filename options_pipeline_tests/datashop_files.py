"""CBOE DataShop EOD files and quote tables written for tests and benchmarks.

The headers are copied from the documented layouts (historical-sources.md, "Files people already
own"), not from the provider, so a wrong column name in either place fails a test. Prices come
from a textbook Black–Scholes written here with scipy.stats.norm (not options_pipeline.pricing).
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from scipy.stats import norm

# "Option EOD Summary" (26 columns) and "EOD Calcs" (34 columns), in the documented order.
QUOTES_HEADER = (  # noqa: SIM905 (kept as the documented comma-separated line)
    "underlying_symbol,quote_date,root,expiration,strike,option_type,open,high,low,close,"
    "trade_volume,bid_size_1545,bid_1545,ask_size_1545,ask_1545,underlying_bid_1545,"
    "underlying_ask_1545,bid_size_eod,bid_eod,ask_size_eod,ask_eod,underlying_bid_eod,"
    "underlying_ask_eod,vwap,open_interest,delivery_code"
).split(",")
CALCS_HEADER = (  # noqa: SIM905
    "underlying_symbol,quote_date,root,expiration,strike,option_type,open,high,low,close,"
    "trade_volume,bid_size_1545,bid_1545,ask_size_1545,ask_1545,underlying_bid_1545,"
    "underlying_ask_1545,implied_underlying_price_1545,active_underlying_price_1545,"
    "implied_volatility_1545,delta_1545,gamma_1545,theta_1545,vega_1545,rho_1545,bid_size_eod,"
    "bid_eod,ask_size_eod,ask_eod,underlying_bid_eod,underlying_ask_eod,vwap,open_interest,"
    "delivery_code"
).split(",")
assert len(QUOTES_HEADER) == 26 and len(CALCS_HEADER) == 34


def textbook_price(
    s: float, k: float, t: float, v: float, call: bool, r: float = 0.0, q: float = 0.0
) -> float:
    d1 = (math.log(s / k) + (r - q + v * v / 2) * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    if call:
        return s * math.exp(-q * t) * norm.cdf(d1) - k * math.exp(-r * t) * norm.cdf(d2)
    return k * math.exp(-r * t) * norm.cdf(-d2) - s * math.exp(-q * t) * norm.cdf(-d1)


@dataclass
class Row:
    """One DataShop row; `None` writes a blank field."""

    underlying: str
    quote_date: date
    root: str
    expiration: date
    strike: float
    option_type: str  # as written: c, p, C, P
    bid_1545: float | None
    ask_1545: float | None
    bid_eod: float | None
    ask_eod: float | None
    spot_1545: float | None  # active_underlying_price_1545 and the underlying 15:45 mid
    spot_eod: float | None
    iv_1545: float | None = None
    delta_1545: float | None = None
    gamma_1545: float | None = None
    close: float = 0.0
    volume: int = 0
    open_interest: int = 0

    def values(self, header: Sequence[str]) -> list[str]:
        def f(v: float | None) -> str:
            return "" if v is None else repr(round(float(v), 6))

        half = 0.05  # underlying bid/ask half-spread around the spot
        fields = {
            "underlying_symbol": self.underlying,
            "quote_date": self.quote_date.isoformat(),
            "root": self.root,
            "expiration": self.expiration.isoformat(),
            "strike": f"{self.strike:.3f}",
            "option_type": self.option_type,
            "open": f(self.close),
            "high": f(self.close),
            "low": f(self.close),
            "close": f(self.close),
            "trade_volume": str(self.volume),
            "bid_size_1545": "" if self.bid_1545 is None else "10",
            "bid_1545": f(self.bid_1545),
            "ask_size_1545": "" if self.ask_1545 is None else "10",
            "ask_1545": f(self.ask_1545),
            "underlying_bid_1545": f(None if self.spot_1545 is None else self.spot_1545 - half),
            "underlying_ask_1545": f(None if self.spot_1545 is None else self.spot_1545 + half),
            "implied_underlying_price_1545": "0",
            "active_underlying_price_1545": f(self.spot_1545),
            "implied_volatility_1545": f(self.iv_1545),
            "delta_1545": f(self.delta_1545),
            "gamma_1545": f(self.gamma_1545),
            "theta_1545": "",
            "vega_1545": "",
            "rho_1545": "",
            "bid_size_eod": "12",
            "bid_eod": f(self.bid_eod),
            "ask_size_eod": "12",
            "ask_eod": f(self.ask_eod),
            "underlying_bid_eod": f(None if self.spot_eod is None else self.spot_eod - half),
            "underlying_ask_eod": f(None if self.spot_eod is None else self.spot_eod + half),
            "vwap": f(self.close),
            "open_interest": str(self.open_interest),
            "delivery_code": "",
        }
        return [fields[h] for h in header]


def quoted_row(
    underlying: str,
    day: date,
    root: str,
    expiration: date,
    strike: float,
    option_type: str,
    *,
    spot: float,
    vol: float,
    t: float,
    r: float = 0.0,
    q: float = 0.0,
    spread: float = 0.02,
    open_interest: int = 100,
    volume: int = 10,
    with_iv: bool = True,
) -> Row:
    """A row whose bid/ask straddle the textbook price at `vol` (mid = the price exactly)."""
    p = textbook_price(spot, strike, t, vol, option_type.lower() == "c", r, q)
    bid, ask = max(p - spread, 0.0), p + spread
    if bid == 0.0:
        ask = 2 * p
    return Row(
        underlying,
        day,
        root,
        expiration,
        strike,
        option_type,
        bid,
        ask,
        bid * 0.99,
        ask * 1.01,
        spot,
        spot + 0.5,
        iv_1545=vol if with_iv else None,
        delta_1545=0.5 if with_iv else None,
        gamma_1545=0.01 if with_iv else None,
        close=round(p, 2),
        volume=volume,
        open_interest=open_interest,
    )


def datashop_text(rows: Iterable[Row], layout: str) -> str:
    header = CALCS_HEADER if layout == "calcs" else QUOTES_HEADER
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(row.values(header))
    return buf.getvalue()


def write_datashop(
    directory: Path,
    day: date,
    rows: Iterable[Row],
    *,
    layout: str = "calcs",
    zipped: bool = False,
    name: str | None = None,
) -> Path:
    """UnderlyingOptionsEODCalcs_YYYY-MM-DD.csv (or ...Quotes_..., or a .zip holding it)."""
    kind = "Calcs" if layout == "calcs" else "Quotes"
    csv_name = name or f"UnderlyingOptionsEOD{kind}_{day.isoformat()}.csv"
    text = datashop_text(rows, layout)
    directory.mkdir(parents=True, exist_ok=True)
    if zipped:
        path = directory / (Path(csv_name).stem + ".zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(csv_name, text)
    else:
        path = directory / csv_name
        path.write_text(text)
    return path


QUOTE_TABLE_HEADER = (
    "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,"
    "Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest"
)


def write_quote_table(
    path: Path,
    *,
    name: str,
    spot: float,
    date_line: str,
    rows: Sequence[Sequence[str]],
    header: str = QUOTE_TABLE_HEADER,
) -> Path:
    """A quote table as the delayed-quotes page writes it (line 1 blank, then 3 header lines)."""
    lines = [
        "",
        f"{name},Last: {spot},Change: 1.25",
        f'"{date_line}",Bid: 0,Ask: 0,Size: 0*0,Volume: 0',
        header,
    ]
    lines += [",".join(r) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
