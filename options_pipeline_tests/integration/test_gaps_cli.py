"""`options-pipeline gaps` on a real PostgreSQL: failures recorded by ingest_day, read back."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.ingest import ingest_day
from options_pipeline_tests.cli_helpers import options_pipeline
from options_pipeline_tests.polygon_server import Fault, PolygonTestServer

TODAY = date(2026, 11, 24)
MON, TUE = date(2025, 12, 15), date(2025, 12, 16)


@pytest.fixture
def polygon():
    with PolygonTestServer(today=TODAY, contracts_per_symbol=200) as server:
        yield server


@pytest.fixture
def core(pipeline_env, database_url):
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "core", ["QQQ", "SPY"])
        store.add_to_watchlist(conn, "other", ["IWM"])
    return database_url


def _gaps(capsys, *extra):
    return options_pipeline(
        capsys, "gaps", "--start-date", "2025-12-15", "--end-date", "2025-12-16", *extra
    )


def test_failure_reason_is_persisted_and_reported_until_the_pair_completes(
    core, polygon, capsys, db
):
    polygon.add_fault(
        Fault.plan_error("Your plan doesn't include this data timeframe"), symbol="QQQ"
    )
    before = datetime.now(UTC)
    for _ in range(2):  # two attempts: the count goes up, the row is not duplicated
        with connection(core) as conn:
            report = ingest_day(conn, provider=polygon.provider(), day=MON, watchlist="core")
        assert [f.symbol for f in report.failed] == ["QQQ"]
    assert db.execute("SELECT count(*), max(failures) FROM option_chain_attempts").fetchone() == (
        1,
        2,
    )

    result = _gaps(capsys, "--watchlist", "core", "--json")
    assert result.code == 1, result.err
    doc = json.loads(result.out)
    assert set(doc) == {
        "start_date",
        "end_date",
        "sessions",
        "symbols",
        "pairs",
        "gap_count",
        "gaps",
    }
    assert (doc["sessions"], doc["symbols"], doc["pairs"], doc["gap_count"]) == (
        2,
        ["QQQ", "SPY"],
        4,
        3,
    )
    by_pair = {(g["session"], g["symbol"]): g for g in doc["gaps"]}
    assert set(by_pair) == {("2025-12-15", "QQQ"), ("2025-12-16", "QQQ"), ("2025-12-16", "SPY")}
    failed = by_pair[("2025-12-15", "QQQ")]
    assert failed["reason"] == "not_available" and "plan doesn't include" in failed["message"]
    assert failed["provider"] == "polygon" and failed["failures"] == 2
    tried = datetime.fromisoformat(failed["last_tried"])
    assert before - timedelta(seconds=5) <= tried <= datetime.now(UTC) + timedelta(seconds=5)
    never = by_pair[("2025-12-16", "SPY")]
    assert never["reason"] is None and never["last_tried"] is None and never["failures"] == 0

    table = _gaps(capsys, "--watchlist", "core")
    assert table.code == 1
    lines = table.out.strip().splitlines()
    assert lines[0].split()[:3] == ["session", "symbol", "tries"]
    assert lines[1].startswith("2025-12-15  QQQ") and "not_available: " in lines[1]
    assert lines[3].startswith("2025-12-16  SPY") and lines[3].endswith("never attempted")
    assert lines[-1].startswith("3 gap(s) in 2 session(s) × 2 symbol(s), 2025-12-15..2025-12-16")

    polygon.clear_faults()
    with connection(core) as conn:
        for day in (MON, TUE):
            assert ingest_day(conn, provider=polygon.provider(), day=day, watchlist="core").complete
    done = _gaps(capsys, "--watchlist", "core")
    assert done.code == 0
    assert done.out.strip() == (
        "no gaps: 2 session(s) × 2 symbol(s), 2025-12-15..2025-12-16, "
        "every pair has a completed snapshot"
    )
    # every watchlist by default: IWM was never ingested
    everyone = json.loads(_gaps(capsys, "--json").out)
    assert {(g["session"], g["symbol"]) for g in everyone["gaps"]} == {
        ("2025-12-15", "IWM"),
        ("2025-12-16", "IWM"),
    }
    only = json.loads(_gaps(capsys, "--symbols", "SPY", "--json").out)
    assert only["gap_count"] == 0 and only["symbols"] == ["SPY"]


def test_unauthorized_is_recorded_for_the_symbol_that_got_it(core, polygon, db):
    from options_pipeline.providers.base import Unauthorized

    polygon.add_fault(Fault.unauthorized(), symbol="QQQ")
    with pytest.raises(Unauthorized), connection(core) as conn:
        ingest_day(conn, provider=polygon.provider(), day=MON, watchlist="core")
    assert db.execute("SELECT symbol, reason FROM option_chain_attempts").fetchall() == [
        ("QQQ", "unauthorized")
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--start-date", "2025-12-16", "--end-date", "2025-12-15"], "is before --start-date"),
        (["--start-date", "2025-12-20", "--end-date", "2025-12-21"], "no sessions between"),
        (
            ["--start-date", "2025-12-15", "--end-date", "2025-12-16", "--symbols", "TSLA"],
            "not active in any watchlist: TSLA",
        ),
        (["--start-date", "2025-12-15"], "--end-date"),
    ],
)
def test_bad_input_is_one_line_exit_2(core, capsys, argv, message):
    result = options_pipeline(capsys, "gaps", *argv)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1 and message in result.err


def test_ingest_options_subset_progress_counts_only_the_selected_pairs(
    core, polygon, capsys, monkeypatch
):
    from options_pipeline_tests.cli_helpers import ingest_options

    monkeypatch.setenv("POLYGON_API_KEY", polygon.api_key)
    monkeypatch.setenv("POLYGON_BASE_URL", polygon.base_url)
    monkeypatch.setenv("POLYGON_RATE_LIMIT_PER_MINUTE", "60000")
    polygon.add_fault(
        Fault.plan_error("Your plan doesn't include this data timeframe"), symbol="SPY"
    )
    result = ingest_options(
        capsys, "--provider", "polygon", "--as-of", "2025-12-15", "--symbols", "SPY"
    )
    assert result.code == 1
    [line] = [x for x in result.err.splitlines() if x.startswith("progress ")]
    assert polygon.count() >= 1  # requests spent on a day without data still count
    assert line.startswith(
        f"progress sessions 1/1, pairs 1/1 (1 fetched), rows 0, requests {polygon.count()},"
    )
    gaps = options_pipeline(
        capsys,
        "gaps",
        "--start-date",
        "2025-12-15",
        "--end-date",
        "2025-12-15",
        "--symbols",
        "SPY",
        "--json",
    )
    [gap] = json.loads(gaps.out)["gaps"]
    assert gap["reason"] == "not_available" and gap["provider"] == "polygon"
