"""How stable the dealer metrics of day D are over the N trading days ending on D.

A single day's flip or wall can be an artefact of one bad snapshot; the window says how many
days back it up. Pure computation over `DayMetrics`; the caller supplies the trading days.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

import numpy as np

from options_pipeline.metrics.exposure import DayMetrics

Confidence = Literal["high", "medium", "low"]
Trend = Literal["rising", "falling", "flat", "insufficient"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowParams:
    """Window size and the thresholds of its verdicts."""

    window: int = 5  # N trading days ending on D (D included)
    # confidence: high when all N days are valid, medium when at most this many are not, else low
    medium_max_missing: int = 1
    # trend is "flat" when the fitted change over the window, |slope| · (N − 1), is below this
    # fraction of the mean gex_total of the valid days (net GEX alone can sit near 0)
    trend_flat_fraction: float = 0.10
    wall_rel_tol: float = 1e-9  # strikes equal within this relative tolerance count as "held"

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be >= 1")
        if not 0 <= self.medium_max_missing < self.window:
            raise ValueError("need 0 <= medium_max_missing < window")


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
    confidence: Confidence
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
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)


def _held(days: list[DayMetrics], primary: float | None, attr: str, rel_tol: float) -> int | None:
    if primary is None:
        return None
    return sum(
        1
        for m in days
        if getattr(m, attr) and math.isclose(getattr(m, attr)[0].strike, primary, rel_tol=rel_tol)
    )


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
    valid = [metrics[i] for i in valid_idx]
    n_valid = len(valid)
    if n_valid == p.window:
        confidence: Confidence = "high"
    elif n_valid >= p.window - p.medium_max_missing:
        confidence = "medium"
    else:
        confidence = "low"

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
        flip_days=len(flips),
        flip_median=flip_median,
        flip_spread=flip_spread,
        flip_spread_pct=flip_spread_pct,
        primary_call_wall=call_wall,
        call_wall_held_days=_held(valid, call_wall, "call_walls", p.wall_rel_tol),
        primary_put_wall=put_wall,
        put_wall_held_days=_held(valid, put_wall, "put_walls", p.wall_rel_tol),
        gex_net_slope=slope,
        gex_net_trend=trend,
        params=p,
    )
