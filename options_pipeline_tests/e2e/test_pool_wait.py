"""Waiting for the options_chains pool slot: no busy loop, a message naming the holder, SIGTERM
obeyed within seconds, and a holder whose process died (a `dagster asset materialize` killed with
SIGKILL) freed by the next command, whoever launched it.
"""

from __future__ import annotations

import re
import signal
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest

from options_pipeline_tests.e2e.harness import (
    BIN,
    assert_consistent,
    dagster_instance,
    figure,
    ingest_options,
    initialize_pool,
    options_pipeline,
    per_day_symbol,
    polygon_environment,
    pool_claims,
    start_bounded,
    start_ingest_options,
    wait_for,
)
from options_pipeline_tests.polygon_server import Fault, PolygonTestServer

pytestmark = pytest.mark.e2e

SYMBOLS = ["IWM", "QQQ", "SPY"]
HOLDER_DAY, WAITER_DAY = date(2025, 12, 16), date(2025, 12, 17)
CLK_TCK = 100  # USER_HZ: the unit of utime/stime in /proc/PID/stat on Linux


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc/PID/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def stderr_so_far(proc) -> str:
    """What the process wrote to stderr until now, without waiting for it to exit."""
    import os

    fd = proc.proc.stderr.fileno()
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk.decode(errors="replace"))
    proc.seen = getattr(proc, "seen", "") + "".join(chunks)
    return proc.seen


def start_holder(env: dict[str, str], day: date):
    """`dagster asset materialize` of one partition: the run that takes the slot first."""
    return start_bounded(
        [
            BIN / "dagster",
            "asset",
            "materialize",
            "-m",
            "options_pipeline.definitions",
            "--select",
            "options_chains",
            "--partition",
            day.isoformat(),
        ],
        env=env,
        timeout=300,
    )


def slot_held(env: dict[str, str]) -> str | None:
    with dagster_instance(env) as instance:
        claims = pool_claims(instance)
    return claims[0] if claims else None


def test_waiting_for_a_live_holder_is_quiet_and_sigterm_stops_it(
    e2e_env: dict[str, str], polygon: PolygonTestServer, database_url: str
):
    env = polygon_environment(e2e_env, polygon.base_url) | {"OPTIONS_PIPELINE_PROVIDER": "polygon"}
    assert options_pipeline(env, "watchlist", "add", "e2e", *SYMBOLS).returncode == 0
    initialize_pool(env)
    polygon.add_fault(Fault.slow(20))  # the holder keeps the slot for the whole test
    holder = start_holder(env, HOLDER_DAY)
    holder_run = wait_for(
        "the holder to claim the slot", lambda: slot_held(env), timeout=120, interval=0.2
    )

    waiter = start_ingest_options(
        env, "--provider", "polygon", "--as-of", WAITER_DAY.isoformat(), timeout=120
    )
    message = wait_for(
        "the waiting message",
        lambda: re.search(
            r"WARNING options_chains slot held by run (\w{8}) \((.*?)\); waiting .*",
            stderr_so_far(waiter),
        ),
        timeout=60,
        interval=0.1,
    )
    told_at = time.monotonic() - waiter.started
    assert message.group(1) == holder_run[:8], message.group(0)
    assert "dagster asset materialize" in message.group(2) and "since" in message.group(2)

    cpu_before = cpu_seconds(waiter.proc.pid)
    time.sleep(10)
    cpu_waiting = cpu_seconds(waiter.proc.pid) - cpu_before
    assert cpu_waiting < 1.0, f"{cpu_waiting:.2f}s of CPU in 10 s of waiting: a busy loop"

    sent = time.monotonic()
    waiter.proc.send_signal(signal.SIGTERM)
    stopped = waiter.finish()
    took = time.monotonic() - sent
    err = getattr(waiter, "seen", "") + stopped.stderr
    assert stopped.returncode == 143, stopped.describe()
    assert took < 5, f"SIGTERM took {took:.1f}s"
    assert "Traceback" not in err, err
    errors = [
        line
        for line in err.splitlines()
        if line.startswith("ingest_options: error") or line.startswith("ingest_options: stopped")
    ]
    assert errors == [errors[0]] and "stopped by SIGTERM" in errors[0], err
    assert not re.search(r"(?m)^complete:", stopped.stdout), stopped.stdout
    assert "incomplete: 1 day(s) not run (2025-12-17)" in stopped.stdout, stopped.stdout
    # it left the queue; the holder still has the slot and nothing of the waiter's day is stored
    with dagster_instance(env) as instance:
        assert pool_claims(instance) == [holder_run]
        info = instance.event_log_storage.get_concurrency_info("options_chains")
        assert {p.run_id for p in info.pending_steps} == {holder_run}
    with psycopg.connect(database_url) as conn:
        assert_consistent(conn)
        assert not any(d == WAITER_DAY for d, _ in per_day_symbol(conn))
    bounded = ingest_options(
        env, "--provider", "polygon", "--as-of", WAITER_DAY.isoformat(), "--wait", "2", timeout=60
    )
    assert bounded.returncode == 4, bounded.describe()
    last = bounded.stderr.strip().splitlines()[-1]
    assert (
        last.startswith(
            f"ingest_options: error: the options_chains slot is still held by run {holder_run[:8]}"
        )
        and "--wait 2s" in last
    ), bounded.describe()
    holder.kill()
    figure(
        "pool wait (live holder): message after / CPU in 10 s waiting / SIGTERM to exit",
        f"{told_at:.1f}s after start / {cpu_waiting:.2f}s / {took:.2f}s (exit "
        f"{stopped.returncode}); message: {message.group(0)[:200]}",
    )


def test_a_dead_dagster_asset_materialize_holder_is_freed_and_the_day_ingested(
    e2e_env: dict[str, str], polygon: PolygonTestServer, database_url: str
):
    env = polygon_environment(e2e_env, polygon.base_url) | {"OPTIONS_PIPELINE_PROVIDER": "polygon"}
    assert options_pipeline(env, "watchlist", "add", "e2e", *SYMBOLS).returncode == 0
    initialize_pool(env)
    polygon.add_fault(Fault.slow(30), symbol="IWM")
    holder = start_holder(env, HOLDER_DAY)
    holder_run = wait_for(
        "the holder to claim the slot", lambda: slot_held(env), timeout=120, interval=0.2
    )
    wait_for(
        "the holder's first request",
        lambda: polygon.count(symbol="IWM") > 0,
        timeout=60,
        interval=0.1,
    )
    assert holder.kill().returncode == -9  # SIGKILL: its run stays STARTED, holding the slot
    assert slot_held(env) == holder_run
    polygon.clear_faults()

    rerun = ingest_options(
        env, "--provider", "polygon", "--as-of", WAITER_DAY.isoformat(), timeout=120
    )
    assert rerun.returncode == 0, rerun.describe()
    assert f"freeing the options_chains slot of run {holder_run[:8]}" in rerun.stderr
    assert "dagster asset materialize" in rerun.stderr
    assert "complete: 1 day(s)" in rerun.stdout
    with dagster_instance(env) as instance:
        record = instance.get_run_record_by_id(holder_run)
        assert record.dagster_run.status.value == "FAILURE"
        assert pool_claims(instance) == []
    with psycopg.connect(database_url) as conn:
        assert_consistent(conn)
        assert set(per_day_symbol(conn)) == {(WAITER_DAY, s) for s in SYMBOLS}
    figure(
        "pool wait (dead dagster asset materialize holder): freed and day ingested in",
        f"{rerun.seconds:.1f}s",
    )


def test_ctrl_c_during_a_day_stops_within_seconds_with_nothing_half_written(
    e2e_env: dict[str, str], polygon: PolygonTestServer, database_url: str
):
    """SIGINT while the run's step is fetching (Dagster's own interrupt handling is active):
    exit 130, one line, the symbol in flight rolled back, the finished one kept, no "complete"."""
    env = polygon_environment(e2e_env, polygon.base_url)
    assert options_pipeline(env, "watchlist", "add", "e2e", *SYMBOLS).returncode == 0
    polygon.add_fault(Fault.slow(30), symbol="QQQ")  # IWM is written, then QQQ hangs
    proc = start_ingest_options(
        env,
        "--provider",
        "polygon",
        "--start-date",
        "2025-12-16",
        "--end-date",
        "2025-12-17",
        timeout=120,
    )
    wait_for("the QQQ request", lambda: polygon.count(symbol="QQQ") > 0, timeout=90, interval=0.1)
    sent = time.monotonic()
    proc.proc.send_signal(signal.SIGINT)
    done = proc.finish()
    took = time.monotonic() - sent
    assert done.returncode == 130, done.describe()
    assert took < 5, f"SIGINT took {took:.1f}s"
    assert "Traceback" not in done.stderr, done.describe()
    lines = [x for x in done.stderr.splitlines() if x.startswith("ingest_options: ")]
    assert len(lines) == 1 and "stopped by SIGINT at 2025-12-16" in lines[0], done.describe()
    assert not re.search(r"(?m)^complete:", done.stdout), done.stdout
    assert "incomplete: 2 day(s) not run (2025-12-16..2025-12-17)" in done.stdout, done.stdout
    with psycopg.connect(database_url) as conn:
        assert_consistent(conn)
        assert set(per_day_symbol(conn)) == {(HOLDER_DAY, "IWM")}  # the ledger agrees (above)
    with dagster_instance(env) as instance:
        assert pool_claims(instance) == []  # the slot is not left behind
    figure("SIGINT during a day: to exit", f"{took:.2f}s (exit {done.returncode})")
