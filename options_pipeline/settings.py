"""Where the project keeps its state, read from the environment (plain Python, no dagster)."""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "OPTIONS_PIPELINE_HOME"
DEFAULT_STATE_DIRNAME = ".options_pipeline"


class SettingsError(ValueError):
    """An environment variable holds an unusable value: one line naming it, never its secret."""


def state_dir() -> Path:
    """The state directory: embedded PostgreSQL data, DAGSTER_HOME and logs live under it."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.cwd() / DEFAULT_STATE_DIRNAME


def dagster_home() -> Path:
    """DAGSTER_HOME when set, otherwise a folder inside the state directory."""
    configured = os.environ.get("DAGSTER_HOME")
    return Path(configured).expanduser().resolve() if configured else state_dir() / "dagster_home"
