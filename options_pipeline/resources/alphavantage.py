"""Alpha Vantage as a resource; the API key is only ever an `EnvVar` reference."""

from __future__ import annotations

import os
from typing import Any, Self

from dagster import EnvVar

from options_pipeline.providers.alphavantage import (
    DEFAULT_BASE_URL,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    AlphaVantageProvider,
)
from options_pipeline.resources.provider import ProviderResource, env_number, require_number

MAX_RATE_PER_MINUTE = 1_000_000.0
MAX_TIMEOUT_SECONDS = 600.0
MAX_RETRIES = 20


class AlphaVantageProviderResource(ProviderResource):
    """Provider "alphavantage": HISTORICAL_OPTIONS, spot from TIME_SERIES_DAILY or parity."""

    provider_name = "alphavantage"
    api_key: str | None = None  # bind EnvVar("ALPHAVANTAGE_API_KEY"), never a literal
    base_url: str = DEFAULT_BASE_URL
    rate_limit_per_minute: float = DEFAULT_RATE_LIMIT_PER_MINUTE  # the smallest premium plan
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 60.0  # seconds per request
    max_retries: int = 4  # per request, on rate-limit answers / 5xx / timeouts

    def build_provider(self) -> AlphaVantageProvider:
        return AlphaVantageProvider(
            api_key=self.api_key,
            base_url=self.base_url,
            rate_limit_per_minute=require_number(
                "rate_limit_per_minute", self.rate_limit_per_minute, 1e-3, MAX_RATE_PER_MINUTE
            ),
            connect_timeout=require_number(
                "connect_timeout", self.connect_timeout, 1e-3, MAX_TIMEOUT_SECONDS
            ),
            read_timeout=require_number(
                "read_timeout", self.read_timeout, 1e-3, MAX_TIMEOUT_SECONDS
            ),
            max_retries=require_number("max_retries", self.max_retries, 0, MAX_RETRIES),
        )

    @classmethod
    def from_env(cls) -> Self:
        strings: dict[str, Any] = {
            field: EnvVar(env)
            for field, env in (
                ("api_key", "ALPHAVANTAGE_API_KEY"),
                ("base_url", "ALPHAVANTAGE_BASE_URL"),
            )
            if os.environ.get(env)
        }
        return cls(
            **strings,
            rate_limit_per_minute=env_number(
                "ALPHAVANTAGE_RATE_LIMIT_PER_MINUTE",
                float,
                DEFAULT_RATE_LIMIT_PER_MINUTE,
                1e-3,
                MAX_RATE_PER_MINUTE,
            ),
        )
