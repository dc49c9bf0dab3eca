"""trading_days: the one partitions definition every asset, automation condition and CLI path uses.

One partition per NYSE session: weekdays, minus the exchange's full-day closures (holidays and
unscheduled closures such as 2025-01-09) from `options_pipeline.calendar`, given to Dagster as
`exclusions`. A holiday is therefore not a partition at all: it cannot show as "missing", a range
over it never reports it as a gap, and partition offsets (the dealer window) count sessions.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dagster import TimeWindow, TimeWindowPartitionsDefinition

from options_pipeline.calendar import CALENDAR_END, MARKET_TIMEZONE, closures_in_range
from options_pipeline.settings import SettingsError

__all__ = ["MARKET_TIMEZONE", "partition_days", "partitions_start", "trading_days"]

PARTITIONS_START_ENV = "OPTIONS_PIPELINE_START_DATE"
DEFAULT_PARTITIONS_START = "2022-01-03"
_NY = ZoneInfo(MARKET_TIMEZONE)


def partitions_start() -> date:
    """The first partition; SettingsError (one line) when the variable is not a date. Every
    command and the code location call it at start, so a bad value is reported, not imported."""
    text = os.environ.get(PARTITIONS_START_ENV, DEFAULT_PARTITIONS_START)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(
            f"{PARTITIONS_START_ENV}={text!r} is not a date (expected YYYY-MM-DD)"
        ) from None


def _start_for_import() -> date:
    try:
        return partitions_start()
    except SettingsError:
        return date.fromisoformat(DEFAULT_PARTITIONS_START)  # reported by partitions_start()


def _session_partitions() -> TimeWindowPartitionsDefinition:
    start = _start_for_import()
    # midnight datetimes: the partitions' cron ticks (a "YYYY-MM-DD" string would be read as cron)
    closures = [
        datetime.combine(d, datetime.min.time()) for d in closures_in_range(start, CALENDAR_END)
    ]
    # end_offset=1 so today's partition exists during the day and the after-close automation can
    # fill it
    return TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5",
        fmt="%Y-%m-%d",
        start=start.isoformat(),
        timezone=MARKET_TIMEZONE,
        end_offset=1,
        exclusions=closures,
    )


trading_days = _session_partitions()


def partition_days(start: date, end: date) -> list[date]:
    """The partition keys (sessions) in [start, end], inclusive, ascending, as dates: what a CLI
    range expands to (asked of the partitions definition itself, so the two cannot disagree)."""
    if end < start:
        return []
    window = TimeWindow(
        datetime.combine(start, time(0), _NY),
        datetime.combine(end + timedelta(days=1), time(0), _NY),
    )
    return [date.fromisoformat(k) for k in trading_days.get_partition_keys_in_time_window(window)]
