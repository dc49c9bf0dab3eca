"""The CLI over a two-session range through ThetaData, ORATS and Alpha Vantage (local stand-ins),
real Dagster runs and PostgreSQL; the key or token is never printed or stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from options_pipeline_tests.alphavantage_server import AlphaVantageTestServer
from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline
from options_pipeline_tests.orats_server import OratsTestServer
from options_pipeline_tests.stand_in import StandInServer
from options_pipeline_tests.thetadata_server import ThetaTestServer

DAYS = (date(2025, 12, 15), date(2025, 12, 16))
SYMBOLS = ("QQQ", "SPY")


def _thetadata(mp: pytest.MonkeyPatch) -> StandInServer:
    srv = ThetaTestServer(concurrency_limit=2).start()
    mp.setenv("THETADATA_BASE_URL", srv.base_url)
    mp.setenv("THETADATA_CONCURRENCY", "value")  # 2 in flight, as the stand-in enforces
    return srv


def _orats(mp: pytest.MonkeyPatch) -> StandInServer:
    srv = OratsTestServer().start()
    mp.setenv("ORATS_API_TOKEN", srv.secret or "")
    mp.setenv("ORATS_BASE_URL", srv.base_url)
    mp.setenv("ORATS_RATE_LIMIT_PER_MINUTE", "60000")
    return srv


def _alphavantage(mp: pytest.MonkeyPatch) -> StandInServer:
    srv = AlphaVantageTestServer().start()
    mp.setenv("ALPHAVANTAGE_API_KEY", srv.secret or "")
    mp.setenv("ALPHAVANTAGE_BASE_URL", srv.base_url)
    mp.setenv("ALPHAVANTAGE_RATE_LIMIT_PER_MINUTE", "60000")
    return srv


@pytest.fixture(params=["thetadata", "orats", "alphavantage"])
def vendor(request, monkeypatch) -> Iterator[tuple[str, StandInServer]]:
    start = {"thetadata": _thetadata, "orats": _orats, "alphavantage": _alphavantage}
    srv = start[request.param](monkeypatch)
    try:
        yield request.param, srv
    finally:
        srv.stop()


def _stored_text_containing(database_url: str, needle: str) -> list[str]:
    """Every table of the database whose rows, as text, contain `needle`."""
    hits = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT count(*) FROM {} t WHERE t::text LIKE %s").format(
                sql.Identifier(schema, table)
            )
            if conn.execute(query, (f"%{needle}%",)).fetchone()[0]:
                hits.append(f"{schema}.{table}")
    return hits


def _files_containing(root: Path, needle: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_two_sessions_through_the_cli(pipeline_env, vendor, db, database_url, capsys) -> None:
    name, srv = vendor
    assert options_pipeline(capsys, "watchlist", "add", "core", *SYMBOLS).code == 0
    result = ingest_options(
        capsys,
        "--provider",
        name,
        "--start-date",
        "2025-12-15",
        "--end-date",
        "2025-12-16",
        "--verbose",
    )
    assert result.code == 0, result.err

    # every (session, symbol) stored once, with the served market's every contract
    rows = db.execute(
        "SELECT s.as_of, t.symbol, s.contract_count, s.underlying_price, "
        "(SELECT count(*) FROM options_chains c WHERE c.ticker_id = s.ticker_id "
        " AND c.time::date = s.as_of) "
        "FROM option_chain_snapshots s JOIN tickers t ON t.id = s.ticker_id ORDER BY 1, 2"
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(d, s) for d in DAYS for s in SYMBOLS]
    for day, symbol, contracts, spot, stored in rows:
        market = srv.chain(symbol, day)
        assert market is not None
        assert contracts == stored == len(market.quotes)
        assert float(spot) == pytest.approx(market.underlying_price, rel=1e-6)
    # the ledger says which session the stored open interest is for: the previous one
    oi = db.execute(
        "SELECT DISTINCT s.as_of, s.open_interest_as_of, "
        "split_part(s.open_interest_source, ':', 1) "
        "FROM option_chain_snapshots s ORDER BY 1"
    ).fetchall()
    assert oi == [(DAYS[0], date(2025, 12, 12), name), (DAYS[1], DAYS[0], name)]
    # each session was asked for by date, never substituted
    assert {r.day for r in srv.requests if r.endpoint != "daily"} == set(DAYS)
    assert srv.count(status=200) == srv.count()

    # the key/token: in the URLs the vendor expects it in, nowhere else
    secret = srv.secret
    if secret:
        assert all(r.key_in_url for r in srv.requests)
        assert secret not in result.out + result.err
        assert _stored_text_containing(database_url, secret) == []
        assert _files_containing(pipeline_env, secret) == []


def test_a_refused_session_is_a_gap_with_its_reason(pipeline_env, db, capsys, monkeypatch):
    srv = _alphavantage(monkeypatch)
    try:
        srv.premium = False  # every options answer is the premium sample envelope
        assert options_pipeline(capsys, "watchlist", "add", "core", "SPY").code == 0
        result = ingest_options(capsys, "--provider", "alphavantage", "--as-of", "2025-12-15")
        assert result.code == 1  # gaps remain
        assert "not_available" in result.out and "artificial sample" in result.out + result.err
        assert db.execute("SELECT count(*) FROM options_chains").fetchone()[0] == 0
        assert srv.secret not in result.out + result.err
    finally:
        srv.stop()


def test_the_definitions_bound_by_the_environment_run_a_vendor_partition(
    pipeline_env, db, capsys, monkeypatch
) -> None:
    """What the UI launches: the one Definitions' asset, its provider chosen by the environment
    (`dagster asset materialize` in a subprocess, as `make demo` does)."""
    import os
    import subprocess
    import sys

    srv = _orats(monkeypatch)
    monkeypatch.setenv("OPTIONS_PIPELINE_PROVIDER", "orats")
    try:
        assert options_pipeline(capsys, "watchlist", "add", "core", "SPY").code == 0
        dagster = Path(sys.executable).with_name("dagster")
        done = subprocess.run(
            [
                str(dagster),
                "asset",
                "materialize",
                "-m",
                "options_pipeline.definitions",
                "--select",
                "options_chains",
                "--partition",
                "2025-12-16",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(os.environ),
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert srv.secret not in done.stdout + done.stderr
        count = db.execute("SELECT count(*) FROM options_chains").fetchone()[0]
        market = srv.chain("SPY", date(2025, 12, 16))
        assert market is not None and count == len(market.quotes)
        assert srv.count() == 1 and srv.requests[0].day == date(2025, 12, 16)
        assert _stored_text_containing(os.environ["DATABASE_URL"], srv.secret or "-") == []
        assert _files_containing(pipeline_env, srv.secret or "-") == []
    finally:
        srv.stop()


@pytest.mark.parametrize("name, bound", [("thetadata", 2), ("orats", 4), ("alphavantage", 2)])
def test_a_day_fetches_symbols_at_once_within_the_vendor_bound(
    name, bound, monkeypatch, database_url
) -> None:
    """Six symbols, each answer held 0.3 s by the server: ingest_day overlaps them up to the
    provider's `max_concurrency` and never past it (ThetaData: the tier's outstanding requests,
    which the stand-in enforces with 429 OS_LIMIT)."""
    from options_pipeline.db import store
    from options_pipeline.db.connection import connection
    from options_pipeline.ingest import ingest_day
    from options_pipeline.resources import provider_resource_from_env
    from options_pipeline_tests.stand_in import Fault

    start = {"thetadata": _thetadata, "orats": _orats, "alphavantage": _alphavantage}
    srv = start[name](monkeypatch)
    symbols = ["AAPL", "IWM", "MSFT", "NVDA", "QQQ", "SPY"]
    try:
        srv.add_fault(Fault("slow", times=None, delay=0.3))
        resource = provider_resource_from_env(name)
        with resource.process_config_and_initialize_cm() as ready:  # EnvVar resolved, as in a run
            provider = ready.client
            assert provider.max_concurrency == bound
            with connection(database_url) as conn:
                store.add_to_watchlist(conn, "w", symbols)
                report = ingest_day(conn, provider=provider, day=DAYS[0])
        assert not report.failed, report.failed
        assert sorted(report.ingested) == symbols
        log = srv.requests
        assert all(r.status == 200 for r in log)
        assert 2 <= max(r.in_flight for r in log) <= bound
    finally:
        srv.stop()
