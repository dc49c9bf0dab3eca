"""dealer_metrics over a range of sessions: one ranged Dagster run records every session as its own
partition, stores the numbers the metrics functions give on each day's chain, reads each
(symbol, session) chain once (counted by PostgreSQL itself), replaces on a rerun, and reuses stored
per-session results only when they were computed the same way."""

from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from dagster import DagsterInstance, instance_for_test, materialize
from psycopg.conninfo import conninfo_to_dict

from options_pipeline.assets.dealer_metrics import dealer_metrics
from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.dealer import (
    CHECKS,
    MODEL_VERSION,
    RangeStats,
    compute_dealer_day,
    compute_dealer_range,
)
from options_pipeline.ingest import ingest_day
from options_pipeline.metrics import ChainArrays, MetricsParams, compute_day_metrics
from options_pipeline.metrics.window import WindowParams, summarize_window
from options_pipeline.providers.sample import SampleProvider
from options_pipeline.resources import PostgresResource
from options_pipeline_tests.conftest import TEMPLATE_DB, cloned_database

# NYSE's published 2025 calendar: closed on 2025-12-25, so these are the 12 sessions
SESSIONS = [date(2025, 12, d) for d in (15, 16, 17, 18, 19, 22, 23, 24, 26, 29, 30, 31)]
SYMBOLS = ["QQQ", "SPY"]
RANGE = SESSIONS[4:]  # 12-19..12-31: every window inside the stored sessions


@pytest.fixture(scope="module")
def filled_template(server_url: str, template_url: str) -> Iterator[str]:
    with cloned_database(server_url, TEMPLATE_DB) as url:
        provider = SampleProvider(contracts_per_symbol=300)
        with connection(url) as conn:
            store.add_to_watchlist(conn, "demo", SYMBOLS)
            for day in SESSIONS:
                assert ingest_day(conn, provider=provider, day=day).complete
        yield conninfo_to_dict(url)["dbname"]


@pytest.fixture
def filled(server_url: str, filled_template: str) -> Iterator[str]:
    with cloned_database(server_url, filled_template) as url:
        yield url


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


def _materialize_range(instance, url, start: date, end: date):
    return materialize(
        [dealer_metrics],
        instance=instance,
        resources={"database": PostgresResource(database_url=url)},
        tags={
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        },
        raise_on_error=False,
    )


def _direct(db, symbol: str, day: date):
    """The metrics functions on the day's chain, read row by row with plain SQL (not the
    range path's binary COPY reader)."""
    ticker, spot = db.execute(
        "SELECT s.ticker_id, s.underlying_price::float8 FROM option_chain_snapshots s "
        "JOIN tickers t ON t.id = s.ticker_id WHERE t.symbol = %s AND s.as_of = %s",
        (symbol, day),
    ).fetchone()
    columns = store.chain_columns(db, ticker_id=ticker, day=day)
    chain = ChainArrays.from_columns(as_of=day, spot=spot, symbol=symbol, **columns)
    return compute_day_metrics(chain, MetricsParams())


def _chain_rows_fetched(url: str) -> int:
    """Rows of options_chains that scans have returned so far (PostgreSQL's own statistics)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
            "FROM pg_stat_user_tables WHERE relname = 'options_chains'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _counted(url: str, run) -> tuple[int, RangeStats]:
    """Run `run(conn)` on its own connection (index scans only, so every row returned counts
    exactly once) and return how many options_chains rows it read."""
    before = _chain_rows_fetched(url)
    stats = RangeStats()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        run(conn, stats)
        conn.execute("SELECT pg_stat_force_next_flush()")
    return _chain_rows_fetched(url) - before, stats


def _rows_of(db, days: list[date]) -> int:
    return db.execute(
        "SELECT count(*) FROM options_chains WHERE time::date = ANY(%s)", (days,)
    ).fetchone()[0]


def test_range_run_records_every_session_and_stores_the_direct_numbers(filled, instance):
    result = _materialize_range(instance, filled, RANGE[0], RANGE[-1])
    assert result.success
    mats = {m.partition: m for m in result.asset_materializations_for_node("dealer_metrics")}
    assert sorted(mats) == [d.isoformat() for d in RANGE]
    for day in RANGE:
        md = mats[day.isoformat()].metadata
        assert md["symbols"].value == 2 and md["dagster/row_count"].value == 2
        assert "| QQQ |" in md["summary"].value and "| SPY |" in md["summary"].value
    # every partition has its own result for every check
    evaluations = result.get_asset_check_evaluations()
    assert {(e.partition, e.check_name) for e in evaluations} == {
        (d.isoformat(), c) for d in RANGE for c in CHECKS
    }
    assert all(e.passed for e in evaluations)

    with psycopg.connect(filled, autocommit=True) as db:
        stored = {
            (r[0], r[1]): r[2:]
            for r in db.execute(
                "SELECT t.symbol, m.as_of, m.gex_net::float8, m.gex_total::float8, "
                "m.gamma_flip::float8, m.call_wall::float8, m.put_wall::float8, "
                "m.abs_gamma_strike::float8, m.gex_slope::float8, m.status, m.confidence, "
                "m.days_present, m.eligible_contracts, m.document->'window' "
                "FROM dealer_metrics m JOIN tickers t ON t.id = m.ticker_id"
            ).fetchall()
        }
        assert set(stored) == {(s, d) for s in SYMBOLS for d in RANGE}
        direct = {(s, d): _direct(db, s, d) for s in SYMBOLS for d in SESSIONS}
    for (symbol, day), row in stored.items():
        m = direct[(symbol, day)]
        expected = (
            m.gex_net,
            m.gex_total,
            m.flip,
            m.call_walls[0].strike,
            m.put_walls[0].strike,
            m.abs_gamma_strike,
            m.gex_slope,
        )
        assert row[:7] == pytest.approx(expected, rel=1e-12), (symbol, day)
        assert (row[7], row[10]) == (m.status, m.eligible_contracts)
        window_days = [d for d in SESSIONS if d <= day][-5:]
        summary = summarize_window(
            {d: direct[(symbol, d)] for d in window_days}, as_of=day, params=WindowParams()
        )
        assert (row[8], row[9]) == (summary.confidence, summary.days_present)
        assert row[11]["days"] == [d.isoformat() for d in window_days]
        assert row[11]["confidence_reasons"] == list(summary.confidence_reasons)
        assert row[11]["gex_net_slope"] == pytest.approx(summary.gex_net_slope, rel=1e-9)


def test_window_over_christmas_counts_sessions_not_weekdays(filled, instance):
    assert _materialize_range(instance, filled, date(2025, 12, 24), date(2025, 12, 30)).success
    with psycopg.connect(filled, autocommit=True) as db:
        windows = dict(
            db.execute(
                "SELECT DISTINCT as_of, document->'window'->'days' FROM dealer_metrics"
            ).fetchall()
        )
        presence = {
            r[0]
            for r in db.execute(
                "SELECT document->'window'->'confidence_reasons'->>0 FROM dealer_metrics"
            ).fetchall()
        }
    # 2025-12-25 is no session: the windows skip it and still hold 5 sessions each
    assert windows[date(2025, 12, 26)] == [
        "2025-12-19",
        "2025-12-22",
        "2025-12-23",
        "2025-12-24",
        "2025-12-26",
    ]
    assert windows[date(2025, 12, 29)][0] == "2025-12-22"
    assert all(len(days) == 5 and "2025-12-25" not in days for days in windows.values())
    assert presence == {"high: presence: 5/5 sessions valid"}


def test_each_chain_of_a_range_is_read_once(filled):
    def run(conn, stats):
        list(
            compute_dealer_range(
                conn,
                days=RANGE,
                params=MetricsParams(),
                window=WindowParams(),
                reuse_stored=False,
                stats=stats,
            )
        )

    fetched, stats = _counted(filled, run)
    with psycopg.connect(filled, autocommit=True) as db:
        # the union of the windows of 12-19..12-31 is every stored session
        assert fetched == _rows_of(db, SESSIONS)
    assert (stats.chains_read, stats.computed, stats.reused) == (24, 24, 0)
    assert stats.chain_queries == len(SESSIONS)

    # the same range one session at a time reads each chain up to 5 times
    def per_day(conn, stats):
        for day in RANGE:
            compute_dealer_day(
                conn, day=day, params=MetricsParams(), window=WindowParams(), reuse_stored=False
            )

    fetched_per_day, _ = _counted(filled, per_day)
    assert fetched_per_day > 3 * fetched


def test_rerun_replaces_rows(filled, instance):
    assert _materialize_range(instance, filled, RANGE[0], RANGE[-1]).success
    with psycopg.connect(filled, autocommit=True) as db:
        first = db.execute(
            "SELECT ticker_id, as_of, gex_net, document, computed_at FROM dealer_metrics "
            "ORDER BY 1, 2"
        ).fetchall()
        assert _materialize_range(instance, filled, RANGE[0], RANGE[-1]).success
        again = db.execute(
            "SELECT ticker_id, as_of, gex_net, document, computed_at FROM dealer_metrics "
            "ORDER BY 1, 2"
        ).fetchall()
    assert len(first) == len(again) == len(RANGE) * len(SYMBOLS)
    assert [r[:4] for r in again] == [r[:4] for r in first]
    assert all(b[4] > a[4] for a, b in zip(first, again, strict=True))  # rewritten


def _one_day(day: date, **params):
    def run(conn, stats):
        (report,) = compute_dealer_range(
            conn,
            days=[day],
            params=MetricsParams(**params),
            window=WindowParams(),
            stats=stats,
        )
        run.report = report  # type: ignore[attr-defined]

    return run


def test_a_single_day_reuses_stored_results_only_when_computed_the_same_way(filled, instance):
    day = date(2025, 12, 29)
    earlier = [d for d in SESSIONS if d < day][-4:]
    assert _materialize_range(instance, filled, earlier[0], earlier[-1]).success
    with psycopg.connect(filled, autocommit=True) as db:
        own_rows, window_rows = _rows_of(db, [day]), _rows_of(db, [*earlier, day])

    # same model version and parameters: only D's own chain is read
    run = _one_day(day)
    fetched, stats = _counted(filled, run)
    assert (fetched, stats.reused, stats.computed) == (own_rows, 8, 2)
    reused = {r.symbol: r.window for r in run.report.results}  # type: ignore[attr-defined]

    # different parameters: refused, the whole window is recomputed
    fetched, stats = _counted(filled, _one_day(day, min_open_interest=50.0))
    assert (fetched, stats.reused, stats.computed) == (window_rows, 0, 10)

    # the same summary as a full recomputation
    run = _one_day(day)

    def recompute(conn, stats):
        (report,) = compute_dealer_range(
            conn, days=[day], params=MetricsParams(), window=WindowParams(), reuse_stored=False
        )
        run.report = report  # type: ignore[attr-defined]

    _counted(filled, recompute)
    full = {r.symbol: r.window for r in run.report.results}  # type: ignore[attr-defined]
    for symbol in SYMBOLS:
        assert reused[symbol].to_dict() == full[symbol].to_dict()  # JSON round-trips floats

    with psycopg.connect(filled, autocommit=True) as db:
        # another model version: refused
        db.execute("UPDATE dealer_metrics SET model_version = 'dealer-metrics/0'")
        fetched, stats = _counted(filled, _one_day(day))
        assert (fetched, stats.reused) == (window_rows, 0)
        # a chain re-ingested after its stored result: refused for that session
        db.execute("UPDATE dealer_metrics SET model_version = %s", (MODEL_VERSION,))
        db.execute(
            "UPDATE option_chain_snapshots SET completed_at = now() + interval '1 hour' "
            "WHERE as_of = %s",
            (earlier[0],),
        )
        fetched, stats = _counted(filled, _one_day(day))
        assert (fetched, stats.reused) == (
            _rows_of(db, [earlier[0], day]),
            len(SYMBOLS) * 3,
        )
