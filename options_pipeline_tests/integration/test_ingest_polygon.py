"""Ingestion through the Polygon provider over real HTTP to the local Polygon server."""

import itertools
import logging
import socket
from datetime import date

import pytest

from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.ingest import UNREACHABLE_LIMIT, ingest_day
from options_pipeline.providers.normalize import parse_occ
from options_pipeline.providers.sample import sample_chain
from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline
from options_pipeline_tests.polygon_server import Fault, PolygonTestServer, split_roots

TODAY = date(2026, 11, 24)
DAY = date(2025, 12, 15)


@pytest.fixture
def polygon():
    with PolygonTestServer(today=TODAY, contracts_per_symbol=300) as server:
        yield server


@pytest.fixture
def watchlist(database_url):
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "core", ["QQQ", "SPY"])
    return database_url


def test_two_day_range_via_polygon_produces_two_snapshot_times(
    pipeline_env, polygon, monkeypatch, db, capsys
):
    monkeypatch.setenv("POLYGON_API_KEY", polygon.api_key)
    monkeypatch.setenv("POLYGON_BASE_URL", polygon.base_url)
    monkeypatch.setenv("POLYGON_RATE_LIMIT_PER_MINUTE", "60000")
    assert options_pipeline(capsys, "watchlist", "add", "core", "SPY").code == 0
    result = ingest_options(
        capsys, "--provider", "polygon", "--start-date", "2025-12-15", "--end-date", "2025-12-16"
    )
    assert result.code == 0, result.err
    times = [r[0].date() for r in db.execute("SELECT DISTINCT time FROM options_chains ORDER BY 1")]
    assert times == [date(2025, 12, 15), date(2025, 12, 16)]
    # honest history: past days come from the end-of-day endpoints, never the live snapshot
    assert polygon.count(endpoint="snapshot") == 0
    assert polygon.count(endpoint="analytics", day=date(2025, 12, 15)) >= 1
    # open interest known at each session's open: the figures for 12-12 (Fri) and 12-15
    assert {r.day for r in polygon.requests_for(endpoint="open_interest")} == {
        date(2025, 12, 12),
        date(2025, 12, 15),
    }
    assert polygon.api_key not in result.out + result.err


def test_failed_symbol_is_retried_and_nothing_else_is_refetched(watchlist, polygon):
    polygon.add_fault(Fault.server_error(times=None), symbol="QQQ")
    with connection(watchlist) as conn:
        first = ingest_day(conn, provider=polygon.provider(max_retries=1), day=DAY)
    assert first.ingested == ("SPY",)
    assert [(f.symbol, f.reason) for f in first.failed] == [("QQQ", "provider_error")]
    assert first.provider_requests == polygon.count()
    spy_requests = polygon.count(symbol="SPY")

    polygon.reset()
    with connection(watchlist) as conn:
        second = ingest_day(conn, provider=polygon.provider(), day=DAY)
    assert second.ingested == ("QQQ",) and second.skipped == ("SPY",) and second.complete
    assert polygon.count(symbol="SPY") == 0  # the complete symbol was not fetched again
    assert polygon.count(symbol="QQQ") > 0
    assert spy_requests > 0


def test_provider_timeout_is_a_warning_and_the_day_goes_on(watchlist, polygon, caplog):
    polygon.add_fault(Fault.slow(1.0), symbol="QQQ")
    log = logging.getLogger("options_pipeline.test_timeout")
    with caplog.at_level(logging.DEBUG), connection(watchlist) as conn:
        report = ingest_day(
            conn, day=DAY, log=log, provider=polygon.provider(read_timeout=0.2, max_retries=1)
        )
    assert report.ingested == ("SPY",)
    assert [(f.symbol, f.reason) for f in report.failed] == [("QQQ", "timeout")]
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "options_pipeline.test_timeout"
    ]
    assert len(warnings) == 1 and "QQQ" in warnings[0].getMessage()
    # the transport's own retry warnings say which (session, symbol) timed out
    transport = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "options_pipeline.providers.transport"
    ]
    assert transport and all(m.startswith(f"{DAY} QQQ: read timeout") for m in transport)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_rows_written_match_the_server_chain_and_rerun_is_idempotent(watchlist, polygon, db):
    with connection(watchlist) as conn:
        report = ingest_day(conn, provider=polygon.provider(), day=DAY)
    assert report.complete
    ledger = dict(
        db.execute(
            "SELECT t.symbol, s.contract_count FROM option_chain_snapshots s "
            "JOIN tickers t ON t.id = s.ticker_id"
        ).fetchall()
    )
    rows = dict(
        db.execute(
            "SELECT t.symbol, count(*) FROM options_chains c "
            "JOIN tickers t ON t.id = c.ticker_id GROUP BY 1"
        ).fetchall()
    )
    assert rows == ledger and set(rows) == {"QQQ", "SPY"}
    assert report.rows_written == sum(rows.values())
    with connection(watchlist) as conn:
        again = ingest_day(conn, provider=polygon.provider(), day=DAY)
    assert again.rows_written == 0 and again.skipped == ("QQQ", "SPY")


def test_unauthorized_stops_the_run_with_one_clear_line(
    pipeline_env, polygon, monkeypatch, db, capsys
):
    monkeypatch.setenv("POLYGON_API_KEY", "SECRETKEY-wrong-401")
    monkeypatch.setenv("POLYGON_BASE_URL", polygon.base_url)
    assert options_pipeline(capsys, "watchlist", "add", "core", "SPY", "QQQ").code == 0
    result = ingest_options(capsys, "--provider", "polygon", "--as-of", "2025-12-15", "--quiet")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    assert "2025-12-15" in lines[0] and "API Key" in lines[0]
    assert "SECRETKEY-wrong-401" not in result.err + result.out
    assert polygon.count(symbol="SPY") == 0  # stopped at the first refusal (QQQ sorts first)
    assert db.execute("SELECT count(*) FROM options_chains").fetchone()[0] == 0


def test_a_day_with_a_failed_symbol_shows_its_gap(watchlist, polygon):
    from dagster import instance_for_test, materialize

    from options_pipeline.assets.options_chains import COMPLETENESS_CHECK, options_chains
    from options_pipeline.resources import PostgresResource

    polygon.add_fault(
        Fault.plan_error("Your plan doesn't include this data timeframe"), symbol="QQQ"
    )
    provider = polygon.resource()
    resources = {"database": PostgresResource(database_url=watchlist), "provider": provider}
    with instance_for_test() as instance:
        result = materialize(
            [options_chains], partition_key="2025-12-15", instance=instance, resources=resources
        )
        assert result.success  # a failed symbol is not a failed run
        [mat] = result.asset_materializations_for_node("options_chains")
        assert mat.partition == "2025-12-15"
        assert mat.metadata["complete"].value is False
        assert mat.metadata["symbols_failed"].value == 1
        assert "plan doesn't include" in mat.metadata["failed"].value["QQQ"]
        [check] = result.get_asset_check_evaluations()
        assert check.check_name == COMPLETENESS_CHECK and not check.passed
        missing = check.metadata["missing"].value
        assert missing == [{"date": "2025-12-15", "symbol": "QQQ", "reason": missing[0]["reason"]}]
        assert missing[0]["reason"].startswith("not_available")


def test_spx_past_session_through_the_cli_stores_both_roots_merged_and_the_previous_oi(
    pipeline_env, monkeypatch, db, capsys
):
    session, before = date(2025, 12, 16), date(2025, 12, 15)
    with PolygonTestServer(today=TODAY, contracts_per_symbol=400) as srv:
        monkeypatch.delenv("POLYGON_API_KEY", raising=False)
        monkeypatch.setenv("MASSIVE_API_KEY", srv.api_key)
        monkeypatch.setenv("POLYGON_BASE_URL", srv.base_url)
        monkeypatch.setenv("POLYGON_RATE_LIMIT_PER_MINUTE", "60000")
        assert options_pipeline(capsys, "watchlist", "add", "idx", "^SPX").code == 0
        result = ingest_options(capsys, "--provider", "polygon", "--as-of", session.isoformat())
        assert result.code == 0, result.err
        asked = sorted(
            (r.endpoint, r.symbol, r.query.get("date"), r.status)
            for r in srv.requests
            if "cursor" not in r.query
        )
    assert asked == [
        ("analytics", "SPX", "2025-12-16", 200),
        ("analytics", "SPX", "2025-12-16", 400),  # limit=5000 refused, then 999
        ("open_interest", "SPX", "2025-12-15", 200),
        ("open_interest", "SPXW", "2025-12-15", 200),
    ]

    # oracle: the server's market, listed per OCC root
    listed_d = split_roots(sample_chain("SPX", session, 400))
    listed_before = split_roots(sample_chain("SPX", before, 400))
    tickers = {q.contract_symbol for q in listed_d}  # the session's listing, both roots
    identities = {parse_occ(t)[1:] for t in tickers}
    oi_before: dict[tuple, int] = {}
    for q in listed_before:
        key = (q.expiration_date, q.option_type, q.strike)
        oi_before[key] = oi_before.get(key, 0) + q.open_interest

    stored = db.execute(
        "SELECT c.expiration_date, c.option_type, c.strike_price::float8, c.open_interest "
        "FROM options_chains c JOIN tickers t ON t.id = c.ticker_id WHERE t.symbol = 'SPX'"
    ).fetchall()
    assert {(e, t, k) for e, t, k, _ in stored} == identities
    for e, t, k, oi in stored:
        assert oi == oi_before.get((e, t, k)), (e, t, k)  # both roots, the session before
    weekly_only = {q.expiration_date for q in listed_d if q.contract_symbol.startswith("SPXW")} - {
        q.expiration_date for q in listed_d if not q.contract_symbol.startswith("SPXW")
    }
    assert weekly_only and weekly_only <= {e for e, *_ in stored}  # SPXW-only expiries stored

    ledger = db.execute(
        "SELECT s.open_interest_as_of, s.open_interest_source, s.rejected_reasons, "
        "s.contract_count FROM option_chain_snapshots s JOIN tickers t ON t.id = s.ticker_id "
        "WHERE t.symbol = 'SPX'"
    ).fetchone()
    assert ledger[0] == before and ledger[1] == "polygon:options/v1/open-interest"
    assert ledger[2]["merged_identity"] == len(tickers) - len(identities) > 50
    assert ledger[3] == len(identities) == len(stored)


def test_a_refused_connection_ends_the_range_after_a_bounded_number_of_symbols(
    pipeline_env, monkeypatch, db, capsys
):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: every connection is refused
    monkeypatch.setenv("POLYGON_API_KEY", "k-unused")
    monkeypatch.setenv("POLYGON_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("POLYGON_RATE_LIMIT_PER_MINUTE", "60000")
    monkeypatch.setenv("POLYGON_MAX_RETRIES", "1")
    symbols = ["AAPL", "IWM", "MSFT", "QQQ", "SPY"]
    assert options_pipeline(capsys, "watchlist", "add", "core", *symbols).code == 0
    result = ingest_options(
        capsys, "--provider", "polygon", "--start-date", "2025-12-15", "--end-date", "2025-12-16"
    )
    assert result.code == 2, result.err
    tried = [line for line in result.err.splitlines() if "failed (unreachable)" in line]
    assert [line.split()[2].rstrip(":") for line in tried] == symbols[:UNREACHABLE_LIMIT]
    errors = [line for line in result.err.splitlines() if line.startswith("ingest_options: error")]
    assert len(errors) == 1, result.err
    assert "provider polygon is unreachable" in errors[0] and f"127.0.0.1:{port}" in errors[0]
    assert "connection refused" in errors[0]
    assert "market holiday?" not in result.err and "Traceback" not in result.err
    assert "incomplete: 2 day(s) not run (2025-12-15..2025-12-16)" in result.out
    assert db.execute("SELECT count(*) FROM option_chain_snapshots").fetchone()[0] == 0


def test_the_cli_keeps_one_rate_budget_across_days(pipeline_env, monkeypatch, db, capsys):
    """A key allowing 1 request per 3 s, as the server stamps them: each day is its own Dagster
    run with a new provider client, yet the requests of day 2 keep the budget of day 1's (a
    budget reset each day would send day 2's first request ~1.5 s after day 1's last: a 429)."""
    with PolygonTestServer(today=TODAY, contracts_per_symbol=300, history_limit_cap=5000) as srv:
        srv.set_rate_limit(1, per_seconds=3.0)
        monkeypatch.setenv("POLYGON_API_KEY", srv.api_key)
        monkeypatch.setenv("POLYGON_BASE_URL", srv.base_url)
        monkeypatch.setenv("POLYGON_RATE_LIMIT_PER_MINUTE", "20")
        monkeypatch.setenv("POLYGON_RATE_LIMIT_WINDOW_SECONDS", "3")
        assert options_pipeline(capsys, "watchlist", "add", "core", "SPY").code == 0
        result = ingest_options(
            capsys,
            "--provider",
            "polygon",
            "--start-date",
            "2025-12-15",
            "--end-date",
            "2025-12-16",
        )
        assert result.code == 0, result.err
        log = srv.requests
    assert [r.status for r in log] == [200] * 4  # analytics + open interest, per day
    assert [r.day for r in log if r.endpoint == "analytics"] == [DAY, date(2025, 12, 16)]
    arrivals = [r.t for r in log]
    assert min(b - a for a, b in itertools.pairwise(arrivals)) > 3.0
