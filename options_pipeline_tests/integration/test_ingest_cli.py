"""The ingest_options CLI end to end on a real PostgreSQL, through real Dagster runs."""

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from options_pipeline.cli import MAX_RANGE_TRADING_DAYS
from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline

ROOT = Path(__file__).resolve().parents[2]


def _counts(db):
    return db.execute(
        "SELECT (SELECT count(*) FROM options_chains),"
        " (SELECT count(*) FROM option_chain_snapshots)"
    ).fetchone()


@pytest.fixture
def demo(pipeline_env, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "demo", "SPY", "QQQ", "IWM").code == 0
    return pipeline_env


def test_acceptance_range_gives_six_days_per_symbol_and_rerun_writes_nothing(demo, db, capsys):
    first = ingest_options(
        capsys, "--provider", "sample", "--start-date", "2025-12-15", "--end-date", "2025-12-22"
    )
    assert first.code == 0, first.err
    per_day = db.execute(
        "SELECT as_of, count(*) FROM option_chain_snapshots GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_day == [(date(2025, 12, d), 3) for d in (15, 16, 17, 18, 19, 22)]
    times = db.execute("SELECT count(DISTINCT time) FROM options_chains").fetchone()[0]
    assert times == 6
    before = _counts(db)
    again = ingest_options(
        capsys, "--provider", "sample", "--start-date", "2025-12-15", "--end-date", "2025-12-22"
    )
    assert again.code == 0
    assert _counts(db) == before
    assert "total               0       18       0         0" in again.out


def test_range_over_christmas_is_its_sessions_and_rerun_launches_no_run(demo, db, capsys):
    from dagster import DagsterInstance

    result = ingest_options(capsys, "--start-date", "2025-12-22", "--end-date", "2026-01-02")
    assert result.code == 0, result.err + result.out
    assert "complete: 8 day(s)" in result.out and "gaps remain" not in result.out
    days = [
        r[0] for r in db.execute("SELECT DISTINCT as_of FROM option_chain_snapshots ORDER BY 1")
    ]
    # NYSE's published 2025/2026 calendars: closed 2025-12-25 and 2026-01-01
    assert days == [date(2025, 12, d) for d in (22, 23, 24, 26, 29, 30, 31)] + [date(2026, 1, 2)]
    times = {r[0].date() for r in db.execute("SELECT DISTINCT time FROM options_chains")}
    assert date(2025, 12, 25) not in times and date(2026, 1, 1) not in times
    # early close on Christmas Eve (13:00 New York = 18:00 UTC), regular 16:00 the day before
    marks = dict(
        db.execute(
            "SELECT DISTINCT as_of, provider_mark_time AT TIME ZONE 'UTC' "
            "FROM option_chain_snapshots WHERE as_of IN "
            "('2025-12-23', '2025-12-24')"
        ).fetchall()
    )
    assert {d.day: t.hour for d, t in marks.items()} == {23: 21, 24: 18}
    runs = len(DagsterInstance.get().get_run_records())
    before = _counts(db)
    again = ingest_options(capsys, "--start-date", "2025-12-22", "--end-date", "2026-01-02")
    assert again.code == 0, again.err
    assert _counts(db) == before
    assert len(DagsterInstance.get().get_run_records()) == runs  # no run launched
    assert again.out.count("complete (skipped)") == 8


def test_as_of_a_holiday_is_one_line_naming_it(demo, db, capsys):
    result = ingest_options(capsys, "--as-of", "2025-01-09")  # unscheduled closure
    assert result.code == 2
    assert result.err.strip() == (
        "ingest_options: error: --as-of 2025-01-09 (Thursday) is not an "
        "NYSE session: market holiday (special closure)"
    )
    assert _counts(db) == (0, 0)


def test_dry_run_resolves_and_writes_nothing(demo, db, capsys):
    result = ingest_options(
        capsys,
        "--start-date",
        "2025-12-15",
        "--end-date",
        "2025-12-22",
        "--dry-run",
        "--symbols",
        "SPY",
    )
    assert result.code == 0
    assert result.out.startswith("plan (sample): 6 sessions × 1 symbol, 6 pairs to fetch")
    assert _counts(db) == (0, 0)


def test_symbols_subset_ingests_only_those(demo, db, capsys):
    result = ingest_options(capsys, "--as-of", "2025-12-15", "--symbols", "qqq")
    assert result.code == 0, result.out  # SPY and IWM were not asked for: not this run's gaps
    assert "gaps remain" not in result.out
    symbols = [
        r[0]
        for r in db.execute(
            "SELECT t.symbol FROM option_chain_snapshots s JOIN tickers t ON t.id = s.ticker_id"
        )
    ]
    assert symbols == ["QQQ"]


BAD_INPUT = [
    (["--as-of", "2025-12-15", "--start-date", "2025-12-15"], "cannot be combined"),
    (["--start-date", "2025-12-15"], "requires --end-date"),
    (["--start-date", "2025-12-22", "--end-date", "2025-12-15"], "before --start-date"),
    (["--as-of", "2025-02-30"], "invalid date"),
    (["--as-of", "yesterday"], "invalid date"),
    (["--as-of", "2025-12-20"], "not an NYSE session: weekend"),
    (["--as-of", "2025-12-25"], "not an NYSE session: market holiday (Christmas)"),
    (["--start-date", "2025-12-20", "--end-date", "2025-12-21"], "no NYSE sessions"),
    (["--start-date", "2025-12-25", "--end-date", "2025-12-25"], "no NYSE sessions"),
    (["--start-date", "2019-01-01", "--end-date", "2019-01-04"], "before the partitions' start"),
    (["--as-of", "2099-01-02"], "in the future"),
    (["--provider", "yahoo", "--as-of", "2025-12-15"], "invalid choice"),
    (["--provider", "polygon", "--as-of", "2025-12-15"], "POLYGON_API_KEY"),
    (["--as-of", "2025-12-15", "--symbols", "SPY'; DROP TABLE tickers;--"], "invalid symbol"),
    (["--as-of", "2025-12-15", "--symbols", "S P Y"], "invalid symbol"),
    (["--as-of", "2025-12-15", "--symbols", "SPÝ"], "invalid symbol"),
    (["--as-of", "2025-12-15", "--symbols", "X" * 40], "invalid symbol"),
    (["--as-of", "2025-12-15", "--symbols", "MSFT"], "not active"),
    (["--as-of", "2025-12-15", "--watchlist", "nope"], "no active symbols in watchlist 'nope'"),
    (["--as-of", "2025-12-15", "--heartbeat", "0"], "positive integer"),
    (
        ["--start-date", "1995-12-15", "--end-date", "2025-12-15"],
        f"more than {MAX_RANGE_TRADING_DAYS} needs --confirm-large-range",
    ),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(demo, db, capsys, argv, message):
    result = ingest_options(capsys, *argv)
    assert result.code == 2, result.err
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert _counts(db) == (0, 0)


def test_unreachable_database_is_one_line(pipeline_env, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:9/none")
    result = ingest_options(capsys, "--as-of", "2025-12-15")
    assert result.code == 2 and "cannot connect to PostgreSQL" in result.err
    assert "hunter2" not in result.err and len(result.err.strip().splitlines()) == 1


def test_state_dir_not_writable_is_one_line(tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    blocker = locked / "state"
    blocker.write_text("a file where the state directory should be")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("OPTIONS_PIPELINE_HOME", str(blocker))
    result = ingest_options(capsys, "--as-of", "2025-12-15")
    assert result.code == 2 and "not writable" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_empty_watchlist_is_a_usage_error(pipeline_env, capsys):
    result = ingest_options(capsys, "--as-of", "2025-12-15")
    assert result.code == 2 and "no active symbols" in result.err


def test_watchlist_option_reports_only_that_watchlists_gaps(pipeline_env, db, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "w1", "SPY").code == 0
    assert options_pipeline(capsys, "watchlist", "add", "w2", "QQQ").code == 0
    result = ingest_options(capsys, "--as-of", "2025-12-15", "--watchlist", "w1")
    assert result.code == 0, result.out  # QQQ belongs to w2: not a gap of this run
    assert "complete: 1 day(s)" in result.out


def test_a_dead_ingest_options_run_is_recovered_and_frees_the_pool(demo, db, capsys):
    import socket

    from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRunStatus

    from options_pipeline.cli_runner import HOST_TAG, PID_TAG, options_chains_job_def

    assert ingest_options(capsys, "--as-of", "2025-12-15").code == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs: the CLI that started the run was killed
    instance = DagsterInstance.get()
    orphan = instance.create_run_for_job(
        job_def=options_chains_job_def(),
        tags={HOST_TAG: socket.gethostname(), PID_TAG: str(dead.pid)},
    )
    instance.handle_run_event(
        orphan.run_id,
        DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=orphan.job_name),
    )
    assert instance.get_run_by_id(orphan.run_id).status == DagsterRunStatus.STARTED

    result = ingest_options(capsys, "--as-of", "2025-12-16")
    assert result.code == 0, result.err
    assert "is gone; marking it failed" in result.err
    assert instance.get_run_by_id(orphan.run_id).status == DagsterRunStatus.FAILURE


def test_a_run_killed_while_being_created_does_not_stay_not_started(demo, db, capsys):
    import socket

    from dagster import DagsterInstance, DagsterRunStatus

    from options_pipeline.cli_runner import HOST_TAG, PID_TAG, options_chains_job_def

    assert ingest_options(capsys, "--as-of", "2025-12-15").code == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    instance = DagsterInstance.get()
    stillborn = instance.create_run_for_job(  # created, never started: its process was killed
        job_def=options_chains_job_def(),
        tags={HOST_TAG: socket.gethostname(), PID_TAG: str(dead.pid)},
    )
    assert instance.get_run_by_id(stillborn.run_id).status == DagsterRunStatus.NOT_STARTED

    result = ingest_options(capsys, "--as-of", "2025-12-16")
    assert result.code == 0, result.err
    assert instance.get_run_by_id(stillborn.run_id).status == DagsterRunStatus.FAILURE
