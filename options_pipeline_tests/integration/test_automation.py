"""The automation conditions, evaluated by Dagster itself (no daemon needed): dealer_metrics
catches up on every complete window (history that landed before the sensor included, windows
around holidays), never loops on a failure, ignores upstream runs that wrote nothing; and
options_chains loads today's session after the close."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    evaluate_automation_conditions,
    instance_for_test,
    materialize,
)

from options_pipeline.assets.dealer_metrics import dealer_metrics
from options_pipeline.assets.options_chains import options_chains, tickers, watchlists
from options_pipeline.automation import options_automation
from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.resources import PostgresResource, SampleProviderResource

DEALER = AssetKey("dealer_metrics")
CHAINS = AssetKey("options_chains")
NY = ZoneInfo("America/New_York")


@pytest.fixture
def instance() -> DagsterInstance:
    with instance_for_test() as inst:
        yield inst


@pytest.fixture
def setup(database_url):
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "demo", ["SPY"])
    resources = {
        "database": PostgresResource(database_url=database_url),
        "provider": SampleProviderResource(contracts_per_symbol=200),
    }
    defs = Definitions(
        assets=[tickers, watchlists, options_chains, dealer_metrics], resources=resources
    )
    return defs, resources


def _load(instance, resources, start: str, end: str) -> None:
    result = materialize(
        [options_chains],
        instance=instance,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": end,
        },
    )
    assert result.success


def _dealer_requests(defs, instance, cursor=None):
    result = evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=cursor, asset_selection=AssetSelection.assets(DEALER)
    )
    return result.get_requested_partitions(DEALER), result.cursor


def test_backfilled_windows_request_dealer_metrics(setup, instance):
    defs, resources = setup
    # the sensor is already running (its first tick) when the backfill lands
    before, cursor = _dealer_requests(defs, instance)
    assert not before
    _load(instance, resources, "2025-12-15", "2025-12-22")
    requested, _ = _dealer_requests(defs, instance, cursor)
    # the 5-session windows fully inside 2025-12-15..22 end on the 19th and the 22nd
    assert requested == {"2025-12-19", "2025-12-22"}


def test_history_landed_before_the_sensor_started_and_christmas_windows(setup, instance):
    defs, resources = setup
    _load(instance, resources, "2025-12-15", "2026-01-02")  # over Christmas and New Year
    requested, _ = _dealer_requests(defs, instance)  # the sensor's very first tick
    # sessions (NYSE closed 12-25 and 01-01) whose 5-session window is inside the load
    assert requested == {
        "2025-12-19",
        "2025-12-22",
        "2025-12-23",
        "2025-12-24",
        "2025-12-26",
        "2025-12-29",
        "2025-12-30",
        "2025-12-31",
        "2026-01-02",
    }


def test_failed_partition_is_not_retried_and_noop_upstream_triggers_nothing(
    setup, instance, database_url
):
    defs, resources = setup
    _load(instance, resources, "2025-12-15", "2025-12-22")
    with connection(database_url) as conn:  # D's snapshot vanishes: its dealer run fails
        conn.execute("DELETE FROM option_chain_snapshots WHERE as_of = '2025-12-19'")
    failed = materialize(
        [dealer_metrics],
        partition_key="2025-12-19",
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not failed.success
    assert materialize(
        [dealer_metrics], partition_key="2025-12-22", instance=instance, resources=resources
    ).success
    first, cursor = _dealer_requests(defs, instance)
    assert first == set()  # 12-19 failed (not retried in a loop), 12-22 done
    second, cursor = _dealer_requests(defs, instance, cursor)
    assert second == set()
    # re-running complete upstream days writes nothing and emits no materialization...
    _load(instance, resources, "2025-12-15", "2025-12-18")
    _load(instance, resources, "2025-12-22", "2025-12-22")
    third, cursor = _dealer_requests(defs, instance, cursor)
    assert third == set()  # ...so nothing is recomputed
    # a real upstream update (12-19 re-ingested) does retry the failed partition
    _load(instance, resources, "2025-12-19", "2025-12-19")
    fourth, _ = _dealer_requests(defs, instance, cursor)
    assert fourth == {"2025-12-19", "2025-12-22"}


def _chains_requests(defs, instance, when: datetime, cursor=None):
    result = evaluate_automation_conditions(
        defs=defs,
        instance=instance,
        cursor=cursor,
        evaluation_time=when,
        asset_selection=AssetSelection.assets(CHAINS),
    )
    return result.get_requested_partitions(CHAINS), result.cursor


def test_after_close_requests_todays_session_once(setup, instance):
    defs, _ = setup
    before, cursor = _chains_requests(defs, instance, datetime(2025, 12, 22, 17, 0, tzinfo=NY))
    assert before == set()
    after, cursor = _chains_requests(
        defs, instance, datetime(2025, 12, 22, 17, 31, tzinfo=NY), cursor
    )
    assert after == {"2025-12-22"}
    later, _ = _chains_requests(defs, instance, datetime(2025, 12, 22, 17, 45, tzinfo=NY), cursor)
    assert later == set()  # handled: one request per tick


def test_one_sensor_runs_by_default_and_targets_both_assets():
    from options_pipeline.definitions import defs

    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("options_automation")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert options_automation.default_status == DefaultSensorStatus.RUNNING
    assert not repo.schedule_defs
