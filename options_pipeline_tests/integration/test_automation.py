"""The dealer_metrics sensor's condition requests every day whose upstream window has landed —
backfilled history included — evaluated by Dagster itself (no daemon needed)."""

from dagster import (
    AssetKey,
    Definitions,
    evaluate_automation_conditions,
    instance_for_test,
    materialize,
)

from options_pipeline.assets.dealer_metrics import dealer_metrics
from options_pipeline.assets.options_chains import options_chains
from options_pipeline.automation import dealer_metrics_automation
from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.resources import PostgresResource, SampleProviderResource


def test_backfilled_windows_request_dealer_metrics(database_url):
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "demo", ["SPY"])
    resources = {"database": PostgresResource(database_url=database_url),
                 "provider": SampleProviderResource(contracts_per_symbol=200)}
    defs = Definitions(assets=[options_chains, dealer_metrics], resources=resources)
    with instance_for_test() as instance:
        # the sensor is already running (its first tick) when the backfill lands
        before = evaluate_automation_conditions(defs=defs, instance=instance)
        assert not before.get_requested_partitions(AssetKey("dealer_metrics"))
        result = materialize([options_chains], instance=instance, resources=resources, tags={
            "dagster/asset_partition_range_start": "2025-12-15",
            "dagster/asset_partition_range_end": "2025-12-22"})
        assert result.success
        evaluation = evaluate_automation_conditions(defs=defs, instance=instance,
                                                    cursor=before.cursor)
        requested = evaluation.get_requested_partitions(AssetKey("dealer_metrics"))
    # the 5-weekday windows fully inside 2025-12-15..22 end on the 19th and the 22nd
    assert requested == {"2025-12-19", "2025-12-22"}


def test_the_sensor_runs_by_default_and_targets_dealer_metrics():
    from dagster import DefaultSensorStatus

    from options_pipeline.definitions import defs

    sensor = defs.get_repository_def().get_sensor_def("dealer_metrics_automation")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert dealer_metrics_automation.default_status == DefaultSensorStatus.RUNNING
