"""Weekdays after the US close: materialize that day's options_chains partition (off by default)."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from options_pipeline.partitions import MARKET_TIMEZONE

options_chains_job = define_asset_job(
    "options_chains_job", selection=AssetSelection.assets("options_chains")
)


@schedule(
    job=options_chains_job,
    cron_schedule="30 17 * * 1-5",
    execution_timezone=MARKET_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
)
def after_close_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return RunRequest(run_key=f"options_chains:{day}", partition_key=day)
