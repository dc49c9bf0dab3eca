"""A session still open is never ingested as its day's final snapshot.

Oracle: NYSE's published hours, regular close 16:00 New York time and early closes at 13:00 on
2025-11-28 (the day after Thanksgiving) and 2025-12-24 (nyse.com/markets/hours-calendars).
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from options_pipeline.cli import UsageError, refuse_open_session

NY = ZoneInfo("America/New_York")


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=NY)


@pytest.mark.parametrize(
    ("day", "close"),
    [
        (date(2025, 12, 16), (16, 0)),  # a regular Tuesday
        (date(2025, 12, 24), (13, 0)),  # Christmas Eve: early close
        (date(2025, 11, 28), (13, 0)),  # day after Thanksgiving: early close
    ],
)
def test_today_is_refused_until_the_close_then_allowed(day: date, close: tuple[int, int]):
    hh, mm = close
    with pytest.raises(UsageError, match=f"open until {hh:02d}:{mm:02d} New York time"):
        refuse_open_session([day], now=at(day, hh, mm - 1) if mm else at(day, hh - 1, 59))
    with pytest.raises(UsageError, match="intraday"):
        refuse_open_session([date(2025, 11, 3), day], now=at(day, 9, 45))  # a range ending today
    refuse_open_session([day], now=at(day, hh, mm))  # at the close: the day's final chain


def test_days_before_today_and_closed_days_are_not_affected():
    refuse_open_session([date(2025, 12, 15)], now=at(date(2025, 12, 16), 10, 0))
    refuse_open_session([date(2025, 12, 25)], now=at(date(2025, 12, 25), 10, 0))  # Christmas
    refuse_open_session([], now=at(date(2025, 12, 16), 10, 0))


def test_the_message_names_the_early_close_and_the_last_complete_session():
    with pytest.raises(UsageError) as raised:
        refuse_open_session([date(2025, 12, 24)], now=at(date(2025, 12, 24), 11, 0))
    assert "(an early close)" in str(raised.value) and "end at 2025-12-23" in str(raised.value)
