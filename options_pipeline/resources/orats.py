"""ORATS as a resource; the API token is only ever an `EnvVar` reference."""

from __future__ import annotations

import os
from typing import Any, Self

from dagster import EnvVar

from options_pipeline.providers.orats import (
    DEFAULT_BASE_URL,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    OratsProvider,
)
from options_pipeline.resources.provider import HttpProviderResource


class OratsProviderResource(HttpProviderResource):
    """Provider "orats": `/datav2/hist/strikes`, one request per symbol-day."""

    provider_name = "orats"
    api_token: str | None = None  # bind EnvVar("ORATS_API_TOKEN"), never a literal
    base_url: str = DEFAULT_BASE_URL
    rate_limit_per_minute: float = DEFAULT_RATE_LIMIT_PER_MINUTE  # documented: 1,000
    read_timeout: float = 60.0  # seconds per request

    def build_provider(self) -> OratsProvider:
        return OratsProvider(
            api_token=self.api_token, base_url=self.base_url, **self.http_settings()
        )

    @classmethod
    def from_env(cls) -> Self:
        strings: dict[str, Any] = {
            field: EnvVar(env)
            for field, env in (("api_token", "ORATS_API_TOKEN"), ("base_url", "ORATS_BASE_URL"))
            if os.environ.get(env)
        }
        return cls(**strings, **cls.env_http_settings("ORATS", "rate_limit_per_minute"))
