"""Range ingestion, re-runs and modes on real PostgreSQL and Dagster runs."""

from datetime import date

from options_pipeline.db.store import snapshot_time
from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline


def test_bad_input_writes_nothing(pipeline_env, db, capsys):
    result = ingest_options(
        capsys, "--provider", "sample", "--start-date", "2025-12-22", "--end-date", "2025-12-15"
    )
    assert result.code == 2 and "is before --start-date" in result.err
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

    second = ingest_options(
        capsys, "--start-date", "2025-12-17", "--end-date", "2025-12-18", "--log-level", "DEBUG"
    )
    assert second.code == 0, second.err
    assert _counts(db) == (rows, ledger)  # zero new rows
    total = second.out.strip().splitlines()[-2].split()
    assert total[:5] == ["total", "0", "4", "0", "0"]  # ingested, skipped, failed, rows
    # no run launched for an already complete day
    assert [line.split()[-2:] for line in second.out.splitlines()[1:3]] == [
        ["complete", "(skipped)"]
    ] * 2


def test_single_day_path_unchanged(pipeline_env, db, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "demo", "SPY").code == 0
    result = ingest_options(capsys, "--as-of", "2025-12-16")
    assert result.code == 0, result.err
    times = [r[0] for r in db.execute("SELECT DISTINCT time FROM options_chains")]
    assert times == [snapshot_time(date(2025, 12, 16))]
    assert snapshot_time(date(2025, 12, 16)).isoformat() == "2025-12-16T23:59:59+00:00"
    assert db.execute("SELECT count(*) FROM option_chain_snapshots").fetchone()[0] == 1
