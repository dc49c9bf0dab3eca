"""History that landed before `dagster dev` started gets its dealer metrics from the sensor.

The story's CLI fills 2025-12-15..2025-12-22 into a fresh instance while no daemon runs; then
`dagster dev` starts, and within a few sensor ticks the sessions whose 5-session window is
complete (2025-12-19 and 2025-12-22) are requested and computed, nothing else.
"""

from __future__ import annotations

import time
from datetime import date

import psycopg
import pytest

from options_pipeline_tests.e2e.harness import (
    dagster_dev,
    dagster_instance,
    figure,
    ingest_options,
    options_pipeline,
    run_partitions,
    wait_for,
)

pytestmark = pytest.mark.e2e

SYMBOLS = ["QQQ", "SPY"]
EXPECTED = {"2025-12-19", "2025-12-22"}


def test_history_landed_before_dagster_dev_gets_dealer_metrics(e2e_env, tmp_path):
    from dagster import DagsterRunStatus

    assert options_pipeline(e2e_env, "watchlist", "add", "hist", *SYMBOLS).returncode == 0
    loaded = ingest_options(
        e2e_env, "--start-date", "2025-12-15", "--end-date", "2025-12-22", "--quiet", timeout=300
    )
    assert loaded.returncode == 0, loaded.describe()
    with (
        dagster_instance(e2e_env) as instance,
        dagster_dev(e2e_env, tmp_path / "dagster-dev.log") as dev,
    ):
        ready = dev.wait_ready()
        started = time.monotonic()

        def done() -> set[str] | None:
            runs = instance.get_runs()
            dealer = [
                r
                for r in runs
                if r.asset_selection
                and {k.to_user_string() for k in r.asset_selection} == {"dealer_metrics"}
            ]
            failed = [r.run_id for r in dealer if r.status == DagsterRunStatus.FAILURE]
            assert not failed, f"dealer_metrics runs failed: {failed}"
            ok = set().union(
                *(run_partitions(r.tags) for r in dealer if r.status == DagsterRunStatus.SUCCESS)
            )
            return ok if ok >= EXPECTED else None

        ok = wait_for(
            "dealer_metrics for the history loaded before start",
            done,
            timeout=240,
            interval=3,
            diagnostics=dev.log_tail,
        )
        assert ok == EXPECTED  # no partition without a complete window
        figure(
            "catch-up: dagster dev ready / ready -> dealer metrics of the history done",
            f"{ready:.1f}s / {time.monotonic() - started:.1f}s",
        )
    with psycopg.connect(e2e_env["DATABASE_URL"]) as conn:
        stored = conn.execute(
            "SELECT as_of, count(*), min(days_present) FROM dealer_metrics GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert stored == [(date(2025, 12, 19), 2, 5), (date(2025, 12, 22), 2, 5)]
