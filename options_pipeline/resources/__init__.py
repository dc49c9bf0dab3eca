"""Dagster resources: the PostgreSQL database and one resource class per options provider.

Adding a provider = its resource module + one line in PROVIDER_RESOURCES (+ its name in
options_pipeline.provider_names.PROVIDER_NAMES, which --help reads without importing Dagster).
"""

from __future__ import annotations

from options_pipeline.provider_names import DEFAULT_PROVIDER, PROVIDER_ENV, provider_name_from_env
from options_pipeline.providers.base import ProviderConfigError
from options_pipeline.resources.alphavantage import AlphaVantageProviderResource
from options_pipeline.resources.database import PostgresResource
from options_pipeline.resources.files import FilesProviderResource
from options_pipeline.resources.orats import OratsProviderResource
from options_pipeline.resources.polygon import PolygonProviderResource
from options_pipeline.resources.provider import PROVIDERS_LOGGER, ProviderResource
from options_pipeline.resources.sample import SampleProviderResource
from options_pipeline.resources.thetadata import ThetaDataProviderResource

PROVIDER_RESOURCES: dict[str, type[ProviderResource]] = {
    SampleProviderResource.provider_name: SampleProviderResource,
    PolygonProviderResource.provider_name: PolygonProviderResource,
    ThetaDataProviderResource.provider_name: ThetaDataProviderResource,
    OratsProviderResource.provider_name: OratsProviderResource,
    AlphaVantageProviderResource.provider_name: AlphaVantageProviderResource,
    FilesProviderResource.provider_name: FilesProviderResource,
}


def provider_resource_from_env(name: str | None = None) -> ProviderResource:
    """The resource of provider `name` (default: $OPTIONS_PIPELINE_PROVIDER, else "sample")."""
    key = name or provider_name_from_env()
    if key not in PROVIDER_RESOURCES:
        raise ProviderConfigError(
            f"unknown provider {key!r} (choose from: {', '.join(PROVIDER_RESOURCES)})"
        )
    return PROVIDER_RESOURCES[key].from_env()


__all__ = [
    "DEFAULT_PROVIDER",
    "PROVIDERS_LOGGER",
    "PROVIDER_ENV",
    "PROVIDER_RESOURCES",
    "PolygonProviderResource",
    "PostgresResource",
    "ProviderResource",
    "SampleProviderResource",
    "provider_name_from_env",
    "provider_resource_from_env",
]
