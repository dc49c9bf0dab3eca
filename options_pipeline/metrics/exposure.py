"""Dealer gamma exposure (GEX) of one (symbol, day) chain: totals, walls, flip, slope, status.

Pure numpy: no I/O, no dagster. Input: `chain.ChainArrays`; parameters and output:
`params`; the flip search: `flip`.

Units: GEX per contract = sign · Γ · OI · multiplier · S² · 0.01, i.e. USD of underlying that
dealers must trade per 1% move of the spot. Γ is the closed-form Black–Scholes gamma from the
contract's IV (see `gamma.py`), re-priced at each hypothetical spot for the flip profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from options_pipeline import pricing
from options_pipeline.metrics.chain import ChainArrays, readonly
from options_pipeline.metrics.flip import find_crossings
from options_pipeline.metrics.gamma import PCT_MOVE, days_to_expiry, gex_profile, year_fractions
from options_pipeline.metrics.params import (
    CONVENTIONS,
    EXCLUSION_REASONS,
    DayMetrics,
    MetricsParams,
    Position,
    Status,
    StrikeLevel,
)


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


def _by_strike(
    inv: NDArray[np.intp], weights: NDArray[np.float64], size: int
) -> NDArray[np.float64]:
    """Sum of `weights` per strike (`inv`: each contract's strike index)."""
    return np.bincount(inv, weights=weights, minlength=size).astype(np.float64)


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
    calls_by = _by_strike(inv, np.where(book.is_call, gex, 0.0), strikes.size)
    puts_by = _by_strike(inv, np.where(book.is_call, 0.0, gex), strikes.size)
    abs_by = _by_strike(inv, np.abs(gex), strikes.size)
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
        strikes=readonly(strikes),
        gex_by_strike=readonly(net_by),
        call_gex_by_strike=readonly(calls_by),
        put_gex_by_strike=readonly(puts_by),
        profile_spots=readonly(grid),
        profile_gex=readonly(profile),
        **base,
    )
