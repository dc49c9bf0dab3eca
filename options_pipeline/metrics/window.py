"""How stable the dealer metrics of day D are over the N trading days ending on D.

A single day's flip or wall can be an artefact of one bad snapshot; the window says how many
days back it up. Pure computation over `DayMetrics`; the caller supplies the trading days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

import numpy as np

from options_pipeline.metrics.params import DayMetrics

Confidence = Literal["high", "medium", "low"]
Trend = Literal["rising", "falling", "flat", "insufficient"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowParams:
    """Window size and the thresholds of its verdicts."""

    window: int = 5  # N trading days ending on D (D included)
    # Confidence is the lowest of three grades (high > medium > low):
    # presence: high when all N days are valid, medium when at most this many are not, else low
    medium_max_missing: int = 1
    # flip dispersion: (max − min) of the valid days' flips as % of D's spot; high at most
    # flip_spread_high_pct, medium at most flip_spread_medium_pct, else low. A flip missing on
    # any valid day (D included) caps the grade at medium.
    flip_spread_high_pct: float = 2.5
    flip_spread_medium_pct: float = 5.0
    # wall persistence: the share of valid days whose top call (put) wall is D's, the weaker of
    # the two; high at least wall_held_high, medium at least wall_held_medium, else low. D
    # without a call or put wall caps the grade at medium.
    wall_held_high: float = 0.8
    wall_held_medium: float = 0.5
    # trend is "flat" when the fitted change over the window, |slope| · (N − 1), is below this
    # fraction of the mean gex_total of the valid days (net GEX alone can sit near 0)
    trend_flat_fraction: float = 0.10
    wall_rel_tol: float = 1e-9  # strikes equal within this relative tolerance count as "held"

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be >= 1")
        if not 0 <= self.medium_max_missing < self.window:
            raise ValueError("need 0 <= medium_max_missing < window")
        if not 0 <= self.flip_spread_high_pct <= self.flip_spread_medium_pct:
            raise ValueError("need 0 <= flip_spread_high_pct <= flip_spread_medium_pct")
        if not 0 <= self.wall_held_medium <= self.wall_held_high <= 1:
            raise ValueError("need 0 <= wall_held_medium <= wall_held_high <= 1")


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """Stability of D's metrics over the window. A day is *valid* when its snapshot is present
    and its DayMetrics is not INVALID; every statistic uses valid days only."""

    as_of: date
    window: int
    days: tuple[date, ...]  # the N trading days, ascending, ending on as_of
    missing_days: tuple[date, ...]  # snapshot missing (None)
    invalid_days: tuple[date, ...]  # present but INVALID
    days_present: int
    days_valid: int
    confidence: Confidence  # the lowest of the presence, flip and wall grades
    confidence_reasons: tuple[str, ...]  # one line per grade, "<grade>: <why>"
    flip_days: int  # valid days that have a flip
    flip_median: float | None
    flip_spread: float | None  # max − min of the flips (range; IQR means little on 5 points)
    flip_spread_pct: float | None  # flip_spread as % of D's spot
    primary_call_wall: float | None  # D's top call wall
    call_wall_held_days: int | None  # valid days (D included) whose top call wall equals D's
    primary_put_wall: float | None
    put_wall_held_days: int | None
    gex_net_slope: float | None  # least-squares slope of gex_net, USD per 1% move per trading day
    gex_net_trend: Trend
    params: WindowParams

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (dates as ISO strings)."""
        out = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("days", "missing_days", "invalid_days", "as_of", "params")
        }
        out["as_of"] = self.as_of.isoformat()
        for name in ("days", "missing_days", "invalid_days"):
            out[name] = [d.isoformat() for d in getattr(self, name)]
        out["params"] = asdict(self.params)
        out["confidence_reasons"] = list(self.confidence_reasons)
        return out


def _held(days: list[DayMetrics], primary: float | None, attr: str, rel_tol: float) -> int | None:
    if primary is None:
        return None
    return sum(
        1
        for m in days
        if getattr(m, attr) and math.isclose(getattr(m, attr)[0].strike, primary, rel_tol=rel_tol)
    )


_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}


def _flip_grade(
    p: WindowParams, flip_days: int, n_valid: int, spread_pct: float | None
) -> tuple[Confidence, str]:
    if spread_pct is None:
        return "low", "flip: none on the window's valid sessions"
    why = f"flip spread {spread_pct:.1f}% of spot over {flip_days} session(s)"
    if spread_pct > p.flip_spread_medium_pct:
        return "low", f"{why} (> {p.flip_spread_medium_pct:g}%)"
    grade: Confidence = "high" if spread_pct <= p.flip_spread_high_pct else "medium"
    limit = p.flip_spread_high_pct if grade == "high" else p.flip_spread_medium_pct
    if flip_days < n_valid:
        return (
            "medium" if grade == "high" else grade,
            f"{why} (<= {limit:g}%), missing on {n_valid - flip_days} valid session(s)",
        )
    return grade, f"{why} (<= {limit:g}%)"


def _wall_grade(
    p: WindowParams,
    call: float | None,
    call_held: int | None,
    put: float | None,
    put_held: int | None,
    n_valid: int,
) -> tuple[Confidence, str]:
    parts, shares = [], []
    for side, strike, held in (("call", call, call_held), ("put", put, put_held)):
        if strike is None or held is None:
            parts.append(f"no {side} wall on the session")
        else:
            parts.append(f"{side} wall {strike:g} held {held}/{n_valid}")
            shares.append(held / n_valid)
    why = "walls: " + ", ".join(parts)
    if not shares:
        return "low", why
    weakest = min(shares)
    if weakest < p.wall_held_medium:
        return "low", f"{why} (< {p.wall_held_medium:.0%})"
    grade: Confidence = "high" if weakest >= p.wall_held_high else "medium"
    if len(shares) < 2:
        grade = "medium"
    limit = p.wall_held_high if weakest >= p.wall_held_high else p.wall_held_medium
    return grade, f"{why} (>= {limit:.0%})"


def summarize_window(
    days: Mapping[date, DayMetrics | None],
    *,
    as_of: date,
    params: WindowParams | None = None,
) -> WindowSummary:
    """Summarise the `params.window` trading days ending on `as_of`.

    `days` maps each trading day to its metrics, None when that day's snapshot is missing; it
    must hold at least N days <= as_of (later days are ignored), because only the caller knows
    the trading calendar. Raises ValueError when as_of itself is missing.
    """
    p = params or WindowParams()
    if days.get(as_of) is None:
        raise ValueError(f"own day {as_of.isoformat()} missing: no metrics for the window's end")
    keys = sorted(d for d in days if d <= as_of)[-p.window :]
    if len(keys) < p.window:
        raise ValueError(
            f"need the {p.window} trading days ending on {as_of.isoformat()}, got {len(keys)}"
        )
    metrics = [days[d] for d in keys]
    missing = tuple(d for d, m in zip(keys, metrics, strict=True) if m is None)
    invalid = tuple(
        d for d, m in zip(keys, metrics, strict=True) if m is not None and m.status == "INVALID"
    )
    valid_idx = [i for i, m in enumerate(metrics) if m is not None and m.status != "INVALID"]
    valid = [m for m in metrics if m is not None and m.status != "INVALID"]
    n_valid = len(valid)
    if n_valid == p.window:
        presence: Confidence = "high"
    elif n_valid >= p.window - p.medium_max_missing:
        presence = "medium"
    else:
        presence = "low"

    own = days[as_of]
    assert own is not None
    own_valid = own.status != "INVALID"

    flips = [m.flip for m in valid if m.flip is not None]
    flip_median = float(np.median(flips)) if flips else None
    flip_spread = float(max(flips) - min(flips)) if flips else None
    flip_spread_pct = (
        100.0 * flip_spread / own.spot
        if flip_spread is not None and own_valid and own.spot
        else None
    )

    call_wall = own.call_walls[0].strike if own_valid and own.call_walls else None
    put_wall = own.put_walls[0].strike if own_valid and own.put_walls else None

    call_held = _held(valid, call_wall, "call_walls", p.wall_rel_tol)
    put_held = _held(valid, put_wall, "put_walls", p.wall_rel_tol)
    grades = (
        (presence, f"presence: {n_valid}/{p.window} sessions valid"),
        _flip_grade(p, len(flips), n_valid, flip_spread_pct),
        _wall_grade(p, call_wall, call_held, put_wall, put_held, n_valid),
    )
    confidence = min((g for g, _ in grades), key=_RANK.__getitem__)
    reasons = tuple(f"{grade}: {why}" for grade, why in grades)

    slope: float | None = None
    trend: Trend = "insufficient"
    pts = [(i, m.gex_net) for i, m in zip(valid_idx, valid, strict=True) if m.gex_net is not None]
    if len(pts) >= 2:
        x = np.array([i for i, _ in pts], dtype=np.float64)
        y = np.array([g for _, g in pts], dtype=np.float64)
        xc = x - x.mean()
        slope = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
        scale = float(np.mean([m.gex_total or 0.0 for m in valid]))
        if abs(slope) * (p.window - 1) < p.trend_flat_fraction * scale or slope == 0.0:
            trend = "flat"
        else:
            trend = "rising" if slope > 0 else "falling"

    return WindowSummary(
        as_of=as_of,
        window=p.window,
        days=tuple(keys),
        missing_days=missing,
        invalid_days=invalid,
        days_present=p.window - len(missing),
        days_valid=n_valid,
        confidence=confidence,
        confidence_reasons=reasons,
        flip_days=len(flips),
        flip_median=flip_median,
        flip_spread=flip_spread,
        flip_spread_pct=flip_spread_pct,
        primary_call_wall=call_wall,
        call_wall_held_days=call_held,
        primary_put_wall=put_wall,
        put_wall_held_days=put_held,
        gex_net_slope=slope,
        gex_net_trend=trend,
        params=p,
    )
