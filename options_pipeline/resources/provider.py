"""The provider resource: one `ConfigurableResource` subclass per provider behind one interface.

Assets depend on the abstract `ProviderResource` and use `provider.client`; which subclass is
bound (and so which vendor serves the chains) is the Definitions' choice. The client is built in
`setup_for_execution` and closed in `teardown_after_execution`, once per run, so an asset body
never opens or closes a provider itself.
"""

from __future__ import annotations

import logging
import math
import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self, TypeVar

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from options_pipeline.providers.base import OptionsProvider, ProviderConfigError

PROVIDERS_LOGGER = "options_pipeline.providers"
LOG_REQUESTS_ENV = "OPTIONS_PIPELINE_LOG_REQUESTS"  # "1": as log_requests=True (ingest_options -v)
N = TypeVar("N", int, float)


class ProviderResource(ConfigurableResource, ABC):
    """Serves option chains through `client` (an `OptionsProvider`) during a run."""

    provider_name: ClassVar[str]
    # DEBUG lines for every HTTP request, rate-limit sleep and retry (or $OPTIONS_PIPELINE_LOG_
    # REQUESTS=1). Off by default: in a run they are stored as events, which costs about 30% of
    # an HTTP backfill's time.
    log_requests: bool = False

    _client: OptionsProvider | None = PrivateAttr(default=None)

    @abstractmethod
    def build_provider(self) -> OptionsProvider:
        """A new client from this resource's (resolved) settings; ProviderConfigError if bad."""

    @classmethod
    @abstractmethod
    def from_env(cls) -> Self:
        """The resource as the environment configures it; secrets bound as `EnvVar`, so their
        values are resolved in the run worker and never reach the UI or run config."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        verbose = self.log_requests or os.environ.get(LOG_REQUESTS_ENV) == "1"
        logging.getLogger(PROVIDERS_LOGGER).setLevel(logging.DEBUG if verbose else logging.INFO)
        self._client = self.build_provider()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> OptionsProvider:
        if self._client is None:
            raise RuntimeError(
                f"the {self.provider_name} provider resource is not set up: use it "
                "inside a run (or `with build_resources(...)`)"
            )
        return self._client

    def check_settings(self) -> None:
        """Resolve the settings (EnvVar included), set up and tear down once: a bad value raises
        ProviderConfigError here, before a run starts or anything is written."""
        with self.process_config_and_initialize_cm():
            pass


def require_number(name: str, value: N, low: float, high: float) -> N:
    """`value` if finite and in [low, high], else a one-line ProviderConfigError."""
    if isinstance(value, bool) or not math.isfinite(value) or not low <= value <= high:
        raise ProviderConfigError(f"{name} must be a finite number in [{low}, {high}]: {value!r}")
    return value


def env_number(env: str, kind: type[N], default: N, low: float, high: float) -> N:
    """The number in environment variable `env` (default when unset or empty), range-checked."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ProviderConfigError(f"{env}={raw!r} is not a valid {kind.__name__}") from None
    return require_number(env, value, low, high)


# Bounds of the HTTP providers' shared settings: a typo (a rate of 1e9, a timeout of a day)
# fails at set-up with one line instead of silently misbehaving.
MAX_RATE_PER_MINUTE = 1_000_000.0
MAX_WINDOW_SECONDS = 86_400.0
MAX_TIMEOUT_SECONDS = 600.0
MAX_RETRIES = 20
HTTP_SETTING_BOUNDS: dict[str, tuple[type[int] | type[float], float, float]] = {
    "rate_limit_per_minute": (float, 1e-3, MAX_RATE_PER_MINUTE),
    "rate_limit_window_seconds": (float, 1e-3, MAX_WINDOW_SECONDS),
    "connect_timeout": (float, 1e-3, MAX_TIMEOUT_SECONDS),
    "read_timeout": (float, 1e-3, MAX_TIMEOUT_SECONDS),
    "max_retries": (int, 0, MAX_RETRIES),
}


class HttpProviderResource(ProviderResource, ABC):
    """A provider over HTTP: the timeout and retry settings every vendor shares (a subclass
    with a rate limit declares `rate_limit_per_minute` too), checked by `http_settings()`."""

    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 30.0  # seconds per request
    max_retries: int = 4  # per request, on 429 / 5xx / timeouts

    def http_settings(self) -> dict[str, Any]:
        """Every HTTP_SETTING_BOUNDS field this resource declares, range-checked, as the
        provider's keyword arguments."""
        fields = type(self).model_fields
        return {
            name: require_number(name, getattr(self, name), low, high)
            for name, (_, low, high) in HTTP_SETTING_BOUNDS.items()
            if name in fields
        }

    @classmethod
    def env_http_settings(cls, prefix: str, *names: str) -> dict[str, Any]:
        """`names` from $<prefix>_<NAME> (the field's default when unset), range-checked."""
        out: dict[str, Any] = {}
        for name in names:
            kind, low, high = HTTP_SETTING_BOUNDS[name]
            default = cls.model_fields[name].default
            out[name] = env_number(f"{prefix}_{name.upper()}", kind, default, low, high)
        return out
