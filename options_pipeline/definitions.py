"""The code location's single Definitions object."""

from __future__ import annotations

from dagster import Definitions

from options_pipeline.assets.dealer_metrics import dealer_metrics
from options_pipeline.assets.options_chains import options_chains
from options_pipeline.automation import dealer_metrics_automation
from options_pipeline.resources import database_resource_from_env, provider_resource_from_env
from options_pipeline.schedules import after_close_schedule

defs = Definitions(
    assets=[options_chains, dealer_metrics],
    sensors=[dealer_metrics_automation],
    schedules=[after_close_schedule],
    resources={
        "database": database_resource_from_env(),
        "provider": provider_resource_from_env(),
    },
)
