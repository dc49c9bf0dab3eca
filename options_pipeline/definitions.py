"""The code location's single Definitions object: the UI, the daemon, `dagster asset
materialize` and the `ingest_options` CLI all run these definitions."""

from __future__ import annotations

from dagster import Definitions, colored_console_logger

from options_pipeline.assets.dealer_metrics import dealer_metrics
from options_pipeline.assets.options_chains import options_chains, tickers, watchlists
from options_pipeline.automation import options_automation
from options_pipeline.jobs import options_chains_job
from options_pipeline.loggers import CLI_CONSOLE, cli_console
from options_pipeline.partitions import partitions_start
from options_pipeline.resources import PostgresResource, provider_resource_from_env

partitions_start()  # a malformed OPTIONS_PIPELINE_START_DATE fails the load with one line

defs = Definitions(
    assets=[tickers, watchlists, options_chains, dealer_metrics],
    jobs=[options_chains_job],
    sensors=[options_automation],
    resources={
        "database": PostgresResource.from_env(),
        # $OPTIONS_PIPELINE_PROVIDER (default "sample"); ingest_options binds its --provider
        "provider": provider_resource_from_env(),
    },
    # Naming loggers replaces Dagster's defaults, so "console" is listed again for run config
    # that selects it; a run that configures none still gets the default console.
    loggers={"console": colored_console_logger, CLI_CONSOLE: cli_console},
)
