"""Rate limiter: achieved request rate / the budget X against a server that enforces X with 429s.

The local Polygon test server runs in its own process (`_polygon_proc`), enforcing "at most
`limit` requests in any `window` seconds" (sliding window, as it stamps arrivals; above it: 429).
The PolygonProvider is configured with exactly that budget and window and fetches real chain
snapshots: a 1,000-contract chain in 250-row pages (4 requests a chain), normalised as they
arrive, until REQUESTS requests were made; the "limiter alone" scenario uses 20-row pages, so the
per-page work (JSON decode, normalisation) is small and only the limiter's pacing is measured.
Achieved rate = (requests - 1) / (last arrival - first arrival), as the server saw them.

The limiter spaces requests by 60 / rate x 1.02 (2 % headroom: at most 0.98 of X), and lets a
request go only while fewer than N = rate x window others are in flight or were answered within
the last window, so the server's window never holds more than N however late it stamps an
arrival. That rule costs one round trip L per N requests: at most N / (window + L) per second.
Requests go one after another here (the sequential path: each page needs the previous page's
`next_url`), so the rate is also bounded by 1 / (L + the client's time per page).

Scenarios: Polygon's free tier, 5 requests/minute, with time scaled down FREE_TIER_SCALE times
(5 per 60/FREE_TIER_SCALE s; L does not scale, so this is FREE_TIER_SCALE times harsher than the
real thing), and the paid-plan guidance of 100 requests/second (limiter alone, then full pages).

Run alone: `python -m options_pipeline_tests.benchmarks.bench_rate_limits`
"""

from __future__ import annotations

from datetime import date
from typing import Any

from options_pipeline.providers.polygon import PolygonProvider
from options_pipeline_tests.benchmarks._common import median, quiet_gc, row, spread
from options_pipeline_tests.benchmarks._polygon_proc import PolygonProcess

SECTION = "2. rate limiter"
DAY = date(2025, 3, 14)  # the server's "today": the chain snapshot endpoint answers
SYMBOL = "SPY"
CONTRACTS = 1_000  # 4 pages of 250
FULL_PAGE = 250  # Polygon's maximum for the chain snapshot
SMALL_PAGE = 20  # tiny pages: the limiter's own accuracy, the pipeline's per-row work ~gone
REQUESTS = 200
FREE_TIER_SCALE = 150.0
FREE_TIER_REPEATS = 3
PAID_REPEATS = 3
TARGET_RATIO = 0.95
# Profiles below: measured under a load average of 12-15 on 2 cores (other sessions' test
# suites), 2026-11-26; round trip L = send to answer as the client sees it, client time = from an
# answer to the next request (decode, normalisation, pagination), CPU times as thread_time.
WHY_FREE_TIER = (
    "the window rule waits for the answer of the request 5 back plus the 0.4 s window (time "
    "scaled x1/150): at most 5 / (0.4 s + L) per second. Profile: L of a 250-row page was 45 ms "
    "median (p90 78 ms) at load 15, the client's time between an answer and the next request "
    "~17 ms, so 5 / 0.445 s = 0.90 of X; measured 0.83-0.85, and 0.90-0.92 in a later run at "
    "load 12. At the real 60 s window the same L costs 5 / 60.045 s (> 0.999 of X); before "
    "this rule the row measured 0.72 with 7 x 429 (even spacing alone: a request the server "
    "stamped late crowded its window)."
)
WHY_LIMITER_ALONE = (
    "the requests are sequential, so the rate is 1 / (L + client time) once that exceeds the "
    "10.2 ms slot. Profile at load 15: L of a 20-row page 9.3 ms median, p90 27 ms (the server "
    "process gets a fraction of 2 shared cores), client 0.9 ms: ~0.55 of X. The limiter itself "
    "waited 0 ms per request (it never held a request back); on a quiet machine the row read 0.98."
)
WHY_FULL_PAGES = (
    "sequential full pages: 1 / (L + client time). Profile at load 15: L of a 250-row page 45 ms "
    "median (the server's own CPU per page is 3.8 ms, thread_time, so the rest is waiting for "
    "a core), client 15 ms wall; the client's CPU per page is now 2.0 ms (orjson 0.6 ms + the "
    "column-wise page; it was 5.4-6.4 ms with json.loads and ChainBuilder.add per row, same "
    "harness, interleaved), so this row moved 0.08 -> 0.18 at the same load. With L + client "
    "above the 10 ms slot, the sequential path cannot reach 0.95 here; a day's symbols are "
    "fetched concurrently (row #17) for that."
)


def _one_run(srv: PolygonProcess, *, limit: int, window: float, page_rows: int) -> dict[str, float]:
    srv.call("rate", limit=limit, window=window)
    provider = PolygonProvider(
        api_key=srv.api_key,
        base_url=srv.base_url,
        rate_limit_per_minute=limit / window * 60.0,
        rate_limit_window_seconds=window,  # the server's counting span, scaled with the rest
        max_retries=20,
        backoff_base=0.05,
        backoff_max=1.0,
        clock=lambda: DAY,
        snapshot_page_limit=page_rows,
    )
    try:
        with quiet_gc():
            while provider.requests_made < REQUESTS:
                provider.fetch_chain(SYMBOL, DAY)
    finally:
        provider.close()
    log = srv.call("log")
    ok = sorted(t for t, s in zip(log["t"], log["status"], strict=True) if s == 200)
    achieved = (len(ok) - 1) / (ok[-1] - ok[0])
    return {
        "ratio": achieved / (limit / window),
        "http_429": log["status"].count(429),
        "requests": len(log["t"]),
        "wall": ok[-1] - ok[0],
    }


def _scenario(
    srv: PolygonProcess,
    label: str,
    *,
    limit: int,
    window: float,
    repeats: int,
    page_rows: int,
    why: str,
) -> dict[str, Any]:
    runs = [_one_run(srv, limit=limit, window=window, page_rows=page_rows) for _ in range(repeats)]
    ratios = [r["ratio"] for r in runs]
    ratio = median(ratios)
    n429 = sum(int(r["http_429"]) for r in runs)
    ok = ratio >= TARGET_RATIO and n429 == 0
    budget = limit / window
    return row(
        SECTION,
        f"{label}: achieved rate / X [{REQUESTS} requests, {CONTRACTS:,}-contract chains in "
        f"{page_rows}-row pages, server in a subprocess]",
        f"{ratio:.3f}, 429s: {n429}",
        f">= {TARGET_RATIO}, 0 x 429",
        ok,
        f"X = {budget:g}/s; {spread(ratios)} over {repeats} runs of "
        f"{median([r['wall'] for r in runs]):.1f} s; "
        f"{sum(int(r['requests']) for r in runs)} requests sent in all",
        why=why,
    )


def run(pg: object = None) -> list[dict[str, Any]]:
    """Rows for the combined table (`pg` is unused: no database involved)."""
    with PolygonProcess(today=DAY, contracts=CONTRACTS) as srv:
        srv.call("warm", symbol=SYMBOL, day=DAY.isoformat())
        return [
            _scenario(
                srv,
                f"X = 5/min (time x1/{FREE_TIER_SCALE:g})",
                limit=5,
                window=60.0 / FREE_TIER_SCALE,
                repeats=FREE_TIER_REPEATS,
                page_rows=FULL_PAGE,
                why=WHY_FREE_TIER,
            ),
            _scenario(
                srv,
                "X = 100/s, limiter alone",
                limit=100,
                window=1.0,
                repeats=PAID_REPEATS,
                page_rows=SMALL_PAGE,
                why=WHY_LIMITER_ALONE,
            ),
            _scenario(
                srv,
                "X = 100/s, full pages",
                limit=100,
                window=1.0,
                repeats=PAID_REPEATS,
                page_rows=FULL_PAGE,
                why=WHY_FULL_PAGES,
            ),
        ]


if __name__ == "__main__":
    for r in run():
        print(r)
