"""Polygon.io (Massive) as a resource; the API key is only ever an `EnvVar` reference."""

from __future__ import annotations

import os
from typing import Any, Self

from dagster import EnvVar

from options_pipeline.providers.polygon import API_KEY_ENV_VARS, DEFAULT_BASE_URL, PolygonProvider
from options_pipeline.resources.provider import HttpProviderResource


class PolygonProviderResource(HttpProviderResource):
    """Provider "polygon": chain snapshots and historical aggregates over HTTPS."""

    provider_name = "polygon"
    api_key: str | None = None  # EnvVar("MASSIVE_API_KEY" or "POLYGON_API_KEY"), never a literal
    base_url: str = DEFAULT_BASE_URL
    rate_limit_per_minute: float = 5.0  # the free plan's limit
    # the span over which the server counts them: "per minute" (Polygon's 429 says so); the
    # limiter never lets more than rate x window arrive within any such span
    rate_limit_window_seconds: float = 60.0

    def build_provider(self) -> PolygonProvider:
        return PolygonProvider(api_key=self.api_key, base_url=self.base_url, **self.http_settings())

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
            **cls.env_http_settings(
                "POLYGON",
                "rate_limit_per_minute",
                "rate_limit_window_seconds",
                "connect_timeout",
                "read_timeout",
                "max_retries",
            ),
        )
