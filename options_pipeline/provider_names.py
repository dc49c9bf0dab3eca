"""Provider names and the environment choosing one, importable without any provider, numpy or
Dagster: the command lines build their --help from these in a fraction of a second.
`options_pipeline.resources.PROVIDER_RESOURCES` holds one resource per name (a test keeps the two
in step)."""

from __future__ import annotations

import os

PROVIDER_ENV = "OPTIONS_PIPELINE_PROVIDER"
DEFAULT_PROVIDER = "sample"
PROVIDER_NAMES = ("sample", "polygon", "thetadata", "orats", "alphavantage", "files")
FILES_DIR_ENV = "OPTIONS_PIPELINE_FILES_DIR"  # the files provider's directory


def provider_name_from_env() -> str:
    return os.environ.get(PROVIDER_ENV, "").strip().lower() or DEFAULT_PROVIDER
