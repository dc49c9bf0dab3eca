"""Vendor resources: environment names, secrets as EnvVar, bad values."""

from __future__ import annotations

import pytest
from dagster import EnvVar

from options_pipeline.providers.alphavantage import AlphaVantageProvider
from options_pipeline.providers.base import ProviderConfigError
from options_pipeline.providers.orats import OratsProvider
from options_pipeline.providers.thetadata import ThetaDataProvider
from options_pipeline.resources import (
    PROVIDER_RESOURCES,
    AlphaVantageProviderResource,
    OratsProviderResource,
    ThetaDataProviderResource,
    provider_resource_from_env,
)

ENV = (
    "THETADATA_BASE_URL",
    "THETADATA_CONCURRENCY",
    "ORATS_API_TOKEN",
    "ORATS_BASE_URL",
    "ORATS_RATE_LIMIT_PER_MINUTE",
    "ALPHAVANTAGE_API_KEY",
    "ALPHAVANTAGE_BASE_URL",
    "ALPHAVANTAGE_RATE_LIMIT_PER_MINUTE",
    "OPTIONS_PIPELINE_PROVIDER",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_the_three_are_registered_under_their_cli_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PROVIDER_RESOURCES["thetadata"] is ThetaDataProviderResource
    assert PROVIDER_RESOURCES["orats"] is OratsProviderResource
    assert PROVIDER_RESOURCES["alphavantage"] is AlphaVantageProviderResource
    monkeypatch.setenv("OPTIONS_PIPELINE_PROVIDER", "ThetaData")
    assert isinstance(provider_resource_from_env(), ThetaDataProviderResource)


def test_thetadata_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with ThetaDataProviderResource.from_env().process_config_and_initialize_cm() as r:
        assert isinstance(r.client, ThetaDataProvider)
        assert r.client.base_url == "http://127.0.0.1:25503" and r.client.concurrency == 4
    monkeypatch.setenv("THETADATA_BASE_URL", "http://127.0.0.1:25599")
    monkeypatch.setenv("THETADATA_CONCURRENCY", "pro")
    with ThetaDataProviderResource.from_env().process_config_and_initialize_cm() as r:
        assert r.client.base_url == "http://127.0.0.1:25599" and r.client.concurrency == 8
    monkeypatch.setenv("THETADATA_CONCURRENCY", "lots")
    with pytest.raises(ProviderConfigError, match="THETADATA_CONCURRENCY"):
        ThetaDataProviderResource.from_env()


@pytest.mark.parametrize(
    ("cls", "key_env", "field", "client_cls", "rate_env", "rate"),
    [
        (
            OratsProviderResource,
            "ORATS_API_TOKEN",
            "api_token",
            OratsProvider,
            "ORATS_RATE_LIMIT_PER_MINUTE",
            1000.0,
        ),
        (
            AlphaVantageProviderResource,
            "ALPHAVANTAGE_API_KEY",
            "api_key",
            AlphaVantageProvider,
            "ALPHAVANTAGE_RATE_LIMIT_PER_MINUTE",
            75.0,
        ),
    ],
)
def test_keys_are_env_var_references_and_rates_are_checked(
    monkeypatch: pytest.MonkeyPatch, cls, key_env, field, client_cls, rate_env, rate
) -> None:
    with pytest.raises(ProviderConfigError, match=f"{key_env} is not set"):
        cls.from_env().check_settings()
    monkeypatch.setenv(key_env, "SECRET-vendor-value")
    resource = cls.from_env()
    assert isinstance(getattr(resource, field), EnvVar) and getattr(resource, field) == key_env
    assert "SECRET-vendor-value" not in repr(resource)
    with resource.process_config_and_initialize_cm() as resolved:
        assert isinstance(resolved.client, client_cls)
        assert resolved.client.rate_limit_per_minute == rate
    for bad in ("0", "nan", "many"):
        monkeypatch.setenv(rate_env, bad)
        with pytest.raises(ProviderConfigError, match=rate_env):
            cls.from_env()
