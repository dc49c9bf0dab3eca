"""Dealer gamma exposure (GEX) of one (symbol, day) chain: totals, walls, flip, slope, status.

Pure numpy: no I/O, no dagster. Every threshold lives in `MetricsParams` so the stored output
(`DayMetrics.to_dict()`, which embeds the params) says exactly how a number was produced.

Units: GEX per contract = sign · Γ · OI · multiplier · S² · 0.01, i.e. USD of underlying that
dealers must trade per 1% move of the spot. Γ is the closed-form Black–Scholes gamma from the
contract's IV (see `gamma.py`), re-priced at each hypothetical spot for the flip profile.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from options_pipeline import pricing
from options_pipeline.metrics.gamma import (
    DEFAULT_CHUNK_ELEMENTS,
    ONE_HOUR_YEARS,
    PCT_MOVE,
    days_to_expiry,
    gex_profile,
    year_fractions,
)

Convention = Literal["dealer_long_calls_short_puts", "dealer_short_calls_long_puts"]
Status = Literal["FULL", "LIMITED", "INVALID"]
Position = Literal["long_gamma", "short_gamma", "neutral"]

CONVENTIONS: dict[str, tuple[float, float]] = {
    # name -> (sign of calls, sign of puts) in dealer GEX
    "dealer_long_calls_short_puts": (1.0, -1.0),  # SqueezeMetrics: customers sell calls, buy puts
    "dealer_short_calls_long_puts": (-1.0, 1.0),  # the opposite (the A3 convention)
}
GEX_UNITS = "USD per 1% move"
SLOPE_UNITS = "USD per 1% move, per USD of spot"

# Exclusion reasons, in the order they are tested; a contract is counted under the first it fails
# so the counts add up to total − eligible.
EXCLUSION_REASONS = (
    "bad_strike_or_multiplier",
    "expired",
    "dte_below_min",
    "dte_above_max",
    "no_iv",
    "no_open_interest",
    "open_interest_below_min",
    "volume_below_min",
)


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


def _float_column(values: Any) -> NDArray[np.float64]:
    """Floats with None / pd.NA / Decimal handled; missing values become NaN."""
    if hasattr(values, "to_numpy"):  # pandas Series / Index, incl. nullable dtypes
        return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64)
    return np.array([_to_float(v) for v in arr.tolist()], dtype=np.float64)


def _to_float(v: Any) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except TypeError:  # pd.NA, pd.NaT and friends
        return math.nan


def _is_call_column(values: Any) -> NDArray[np.bool_]:
    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if arr.dtype.kind == "b":
        return arr.astype(bool)
    norm = np.char.upper(np.char.strip(arr.astype(str)))
    calls = np.isin(norm, ("C", "CALL"))
    puts = np.isin(norm, ("P", "PUT"))
    bad = ~(calls | puts)
    if bad.any():
        raise ValueError(f"option_type must be 'C' or 'P', got {arr[bad][0]!r}")
    return calls


def _date_column(values: Any) -> NDArray[np.datetime64]:
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[D]")
    return np.array(
        [v.date() if isinstance(v, datetime) else v for v in arr.tolist()], dtype="datetime64[D]"
    )


def _readonly(arr: NDArray[Any]) -> NDArray[Any]:
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class ChainArrays:
    """One (symbol, day) chain as parallel read-only arrays, one element per contract.

    `eq=False`: arrays have no single truth value, so instances compare by identity.
    Missing IV / open interest / volume are NaN (they fail eligibility, never raise).
    """

    as_of: date
    spot: float | None
    strike: NDArray[np.float64]
    is_call: NDArray[np.bool_]
    expiration: NDArray[np.datetime64]  # datetime64[D]
    iv: NDArray[np.float64]
    open_interest: NDArray[np.float64]
    volume: NDArray[np.float64]
    multiplier: NDArray[np.float64]
    symbol: str = ""

    def __post_init__(self) -> None:
        if self.strike.ndim != 1:
            raise ValueError(f"strike must be 1-D, got shape {self.strike.shape}")
        n = self.strike.shape[0]
        for name in ("is_call", "expiration", "iv", "open_interest", "volume", "multiplier"):
            arr = getattr(self, name)
            if arr.ndim != 1 or arr.shape[0] != n:
                raise ValueError(f"{name} has shape {arr.shape}, expected ({n},)")
        if isinstance(self.as_of, datetime) or not isinstance(self.as_of, date):
            raise TypeError(f"as_of must be a datetime.date, got {type(self.as_of).__name__}")

    def __len__(self) -> int:
        return int(self.strike.shape[0])

    @classmethod
    def from_columns(
        cls,
        *,
        as_of: date,
        spot: float | None,
        strike: Any,
        option_type: Any,
        expiration_date: Any,
        implied_volatility: Any,
        open_interest: Any,
        volume: Any,
        multiplier: Any = 100,
        symbol: str = "",
    ) -> ChainArrays:
        """Build from column sequences (lists, numpy arrays or pandas Series).

        option_type is 'C'/'P' (or 'call'/'put', any case) or already a bool is_call column;
        expiration_date holds dates, ISO strings or datetime64; a scalar multiplier broadcasts.
        """
        k = _float_column(strike)
        n = k.shape[0]
        if np.ndim(multiplier) == 0:
            mult_arr = np.full(n, float(multiplier), dtype=np.float64)
        else:
            mult_arr = _float_column(multiplier)
        spot_f = None if spot is None or not math.isfinite(float(spot)) else float(spot)
        return cls(
            as_of=as_of,
            spot=spot_f,
            strike=_readonly(k),
            is_call=_readonly(_is_call_column(option_type) if n else np.zeros(0, dtype=bool)),
            expiration=_readonly(
                _date_column(expiration_date) if n else np.zeros(0, dtype="datetime64[D]")
            ),
            iv=_readonly(_float_column(implied_volatility)),
            open_interest=_readonly(_float_column(open_interest)),
            volume=_readonly(_float_column(volume)),
            multiplier=_readonly(mult_arr),
            symbol=symbol,
        )

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, Any] | Any],
        *,
        as_of: date,
        spot: float | None,
        symbol: str = "",
    ) -> ChainArrays:
        """Build from mappings or objects (e.g. `OptionQuote`, DB rows) with the column names
        strike, option_type, expiration_date, implied_volatility, open_interest, volume and
        (optional, default 100) multiplier."""
        names = (
            "strike",
            "option_type",
            "expiration_date",
            "implied_volatility",
            "open_interest",
            "volume",
        )
        cols: dict[str, list[Any]] = {name: [] for name in (*names, "multiplier")}
        for row in rows:
            if isinstance(row, Mapping):
                for name in names:
                    cols[name].append(row[name])
                mult = row.get("multiplier")
            else:
                for name in names:
                    cols[name].append(getattr(row, name))
                mult = getattr(row, "multiplier", None)
            cols["multiplier"].append(100 if mult is None else mult)
        return cls.from_columns(as_of=as_of, spot=spot, symbol=symbol, **cols)


# --------------------------------------------------------------------------------------------
# Parameters and output
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsParams:
    """Every knob of the day metrics; the defaults are the documented method."""

    # eligibility
    min_open_interest: float = 100.0  # and always > 0
    min_volume: float = 1.0  # <= 0 disables the volume filter (then missing volume passes)
    min_dte_days: int = 0  # 0 keeps same-day expiries; negative DTE (expired) always excluded
    max_dte_days: int = 90
    # pricing
    rate: float = 0.0  # continuously compounded r
    dividend_yield: float = 0.0  # continuously compounded q
    # Same-day expiries get one hour (1/(365·24) y) rather than 0: a daily snapshot cannot
    # say how much of the session is left, and one hour keeps gamma large but finite.
    time_floor_years: float = ONE_HOUR_YEARS
    convention: Convention = "dealer_long_calls_short_puts"
    # walls / flip / slope
    wall_range: float = 0.20  # walls only among strikes within spot·(1 ± wall_range)
    wall_count: int = 3
    grid_range: float = 0.20  # flip searched over spot·(1 ± grid_range)
    grid_points: int = 201  # odd so the spot itself is a grid point
    flip_xtol: float = 1e-9  # crossing refined until the bracket is < flip_xtol · spot wide
    slope_width: float = 0.02  # slope = (G(S(1+w)) − G(S(1−w))) / (2w·S)
    # classification
    neutral_fraction: float = 0.05  # neutral when |net| < neutral_fraction · total
    full_min_eligible: int = 25
    limited_min_eligible: int = 1
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {self.convention!r}; one of {list(CONVENTIONS)}")
        if self.grid_points < 2:
            raise ValueError("grid_points must be >= 2")
        for name in ("wall_range", "grid_range", "slope_width"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in (0, 1)")
        if self.time_floor_years <= 0:
            raise ValueError("time_floor_years must be > 0")
        if not 1 <= self.limited_min_eligible <= self.full_min_eligible:
            raise ValueError("need 1 <= limited_min_eligible <= full_min_eligible")
        if self.min_dte_days > self.max_dte_days:
            raise ValueError("min_dte_days > max_dte_days")


@dataclass(frozen=True, slots=True)
class StrikeLevel:
    """A strike and its aggregated GEX (USD per 1% move, signed by the convention)."""

    strike: float
    gex: float


def _ro_empty() -> NDArray[np.float64]:
    return _readonly(np.zeros(0, dtype=np.float64))


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True, slots=True, eq=False)
class DayMetrics:
    """Dealer gamma metrics of one (symbol, day). INVALID leaves every number None / empty.

    Arrays are read-only; `eq=False` for the same reason as `ChainArrays`.
    """

    symbol: str
    as_of: date
    spot: float | None
    status: Status
    status_reason: str
    params: MetricsParams
    total_contracts: int
    eligible_contracts: int
    excluded: dict[str, int]
    gex_net: float | None = None
    gex_total: float | None = None  # Σ |GEX| over eligible contracts
    position: Position | None = None
    gex_slope: float | None = None  # SLOPE_UNITS, by re-pricing at S(1 ± slope_width)
    flip: float | None = None  # crossing of the net GEX profile nearest the spot
    flip_reason: str | None = None  # why flip is None
    crossings: tuple[float, ...] = ()  # every refined sign change, ascending
    abs_gamma_strike: float | None = None
    call_walls: tuple[StrikeLevel, ...] = ()
    put_walls: tuple[StrikeLevel, ...] = ()
    strikes: NDArray[np.float64] = field(default_factory=_ro_empty)  # unique, ascending
    gex_by_strike: NDArray[np.float64] = field(default_factory=_ro_empty)  # calls + puts
    call_gex_by_strike: NDArray[np.float64] = field(default_factory=_ro_empty)
    put_gex_by_strike: NDArray[np.float64] = field(default_factory=_ro_empty)
    profile_spots: NDArray[np.float64] = field(default_factory=_ro_empty)
    profile_gex: NDArray[np.float64] = field(default_factory=_ro_empty)

    @property
    def convention(self) -> str:
        return self.params.convention

    @property
    def units(self) -> str:
        return GEX_UNITS

    def to_dict(self, *, include_profile: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict (dates as ISO strings, no NaN)."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "as_of": self.as_of.isoformat(),
            "spot": _num(self.spot),
            "status": self.status,
            "status_reason": self.status_reason,
            "convention": self.convention,
            "units": GEX_UNITS,
            "contracts": {
                "total": self.total_contracts,
                "eligible": self.eligible_contracts,
                "excluded": dict(self.excluded),
            },
            "gex_net": _num(self.gex_net),
            "gex_total": _num(self.gex_total),
            "position": self.position,
            "gex_slope": _num(self.gex_slope),
            "gex_slope_units": SLOPE_UNITS,
            "flip": _num(self.flip),
            "flip_reason": self.flip_reason,
            "crossings": [float(c) for c in self.crossings],
            "abs_gamma_strike": _num(self.abs_gamma_strike),
            "call_walls": [{"strike": w.strike, "gex": w.gex} for w in self.call_walls],
            "put_walls": [{"strike": w.strike, "gex": w.gex} for w in self.put_walls],
            "by_strike": {
                "strike": self.strikes.tolist(),
                "net": self.gex_by_strike.tolist(),
                "calls": self.call_gex_by_strike.tolist(),
                "puts": self.put_gex_by_strike.tolist(),
            },
            "params": asdict(self.params),
        }
        if include_profile:
            out["profile"] = {"spot": self.profile_spots.tolist(), "net": self.profile_gex.tolist()}
        return out

    def to_json(self, *, include_profile: bool = False) -> str:
        return json.dumps(self.to_dict(include_profile=include_profile), allow_nan=False)


# --------------------------------------------------------------------------------------------
# Computation
# --------------------------------------------------------------------------------------------


def eligibility(
    chain: ChainArrays, params: MetricsParams
) -> tuple[NDArray[np.bool_], dict[str, int]]:
    """Mask of eligible contracts and, per reason, how many were excluded (first reason only)."""
    dte = days_to_expiry(chain.expiration, chain.as_of)
    with np.errstate(invalid="ignore"):
        fails = {
            "bad_strike_or_multiplier": ~(
                np.isfinite(chain.strike)
                & (chain.strike > 0)
                & np.isfinite(chain.multiplier)
                & (chain.multiplier > 0)
            ),
            "expired": dte < 0,
            "dte_below_min": dte < params.min_dte_days,
            "dte_above_max": dte > params.max_dte_days,
            "no_iv": ~(np.isfinite(chain.iv) & (chain.iv > 0)),
            "no_open_interest": ~(np.isfinite(chain.open_interest) & (chain.open_interest > 0)),
            "open_interest_below_min": chain.open_interest < params.min_open_interest,
            "volume_below_min": (
                ~(chain.volume >= params.min_volume)
                if params.min_volume > 0
                else np.zeros(len(chain), dtype=bool)
            ),
        }
    remaining = np.ones(len(chain), dtype=bool)
    excluded: dict[str, int] = {}
    for reason in EXCLUSION_REASONS:
        hit = fails[reason] & remaining
        excluded[reason] = int(hit.sum())
        remaining &= ~hit
    return remaining, excluded


@dataclass(frozen=True, slots=True, eq=False)
class _Book:
    """The eligible contracts with everything the pricing needs."""

    strike: NDArray[np.float64]
    is_call: NDArray[np.bool_]
    t: NDArray[np.float64]
    iv: NDArray[np.float64]
    weight: NDArray[np.float64]  # sign · OI · multiplier
    params: MetricsParams

    def profile(self, spots: Any) -> NDArray[np.float64]:
        p = self.params
        return gex_profile(
            spots,
            strike=self.strike,
            t=self.t,
            iv=self.iv,
            weight=self.weight,
            r=p.rate,
            q=p.dividend_yield,
            chunk_elements=p.chunk_elements,
        )

    def at(self, spot: float) -> float:
        return float(self.profile(np.array([spot]))[0])

    def per_contract(self, spot: float) -> NDArray[np.float64]:
        p = self.params
        gamma = pricing.gamma(spot, self.strike, self.t, self.iv, r=p.rate, q=p.dividend_yield)
        return gamma * self.weight * spot * spot * PCT_MOVE


def _book(chain: ChainArrays, mask: NDArray[np.bool_], params: MetricsParams) -> _Book:
    call_sign, put_sign = CONVENTIONS[params.convention]
    is_call = chain.is_call[mask]
    dte = days_to_expiry(chain.expiration[mask], chain.as_of)
    sign = np.where(is_call, call_sign, put_sign)
    return _Book(
        strike=chain.strike[mask],
        is_call=is_call,
        t=year_fractions(dte, floor_years=params.time_floor_years),
        iv=chain.iv[mask],
        weight=sign * chain.open_interest[mask] * chain.multiplier[mask],
        params=params,
    )


def refine_root(
    f: Callable[[float], float], a: float, b: float, fa: float, fb: float, *, xtol: float
) -> float:
    """Root of f in [a, b] with f(a)·f(b) < 0 by Illinois regula falsi: it always keeps a
    bracket (so it cannot wander off to another crossing) and converges superlinearly on smooth
    f, needing far fewer evaluations of the exact profile than plain bisection."""
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(200):
        c = b - fb * (b - a) / (fb - fa)
        if not (min(a, b) < c < max(a, b)):  # rounding pushed it out: bisect instead
            c = 0.5 * (a + b)
        fc = f(c)
        if fc == 0.0:
            return c
        if (fc > 0) != (fb > 0):  # root between b and c: the old b becomes the far end
            a, fa = b, fb
        else:  # same end kept twice in a row: halve its value (the Illinois step)
            fa *= 0.5
        b, fb = c, fc
        if abs(b - a) <= xtol:
            break
    return b - fb * (b - a) / (fb - fa) if fb != fa else 0.5 * (a + b)


def find_crossings(
    f: Callable[[float], float],
    grid: NDArray[np.float64],
    values: NDArray[np.float64],
    *,
    xtol: float,
) -> list[float]:
    """Every sign change of `values` over `grid`, refined on the exact f.

    Grid points where the value is exactly 0 (e.g. underflowed far tails) are skipped when
    looking for a sign change, so a curve that merely touches 0 is not a crossing.
    """
    nz = np.flatnonzero(values != 0.0)
    if nz.size < 2:
        return []
    sgn = values[nz] > 0
    changes = np.flatnonzero(sgn[1:] != sgn[:-1])
    roots = []
    for j in changes:
        i0, i1 = nz[j], nz[j + 1]
        roots.append(
            refine_root(f, grid[i0], grid[i1], float(values[i0]), float(values[i1]), xtol=xtol)
        )
    return roots


def _top_walls(
    strikes: NDArray[np.float64], gex: NDArray[np.float64], in_range: NDArray[np.bool_], count: int
) -> tuple[StrikeLevel, ...]:
    """The `count` in-range strikes with the largest |GEX| (ties: lower strike first)."""
    idx = np.flatnonzero(in_range & (gex != 0.0))
    order = idx[np.argsort(-np.abs(gex[idx]), kind="stable")][:count]
    return tuple(StrikeLevel(float(strikes[i]), float(gex[i])) for i in order)


def compute_day_metrics(chain: ChainArrays, params: MetricsParams | None = None) -> DayMetrics:
    """All dealer metrics of one chain. Never raises on data problems: it reports INVALID."""
    p = params or MetricsParams()
    mask, excluded = eligibility(chain, p)
    n_eligible = int(mask.sum())
    base: dict[str, Any] = {
        "symbol": chain.symbol,
        "as_of": chain.as_of,
        "spot": chain.spot,
        "params": p,
        "total_contracts": len(chain),
        "eligible_contracts": n_eligible,
        "excluded": excluded,
    }
    spot = chain.spot
    if spot is None or not math.isfinite(spot) or spot <= 0:
        return DayMetrics(status="INVALID", status_reason="no spot", flip_reason="no spot", **base)
    if n_eligible < p.limited_min_eligible:
        why = (
            "no eligible contracts"
            if n_eligible == 0
            else f"{n_eligible} eligible contracts (< {p.limited_min_eligible} for LIMITED)"
        )
        return DayMetrics(status="INVALID", status_reason=why, flip_reason=why, **base)
    if n_eligible >= p.full_min_eligible:
        status: Status = "FULL"
        status_reason = f"{n_eligible} eligible contracts (>= {p.full_min_eligible})"
    else:
        status = "LIMITED"
        status_reason = f"{n_eligible} eligible contracts (< {p.full_min_eligible} for FULL)"

    book = _book(chain, mask, p)

    # spot GEX per contract, aggregated by strike
    gex = book.per_contract(spot)
    gex_net = float(gex.sum())
    gex_total = float(np.abs(gex).sum())
    if gex_net > p.neutral_fraction * gex_total:
        position: Position = "long_gamma"
    elif gex_net < -p.neutral_fraction * gex_total:
        position = "short_gamma"
    else:
        position = "neutral"
    strikes, inv = np.unique(book.strike, return_inverse=True)
    calls_by = np.bincount(inv, weights=np.where(book.is_call, gex, 0.0), minlength=strikes.size)
    puts_by = np.bincount(inv, weights=np.where(book.is_call, 0.0, gex), minlength=strikes.size)
    abs_by = np.bincount(inv, weights=np.abs(gex), minlength=strikes.size)
    net_by = calls_by + puts_by
    in_range = np.abs(strikes - spot) <= p.wall_range * spot
    call_walls = _top_walls(strikes, calls_by, in_range, p.wall_count)
    put_walls = _top_walls(strikes, puts_by, in_range, p.wall_count)
    abs_gamma_strike = float(strikes[int(np.argmax(abs_by))]) if abs_by.max() > 0 else None

    # re-priced profile, flip and slope
    grid = np.linspace(spot * (1 - p.grid_range), spot * (1 + p.grid_range), p.grid_points)
    profile = book.profile(grid)
    crossings = find_crossings(book.at, grid, profile, xtol=p.flip_xtol * spot)
    if crossings:
        flip: float | None = float(min(crossings, key=lambda x: abs(x - spot)))
        flip_reason = None
    else:
        flip = None
        pct = f"±{p.grid_range:.0%} of spot"
        if not np.any(profile != 0):
            flip_reason = f"net GEX is 0 across {pct}"
        else:
            side = "positive" if profile[profile != 0][0] > 0 else "negative"
            flip_reason = (
                f"no sign change: net GEX stays {side} across {pct} ({p.grid_points}-point grid)"
            )
    w = p.slope_width
    up, down = book.profile(np.array([spot * (1 + w), spot * (1 - w)]))
    gex_slope = float((up - down) / (2 * w * spot))

    return DayMetrics(
        status=status,
        status_reason=status_reason,
        gex_net=gex_net,
        gex_total=gex_total,
        position=position,
        gex_slope=gex_slope,
        flip=flip,
        flip_reason=flip_reason,
        crossings=tuple(float(c) for c in sorted(crossings)),
        abs_gamma_strike=abs_gamma_strike,
        call_walls=call_walls,
        put_walls=put_walls,
        strikes=_readonly(strikes),
        gex_by_strike=_readonly(net_by),
        call_gex_by_strike=_readonly(calls_by),
        put_gex_by_strike=_readonly(puts_by),
        profile_spots=_readonly(grid),
        profile_gex=_readonly(profile),
        **base,
    )
