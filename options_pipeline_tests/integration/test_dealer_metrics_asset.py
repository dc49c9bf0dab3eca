"""dealer_metrics through real Dagster execution on a real PostgreSQL, from sample-market chains."""

from datetime import date

import pytest
from dagster import DagsterInstance, instance_for_test, materialize
from psycopg.conninfo import conninfo_to_dict

from options_pipeline.assets.dealer_metrics import dealer_metrics
from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.ingest import ingest_day
from options_pipeline.providers.sample import SampleProvider
from options_pipeline.resources import PostgresResource
from options_pipeline_tests.conftest import TEMPLATE_DB, cloned_database

WEEK = [date(2025, 12, d) for d in (15, 16, 17, 18, 19)]


@pytest.fixture
def instance() -> DagsterInstance:
    with instance_for_test() as inst:
        yield inst


@pytest.fixture(scope="module")
def filled_template(server_url: str, template_url: str):
    """A database with SPY and QQQ ingested from the sample market for the week of 2025-12-15,
    filled once per module and cloned for every test."""
    with cloned_database(server_url, TEMPLATE_DB) as url:
        provider = SampleProvider(contracts_per_symbol=400)
        with connection(url) as conn:
            store.add_to_watchlist(conn, "demo", ["SPY", "QQQ"])
            for day in WEEK:
                assert ingest_day(conn, provider=provider, day=day).complete
        yield conninfo_to_dict(url)["dbname"]


@pytest.fixture
def database_url(server_url: str, filled_template: str):
    with cloned_database(server_url, filled_template) as url:
        yield url


@pytest.fixture
def filled(database_url):
    return database_url


def _materialize(instance, url, day: date, **config):
    return materialize(
        [dealer_metrics], partition_key=day.isoformat(), instance=instance,
        resources={"database": PostgresResource(database_url=url)},
        run_config={"ops": {"dealer_metrics": {"config": config}}} if config else None,
        raise_on_error=False, selection=None,
    )


def _stored(db, day: date):
    return db.execute(
        "SELECT t.symbol, m.status, m.confidence, m.days_present, m.gex_net::float8, "
        "m.gamma_flip::float8, m.document->'window'->>'days_present', "
        "m.document->'window'->'confidence_reasons'->>0 "
        "FROM dealer_metrics m JOIN tickers t ON t.id = m.ticker_id WHERE m.as_of = %s "
        "ORDER BY 1", (day,)).fetchall()


def test_full_window_is_high_confidence_and_rerun_is_idempotent(filled, db, instance):
    result = _materialize(instance, filled, WEEK[-1])
    assert result.success
    rows = _stored(db, WEEK[-1])
    assert [r[0] for r in rows] == ["QQQ", "SPY"]
    # presence is high; the sample market's walls move, so the overall grade may be lower
    assert all(r[7] == "high: presence: 5/5 sessions valid" and r[3] == 5 and r[6] == "5"
               for r in rows)
    assert all(r[1] in ("FULL", "LIMITED") for r in rows)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"flip_within_grid": True, "walls_within_range": True,
                      "no_nan_stored": True}
    again = _materialize(instance, filled, WEEK[-1])
    assert again.success
    assert _stored(db, WEEK[-1]) == rows
    assert db.execute("SELECT count(*) FROM dealer_metrics").fetchone()[0] == 2


def test_earlier_day_missing_degrades_confidence(filled, db, instance):
    db.execute("DELETE FROM option_chain_snapshots WHERE as_of = %s", (WEEK[1],))
    assert _materialize(instance, filled, WEEK[-1]).success
    assert {r[7] for r in _stored(db, WEEK[-1])} == {"medium: presence: 4/5 sessions valid"}
    assert {r[2] for r in _stored(db, WEEK[-1])} <= {"medium", "low"}
    assert {r[3] for r in _stored(db, WEEK[-1])} == {4}


def test_own_day_missing_fails_naming_date_and_symbol(filled, db, instance):
    db.execute("DELETE FROM option_chain_snapshots s USING tickers t WHERE t.id = s.ticker_id "
               "AND t.symbol = 'QQQ' AND s.as_of = %s", (WEEK[-1],))
    result = _materialize(instance, filled, WEEK[-1])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "(2025-12-19, QQQ)" in failure.step_failure_data.error.message
    assert [r[0] for r in _stored(db, WEEK[-1])] == ["SPY"]  # the present symbol is still stored


def test_sign_convention_switch_negates_net_gex(filled, db, instance):
    assert _materialize(instance, filled, WEEK[-1]).success
    default = {r[0]: r[4] for r in _stored(db, WEEK[-1])}
    assert _materialize(instance, filled, WEEK[-1],
                        convention="dealer_short_calls_long_puts").success
    flipped = {r[0]: r[4] for r in _stored(db, WEEK[-1])}
    assert flipped == pytest.approx({k: -v for k, v in default.items()})

