"""`cli_console`: the compact console `ingest_options` selects through run config.

Runs launched elsewhere (the UI, the daemon, `dagster asset materialize`) configure no logger, so
Dagster falls back to its default colored console logger for them.
"""

from __future__ import annotations

import logging
import sys

from dagster import Field, InitLoggerContext, logger

from options_pipeline.progress import Progress

CLI_CONSOLE = "cli_console"


class _UserMessages(logging.Handler):
    """Shows the run's own log lines ("LEVEL message"); Dagster's framework events, and the
    tracebacks attached to failures, stay in the event log (the runner prints one line).
    While ingest_options shows a progress line, lines are written above it."""

    progress: Progress | None = None

    def emit(self, record: logging.LogRecord) -> None:
        meta = record.__dict__.get("dagster_meta", {})
        if meta.get("dagster_event") is None:
            message = meta.get("orig_message", record.getMessage())
            if _UserMessages.progress is not None:
                _UserMessages.progress.log(f"{record.levelname} {message}")
            else:
                sys.stderr.write(f"{record.levelname} {message}\n")


def show_progress(progress: Progress | None) -> None:
    """Route the console's lines through `progress` (None: plain stderr again)."""
    _UserMessages.progress = progress


@logger(
    config_schema={"log_level": Field(str, default_value="INFO")},
    description="ingest_options' console: the run's own messages, one line each",
)
def cli_console(init_context: InitLoggerContext) -> logging.Logger:
    console = logging.Logger("ingest_options", level=init_context.logger_config["log_level"])
    console.addHandler(_UserMessages())
    return console
