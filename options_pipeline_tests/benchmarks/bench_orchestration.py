"""Orchestration overhead: a 20-day backfill through Dagster vs calling ingest_day directly.

Workload: 20 weekdays (2025-10-06..2025-10-31, no NYSE holiday) x SYMBOLS, each chain a
CONTRACTS-contract sample chain, from a provider that models Polygon at 100 requests/second:
SampleProvider plus a sleep of ceil(contracts / 250) x 10 ms per chain (250-row pages at
100 req/s; what the rate limiter would make the pipeline wait anyway).

* Dagster: `materialize([options_chains])` with the single-run backfill tags
  dagster/asset_partition_range_start/end (one run, BackfillPolicy.single_run), on an instance
  configured like the project's own `dagster.yaml` (dagster-postgres storage on the same server,
  in a `dagster` database created as the commands create it, the options_chains pool limit 1,
  options_pipeline loggers captured at the template's level).
* Direct: `ingest_day` for the same days in a loop, with the same provider.

A second row repeats the comparison through the real PolygonProvider over HTTP (the local Polygon
test server in a subprocess, 429 above 100 requests/s, the provider limited to 100/s; history
endpoints, POLYGON_CONTRACTS-contract chains), which adds what the instance captures from the
provider's own loggers during a run.

Each repetition gives both sides a fresh database (same watchlist); the sides alternate which
goes first. Reported: median over repetitions of (dagster - direct) / direct. Target < 10 %.

Run alone: `python -m options_pipeline_tests.benchmarks.bench_orchestration`
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Self

import yaml
from dagster import instance_for_test, materialize

from options_pipeline.assets.options_chains import options_chains
from options_pipeline.instance import (
    DAGSTER_DATABASE,
    TEMPLATE,
    dagster_storage_url,
    ensure_database,
)
from options_pipeline.models import ChainSnapshot
from options_pipeline.partitions import partition_days
from options_pipeline.providers.base import OptionsProvider
from options_pipeline.providers.sample import SampleProvider
from options_pipeline.resources import (
    PolygonProviderResource,
    PostgresResource,
    ProviderResource,
)
from options_pipeline_tests.benchmarks._common import (
    BenchPostgres,
    ingest_at,
    median,
    quiet_gc,
    row,
    run_standalone,
    spread,
)
from options_pipeline_tests.benchmarks._polygon_proc import PolygonProcess

SECTION = "4. orchestration"
DAYS = partition_days(date(2025, 10, 6), date(2025, 10, 31))
SYMBOLS = ("AAPL", "IWM", "QQQ", "SPY")
CONTRACTS = 2_000
PAGE_ROWS = 250
REQUEST_S = 0.010  # 100 requests/second
REPEATS = 3
POLYGON_TODAY = date(2025, 11, 3)  # the server's today: the range is history
POLYGON_CONTRACTS = 1_000
POLYGON_REPEATS = 3
TARGET_OVERHEAD = 0.10
WHY_CONTEXT_LOG = (
    "what is left is a new connection per storage call: dagster-postgres uses SQLAlchemy's "
    "NullPool outside dagster-webserver, so the 20-day run's 73 events made 113 connections "
    "(a server backend forked and authenticated each time: ~7 ms quiet, 30-50 ms at load "
    "12-15, i.e. most of the difference), while its Dagster CPU is ~1.2 s. Done: "
    "per-symbol and frame lines out of the run's log, python_log_level INFO, the dagster "
    "database committing asynchronously (an insert+commit 2-5 ms -> 0.1 ms); measured +36.9 % "
    "-> +21.8 % (load 8-16, noisy: 16..27 %). Next: a storage class in dagster.yaml that pools "
    "(dagster-postgres' optimize_for_webserver in every process), as ingest_options already "
    "does for its own runs."
)
WHY_CAPTURED_DEBUG = (
    "the provider's own loggers are captured at INFO now (DEBUG per-request lines were an "
    "event-log write each); what remains is the per-event connection of the row above "
    "(NullPool) plus the HTTP side's sensitivity to load: +8.7 % at load 8-10 before, "
    "5.3..37 % (median +34 %) at load 12-16 after, the direct side varying 40..60 s itself."
)


class ModelledLatencyProvider:
    """The sample market, plus the time a 100 req/s provider would take to page the chain."""

    name = "sample+latency"

    def __init__(self, contracts: int, request_s: float) -> None:
        self._inner = SampleProvider(contracts_per_symbol=contracts)
        self._request_s = request_s
        self.requests_made = 0

    def fetch_chain(self, symbol: str, as_of: date) -> ChainSnapshot:
        snapshot = self._inner.fetch_chain(symbol, as_of)
        pages = math.ceil(len(snapshot.quotes) / PAGE_ROWS)
        self.requests_made += pages
        time.sleep(pages * self._request_s)
        return snapshot

    def close(self) -> None:
        self._inner.close()


class ModelledLatencyResource(ProviderResource):
    """A ProviderResource building the provider above."""

    provider_name = "modelled_latency"
    contracts_per_symbol: int = CONTRACTS
    request_s: float = REQUEST_S

    def build_provider(self) -> OptionsProvider:
        return ModelledLatencyProvider(self.contracts_per_symbol, self.request_s)

    @classmethod
    def from_env(cls) -> Self:
        return cls()


def _direct(url: str, provider: OptionsProvider) -> float:
    with quiet_gc():
        t0 = time.perf_counter()
        try:
            for day in DAYS:
                report = ingest_at(url, provider=provider, day=day)
                assert report.complete and len(report.ingested) == len(SYMBOLS), report.summary()
        finally:
            provider.close()
        return time.perf_counter() - t0


def _dagster(url: str, instance: Any, provider: ProviderResource) -> float:
    resources = {"database": PostgresResource(database_url=url), "provider": provider}
    tags = {
        "dagster/asset_partition_range_start": DAYS[0].isoformat(),
        "dagster/asset_partition_range_end": DAYS[-1].isoformat(),
    }
    # the console logger still formats every line; only the terminal is spared
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull), quiet_gc():
        t0 = time.perf_counter()
        result = materialize([options_chains], instance=instance, resources=resources, tags=tags)
        elapsed = time.perf_counter() - t0
    assert result.success
    mats = result.asset_materializations_for_node("options_chains")
    assert len(mats) == len(DAYS), len(mats)
    return elapsed


def _instance_overrides(pg: BenchPostgres, home: Path) -> dict[str, Any]:
    """The project's dagster.yaml with its storage on the benchmark server (never the user's own
    Dagster storage) as instance overrides."""
    overrides = yaml.safe_load(TEMPLATE)
    ensure_database(pg.server_url, DAGSTER_DATABASE)
    overrides["storage"]["postgres"]["postgres_url"] = dagster_storage_url(pg.server_url)
    return overrides


def _compare(
    pg: BenchPostgres,
    instance: Any,
    direct_provider: Callable[[], OptionsProvider],
    resource: ProviderResource,
    repeats: int,
) -> tuple[list[float], list[float], list[float]]:
    """Per repetition: both sides on fresh databases, alternating order. (direct, dagster, ovh)"""
    warm = pg.fresh_database(watchlist="bench", symbols=SYMBOLS)  # warm-up, not timed
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        materialize(
            [options_chains],
            instance=instance,
            partition_key=DAYS[0].isoformat(),
            resources={"database": PostgresResource(database_url=warm), "provider": resource},
        )
    ingest_at(warm, provider=direct_provider(), day=DAYS[1])
    direct_t: list[float] = []
    dagster_t: list[float] = []
    overheads: list[float] = []
    for i in range(repeats):
        urls = {
            side: pg.fresh_database(watchlist="bench", symbols=SYMBOLS)
            for side in ("direct", "dagster")
        }
        times = {}
        for side in ("direct", "dagster") if i % 2 == 0 else ("dagster", "direct"):
            times[side] = (
                _direct(urls[side], direct_provider())
                if side == "direct"
                else _dagster(urls[side], instance, resource)
            )
        direct_t.append(times["direct"])
        dagster_t.append(times["dagster"])
        overheads.append(times["dagster"] / times["direct"] - 1.0)
    return direct_t, dagster_t, overheads


def _row(
    name: str,
    direct_t: list[float],
    dagster_t: list[float],
    overheads: list[float],
    note: str,
    why: str,
) -> dict[str, Any]:
    overhead = median(overheads)
    return row(
        SECTION,
        name,
        f"{overhead * 100:+.1f} %",
        f"< {TARGET_OVERHEAD * 100:.0f} %",
        overhead < TARGET_OVERHEAD,
        f"dagster {median(dagster_t):.2f} s ({spread(dagster_t, unit=' s')}), direct "
        f"{median(direct_t):.2f} s ({spread(direct_t, unit=' s')}){note}; overheads "
        f"{spread(overheads, 100, ' %')}; median of {len(overheads)}, dagster-postgres instance",
        why=why,
    )


def run(pg: BenchPostgres) -> list[dict[str, Any]]:
    workload = f"{len(DAYS)} days x {len(SYMBOLS)} symbols"
    with (
        tempfile.TemporaryDirectory(prefix="bench_dagster_home_") as home,
        instance_for_test(overrides=_instance_overrides(pg, Path(home))) as instance,
    ):
        # a) the sample market behind a modelled 100 req/s provider
        resource = ModelledLatencyResource()
        direct_t, dagster_t, overheads = _compare(
            pg, instance, lambda: ModelledLatencyProvider(CONTRACTS, REQUEST_S), resource, REPEATS
        )
        modelled = len(DAYS) * len(SYMBOLS) * math.ceil(CONTRACTS / PAGE_ROWS) * REQUEST_S
        rows = [
            _row(
                f"20-day backfill: materialize (single run, range tags) vs ingest_day loop "
                f"[{workload} x {CONTRACTS:,} contracts, sample provider + modelled 100 req/s "
                f"latency]",
                direct_t,
                dagster_t,
                overheads,
                f", of which modelled provider wait {modelled:.1f} s",
                WHY_CONTEXT_LOG,
            )
        ]

        # b) the real Polygon provider over HTTP (local server in a subprocess, 429 above 100/s)
        with PolygonProcess(today=POLYGON_TODAY, contracts=POLYGON_CONTRACTS) as srv:
            resource = PolygonProviderResource(
                api_key=srv.api_key, base_url=srv.base_url, rate_limit_per_minute=6_000.0
            )
            for symbol in SYMBOLS:
                for day in DAYS:
                    srv.call("warm", symbol=symbol, day=day.isoformat())
            srv.call("rate", limit=100, window=1.0)
            direct_t, dagster_t, overheads = _compare(
                pg, instance, resource.build_provider, resource, POLYGON_REPEATS
            )
            log = srv.call("log")
        n429 = log["status"].count(429)
        rows.append(
            _row(
                f"20-day backfill, same comparison through the Polygon provider over HTTP "
                f"[{workload} x {POLYGON_CONTRACTS:,} contracts, local server in a subprocess, "
                f"limiter at 100 req/s]",
                direct_t,
                dagster_t,
                overheads,
                f", {len(log['status'])} requests, {n429} x 429",
                WHY_CAPTURED_DEBUG,
            )
        )
    return rows


if __name__ == "__main__":
    run_standalone(run)
