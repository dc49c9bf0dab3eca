"""Provider registry: names, settings, config errors."""

from __future__ import annotations

import pytest

from options_pipeline.providers.base import ProviderConfigError
from options_pipeline.providers.polygon import PolygonProvider
from options_pipeline.providers.registry import PROVIDER_NAMES, build_provider
from options_pipeline.providers.sample import SampleProvider


def test_names() -> None:
    assert PROVIDER_NAMES == ("sample", "polygon")


def test_sample_from_settings() -> None:
    p = build_provider("sample", sample_contracts_per_symbol=300, polygon_api_key="")
    assert isinstance(p, SampleProvider) and p.name == "sample" and p.contracts_per_symbol == 300


def test_polygon_from_settings() -> None:
    p = build_provider(
        "polygon", polygon_api_key="k", polygon_base_url="http://127.0.0.1:9",
        polygon_rate_limit_per_minute=100,
    )  # fmt: skip
    assert isinstance(p, PolygonProvider) and p.name == "polygon"
    assert p.base_url == "http://127.0.0.1:9" and p.requests_made == 0
    p.close()


def test_unknown_provider() -> None:
    with pytest.raises(ProviderConfigError, match=r"unknown provider 'x' \(choose from: sample, "
                                                  r"polygon\)"):  # fmt: skip
        build_provider("x")


@pytest.mark.parametrize("key", ["", "   "])
def test_missing_polygon_key(key: str) -> None:
    with pytest.raises(ProviderConfigError, match="POLYGON_API_KEY is not set"):
        build_provider("polygon", polygon_api_key=key)


def test_polygon_key_falls_back_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    with pytest.raises(ProviderConfigError, match="POLYGON_API_KEY is not set"):
        build_provider("polygon")
    monkeypatch.setenv("POLYGON_API_KEY", "from-env")
    build_provider("polygon").close()


@pytest.mark.parametrize("rate", [0, -1, float("nan")])
def test_bad_rate_limit(rate: float) -> None:
    with pytest.raises(ProviderConfigError):
        build_provider("polygon", polygon_api_key="k", polygon_rate_limit_per_minute=rate)


def test_bad_base_url() -> None:
    with pytest.raises(ProviderConfigError):
        build_provider("polygon", polygon_api_key="k", polygon_base_url="api.polygon.io")
