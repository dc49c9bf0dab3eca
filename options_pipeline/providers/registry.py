"""Provider plugins by name: the one place that maps settings to an OptionsProvider."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date

from options_pipeline.providers.base import OptionsProvider, ProviderConfigError
from options_pipeline.providers.polygon import DEFAULT_BASE_URL, PolygonProvider, today_new_york
from options_pipeline.providers.sample import DEFAULT_CONTRACTS, SampleProvider

PROVIDER_NAMES: tuple[str, ...] = ("sample", "polygon")


def build_provider(
    name: str,
    *,
    polygon_api_key: str | None = None,
    polygon_base_url: str | None = None,
    polygon_rate_limit_per_minute: float = 5.0,
    sample_contracts_per_symbol: int = DEFAULT_CONTRACTS,
    polygon_connect_timeout: float = 5.0,
    polygon_read_timeout: float = 30.0,
    polygon_max_retries: int = 4,
    clock: Callable[[], date] | None = None,
) -> OptionsProvider:
    """Build the provider called `name` from resource settings.

    Settings of the other providers are ignored. `polygon_api_key=None` falls back to the
    POLYGON_API_KEY environment variable; an empty key raises ProviderConfigError. `clock`
    (today's date in America/New_York) is for tests.
    """
    key = (name or "").strip().lower()
    if key == "sample":
        return SampleProvider(contracts_per_symbol=sample_contracts_per_symbol)
    if key == "polygon":
        if polygon_api_key is None:
            polygon_api_key = os.environ.get("POLYGON_API_KEY")
        return PolygonProvider(
            api_key=polygon_api_key,
            base_url=polygon_base_url or DEFAULT_BASE_URL,
            rate_limit_per_minute=polygon_rate_limit_per_minute,
            connect_timeout=polygon_connect_timeout,
            read_timeout=polygon_read_timeout,
            max_retries=polygon_max_retries,
            clock=clock or today_new_york,
        )
    raise ProviderConfigError(
        f"unknown provider {name!r} (choose from: {', '.join(PROVIDER_NAMES)})"
    )
