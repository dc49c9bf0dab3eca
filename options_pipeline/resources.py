"""Dagster resources, configured from the environment: the database and the options provider."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dagster import ConfigurableResource, EnvVar

from options_pipeline import settings
from options_pipeline.db.connection import apply_schema, resolve_database_url
from options_pipeline.providers.base import OptionsProvider
from options_pipeline.providers.registry import build_provider

PROVIDERS_LOGGER = "options_pipeline.providers"


class PostgresResource(ConfigurableResource):
    """The PostgreSQL holding the chains: `database_url`, or the embedded server when unset."""

    database_url: str | None = None
    state_dir: str | None = None

    def url(self) -> str:
        """The DSN, with the schema applied (idempotent, cheap when already there)."""
        state = Path(self.state_dir) if self.state_dir else settings.state_dir()
        url = resolve_database_url(state, self.database_url)
        apply_schema(url)
        return url


class ProviderResource(ConfigurableResource):
    """Which provider plugin serves the chains, and its settings (the API key only via EnvVar)."""

    name: str = "sample"
    polygon_api_key: str | None = None
    polygon_base_url: str = "https://api.polygon.io"
    polygon_rate_limit_per_minute: float = 5.0
    polygon_read_timeout: float = 30.0  # seconds per request
    polygon_max_retries: int = 4  # per request, on 429 / 5xx / timeouts
    sample_contracts_per_symbol: int = 6000
    # DEBUG lines for every HTTP request, rate-limit sleep and retry. Off by default: in a run
    # they are stored as events, which costs about 30% of an HTTP backfill's time.
    log_requests: bool = False

    def build(self) -> OptionsProvider:
        logging.getLogger(PROVIDERS_LOGGER).setLevel(
            logging.DEBUG if self.log_requests else logging.INFO)
        return build_provider(
            self.name,
            polygon_api_key=self.polygon_api_key,
            polygon_base_url=self.polygon_base_url,
            polygon_rate_limit_per_minute=self.polygon_rate_limit_per_minute,
            polygon_read_timeout=self.polygon_read_timeout,
            polygon_max_retries=self.polygon_max_retries,
            sample_contracts_per_symbol=self.sample_contracts_per_symbol,
        )


def provider_resource_from_env(
    name: str | None = None, *, log_requests: bool = False
) -> ProviderResource:
    """The provider resource as the environment configures it; secrets stay EnvVar references,
    resolved in the run worker, so their values never reach the UI or run config."""
    fields: dict[str, object] = {
        "name": name or os.environ.get("OPTIONS_PIPELINE_PROVIDER", "sample"),
        "log_requests": log_requests,
    }
    for env, field in (("POLYGON_API_KEY", "polygon_api_key"),
                       ("POLYGON_BASE_URL", "polygon_base_url")):
        if os.environ.get(env):
            fields[field] = EnvVar(env)
    for env, field, kind in (
        ("POLYGON_RATE_LIMIT_PER_MINUTE", "polygon_rate_limit_per_minute", float),
        ("POLYGON_READ_TIMEOUT", "polygon_read_timeout", float),
        ("POLYGON_MAX_RETRIES", "polygon_max_retries", int),
        ("SAMPLE_CONTRACTS_PER_SYMBOL", "sample_contracts_per_symbol", int),
    ):
        if os.environ.get(env):
            try:
                fields[field] = kind(os.environ[env])
            except ValueError:
                value = os.environ[env]
                raise ValueError(f"{env}={value!r} is not a valid {kind.__name__}") from None
    return ProviderResource(**fields)


def database_resource_from_env() -> PostgresResource:
    """DATABASE_URL as an EnvVar reference when set (its password never lands in run storage)."""
    return PostgresResource(database_url=EnvVar("DATABASE_URL")
                            if os.environ.get("DATABASE_URL") else None)
