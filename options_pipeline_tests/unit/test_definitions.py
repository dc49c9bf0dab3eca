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


def test_the_cli_runs_the_code_locations_own_job():
    from options_pipeline.cli_runner import options_chains_job_def

    assert options_chains_job_def() is defs.resolve_job_def("options_chains_job")


def test_runs_that_name_no_logger_keep_dagsters_default_console():
    # the CLI selects cli_console through run config; "console" stays selectable by name
    loggers = defs.resolve_job_def("options_chains_job").loggers
    assert set(loggers) == {"console", "cli_console"}
    assert loggers["console"] is __import__("dagster").colored_console_logger
