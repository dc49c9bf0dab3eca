from dagster import Definitions

from options_pipeline.definitions import defs
from options_pipeline.partitions import trading_days


def test_definitions_load():
    assert isinstance(defs, Definitions)
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert "options_chains" in keys
    assert repo.get_schedule_def("after_close_schedule")


def test_partitions_are_weekdays_only():
    keys = trading_days.get_partition_keys_in_range(
        __import__("dagster").PartitionKeyRange("2025-12-15", "2025-12-22"))
    assert keys == ["2025-12-15", "2025-12-16", "2025-12-17", "2025-12-18", "2025-12-19",
                    "2025-12-22"]
