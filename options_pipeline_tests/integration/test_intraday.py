"""`ingest_options` with no date during today's session stores nothing (the clock set to a
session morning; NYSE closes at 16:00 New York time that day)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from options_pipeline import calendar
from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline


def test_no_date_before_the_close_is_refused_and_writes_nothing(
    pipeline_env, monkeypatch, db, capsys
):
    assert options_pipeline(capsys, "watchlist", "add", "core", "SPY").code == 0
    morning = datetime(2025, 12, 16, 10, 30, tzinfo=ZoneInfo("America/New_York"))
    monkeypatch.setattr(calendar, "now_in_new_york", lambda: morning)
    result = ingest_options(capsys, "--provider", "sample")
    assert result.code == 2, result.err
    assert result.err.strip().splitlines() == [
        "ingest_options: error: 2025-12-16's session is still open until 16:00 New York time; "
        "a snapshot now would be intraday, not the day's close: run after the close, or end at "
        "2025-12-15"
    ]
    assert db.execute("SELECT count(*) FROM option_chain_snapshots").fetchone()[0] == 0
