"""Benchmark: dealer metrics over a range of sessions, and a range's runs through the run queue.

Workload: 20 sessions x 20 symbols of stored sample-market chains, CONTRACTS contracts each (a
typical large single-stock chain; index ETFs list 3-5x more, which scales both sides alike), plus
the 4 sessions before the range that its first windows need: 24 x 20 stored chains.

a) The range path (`compute_dealer_range` over the 20 sessions: the ledger in one query, one
   binary-COPY query per session for every symbol, each (symbol, session) computed once) against
   today's behaviour: one session at a time, each re-reading and recomputing its 5-session window,
   one query per (symbol, session) through `store.ledger_rows` / `store.chain_columns` -- the
   per-session loop as it was before the range path, kept below verbatim (`_per_session_today`).
   Both sides store their rows; interleaved, alternating order, median of the ratios. Two more
   sides for information: the new code driven one session at a time without stored results (the
   same reads and computations as today, set-based) and with them (automation's daily case).

b) Scale-out: the same 20 sessions as a UI backfill (GraphQL launchPartitionBackfill, what the UI
   sends) on `dagster dev` (webserver + daemon subprocesses, the e2e harness), the asset's
   BackfillPolicy splitting it into 2 runs of 10, the daemon's QueuedRunCoordinator launching them
   1 vs 2 at a time (the default run launcher: a process per run -- the same queue a Docker or
   Kubernetes run launcher is fed by). One `dagster dev` serves both sides: the queue allows 2
   runs, and 1 for runs tagged `options_pipeline/bench_queue=serial`, the tag the serial side's
   backfill carries. Wall time from the backfill's creation to its end, interleaved.

Run: `.venv/bin/python -m options_pipeline_tests.benchmarks.bench_dealer_range`
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import yaml

from options_pipeline.calendar import sessions_ending
from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.dealer import (
    DealerDayReport,
    SymbolDealerMetrics,
    _row,
    compute_dealer_day,
    compute_dealer_range,
    window_days,
)
from options_pipeline.ingest import ingest_day
from options_pipeline.instance import TEMPLATE
from options_pipeline.metrics import ChainArrays, DayMetrics, MetricsParams, params_fingerprint
from options_pipeline.metrics import compute_day_metrics as compute_metrics
from options_pipeline.metrics.window import WindowParams, summarize_window
from options_pipeline.providers.sample import SampleProvider
from options_pipeline_tests.benchmarks._common import (
    BenchPostgres,
    median,
    row,
    run_standalone,
    spread,
    timed,
)

SECTION = "3. dealer metrics"
SYMBOLS = [
    *("SPY", "QQQ", "IWM", "DIA", "AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOGL"),
    *("TSLA", "AMD", "NFLX", "AVGO", "JPM", "BAC", "XOM", "GLD", "TLT", "SMH"),
]
N_SESSIONS = 20
ALL_SESSIONS = sessions_ending(date(2025, 11, 4), N_SESSIONS + 4)
RANGE = ALL_SESSIONS[4:]
CONTRACTS = 2_000
REPEATS = 3
TARGET_SPEEDUP = 5.0
QUEUE_LIMITS = (1, 2, 2, 1)  # interleaved: each concurrency twice, in alternating order
WHY_QUEUE = (
    "Two runs of 10 sessions each: with 2 concurrent the runs' fixed costs (process start, "
    "loading the definitions, Dagster events) overlap as well as their computation, on a 2-core "
    "machine shared with the webserver, the daemon and PostgreSQL; the second run also re-reads "
    "the 4 sessions before its range that, run after the first, it reuses from stored results."
)


# ----------------------------------------------------------------------- today's behaviour


def _per_session_today(
    conn: psycopg.Connection, *, day: date, params: MetricsParams, window: WindowParams
) -> DealerDayReport:
    """One session as `compute_dealer_day` computed it before the range path: per symbol its
    ledger rows, then per (symbol, session) of the window one chain query and its metrics."""
    days = window_days(day, window.window)
    results: list[SymbolDealerMetrics] = []
    missing: list[str] = []
    rows: list[store.DealerMetricsRow] = []
    symbols = store.active_symbols(conn, None)
    for symbol in symbols:
        ledger = {row.as_of: row for row in store.ledger_rows(conn, days, symbol)}
        if day not in ledger:
            missing.append(symbol)
            continue
        per_day: dict[date, DayMetrics | None] = {}
        for d in days:
            led = ledger.get(d)
            if led is None:
                per_day[d] = None
                continue
            columns = store.chain_columns(conn, ticker_id=led.ticker_id, day=d)
            chain = ChainArrays.from_columns(
                as_of=d, spot=led.underlying_price, symbol=symbol, **columns
            )
            per_day[d] = compute_metrics(chain, params)
        own = per_day[day]
        assert own is not None
        summary = summarize_window(per_day, as_of=day, params=window)
        results.append(SymbolDealerMetrics(symbol, own, summary))
        rows.append(_row(ledger[day].ticker_id, own, summary, params_fingerprint(params)))
    store.replace_dealer_metrics(conn, rows)
    return DealerDayReport(day, tuple(results), tuple(missing), tuple(symbols))


# ----------------------------------------------------------------------- the sides


def _today(url: str) -> list[DealerDayReport]:
    with connection(url) as conn:
        return [
            _per_session_today(conn, day=d, params=MetricsParams(), window=WindowParams())
            for d in RANGE
        ]


def _range(url: str) -> list[DealerDayReport]:
    with connection(url) as conn:
        return list(
            compute_dealer_range(
                conn, days=RANGE, params=MetricsParams(), window=WindowParams(), reuse_stored=False
            )
        )


def _one_by_one(url: str, reuse: bool) -> list[DealerDayReport]:
    with connection(url) as conn:
        return [
            compute_dealer_day(
                conn, day=d, params=MetricsParams(), window=WindowParams(), reuse_stored=reuse
            )
            for d in RANGE
        ]


def _fill(pg: BenchPostgres) -> str:
    url = pg.fresh_database(watchlist="bench", symbols=SYMBOLS)
    provider = SampleProvider(contracts_per_symbol=CONTRACTS)
    with connection(url) as conn:
        for day in ALL_SESSIONS:
            assert ingest_day(conn, provider=provider, day=day).complete
        conn.execute("ANALYZE")
    return url


def _same_numbers(a: list[DealerDayReport], b: list[DealerDayReport]) -> None:
    for x, y in zip(a, b, strict=True):
        assert [(r.symbol, r.day.gex_net, r.day.flip, r.window.confidence) for r in x.results] == [
            (r.symbol, r.day.gex_net, r.day.flip, r.window.confidence) for r in y.results
        ], x.as_of


def _range_rows(pg: BenchPostgres, url: str) -> list[dict[str, Any]]:
    reports: dict[str, list[DealerDayReport]] = {}
    sides = {
        "today": lambda: _today(url),
        "range": lambda: _range(url),
        "one_by_one": lambda: _one_by_one(url, reuse=False),
        "one_by_one_reuse": lambda: _one_by_one(url, reuse=True),
    }
    _range(url)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in sides}
    ratios: list[float] = []
    for i in range(REPEATS):
        for name in ("today", "range") if i % 2 == 0 else ("range", "today"):
            elapsed, out = timed(sides[name])
            times[name].append(elapsed)
            if i == 0:
                reports[name] = out
        ratios.append(times["today"][-1] / times["range"][-1])
    _same_numbers(reports["range"], reports["today"])
    for name in ("one_by_one", "one_by_one_reuse"):  # once each: information, no target
        elapsed, _ = timed(sides[name])
        times[name].append(elapsed)
    load = os.getloadavg()[0]
    speedup = median(ratios)
    workload = (
        f"{N_SESSIONS} sessions x {len(SYMBOLS)} symbols x {CONTRACTS:,} sample contracts, "
        f"window 5 (24 sessions stored)"
    )
    med = {k: median(v) for k, v in times.items()}
    return [
        row(
            SECTION,
            f"range path vs today's one session at a time [{workload}]",
            f"{speedup:.1f}x",
            f">= {TARGET_SPEEDUP:g}x",
            speedup >= TARGET_SPEEDUP,
            f"range {med['range']:.2f} s ({spread(times['range'], unit=' s')}), today "
            f"{med['today']:.2f} s ({spread(times['today'], unit=' s')}); ratios "
            f"{spread(ratios, unit='x')}; median of {REPEATS}, interleaved; both store their "
            f"rows, the same numbers (asserted); load avg {load:.1f}",
        ),
        row(
            SECTION,
            "  same range, the new code one session at a time, no stored results "
            "(today's reads and computations, set-based) / with stored results (automation's "
            "daily case)",
            f"{med['one_by_one'] / med['range']:.1f}x / "
            f"{med['one_by_one_reuse'] / med['range']:.1f}x the range path's time",
            "",
            None,
            f"{med['one_by_one']:.2f} s / {med['one_by_one_reuse']:.2f} s",
        ),
    ]


# ----------------------------------------------------------------------- the run queue

LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""
BACKFILL = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status timestamp endTimestamp
      runs(limit: 50) { runId status startTime endTime tags { key value } }
    }
    ... on Error { message }
  }
}"""


SERIAL_TAG = "options_pipeline/bench_queue"


def _instance_yaml() -> str:
    """The project's instance with a run queue of 2, and 1 for runs tagged SERIAL_TAG=serial: one
    daemon serves both sides, the backfill's tag deciding which limit its runs queue under."""
    doc = yaml.safe_load(TEMPLATE)
    doc["concurrency"]["runs"] = {  # the run queue's limits (run_queue: is its older spelling)
        "max_concurrent_runs": 2,
        "tag_concurrency_limits": [{"key": SERIAL_TAG, "value": "serial", "limit": 1}],
    }
    doc["auto_materialize"] = {"enabled": False}  # only the backfills launch runs here
    return yaml.safe_dump(doc)


def _queue_rows(pg: BenchPostgres, url: str) -> list[dict[str, Any]]:
    from dagster import instance_for_test

    from options_pipeline.instance import dagster_storage_url
    from options_pipeline_tests.e2e.harness import (
        create_database,
        dagster_dev,
        pipeline_environment,
        sqlalchemy_url,
        wait_for,
    )

    dagster_url = create_database(pg.server_url)
    storage = dagster_storage_url(
        pg.server_url, psycopg.conninfo.conninfo_to_dict(dagster_url)["dbname"]
    )
    with instance_for_test(overrides={"storage": {"postgres": {"postgres_url": storage}}}):
        pass  # creates Dagster's tables before two processes race to
    walls: dict[int, list[float]] = {1: [], 2: []}
    runs: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="bench_dealer_queue_") as tmp:
        state = Path(tmp)
        (state / "dagster_home").mkdir()
        (state / "dagster_home" / "dagster.yaml").write_text(_instance_yaml())
        env = pipeline_environment(
            state=state, database_url=url, dagster_pg_url=sqlalchemy_url(dagster_url)
        )
        with dagster_dev(env, state / "dagster-dev.log") as dev:
            dev.wait_ready(timeout=240)
            for limit in QUEUE_LIMITS:
                with psycopg.connect(url, autocommit=True) as conn:  # nothing stored to reuse
                    conn.execute("DELETE FROM dealer_metrics")
                tags = [{"key": SERIAL_TAG, "value": "serial"}] if limit == 1 else []
                launched = dev.graphql(
                    LAUNCH_BACKFILL,
                    p={
                        "partitionNames": [d.isoformat() for d in RANGE],
                        "assetSelection": [{"path": ["dealer_metrics"]}],
                        "tags": tags,
                    },
                )["launchPartitionBackfill"]
                assert launched["__typename"] == "LaunchBackfillSuccess", launched

                def finished(backfill_id: str = launched["backfillId"]) -> dict[str, Any] | None:
                    b = dev.graphql(BACKFILL, id=backfill_id)["partitionBackfillOrError"]
                    return b if b["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None

                backfill = wait_for(
                    "the dealer_metrics backfill",
                    finished,
                    timeout=600,
                    interval=1,
                    diagnostics=dev.log_tail,
                )
                assert backfill["status"] == "COMPLETED_SUCCESS", backfill
                with psycopg.connect(url) as conn:
                    stored = conn.execute("SELECT count(*) FROM dealer_metrics").fetchone()
                assert stored is not None and stored[0] == N_SESSIONS * len(SYMBOLS), stored
                walls[limit].append(backfill["endTimestamp"] - backfill["timestamp"])
                runs.add(len(backfill["runs"]))
    load = os.getloadavg()[0]
    speedup = median(walls[1]) / median(walls[2])
    return [
        row(
            SECTION,
            f"scale-out: a {N_SESSIONS}-session backfill through the run queue, 1 -> 2 "
            f"concurrent runs [{len(SYMBOLS)} symbols x {CONTRACTS:,} contracts; dagster dev, UI "
            f"backfill, BackfillPolicy runs of 10; QueuedRunCoordinator, default run launcher]",
            f"{speedup:.2f}x",
            "> 1x",
            speedup > 1.0,
            f"backfill wall 1 run at a time {median(walls[1]):.1f} s "
            f"({spread(walls[1], unit=' s')}), 2 at a time {median(walls[2]):.1f} s "
            f"({spread(walls[2], unit=' s')}); runs per backfill {sorted(runs)}; "
            f"order {QUEUE_LIMITS}; load avg {load:.1f}",
            why=WHY_QUEUE,
        )
    ]


def run(pg: BenchPostgres, *, queue: bool = True, ranges: bool = True) -> list[dict[str, Any]]:
    url = _fill(pg)
    rows = _range_rows(pg, url) if ranges else []
    if queue:
        rows += _queue_rows(pg, url)
    return rows


if __name__ == "__main__":
    import sys

    run_standalone(
        lambda pg: run(pg, queue="--no-queue" not in sys.argv, ranges="--no-range" not in sys.argv)
    )
