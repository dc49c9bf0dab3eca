"""Benchmark: vectorised dealer metrics vs a per-contract pandas `apply` of the same method.

Workload: 5 days of a synthetic 20,000-contract chain (250 strikes × 40 expiries × C/P, SPY-like
skewed open interest and IV), gamma flip on a 200-point grid over spot ± 20 %.

Baseline: the same method written the obvious way in pandas — eligibility with boolean
indexing, then net GEX at a hypothetical spot as `df.apply(row_gex, axis=1).sum()` (one Python
call per contract, same closed-form gamma, same time floor), sign changes over the grid and
bisection on that same function. Running it on all 200 grid points would take minutes, so it
evaluates every GRID_STRIDE-th grid point (plus the last) and bisects only the bracket nearest
the spot (the flips of both must agree within 0.01 %, asserted); its time is then extrapolated to
the full method: per-evaluation time × (200 grid evaluations + the refinement evaluations it
made), summed over the 5 days. The two sides are timed interleaved (see `run`).

Run: `.venv/bin/python -m options_pipeline_tests.benchmarks.bench_dealer_metrics`
"""

from __future__ import annotations

import math
import statistics
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

from options_pipeline.metrics import ChainArrays, MetricsParams, compute_day_metrics
from options_pipeline.metrics.gamma import DAYS_PER_YEAR, PCT_MOVE

N_DAYS = 5
N_STRIKES = 250
DTES = (
    0,
    1,
    2,
    3,
    4,
    7,
    9,
    11,
    14,
    16,
    18,
    21,
    25,
    28,
    32,
    35,
    39,
    42,
    46,
    49,
    53,
    56,
    60,
    63,
    67,
    70,
    74,
    77,
    81,
    84,
    88,
    91,
    98,
    105,
    119,
    133,
    147,
    175,
    210,
    270,
)
GRID_POINTS = 200
GRID_STRIDE = 10  # baseline evaluates grid[::10] + grid[-1] (21 of 200 points)
REPEATS = 9
BASELINE_BURST = 4  # baseline evaluations timed per repetition (~0.2 s each)
FLIP_RTOL = 1e-4  # 0.01 %
TARGET_RATIO = 1000.0
TARGET_OURS_S = 0.5
FIRST_DAY = date(2024, 6, 3)
S0 = 500.0


def synthetic_days(seed: int = 7) -> list[ChainArrays]:
    """Five consecutive trading days of a 20,000-contract chain, spot on a small random walk."""
    rng = np.random.default_rng(seed)
    strikes = np.round(S0 * (0.6 + 0.8 * np.arange(N_STRIKES) / (N_STRIKES - 1)))
    dte0 = np.array(DTES)
    k, d, is_call = (a.ravel() for a in np.meshgrid(strikes, dte0, [True, False], indexing="ij"))
    n = k.size
    days, spot, as_of = [], S0, FIRST_DAY
    for _ in range(N_DAYS):
        m = np.log(k / S0)
        centre = np.where(is_call, 0.03, -0.05)
        base = np.where(is_call, 28_000.0, 30_000.0) * np.exp(-((m - centre) ** 2) / (2 * 0.10**2))
        term = (1.0 + d / 30.0) ** -0.5 * np.where(np.isin(d, (18, 46, 77, 105, 175)), 3.0, 1.0)
        oi = np.round(base * term * rng.lognormal(0.0, 0.4, n))
        volume = np.round(oi * 0.05 * rng.lognormal(0.0, 1.0, n))
        iv = 0.16 - 0.4 * m + 1.0 * m**2 + 0.02 * np.sqrt(30.0 / (np.abs(d) + 1.0))
        iv = np.clip(iv + rng.normal(0.0, 0.005, n), 0.05, None)
        iv[rng.random(n) < 0.01] = np.nan
        days.append(
            ChainArrays.from_columns(
                as_of=as_of,
                spot=spot,
                strike=k,
                option_type=np.where(is_call, "C", "P"),
                expiration_date=np.datetime64(as_of) + d.astype("timedelta64[D]"),
                implied_volatility=iv,
                open_interest=oi,
                volume=volume,
                multiplier=100,
                symbol="SYN",
            )
        )
        spot = round(spot * math.exp(rng.normal(0.0, 0.01)), 2)
        as_of += timedelta(days=1)
        d = d - 1  # the same listed expiries, one day closer
    return days


# --------------------------------------------------------------------------------- baseline


def _frame(chain: ChainArrays) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "strike": chain.strike,
            "is_call": chain.is_call,
            "dte": (chain.expiration - np.datetime64(chain.as_of, "D")).astype(int),
            "iv": chain.iv,
            "open_interest": chain.open_interest,
            "volume": chain.volume,
            "multiplier": chain.multiplier,
        }
    )


def _row_gex(row: pd.Series, x: float, floor_years: float) -> float:
    t = max(row["dte"] / DAYS_PER_YEAR, floor_years)
    sigma = row["iv"]
    d1 = (math.log(x / row["strike"]) + 0.5 * sigma * sigma * t) / (sigma * math.sqrt(t))
    gamma = math.exp(-0.5 * d1 * d1) / (math.sqrt(2 * math.pi) * x * sigma * math.sqrt(t))
    sign = 1.0 if row["is_call"] else -1.0  # dealer_long_calls_short_puts
    return sign * gamma * row["open_interest"] * row["multiplier"] * x * x * PCT_MOVE


class _Baseline:
    """The pandas-apply method for one day, counting its evaluations of the net GEX."""

    def __init__(self, chain: ChainArrays, p: MetricsParams) -> None:
        df = _frame(chain)
        keep = (
            (df["dte"] >= p.min_dte_days)
            & (df["dte"] <= p.max_dte_days)
            & (df["iv"] > 0)
            & (df["open_interest"] > 0)
            & (df["open_interest"] >= p.min_open_interest)
            & (df["volume"] >= p.min_volume)
        )
        self.df = df[keep]
        self.floor = p.time_floor_years
        self.evals = 0

    def net_gex(self, x: float) -> float:
        self.evals += 1
        return float(self.df.apply(_row_gex, axis=1, args=(x, self.floor)).sum())

    def flip(self, spot: float, p: MetricsParams) -> float | None:
        grid = np.linspace(spot * (1 - p.grid_range), spot * (1 + p.grid_range), p.grid_points)
        sub = np.unique(np.r_[grid[::GRID_STRIDE], grid[-1]])
        vals = [self.net_gex(x) for x in sub]
        brackets = [
            (sub[i], sub[i + 1], vals[i], vals[i + 1])
            for i in range(len(sub) - 1)
            if vals[i] * vals[i + 1] < 0
        ]
        if not brackets:
            return None
        a, b, fa, _ = min(brackets, key=lambda br: abs(0.5 * (br[0] + br[1]) - spot))
        while b - a > 1e-7 * spot:  # bisection on the exact function
            c = 0.5 * (a + b)
            fc = self.net_gex(c)
            if (fc > 0) == (fa > 0):
                a, fa = c, fc
            else:
                b = c
        return 0.5 * (a + b)


def run() -> list[dict]:
    """Time both implementations; rows {name, ours_s, baseline_s, ratio, target, ok}.

    One full baseline pass (every day's flip, asserted equal to ours) gives each day's number of
    evaluations of the net GEX. The timing then interleaves, repetition by repetition, our 5 days
    with a burst of BASELINE_BURST baseline evaluations on one day (the days in turn): each
    repetition's baseline estimate is its per-evaluation time x the full method's evaluations,
    and the reported ratio is the median of the per-repetition ratios, so load that changes
    during the run moves both sides alike."""
    days = synthetic_days()
    p = MetricsParams(grid_points=GRID_POINTS)

    ours = [compute_day_metrics(c, p) for c in days]  # warm-up, and the flips to compare
    full_evals = 0
    for chain, m in zip(days, ours, strict=True):
        base = _Baseline(chain, p)
        flip = base.flip(chain.spot, p)
        refine_evals = base.evals - (GRID_POINTS // GRID_STRIDE + 1)
        full_evals += GRID_POINTS + refine_evals
        assert len(base.df) == m.eligible_contracts, (len(base.df), m.eligible_contracts)
        assert flip is not None and m.flip is not None, (chain.as_of, flip, m.flip)
        assert abs(flip - m.flip) <= FLIP_RTOL * m.flip, (chain.as_of, flip, m.flip)

    baselines = [_Baseline(chain, p) for chain in days]
    ours_times, base_times, ratios = [], [], []
    for i in range(REPEATS):
        t0 = time.perf_counter()
        [compute_day_metrics(c, p) for c in days]
        ours_s = time.perf_counter() - t0
        base, chain = baselines[i % N_DAYS], days[i % N_DAYS]
        grid = np.linspace(chain.spot * 0.8, chain.spot * 1.2, BASELINE_BURST)
        t0 = time.perf_counter()
        for x in grid:
            base.net_gex(float(x))
        per_eval = (time.perf_counter() - t0) / BASELINE_BURST
        ours_times.append(ours_s)
        base_times.append(per_eval * full_evals)
        ratios.append(per_eval * full_evals / ours_s)
    ours_s = statistics.median(ours_times)
    baseline_s = statistics.median(base_times)
    ratio = statistics.median(ratios)

    eligible = statistics.mean(m.eligible_contracts for m in ours)
    label = f"{N_DAYS}d x {len(days[0])} contracts (~{eligible:.0f} eligible), {GRID_POINTS}-pt"
    return [
        {
            "name": f"flip vs pandas apply [{label}; baseline {full_evals} evaluations "
            f"extrapolated from {BASELINE_BURST} timed per repetition; median of {REPEATS} "
            f"interleaved ratios]",
            "ours_s": round(ours_s, 4),
            "baseline_s": round(baseline_s, 1),
            "ratio": round(ratio, 1),
            "target": f">= {TARGET_RATIO:.0f}x",
            "ok": ratio >= TARGET_RATIO,
        },
        {
            "name": f"absolute time, ours [{label}; median of {REPEATS}]",
            "ours_s": round(ours_s, 4),
            "baseline_s": None,
            "ratio": None,
            "target": f"< {TARGET_OURS_S} s",
            "ok": ours_s < TARGET_OURS_S,
        },
    ]


if __name__ == "__main__":
    import os

    for row in run():
        print(row, f"load avg {os.getloadavg()[0]:.1f}")
