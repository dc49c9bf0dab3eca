"""Provider resources: the registry, settings from the environment, validation before any run."""

from __future__ import annotations

import pytest
from dagster import EnvVar

from options_pipeline.providers.base import ProviderConfigError
from options_pipeline.providers.polygon import PolygonProvider
from options_pipeline.providers.sample import SampleProvider
from options_pipeline.resources import (
    PROVIDER_RESOURCES,
    PolygonProviderResource,
    ProviderResource,
    SampleProviderResource,
    provider_resource_from_env,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPTIONS_PIPELINE_PROVIDER",
        "POLYGON_API_KEY",
        "MASSIVE_API_KEY",
        "POLYGON_BASE_URL",
        "POLYGON_RATE_LIMIT_PER_MINUTE",
        "POLYGON_READ_TIMEOUT",
        "POLYGON_MAX_RETRIES",
        "POLYGON_CONNECT_TIMEOUT",
        "SAMPLE_CONTRACTS_PER_SYMBOL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_every_registered_resource_is_named_by_its_key() -> None:
    assert {"sample", "polygon"} <= set(PROVIDER_RESOURCES)
    for name, cls in PROVIDER_RESOURCES.items():
        assert issubclass(cls, ProviderResource) and cls.provider_name == name


def test_the_environment_chooses_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(provider_resource_from_env(), SampleProviderResource)
    monkeypatch.setenv("OPTIONS_PIPELINE_PROVIDER", "Polygon")
    assert isinstance(provider_resource_from_env(), PolygonProviderResource)
    monkeypatch.setenv("OPTIONS_PIPELINE_PROVIDER", "nope")
    with pytest.raises(ProviderConfigError, match=r"unknown provider 'nope' \(choose from: "):
        provider_resource_from_env()


def test_sample_contracts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLE_CONTRACTS_PER_SYMBOL", "300")
    provider = SampleProviderResource.from_env().build_provider()
    assert isinstance(provider, SampleProvider) and provider.contracts_per_symbol == 300


def test_the_api_key_is_bound_as_an_env_var_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYGON_API_KEY", "SECRET-value")
    resource = PolygonProviderResource.from_env()
    assert isinstance(resource.api_key, EnvVar) and resource.api_key == "POLYGON_API_KEY"
    with resource.process_config_and_initialize_cm() as resolved:
        assert resolved.api_key == "SECRET-value"
        assert isinstance(resolved.client, PolygonProvider)


def test_massive_api_key_is_accepted_and_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSIVE_API_KEY", "SECRET-massive")
    resource = PolygonProviderResource.from_env()
    assert resource.api_key == "MASSIVE_API_KEY" and isinstance(resource.api_key, EnvVar)
    monkeypatch.setenv("POLYGON_API_KEY", "SECRET-polygon")
    assert PolygonProviderResource.from_env().api_key == "MASSIVE_API_KEY"
    with resource.process_config_and_initialize_cm() as resolved:
        assert resolved.api_key == "SECRET-massive"
        assert resolved.client.base_url == "https://api.massive.com"  # the new default host


def test_a_missing_api_key_fails_the_settings_check() -> None:
    with pytest.raises(ProviderConfigError, match=r"export MASSIVE_API_KEY \(or POLYGON_API_KEY"):
        PolygonProviderResource.from_env().check_settings()


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("POLYGON_RATE_LIMIT_PER_MINUTE", "nan"),
        ("POLYGON_RATE_LIMIT_PER_MINUTE", "inf"),
        ("POLYGON_RATE_LIMIT_PER_MINUTE", "0"),
        ("POLYGON_RATE_LIMIT_PER_MINUTE", "-5"),
        ("POLYGON_READ_TIMEOUT", "nan"),
        ("POLYGON_READ_TIMEOUT", "1e9"),
        ("POLYGON_MAX_RETRIES", "-1"),
        ("POLYGON_MAX_RETRIES", "two"),
    ],
)
def test_bad_numbers_in_the_environment_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ProviderConfigError) as error:
        PolygonProviderResource.from_env()
    assert env in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("value", ["nan", "0", "5", "1e12"])
def test_bad_sample_size_is_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SAMPLE_CONTRACTS_PER_SYMBOL", value)
    with pytest.raises(ProviderConfigError, match="SAMPLE_CONTRACTS_PER_SYMBOL"):
        SampleProviderResource.from_env()


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_values_set_on_the_resource_fail_before_a_client_exists(rate: float) -> None:
    resource = PolygonProviderResource(api_key="k", rate_limit_per_minute=rate)
    with pytest.raises(ProviderConfigError, match="rate_limit_per_minute"):
        resource.build_provider()


def test_the_client_exists_only_between_setup_and_teardown() -> None:
    from dagster import build_init_resource_context

    resource = SampleProviderResource(contracts_per_symbol=50)
    with pytest.raises(RuntimeError, match="not set up"):
        _ = resource.client
    context = build_init_resource_context()
    resource.setup_for_execution(context)
    assert isinstance(resource.client, SampleProvider)
    resource.teardown_after_execution(context)
    with pytest.raises(RuntimeError, match="not set up"):
        _ = resource.client
