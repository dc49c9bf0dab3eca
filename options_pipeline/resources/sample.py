"""The sample market as a resource: offline, deterministic, no credentials."""

from __future__ import annotations

from typing import Self

from options_pipeline.providers.sample import (
    DEFAULT_CONTRACTS,
    MAX_CONTRACTS,
    MIN_CONTRACTS,
    SampleProvider,
)
from options_pipeline.resources.provider import ProviderResource, env_number, require_number


class SampleProviderResource(ProviderResource):
    """Provider "sample": chains of about `contracts_per_symbol` rows per symbol and day."""

    provider_name = "sample"
    contracts_per_symbol: int = DEFAULT_CONTRACTS

    def build_provider(self) -> SampleProvider:
        require_number(
            "contracts_per_symbol", self.contracts_per_symbol, MIN_CONTRACTS, MAX_CONTRACTS
        )
        return SampleProvider(contracts_per_symbol=self.contracts_per_symbol)

    @classmethod
    def from_env(cls) -> Self:
        return cls(
            contracts_per_symbol=env_number(
                "SAMPLE_CONTRACTS_PER_SYMBOL", int, DEFAULT_CONTRACTS, MIN_CONTRACTS, MAX_CONTRACTS
            )
        )
