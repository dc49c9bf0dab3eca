"""Range ingestion, re-runs and modes on real PostgreSQL and Dagster runs."""

import argparse
from datetime import date, timedelta

import numpy as np
import pytest

from options_pipeline.cli import UsageError, resolve_days
from options_pipeline.db.store import snapshot_time
from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline

TODAY = date(2026, 11, 24)


def _args(**kw) -> argparse.Namespace:
    base = {"as_of": None, "start_date": None, "end_date": None, "confirm_large_range": False}
    return argparse.Namespace(**(base | kw))


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2025, 12, 15), date(2025, 12, 22)), (date(2025, 12, 20), date(2025, 12, 21)),
     (date(2024, 2, 26), date(2024, 3, 4)), (date(2025, 1, 1), date(2025, 12, 31))],
)
def test_range_expands_trading_days_only(start, end):
    # oracle: numpy's business-day calendar (weekmask Mon-Fri, no holidays)
    expected = [d.astype(object) for d in np.arange(np.datetime64(start),
                                                    np.datetime64(end + timedelta(1)))
                if np.is_busday(d)]
    if not expected:
        with pytest.raises(UsageError, match="no trading days"):
            resolve_days(_args(start_date=start, end_date=end), today=TODAY)
        return
    days = resolve_days(_args(start_date=start, end_date=end), today=TODAY)
    assert days == expected
    assert all(d.weekday() < 5 for d in days)
    if (start, end) == (date(2025, 12, 15), date(2025, 12, 22)):
        assert [d.day for d in days] == [15, 16, 17, 18, 19, 22]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--as-of", "2025-12-15", "--start-date", "2025-12-15", "--end-date", "2025-12-16"],
         "--as-of cannot be combined"),
        (["--as-of", "2025-12-15", "--end-date", "2025-12-16"], "--as-of cannot be combined"),
        (["--start-date", "2025-12-15"], "--start-date requires --end-date"),
        (["--end-date", "2025-12-15"], "--end-date requires --start-date"),
        (["--start-date", "2025-12-22", "--end-date", "2025-12-15"], "is before --start-date"),
        (["--as-of", "2025-12-20"], "is a Saturday, not a trading day"),
        (["--as-of", "2025-13-01"], "invalid date"),
        (["--start-date", "15/12/2025", "--end-date", "2025-12-22"], "invalid date"),
    ],
)
def test_range_rejects_invalid_combinations(pipeline_env, db, capsys, argv, message):
    result = ingest_options(capsys, "--provider", "sample", *argv)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert db.execute("SELECT count(*) FROM options_chains").fetchone()[0] == 0


def _counts(db):
    return db.execute(
        "SELECT (SELECT count(*) FROM options_chains),"
        " (SELECT count(*) FROM option_chain_snapshots)"
    ).fetchone()


def test_range_skips_completed_days(pipeline_env, db, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "demo", "SPY", "QQQ").code == 0
    first = ingest_options(capsys, "--start-date", "2025-12-17", "--end-date", "2025-12-18")
    assert first.code == 0, first.err
    rows, ledger = _counts(db)
    assert ledger == 4 and rows > 0

    second = ingest_options(capsys, "--start-date", "2025-12-17", "--end-date", "2025-12-18",
                            "--log-level", "DEBUG")
    assert second.code == 0, second.err
    assert _counts(db) == (rows, ledger)  # zero new rows
    total = second.out.strip().splitlines()[-2].split()
    assert total[:5] == ["total", "0", "4", "0", "0"]  # ingested, skipped, failed, rows
    assert "skipped, snapshot already complete" in second.err + second.out


def test_single_day_path_unchanged(pipeline_env, db, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "demo", "SPY").code == 0
    result = ingest_options(capsys, "--as-of", "2025-12-16")
    assert result.code == 0, result.err
    times = [r[0] for r in db.execute("SELECT DISTINCT time FROM options_chains")]
    assert times == [snapshot_time(date(2025, 12, 16))]
    assert snapshot_time(date(2025, 12, 16)).isoformat() == "2025-12-16T23:59:59+00:00"
    assert db.execute("SELECT count(*) FROM option_chain_snapshots").fetchone()[0] == 1


def test_no_flags_means_today_and_a_weekend_means_nothing_to_do():
    assert resolve_days(_args(), today=date(2025, 12, 19)) == [date(2025, 12, 19)]
    assert resolve_days(_args(), today=date(2025, 12, 20)) == []  # Saturday: quiet no-op
