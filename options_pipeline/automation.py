"""The sensor that requests dealer_metrics for every day whose options_chains window has landed.

`AutomationCondition.eager()` alone only requests the latest partition; dealer_metrics drops the
"latest time window" part, so backfilled history gets metrics too. Dagster's default automation
sensor starts stopped, hence this one, running by default.
"""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

dealer_metrics_automation = AutomationConditionSensorDefinition(
    "dealer_metrics_automation",
    target=AssetSelection.assets("dealer_metrics"),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
