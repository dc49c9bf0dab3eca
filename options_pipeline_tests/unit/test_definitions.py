from dagster import Definitions

from options_pipeline.definitions import defs
from options_pipeline.partitions import trading_days


def test_definitions_load():
    assert isinstance(defs, Definitions)
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"options_chains", "dealer_metrics", "tickers", "watchlists"} <= keys
    # one automation sensor drives everything; no schedule
    assert [s.name for s in repo.sensor_defs] == ["options_automation"]
    assert not repo.schedule_defs
    chains = repo.assets_defs_by_key[__import__("dagster").AssetKey("options_chains")]
    assert {k.to_user_string() for k in chains.asset_deps[chains.key]} == {"tickers", "watchlists"}


def test_partitions_are_sessions_christmas_is_not_a_partition():
    keys = trading_days.get_partition_keys_in_range(
        __import__("dagster").PartitionKeyRange("2025-12-22", "2026-01-02")
    )
    assert keys == [
        "2025-12-22",
        "2025-12-23",
        "2025-12-24",
        "2025-12-26",
        "2025-12-29",
        "2025-12-30",
        "2025-12-31",
        "2026-01-02",
    ]


def test_partition_keys_2022_2026_are_weekdays_minus_published_closures():
    from datetime import date, timedelta

    from options_pipeline_tests.unit.test_calendar import PUBLISHED_CLOSURES

    keys = trading_days.get_partition_keys_in_range(
        __import__("dagster").PartitionKeyRange("2022-01-03", "2026-12-31")
    )
    days = (date(2022, 1, 3) + timedelta(n) for n in range(1824))  # ..2026-12-31
    assert keys == [d.isoformat() for d in days if d.weekday() < 5 and d not in PUBLISHED_CLOSURES]


def test_partitions_are_weekdays_only():
    keys = trading_days.get_partition_keys_in_range(
        __import__("dagster").PartitionKeyRange("2025-12-15", "2025-12-22")
    )
    assert keys == [
        "2025-12-15",
        "2025-12-16",
        "2025-12-17",
        "2025-12-18",
        "2025-12-19",
        "2025-12-22",
    ]


def test_the_cli_runs_the_code_locations_own_job():
    from options_pipeline.cli_runner import options_chains_job_def

    assert options_chains_job_def() is defs.resolve_job_def("options_chains_job")


def test_runs_that_name_no_logger_keep_dagsters_default_console():
    # the CLI selects cli_console through run config; "console" stays selectable by name
    loggers = defs.resolve_job_def("options_chains_job").loggers
    assert set(loggers) == {"console", "cli_console"}
    assert loggers["console"] is __import__("dagster").colored_console_logger
