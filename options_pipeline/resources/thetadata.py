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
from options_pipeline.resources.provider import HttpProviderResource


class ThetaDataProviderResource(HttpProviderResource):
    """Provider "thetadata": EOD greeks and open interest, `concurrency` requests in flight."""

    provider_name = "thetadata"
    base_url: str = DEFAULT_BASE_URL
    concurrency: int = DEFAULT_CONCURRENCY  # the tier's outstanding requests: 1/2/4/8
    read_timeout: float = 120.0  # seconds per request (a whole SPX chain is large)

    def build_provider(self) -> ThetaDataProvider:
        return ThetaDataProvider(
            base_url=self.base_url,
            concurrency=tier_concurrency(self.concurrency),
            **self.http_settings(),
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
