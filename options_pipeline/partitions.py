"""trading_days: the one partitions definition every asset, schedule and CLI path imports."""

from __future__ import annotations

import os
from datetime import date, timedelta

from dagster import TimeWindowPartitionsDefinition

from options_pipeline.settings import SettingsError

PARTITIONS_START_ENV = "OPTIONS_PIPELINE_START_DATE"
DEFAULT_PARTITIONS_START = "2022-01-03"
MARKET_TIMEZONE = "America/New_York"


def partitions_start() -> date:
    """The first partition; SettingsError (one line) when the variable is not a date. Every
    command and the code location call it at start, so a bad value is reported, not imported."""
    text = os.environ.get(PARTITIONS_START_ENV, DEFAULT_PARTITIONS_START)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"{PARTITIONS_START_ENV}={text!r} is not a date "
                            "(expected YYYY-MM-DD)") from None


def _start_for_import() -> date:
    try:
        return partitions_start()
    except SettingsError:
        return date.fromisoformat(DEFAULT_PARTITIONS_START)  # reported by partitions_start()


# One partition per weekday (holidays stay as partitions and report "no data"); end_offset=1 so
# today's partition exists during the day and the after-close schedule can fill it.
trading_days = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5",
    fmt="%Y-%m-%d",
    start=_start_for_import().isoformat(),
    timezone=MARKET_TIMEZONE,
    end_offset=1,
)


def weekdays_between(start: date, end: date) -> list[date]:
    """The trading days (weekdays) in [start, end], inclusive."""
    return [start + timedelta(n) for n in range((end - start).days + 1)
            if (start + timedelta(n)).weekday() < 5]
