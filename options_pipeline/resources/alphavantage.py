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
from options_pipeline.resources.provider import HttpProviderResource


class AlphaVantageProviderResource(HttpProviderResource):
    """Provider "alphavantage": HISTORICAL_OPTIONS, spot from TIME_SERIES_DAILY or parity."""

    provider_name = "alphavantage"
    api_key: str | None = None  # bind EnvVar("ALPHAVANTAGE_API_KEY"), never a literal
    base_url: str = DEFAULT_BASE_URL
    rate_limit_per_minute: float = DEFAULT_RATE_LIMIT_PER_MINUTE  # the smallest premium plan
    read_timeout: float = 60.0  # seconds per request

    def build_provider(self) -> AlphaVantageProvider:
        return AlphaVantageProvider(
            api_key=self.api_key, base_url=self.base_url, **self.http_settings()
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
        return cls(**strings, **cls.env_http_settings("ALPHAVANTAGE", "rate_limit_per_minute"))
