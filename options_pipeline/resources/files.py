"""Option chains from a directory of files people already own (DataShop EOD, CBOE quote tables)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from options_pipeline.providers.files import DIR_ENV, DIVIDEND_ENV, RATE_ENV, FilesProvider
from options_pipeline.resources.provider import ProviderResource, env_number, require_number


class FilesProviderResource(ProviderResource):
    """Provider "files": `directory` is searched recursively; r and q feed the IV solve."""

    provider_name = "files"
    directory: str = ""
    risk_free_rate: float = 0.0  # continuously compounded, a fraction (0.04 = 4%)
    dividend_yield: float = 0.0

    def build_provider(self) -> FilesProvider:
        require_number("risk_free_rate", self.risk_free_rate, -0.1, 1.0)
        require_number("dividend_yield", self.dividend_yield, -0.1, 1.0)
        return FilesProvider(
            self.directory or None,
            risk_free_rate=self.risk_free_rate,
            dividend_yield=self.dividend_yield,
        )

    @classmethod
    def from_env(cls) -> Self:
        raw = os.environ.get(DIR_ENV, "").strip()
        # absolute, so a run worker started in another working directory reads the same files
        directory = str(Path(raw).expanduser().resolve()) if raw else ""
        return cls(
            directory=directory,
            risk_free_rate=env_number(RATE_ENV, float, 0.0, -0.1, 1.0),
            dividend_yield=env_number(DIVIDEND_ENV, float, 0.0, -0.1, 1.0),
        )
