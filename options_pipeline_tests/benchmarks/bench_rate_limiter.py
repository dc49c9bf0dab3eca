"""Rate-limiter benchmark: achieved request rate vs the budget, against a server that enforces it.

The local Polygon server answers 429 when more than `limit` requests arrive within any `window`
seconds (sliding). The provider is configured with exactly that budget (limit/window as requests a
minute) and makes `requests` single-page snapshot calls. Reported per scenario:

    achieved_per_s / budget_per_s  (the limiter's 2% headroom makes ~0.98 the ceiling), 429 count
    (expected 0), the shortest gap between two requests as the server saw them, wall time.

Scenarios: Polygon's free tier (5 requests/minute) scaled down in time, and the paid-plan guidance
(100 requests/second). Run: `python -m options_pipeline_tests.benchmarks.bench_rate_limiter`
(from the repository root); or call `bench_rate_limiter(...)` / `run_all()` to get dicts.
"""

from __future__ import annotations

import gc
import itertools
import time
from typing import Any

from options_pipeline_tests.polygon_server import PolygonTestServer


def bench_rate_limiter(
    label: str, *, limit: int, window: float, requests: int = 200
) -> dict[str, Any]:
    """One scenario; returns a row (dict) for a combined table."""
    budget = limit / window  # requests per second the server allows
    with PolygonTestServer(contracts_per_symbol=20) as srv:  # one 20-row page per call
        srv.chain("SPY", srv.today)  # build before timing (client and server share the GIL)
        srv.set_rate_limit(limit, per_seconds=window)
        provider = srv.provider(
            rate_limit_per_minute=budget * 60.0, rate_limit_window_seconds=window, max_retries=10
        )
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        try:
            for _ in range(requests):
                provider.fetch_chain("SPY", srv.today)
        finally:
            elapsed = time.perf_counter() - start
            gc.enable()
        log = srv.requests
        provider.close()
    ok = sorted(r.t for r in log if r.status == 200)
    achieved = (len(ok) - 1) / (ok[-1] - ok[0]) if len(ok) > 1 else 0.0
    gaps = [b - a for a, b in itertools.pairwise(ok)]
    return {
        "scenario": label,
        "budget_per_s": round(budget, 3),
        "requests": len(log),
        "ok": len(ok),
        "http_429": sum(r.status == 429 for r in log),
        "achieved_per_s": round(achieved, 3),
        "achieved_over_budget": round(achieved / budget, 4),
        "min_gap_ms": round(min(gaps) * 1000, 2) if gaps else None,
        "budget_gap_ms": round(1000 / budget, 2),
        "wall_s": round(elapsed, 2),
    }


def run_all(requests: int = 200, free_tier_time_scale: float = 120.0) -> list[dict[str, Any]]:
    """Free tier (5/min, time scaled down by `free_tier_time_scale`) and paid (100/s)."""
    return [
        bench_rate_limiter(
            f"free tier 5/min (time x1/{free_tier_time_scale:g})",
            limit=5,
            window=60.0 / free_tier_time_scale,
            requests=requests,
        ),
        bench_rate_limiter("paid ~100/s", limit=100, window=1.0, requests=requests),
    ]


def main() -> None:
    rows = run_all()
    cols = list(rows[0])
    print(" | ".join(cols))
    for row in rows:
        print(" | ".join(str(row[c]) for c in cols))


if __name__ == "__main__":
    main()
