"""Declarative automation: one sensor drives the after-close load and the dealer metrics.

options_chains — after the close: the latest partition (today's session) once the 17:30 New York
cron tick has passed, unless already running. Dagster's on_cron() would also wait for every
upstream asset to update, and the upstreams here (tickers, watchlists) are external.

dealer_metrics — catch-up, not just "latest": `AutomationCondition.eager()` requests only the latest
partition and only on an upstream change seen while the sensor runs, so history that landed before
the sensor started would never get metrics. Instead a partition is requested when it is missing
and its window (the N sessions ending on it) is complete, or when an upstream partition of its
window was newly materialized (a re-run that wrote nothing emits no materialization, so it
triggers nothing). A partition whose last run failed is not retried in a loop: it waits for an
upstream update.
"""

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
)

from options_pipeline.calendar import MARKET_TIMEZONE

AFTER_CLOSE_CRON = "30 17 * * 1-5"  # 17:30 New York: 90 minutes after the regular close

# cron_tick_passed is generic in its key type with nothing to infer it from; since_last_handled
# is defined for asset-or-check conditions, so the key type is stated here
after_close_tick: AutomationCondition[AssetKey | AssetCheckKey] = (
    AutomationCondition.cron_tick_passed(AFTER_CLOSE_CRON, MARKET_TIMEZONE)
)

options_chains_condition = (
    AutomationCondition.in_latest_time_window()
    & after_close_tick.since_last_handled()
    & ~AutomationCondition.in_progress()
).with_label("after_close")

dealer_metrics_condition = (
    (
        (AutomationCondition.missing() & ~AutomationCondition.execution_failed()).with_label(
            "missing_not_failed"
        )
        | AutomationCondition.any_deps_updated().since_last_handled()
    )
    & ~AutomationCondition.any_deps_missing()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("window_complete")

options_automation = AutomationConditionSensorDefinition(
    "options_automation",
    target=AssetSelection.assets("options_chains", "dealer_metrics"),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
