"""The sample market: an offline, deterministic option market that looks like a real underlying.

`sample_chain(symbol, as_of, contracts)` depends only on its arguments (numpy generators seeded
from zlib.crc32 of the symbol and date), so re-running a partition reproduces it exactly and the
local Polygon test server can serve the very same market as JSON.

- Spot: a seeded random walk of daily log-returns (weekdays only), cumulated year by year from
  2000-01-01 and anchored so that on 2025-01-02 SPY=600, QQQ=520, IWM=240, AAPL=230 (other symbols
  start at a hashed 20..500). Spot on day D depends only on (symbol, D).
- Expirations: the next 8 weekly Fridays plus the monthly third Fridays out to ~1 year (a Friday
  holiday moves the expiry to Thursday).
- Strikes: around spot at listed-looking increments (0.5/1/2.5/5/10/...), wider for later expiries.
- Implied volatility: per-symbol level x a per-day factor, gentle term structure, equity skew with
  a smile (puts richer), small per-contract noise.
- Prices and greeks: Black-Scholes with dividend yield (`options_pipeline.pricing`). theta is per
  calendar day, vega per 1 vol point, like Polygon's.
- Open interest: concentrated near spot, on round strikes, near-dated and monthly/quarterly
  expiries, downside puts; volume a fraction of it; bid/ask around the model price at tick size.
- NYSE weekends and closures (`options_pipeline.calendar`, every year it covers) raise
  NoContracts naming the holiday.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from options_pipeline import pricing
from options_pipeline.calendar import NEW_YORK, close_time, is_session, previous_session
from options_pipeline.models import ChainColumns, ChainSnapshot
from options_pipeline.providers.base import NotAvailable, ProviderConfigError
from options_pipeline.providers.normalize import raise_if_closed

NAME = "sample"
DEFAULT_CONTRACTS = 6_000  # an SPY-like chain
MIN_CONTRACTS, MAX_CONTRACTS = 10, 200_000
EPOCH = date(2000, 1, 1)  # the walk is defined from here on
ANCHOR = date(2025, 1, 2)  # start prices hold on this day
RISK_FREE = 0.04
TRADING_DAYS = 252
_SALT = 0x5A3D1E  # bump to regenerate every market
_NY = NEW_YORK

# symbol: (spot on ANCHOR, annual vol, dividend yield, open-interest scale per contract)
_KNOWN: dict[str, tuple[float, float, float, float]] = {
    "SPY": (600.0, 0.16, 0.013, 8000.0),
    "QQQ": (520.0, 0.21, 0.006, 5000.0),
    "IWM": (240.0, 0.22, 0.012, 4000.0),
    "AAPL": (230.0, 0.27, 0.005, 3000.0),
}


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    start: float
    vol: float
    dividend_yield: float
    oi_scale: float


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng([_seed(*parts), _SALT])


@functools.lru_cache(maxsize=1024)
def profile(symbol: str) -> SymbolProfile:
    """Start price, vol, dividend yield and OI scale; unknown symbols get hashed plausible ones."""
    if symbol in _KNOWN:
        return SymbolProfile(*_KNOWN[symbol])
    u = _rng("profile", symbol).random(4)
    start = float(round(20.0 * (500.0 / 20.0) ** u[0], 2))  # log-uniform 20..500
    return SymbolProfile(start, 0.22 + 0.33 * float(u[1]), 0.02 * float(u[2]), 150 + 1350 * u[3])


# --------------------------------------------------------------------------- spot path


@functools.lru_cache(maxsize=4096)
def _year_path(symbol: str, year: int) -> np.ndarray:
    """Cumulative log-return through each day of `year` (index = day of year - 1)."""
    p = profile(symbol)
    first = date(year, 1, 1)
    days = (date(year + 1, 1, 1) - first).days
    weekday = np.array([(first + timedelta(d)).weekday() < 5 for d in range(days)])
    sigma = p.vol / math.sqrt(TRADING_DAYS)
    mu = (0.07 - 0.5 * p.vol**2) / TRADING_DAYS
    returns = _rng("walk", symbol, year).normal(mu, sigma, days) * weekday
    return np.cumsum(returns)


def _cum_return(symbol: str, day: date) -> float:
    total = sum(float(_year_path(symbol, y)[-1]) for y in range(EPOCH.year, day.year))
    return total + float(_year_path(symbol, day.year)[day.timetuple().tm_yday - 1])


@functools.lru_cache(maxsize=65_536)
def spot_price(symbol: str, day: date) -> float:
    """Closing spot of the sample market on `day` (depends only on symbol and day)."""
    if day < EPOCH:
        raise NotAvailable(f"the sample market starts on {EPOCH.isoformat()}")
    p = profile(symbol)
    return round(p.start * math.exp(_cum_return(symbol, day) - _cum_return(symbol, ANCHOR)), 2)


# --------------------------------------------------------------------------- chain layout


def _expiry_friday(d: date) -> date:
    # an exchange holiday on Friday moves the expiry to the session before (e.g. Good Friday)
    return d if is_session(d) else previous_session(d)


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


@functools.lru_cache(maxsize=512)
def expirations(as_of: date, weeklies: int = 8, months: int = 12) -> tuple[tuple[date, bool], ...]:
    """(expiration, is_monthly) on or after `as_of`: weekly Fridays then monthlies to ~1 year."""
    out: dict[date, bool] = {}
    friday = as_of + timedelta(days=(4 - as_of.weekday()) % 7)
    for i in range(weeklies):
        out[_expiry_friday(friday + timedelta(weeks=i))] = False
    y, m = as_of.year, as_of.month
    for _ in range(months + 1):
        exp = _expiry_friday(_third_friday(y, m))
        if as_of <= exp <= as_of + timedelta(days=380):
            out[exp] = True
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return tuple(sorted((d, monthly) for d, monthly in out.items() if d >= as_of))


_LADDER = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0)


def _increment(spot: float, span: float, count: int) -> float:
    """The smallest listed-looking strike increment covering `span` with `count` strikes."""
    floor = 0.5 if spot < 50 else 1.0 if spot < 1000 else 5.0
    want = max(span / max(count - 1, 1), floor)
    return next((inc for inc in _LADDER if inc >= want), _LADDER[-1])


def _round_boost(strikes: np.ndarray, spot: float) -> np.ndarray:
    unit = 10.0 ** (math.floor(math.log10(spot)) - 1)  # 600 -> 10, 50 -> 1
    ticks = np.rint(strikes * 10_000).astype(np.int64)  # strikes carry 4 decimals: exact integers
    boost = np.ones_like(strikes)
    for mult, factor in ((1, 1.5), (5, 2.5), (10, 4.0)):
        step = max(round(unit * mult * 10_000), 1)
        boost[ticks % step == 0] = factor
    return boost


# --------------------------------------------------------------------------- the chain


def sample_chain(symbol: str, as_of: date, contracts: int = DEFAULT_CONTRACTS) -> ChainSnapshot:
    """The sample market's chain of `symbol` on trading day `as_of` (about `contracts` rows),
    generated as columns (no per-contract Python objects)."""
    symbol = symbol.strip().upper()
    if not MIN_CONTRACTS <= contracts <= MAX_CONTRACTS:
        raise ProviderConfigError(
            f"contracts per symbol must be in {MIN_CONTRACTS}..{MAX_CONTRACTS}: {contracts}"
        )
    raise_if_closed(as_of)
    spot = spot_price(symbol, as_of)
    p = profile(symbol)
    rng = _rng("chain", symbol, as_of.isoformat())
    day_vol = p.vol * math.exp(rng.normal(0.0, 0.12))  # the day's vol regime

    per_type = max(contracts // 2, 1)
    exps = expirations(as_of)
    exps = exps[: max(1, min(len(exps), per_type // 5))]  # small chains: fewer expiries
    weights = np.array([1.5 if monthly else 1.0 for _, monthly in exps])
    counts = np.maximum(np.floor(per_type * weights / weights.sum()).astype(int), 1)
    counts[np.argmax(weights)] += per_type - counts.sum()  # land exactly on the target

    # per expiry (a few dozen): strike grid parameters; per contract: array arithmetic only
    dte_e = np.array([(exp - as_of).days for exp, _ in exps], dtype=np.float64)
    t_e = (dte_e + 0.3) / 365.0  # 0DTE keeps its last session hours
    low_e = np.empty(len(exps))
    inc_e = np.empty(len(exps))
    for i, n_i in enumerate(counts.tolist()):
        half_width = min(max(3.5 * day_vol * math.sqrt(t_e[i]), 0.04), 1.2)
        span = spot * (math.exp(half_width) - math.exp(-half_width))
        inc = _increment(spot, span, n_i)
        centre = round(spot / inc) * inc
        inc_e[i] = inc
        low_e[i] = max(centre - inc * (n_i // 2), inc)  # huge chains: shift up rather than <= 0
    which = np.repeat(np.arange(len(exps)), counts)
    starts = np.cumsum(counts) - counts
    position = np.arange(which.size) - starts[which]
    strikes = np.round(low_e[which] + inc_e[which] * position, 4)
    t = t_e[which]
    dte = dte_e[which]
    exp_days = np.array([exp for exp, _ in exps], dtype="datetime64[D]")[which]
    monthly_arr = np.array([monthly for _, monthly in exps], dtype=bool)[which]
    quarterly_e = np.array(
        [monthly and exp.month in (3, 6, 9, 12) for exp, monthly in exps], dtype=bool
    )

    # both types for every (expiry, strike)
    n = strikes.size
    strikes = np.concatenate([strikes, strikes])
    t = np.concatenate([t, t])
    dte = np.concatenate([dte, dte])
    monthly_arr = np.concatenate([monthly_arr, monthly_arr])
    exp_days = np.concatenate([exp_days, exp_days])
    quarterly = np.concatenate([quarterly_e[which], quarterly_e[which]])
    is_call = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])

    r, q = RISK_FREE, p.dividend_yield
    forward = spot * np.exp((r - q) * t)
    x = np.clip(np.log(strikes / forward) / np.sqrt(t), -4.0, 4.0)  # standardised moneyness
    atm = day_vol * (0.88 + 0.12 * np.minimum(np.sqrt(t / 0.5), 1.5))  # gentle upward term
    iv = atm * (1.0 - 0.35 * x + 0.25 * x**2) * np.exp(rng.normal(0.0, 0.01, 2 * n))
    iv = np.clip(iv, 0.03, 2.5)

    price, greeks = pricing.price_and_greeks(spot, strikes, t, iv, is_call, r, q)

    # open interest and volume
    z = np.log(strikes / forward) / (iv * np.sqrt(t))  # distance in standard deviations
    near = np.exp(-0.5 * (z / 1.2) ** 2) + 0.02
    expiry_w = (1.0 / (1.0 + dte / 20.0)) ** 0.8 * np.where(monthly_arr, 2.0, 1.0)
    expiry_w = expiry_w * np.where(quarterly, 1.5, 1.0)
    otm_put, otm_call = ~is_call & (strikes < spot), is_call & (strikes > spot)
    side = np.where(otm_put, 1.4, np.where(otm_call, 1.1, 0.8))
    lam = p.oi_scale * near * _round_boost(strikes, spot) * expiry_w * side
    lam = lam * rng.lognormal(0.0, 0.5, 2 * n)
    open_interest = rng.poisson(np.minimum(lam, 5e6))
    volume = rng.poisson(open_interest * 0.12 * np.exp(-dte / 20.0) * near + 0.2)

    # quotes at tick size around the model price
    penny = symbol in ("SPY", "QQQ", "IWM")
    tick = np.where(penny | (price < 3.0), 0.01, 0.05)
    spread = np.maximum(tick, price * (0.01 + 0.02 * np.minimum(np.abs(x), 3.0)) + 0.01)
    bid = np.maximum(np.floor((price - spread / 2) / tick) * tick, 0.0)
    ask = np.maximum(np.ceil((price + spread / 2) / tick) * tick, bid + tick)
    last = np.maximum(np.round(price * np.exp(rng.normal(0.0, 0.01, 2 * n)), 2), 0.01)

    # rows ordered by (expiration, strike, call before put): strikes ascend within each expiry
    # and expiries ascend, so that order is calls and puts interleaved
    order = np.stack([np.arange(n), np.arange(n) + n], axis=1).ravel()
    volume_f = volume[order].astype(np.float64)
    columns = ChainColumns(
        expiration_date=exp_days[order],
        strike=strikes[order],
        is_call=is_call[order],
        bid=np.round(bid, 2)[order],
        ask=np.round(ask, 2)[order],
        last=np.where(volume_f > 0, last[order], np.nan),  # no trade, no last price
        volume=volume_f,
        open_interest=open_interest[order].astype(np.float64),
        implied_volatility=np.round(iv, 6)[order],
        delta=greeks.delta[order],
        gamma=greeks.gamma[order],
        theta=greeks.theta[order],
        vega=greeks.vega[order],
        multiplier=np.full(2 * n, 100, dtype=np.int64),
        root=symbol,
    )
    return ChainSnapshot(
        symbol=symbol,
        as_of=as_of,
        provider=NAME,
        columns=columns,
        underlying_price=spot,
        underlying_price_source="sample",
        provider_mark_time=close_time(as_of),  # the session's close: 13:00 on early closes
        rejected={},
        requests=0,
    )


class SampleProvider:
    """Provider "sample": the sample market, offline (no network, no API key)."""

    name = NAME

    def __init__(self, *, contracts_per_symbol: int = DEFAULT_CONTRACTS) -> None:
        if not (
            isinstance(contracts_per_symbol, int)
            and MIN_CONTRACTS <= contracts_per_symbol <= MAX_CONTRACTS
        ):
            raise ProviderConfigError(
                f"sample_contracts_per_symbol must be an integer in "
                f"{MIN_CONTRACTS}..{MAX_CONTRACTS}: {contracts_per_symbol!r}"
            )
        self.contracts_per_symbol = contracts_per_symbol
        self.requests_made = 0  # offline: always 0, for parity with HTTP providers

    def fetch_chain(self, symbol: str, as_of: date) -> ChainSnapshot:
        return sample_chain(symbol, as_of, self.contracts_per_symbol)

    def estimate_requests(self, symbol: str, day: date, contracts_hint: int) -> int:
        return 0  # offline: the sample market is computed locally

    def close(self) -> None:
        return None
