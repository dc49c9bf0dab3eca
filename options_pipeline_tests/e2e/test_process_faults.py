"""Process faults: the ingest_options CLI as a subprocess, the local Polygon server,
PostgreSQL stopped under it, two ranges at once, hostile input. Nothing lost, nothing duplicated.

Each test has its own data database and its own Dagster storage database (DAGSTER_PG_URL), so runs
and options_chains pool slots never leak from one test into another.
"""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from datetime import date
from pathlib import Path

import psycopg
import pytest

from options_pipeline_tests.e2e.harness import (
    CONTRACTS,
    assert_consistent,
    create_database,
    dagster_instance,
    drop_database,
    figure,
    fmt_windows,
    ingest_options,
    initialize_pool,
    ledger,
    options_pipeline,
    orphaned_runs,
    overlapping,
    per_day_symbol,
    pipeline_environment,
    polygon_environment,
    pool_claims,
    sqlalchemy_url,
    start_ingest_options,
    step_windows,
    wait_for,
)
from options_pipeline_tests.pg_process import PostgresProcess
from options_pipeline_tests.polygon_server import Fault, PolygonTestServer, session_served

pytestmark = pytest.mark.e2e

SYMBOLS = ["IWM", "QQQ", "SPY"]  # ingested in this (sorted) order
DAY = date(2025, 12, 16)
SLOW = 1.0  # seconds per provider request while a fault is being injected


def watchlist(env: dict[str, str], *symbols: str, name: str = "e2e") -> None:
    added = options_pipeline(env, "watchlist", "add", name, *symbols)
    assert added.returncode == 0, added.describe()


def totals(out: str) -> list[int]:
    """ingested, skipped, failed, rows of the CLI report's total line."""
    line = next(x for x in out.splitlines() if x.startswith("total "))
    return [int(n) for n in line.split()[1:5]]


def left_started(env: dict[str, str]) -> list[str]:
    """Runs whose process died mid-run: Dagster leaves them STARTED, holding the pool slot."""
    with dagster_instance(env) as instance:
        return [run.run_id for run in orphaned_runs(instance)]


def assert_recovered_by_the_cli(env: dict[str, str], stuck: list[str], stderr: str) -> None:
    """ingest_options fails its own dead runs and frees their slots before it starts."""
    with dagster_instance(env) as instance:
        assert orphaned_runs(instance) == [] and pool_claims(instance) == []
    for run_id in stuck:
        assert f"run {run_id[:8]}: its ingest_options process" in stderr, stderr


def slow_day_started(srv: PolygonTestServer, symbol: str, timeout: float = 90) -> None:
    wait_for(
        f"the provider request for {symbol}",
        lambda: srv.count(symbol=symbol) > 0,
        timeout=timeout,
        interval=0.05,
    )
    time.sleep(SLOW / 3)  # well inside that symbol's (slow) fetch


def assert_only_first_symbol_done(url: str) -> None:
    with psycopg.connect(url) as conn:
        assert_consistent(conn)
        assert set(ledger(conn)) == {(DAY, "IWM")}
        assert per_day_symbol(conn) == {(DAY, "IWM"): CONTRACTS}


def assert_day_complete(url: str) -> None:
    with psycopg.connect(url) as conn:
        assert_consistent(conn)
        assert per_day_symbol(conn) == {(DAY, s): CONTRACTS for s in SYMBOLS}
        assert set(ledger(conn)) == {(DAY, s) for s in SYMBOLS}


def test_sigkill_mid_day_then_the_rerun_completes_the_day(
    e2e_env: dict[str, str], polygon: PolygonTestServer, database_url: str
):
    env = polygon_environment(e2e_env, polygon.base_url)
    watchlist(env, *SYMBOLS)
    for symbol in SYMBOLS:
        polygon.add_fault(Fault.slow(SLOW), symbol=symbol)
    args = ["--provider", "polygon", "--as-of", DAY.isoformat()]
    proc = start_ingest_options(env, *args, timeout=120)
    slow_day_started(polygon, "QQQ")  # IWM is written; QQQ is being fetched
    killed = proc.kill()
    assert killed.returncode == -9, killed.describe()
    assert_only_first_symbol_done(database_url)  # nothing half-written

    recovered = left_started(env)
    seen = polygon.count()
    polygon.clear_faults()
    rerun = ingest_options(env, *args, timeout=180)
    assert rerun.returncode == 0, rerun.describe()
    assert_recovered_by_the_cli(env, recovered, rerun.stderr)
    assert totals(rerun.stdout) == [2, 1, 0, 2 * CONTRACTS] and "complete: 1 day(s)" in rerun.stdout
    fetched = {(r.symbol, r.endpoint) for r in polygon.requests[seen:]}
    assert fetched == {(s, e) for s in ("QQQ", "SPY") for e in ("open_interest", "analytics")}
    assert polygon.count() - seen == 4  # IWM was not fetched again
    assert_day_complete(database_url)
    figure(
        "SIGKILL: killed after / rerun",
        f"{killed.seconds:.1f}s / {rerun.seconds:.1f}s (orphaned runs recovered: {len(recovered)})",
    )


@pytest.mark.parametrize("topology", ["one server", "data server only"])
def test_postgres_stopped_mid_day_fails_in_bounded_time_and_the_rerun_completes(
    tmp_path: Path, server_url: str, polygon: PolygonTestServer, topology: str
):
    """ "one server": the default deployment, the chains and Dagster's storage on the server that
    stops. "data server only": Dagster's storage elsewhere (DAGSTER_PG_URL on the session server),
    the designed failure path: one line, exit 2, the run recorded as failed."""
    pg = PostgresProcess(tmp_path)  # server_url: the session server created the OS user it needs
    pg.init().start()
    dagster_db = create_database(server_url) if topology == "data server only" else None
    try:
        env = polygon_environment(
            pipeline_environment(
                state=tmp_path / "state",
                database_url=pg.url,
                dagster_pg_url=sqlalchemy_url(dagster_db) if dagster_db else None,
            ),
            polygon.base_url,
        )
        watchlist(env, *SYMBOLS)
        for symbol in SYMBOLS:
            polygon.add_fault(Fault.slow(SLOW), symbol=symbol)
        args = ["--provider", "polygon", "--as-of", DAY.isoformat()]
        proc = start_ingest_options(env, *args, timeout=180)  # a hang fails the test
        slow_day_started(polygon, "QQQ")
        stopped = time.monotonic()
        pg.stop()
        failed = proc.finish()
        down_for = time.monotonic() - stopped
        assert failed.returncode != 0, failed.describe()
        last = (failed.stderr.strip().splitlines() or [""])[-1]
        assert re.search(r"(?i)connect|connection", last), failed.describe()
        if dagster_db:
            assert failed.returncode == 2, failed.describe()
            assert "Traceback" not in failed.stderr, failed.describe()
            assert last.startswith("ingest_options: error: ") and (
                f"{DAY}: lost the PostgreSQL connection while ingesting {DAY}" in last
            ), last
            assert failed.stderr.count("ingest_options: error:") == 1
        elif "Traceback" in failed.stderr:
            warnings.warn(
                f"PostgreSQL stopped: ingest_options ended with a traceback (exit "
                f"{failed.returncode}) instead of one line; last line: {last}",
                stacklevel=1,
            )
        pg.start()
        assert_only_first_symbol_done(pg.url)

        if dagster_db:
            with dagster_instance(env) as instance:
                assert orphaned_runs(instance) == [] and pool_claims(instance) == []
            recovered: list[str] = []
        else:
            recovered = left_started(env)
        polygon.clear_faults()
        rerun = ingest_options(env, *args, timeout=180)
        assert rerun.returncode == 0, rerun.describe()
        assert_recovered_by_the_cli(env, recovered, rerun.stderr)
        assert totals(rerun.stdout) == [2, 1, 0, 2 * CONTRACTS]
        assert_day_complete(pg.url)
        figure(
            f"PostgreSQL stopped ({topology}): CLI exit / seconds after the stop / rerun",
            f"{failed.returncode} / {down_for:.1f}s / {rerun.seconds:.1f}s "
            f"(traceback: {'Traceback' in failed.stderr}, orphaned runs recovered: "
            f"{len(recovered)}); last stderr line: {last[:160]}",
        )
    finally:
        with contextlib.suppress(Exception):
            pg.stop()
        if dagster_db:
            drop_database(dagster_db)


def test_two_overlapping_range_runs_fetch_each_day_and_symbol_once(
    e2e_env: dict[str, str], polygon: PolygonTestServer, database_url: str
):
    env = polygon_environment(e2e_env, polygon.base_url)
    watchlist(env, *SYMBOLS)
    initialize_pool(env)  # a fresh instance: see initialize_pool (first-use race in Dagster)
    polygon.add_fault(Fault.slow(0.1))  # every request: the two ranges really run side by side
    a_days, b_days = ("2025-12-15", "2025-12-17"), ("2025-12-16", "2025-12-18")
    a = start_ingest_options(
        env,
        "--provider",
        "polygon",
        "--start-date",
        a_days[0],
        "--end-date",
        a_days[1],
        timeout=300,
    )
    b = start_ingest_options(
        env,
        "--provider",
        "polygon",
        "--start-date",
        b_days[0],
        "--end-date",
        b_days[1],
        timeout=300,
    )
    ra, rb = a.finish(), b.finish()
    assert ra.returncode == 0, ra.describe()
    assert rb.returncode == 0, rb.describe()
    assert "complete: 3 day(s)" in ra.stdout and "complete: 3 day(s)" in rb.stdout

    days = [date(2025, 12, d) for d in (15, 16, 17, 18)]
    want = {(e, s, d) for e in ("open_interest", "analytics") for s in SYMBOLS for d in days}
    got = [(r.endpoint, r.symbol, session_served(r)) for r in polygon.requests]
    assert sorted(got) == sorted(want), "each (endpoint, day, symbol) requested exactly once"
    # together they ingested each (day, symbol) once; the overlap's pairs the other run had
    # finished are skipped (a day complete when reached is reported and launches no run)
    ta, tb = totals(ra.stdout), totals(rb.stdout)
    assert (ta[0] + tb[0], ta[2] + tb[2]) == (12, 0), (ta, tb)
    with psycopg.connect(database_url) as conn:
        assert_consistent(conn)
        assert per_day_symbol(conn) == {(d, s): CONTRACTS for d in days for s in SYMBOLS}

    with dagster_instance(env) as instance:
        windows = step_windows(instance)
        runs = instance.get_run_records()
    assert len(windows) == 6, fmt_windows(windows)
    # The options_chains pool (limit 1) is meant to run these steps one at a time. Dagster's slot
    # claim races on PostgreSQL when two steps arrive within milliseconds on an idle pool (see the
    # e2e report): then two days run side by side. The invariants above hold regardless (the
    # per-day advisory lock), so an overlap is reported, not failed.
    overlaps = overlapping(windows)
    if overlaps:
        warnings.warn(
            f"options_chains pool let {len(overlaps)} pair(s) of steps run at once: "
            f"{fmt_windows(windows)}",
            stacklevel=1,
        )
    spans = sorted((r.start_time, r.end_time) for r in runs)
    concurrent = sum(1 for i, x in enumerate(spans) for y in spans[i + 1 :] if y[0] < x[1])
    figure(
        "overlapping ranges: A / B",
        f"{ra.seconds:.1f}s / {rb.seconds:.1f}s, requests "
        f"{len(got)} for {len(want)} (endpoint, symbol, day), run pairs alive at once "
        f"{concurrent}, overlapping steps {len(overlaps)}, totals A {ta} B {tb}",
    )
    figure("overlapping ranges: step windows", fmt_windows(windows))


def test_hostile_input_is_refused_or_stored_verbatim_never_executed(
    e2e_env: dict[str, str], database_url: str
):
    watchlist(e2e_env, "SPY", "QQQ")
    injection = "X'); DROP TABLE tickers;--"

    refused = ingest_options(e2e_env, "--as-of", "2025-12-15", "--symbols", injection)
    assert refused.returncode == 2 and "invalid symbol" in refused.stderr, refused.describe()
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    also = options_pipeline(e2e_env, "watchlist", "add", "e2e", injection)
    assert also.returncode == 2 and "invalid symbol" in also.stderr, also.describe()

    # a watchlist name may hold quotes: it must travel as a parameter all the way
    hostile = "w'); DROP TABLE tickers;--"
    watchlist(e2e_env, "SPY", "QQQ", name=hostile)
    nobody = ingest_options(e2e_env, "--as-of", "2025-12-15", "--watchlist", "x' OR '1'='1")
    assert nobody.returncode == 2 and "no active symbols" in nobody.stderr, nobody.describe()
    ran = ingest_options(
        e2e_env, "--as-of", "2025-12-15", "--watchlist", hostile, "--provider", "sample"
    )
    assert ran.returncode == 0, ran.describe()
    assert totals(ran.stdout) == [2, 0, 0, 2 * CONTRACTS]

    with psycopg.connect(database_url) as conn:
        tickers = [r[0] for r in conn.execute("SELECT symbol FROM tickers ORDER BY 1")]
        names = {r[0] for r in conn.execute("SELECT watchlist_id FROM watchlists")}
        assert_consistent(conn)
    assert tickers == ["QQQ", "SPY"]  # the table is there, untouched
    assert names == {"e2e", hostile}
