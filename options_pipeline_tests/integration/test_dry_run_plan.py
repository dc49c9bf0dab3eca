"""`ingest_options --dry-run` plans from the ledger; the plan's request count is what a real run
then sends to the local Polygon server."""

import json
from datetime import date

import pytest

from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline
from options_pipeline_tests.polygon_server import PolygonTestServer

CONTRACTS = 300


@pytest.fixture
def polygon(pipeline_env, monkeypatch):
    # a server that accepts the provider's first page size (5000): no refused-limit request
    with PolygonTestServer(
        today=date(2026, 11, 24), contracts_per_symbol=CONTRACTS, history_limit_cap=5000
    ) as server:
        monkeypatch.setenv("POLYGON_API_KEY", server.api_key)
        monkeypatch.setenv("POLYGON_BASE_URL", server.base_url)
        monkeypatch.setenv("POLYGON_RATE_LIMIT_PER_MINUTE", "60000")
        yield server


def _counts(db):
    return db.execute(
        "SELECT (SELECT count(*) FROM options_chains),"
        " (SELECT count(*) FROM option_chain_snapshots)"
    ).fetchone()


def test_plan_counts_pairs_and_requests_and_a_real_run_matches_it(polygon, db, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "core", "SPY").code == 0
    first = ingest_options(capsys, "--provider", "polygon", "--as-of", "2025-12-15")
    assert first.code == 0, first.err
    assert options_pipeline(capsys, "watchlist", "add", "core", "QQQ").code == 0
    before, served = _counts(db), polygon.count()
    # three sessions keep the real run short; closed days are the holiday plan's below
    argv = ["--provider", "polygon", "--start-date", "2025-12-15", "--end-date", "2025-12-17"]
    planned = ingest_options(capsys, *argv, "--dry-run", "--json")
    assert planned.code == 0, planned.err
    assert _counts(db) == before and polygon.count() == served  # nothing fetched or written
    doc = json.loads(planned.out)
    assert (doc["sessions"], doc["pairs"], doc["pairs_complete"], doc["pairs_to_fetch"]) == (
        3,
        6,
        1,
        5,
    )
    assert doc["per_session"][0] == {
        "session": "2025-12-15",
        "complete": ["SPY"],
        "to_fetch": ["QQQ"],
        "requests": 2,
    }
    assert doc["chain_size_hints"] == {
        "QQQ": {"contracts": 5000, "source": "default"},
        "SPY": {"contracts": CONTRACTS, "source": "ledger 2025-12-15"},
    }
    # one open-interest and one analytics page per pair (both chains are under 5,000 rows)
    assert doc["requests"] == 5 * 2
    assert doc["rate_limit_per_minute"] == 60000
    assert doc["wall_seconds"] == pytest.approx(10 * 0.5)

    text = ingest_options(capsys, *argv, "--dry-run")
    assert text.out.splitlines()[0] == (
        "plan (polygon): 3 sessions × 2 symbols, 5 pairs to fetch (1 already complete), "
        "≈10 requests, ≈5 s at 1,000 req/s (response-bound: 0.5 s per request assumed)"
    )
    assert text.out.splitlines()[-1] == "nothing fetched or written (dry run)"

    polygon.reset()
    run = ingest_options(capsys, *argv)
    assert run.code == 0, run.err
    assert polygon.count() == doc["requests"]

    # a closed weekday is no session of the plan: Christmas costs nothing
    holiday = json.loads(
        ingest_options(
            capsys,
            "--provider",
            "polygon",
            "--start-date",
            "2025-12-24",
            "--end-date",
            "2025-12-26",
            "--dry-run",
            "--json",
        ).out
    )
    assert [s["session"] for s in holiday["per_session"]] == ["2025-12-24", "2025-12-26"]
    assert holiday["pairs_to_fetch"] == 4 and holiday["requests"] == 8  # 2 sessions × 2 symbols


def test_contracts_hint_per_symbol_and_for_all(polygon, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "core", "SPY", "SPX").code == 0
    argv = ["--provider", "polygon", "--as-of", "2025-12-15", "--dry-run", "--json"]
    doc = json.loads(ingest_options(capsys, *argv, "--contracts-hint", "SPX=20000", "9000").out)
    assert doc["chain_size_hints"] == {
        "SPX": {"contracts": 20000, "source": "--contracts-hint"},
        "SPY": {"contracts": 9000, "source": "--contracts-hint"},
    }
    # past session: 2 endpoints × ceil(N / 5,000) pages, +1 for SPX's second root (SPXW)
    assert doc["requests"] == (2 * 4 + 1) + 2 * 2
    bad = ingest_options(capsys, *argv, "--contracts-hint", "SPX=0")
    assert bad.code == 2 and "positive integer" in bad.err


def test_dry_run_only_flags_are_refused_without_it(polygon, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "core", "SPY").code == 0
    result = ingest_options(capsys, "--as-of", "2025-12-15", "--json")
    assert result.code == 2 and "go with --dry-run" in result.err
