"""The code location's single Definitions object."""

from __future__ import annotations

from dagster import Definitions

from options_pipeline.assets.options_chains import options_chains
from options_pipeline.resources import database_resource_from_env, provider_resource_from_env
from options_pipeline.schedules import after_close_schedule


defs = Definitions(
    assets=[options_chains],
    schedules=[after_close_schedule],
    resources={
        "database": database_resource_from_env(),
        "provider": provider_resource_from_env(),
    },
)
