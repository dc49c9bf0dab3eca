"""ThetaData (the local Theta Terminal, v3 REST) as a resource; the terminal holds the login."""

from __future__ import annotations

import os
from typing import Any, Self

from dagster import EnvVar

from options_pipeline.providers.thetadata import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    ThetaDataProvider,
    tier_concurrency,
)
from options_pipeline.resources.provider import ProviderResource, require_number

MAX_TIMEOUT_SECONDS = 600.0
MAX_RETRIES = 20


class ThetaDataProviderResource(ProviderResource):
    """Provider "thetadata": EOD greeks and open interest, `concurrency` requests in flight."""

    provider_name = "thetadata"
    base_url: str = DEFAULT_BASE_URL
    concurrency: int = DEFAULT_CONCURRENCY  # the tier's outstanding requests: 1/2/4/8
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 120.0  # seconds per request (a whole SPX chain is large)
    max_retries: int = 4  # per request, on 429 / 474 / 5xx / timeouts

    def build_provider(self) -> ThetaDataProvider:
        return ThetaDataProvider(
            base_url=self.base_url,
            concurrency=tier_concurrency(self.concurrency),
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
        fields: dict[str, Any] = {}
        if os.environ.get("THETADATA_BASE_URL"):
            fields["base_url"] = EnvVar("THETADATA_BASE_URL")
        raw = os.environ.get("THETADATA_CONCURRENCY", "").strip()
        if raw:  # a number or a tier name (free, value, standard, pro)
            fields["concurrency"] = tier_concurrency(raw)
        return cls(**fields)
