"""Polygon.io (Massive) as a resource; the API key is only ever an `EnvVar` reference."""

from __future__ import annotations

import os
from typing import Any, Self

from dagster import EnvVar

from options_pipeline.providers.polygon import API_KEY_ENV_VARS, DEFAULT_BASE_URL, PolygonProvider
from options_pipeline.resources.provider import ProviderResource, env_number, require_number

MAX_RATE_PER_MINUTE = 1_000_000.0
MAX_TIMEOUT_SECONDS = 600.0
MAX_RETRIES = 20


class PolygonProviderResource(ProviderResource):
    """Provider "polygon": chain snapshots and historical aggregates over HTTPS."""

    provider_name = "polygon"
    api_key: str | None = None  # EnvVar("MASSIVE_API_KEY" or "POLYGON_API_KEY"), never a literal
    base_url: str = DEFAULT_BASE_URL
    rate_limit_per_minute: float = 5.0  # the free plan's limit
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 30.0  # seconds per request
    max_retries: int = 4  # per request, on 429 / 5xx / timeouts

    def build_provider(self) -> PolygonProvider:
        return PolygonProvider(
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
            for field, env in (("base_url", "POLYGON_BASE_URL"),)
            if os.environ.get(env)
        }
        key_env = next((env for env in API_KEY_ENV_VARS if os.environ.get(env)), None)
        if key_env:  # Polygon is now Massive: MASSIVE_API_KEY first, POLYGON_API_KEY still works
            strings["api_key"] = EnvVar(key_env)
        return cls(
            **strings,
            rate_limit_per_minute=env_number(
                "POLYGON_RATE_LIMIT_PER_MINUTE", float, 5.0, 1e-3, MAX_RATE_PER_MINUTE
            ),
            connect_timeout=env_number(
                "POLYGON_CONNECT_TIMEOUT", float, 5.0, 1e-3, MAX_TIMEOUT_SECONDS
            ),
            read_timeout=env_number("POLYGON_READ_TIMEOUT", float, 30.0, 1e-3, MAX_TIMEOUT_SECONDS),
            max_retries=env_number("POLYGON_MAX_RETRIES", int, 4, 0, MAX_RETRIES),
        )
