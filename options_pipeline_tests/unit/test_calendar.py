"""The NYSE calendar against the exchange's published schedule (typed in here, not derived).

Oracle: NYSE Group's annual holiday and early-closings announcements ("NYSE Group Announces
2025, 2026 and 2027 Holiday and Early Closings Calendar", 2024-11-08, and the earlier years'
equivalents), plus NYSE's notice closing the markets on 2025-01-09 for the national day of
mourning for President Carter. 2022 has no New Year closure: Jan 1 fell on a Saturday and NYSE
does not observe it on the Friday before.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from options_pipeline import calendar as cal

PUBLISHED_CLOSURES: dict[date, str] = {
    date.fromisoformat(d): name
    for d, name in (
        ("2022-01-17", "Martin Luther King"),
        ("2022-02-21", "President"),
        ("2022-04-15", "Good Friday"),
        ("2022-05-30", "Memorial"),
        ("2022-06-20", "Juneteenth"),
        ("2022-07-04", "July"),
        ("2022-09-05", "Labor"),
        ("2022-11-24", "Thanksgiving"),
        ("2022-12-26", "Christmas"),
        ("2023-01-02", "New Year"),
        ("2023-01-16", "Martin Luther King"),
        ("2023-02-20", "President"),
        ("2023-04-07", "Good Friday"),
        ("2023-05-29", "Memorial"),
        ("2023-06-19", "Juneteenth"),
        ("2023-07-04", "July"),
        ("2023-09-04", "Labor"),
        ("2023-11-23", "Thanksgiving"),
        ("2023-12-25", "Christmas"),
        ("2024-01-01", "New Year"),
        ("2024-01-15", "Martin Luther King"),
        ("2024-02-19", "President"),
        ("2024-03-29", "Good Friday"),
        ("2024-05-27", "Memorial"),
        ("2024-06-19", "Juneteenth"),
        ("2024-07-04", "July"),
        ("2024-09-02", "Labor"),
        ("2024-11-28", "Thanksgiving"),
        ("2024-12-25", "Christmas"),
        ("2025-01-01", "New Year"),
        ("2025-01-09", "special closure"),
        ("2025-01-20", "Martin Luther King"),
        ("2025-02-17", "President"),
        ("2025-04-18", "Good Friday"),
        ("2025-05-26", "Memorial"),
        ("2025-06-19", "Juneteenth"),
        ("2025-07-04", "July"),
        ("2025-09-01", "Labor"),
        ("2025-11-27", "Thanksgiving"),
        ("2025-12-25", "Christmas"),
        ("2026-01-01", "New Year"),
        ("2026-01-19", "Martin Luther King"),
        ("2026-02-16", "President"),
        ("2026-04-03", "Good Friday"),
        ("2026-05-25", "Memorial"),
        ("2026-06-19", "Juneteenth"),
        ("2026-07-03", "July"),
        ("2026-09-07", "Labor"),
        ("2026-11-26", "Thanksgiving"),
        ("2026-12-25", "Christmas"),
    )
}

# 1:00 p.m. early closes (day before Independence Day, day after Thanksgiving, Christmas Eve)
PUBLISHED_EARLY_CLOSES = {
    date.fromisoformat(d)
    for d in (
        "2022-11-25",
        "2023-07-03",
        "2023-11-24",
        "2024-07-03",
        "2024-11-29",
        "2024-12-24",
        "2025-07-03",
        "2025-11-28",
        "2025-12-24",
        "2026-11-27",
        "2026-12-24",
    )
}


def _weekdays(start: date, end: date) -> list[date]:
    days = (start + timedelta(n) for n in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5]


def test_sessions_2022_2026_are_weekdays_minus_the_published_closures() -> None:
    expected = [
        d for d in _weekdays(date(2022, 1, 1), date(2026, 12, 31)) if d not in PUBLISHED_CLOSURES
    ]
    assert cal.sessions_in_range(date(2022, 1, 1), date(2026, 12, 31)) == expected
    assert len(PUBLISHED_CLOSURES) == 9 + 10 + 10 + 11 + 10


@pytest.mark.parametrize("day", sorted(PUBLISHED_CLOSURES), ids=str)
def test_each_published_closure_is_named(day: date) -> None:
    assert not cal.is_session(day)
    reason = cal.closure_reason(day)
    assert reason is not None and reason.startswith("market holiday (")
    assert PUBLISHED_CLOSURES[day] in reason


def test_closures_in_range_lists_exactly_the_published_weekday_closures() -> None:
    got = cal.closures_in_range(date(2022, 1, 1), date(2026, 12, 31))
    assert set(got) == set(PUBLISHED_CLOSURES)


def test_weekends_and_sessions() -> None:
    assert cal.closure_reason(date(2025, 12, 27)) == "weekend"
    assert cal.closure_reason(date(2025, 12, 26)) is None  # Boxing Day: NYSE trades
    assert cal.is_session(date(2025, 12, 26))
    assert not cal.is_session(date(2025, 12, 28))
    assert cal.closure_reason(date(2021, 12, 31)) is None  # New Year 2022 not observed on Fri


def test_early_closes_and_close_times() -> None:
    got = {
        d
        for d in cal.sessions_in_range(date(2022, 1, 1), date(2026, 12, 31))
        if cal.is_early_close(d)
    }
    assert got == PUBLISHED_EARLY_CLOSES
    ny = cal.NEW_YORK
    assert cal.close_time(date(2025, 12, 24)) == datetime(2025, 12, 24, 13, tzinfo=ny)
    assert cal.close_time(date(2025, 12, 23)) == datetime(2025, 12, 23, 16, tzinfo=ny)
    assert cal.close_time(date(2025, 7, 3)).time() == time(13, 0)
    assert cal.close_time(date(2025, 7, 3)).utcoffset() == timedelta(hours=-4)  # EDT
    with pytest.raises(ValueError, match="Christmas"):
        cal.close_time(date(2025, 12, 25))


def test_previous_session_and_windows_skip_closures() -> None:
    assert cal.previous_session(date(2025, 12, 26)) == date(2025, 12, 24)
    assert cal.previous_session(date(2025, 12, 25)) == date(2025, 12, 24)
    assert cal.previous_session(date(2025, 1, 10)) == date(2025, 1, 8)  # over 01-09
    assert cal.previous_session(date(2026, 1, 5)) == date(2026, 1, 2)
    assert cal.sessions_ending(date(2025, 12, 29), 5) == [
        date(2025, 12, 22),
        date(2025, 12, 23),
        date(2025, 12, 24),
        date(2025, 12, 26),
        date(2025, 12, 29),
    ]
    # ending on a closed day: the n sessions before it
    assert cal.sessions_ending(date(2025, 12, 25), 2) == [date(2025, 12, 23), date(2025, 12, 24)]
    assert cal.sessions_in_range(date(2025, 12, 22), date(2026, 1, 2)) == [
        date(2025, 12, 22),
        date(2025, 12, 23),
        date(2025, 12, 24),
        date(2025, 12, 26),
        date(2025, 12, 29),
        date(2025, 12, 30),
        date(2025, 12, 31),
        date(2026, 1, 2),
    ]
    assert cal.sessions_in_range(date(2026, 1, 2), date(2025, 12, 22)) == []


def test_outside_the_span_is_refused_not_guessed() -> None:
    with pytest.raises(cal.OutsideCalendar):
        cal.is_session(date(1990, 1, 2))
    with pytest.raises(cal.OutsideCalendar):
        cal.closure_reason(cal.CALENDAR_END + timedelta(days=1))


def test_today_is_new_york_today() -> None:
    now = cal.now_in_new_york()
    assert now.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
    assert abs((cal.today_in_new_york() - now.date()).days) <= 1  # a midnight between calls


# --- the calendar kept between processes ------------------------------------------------------


def test_the_cached_calendar_is_the_one_the_library_builds(tmp_path, monkeypatch):
    monkeypatch.setenv(cal.CACHE_ENV, str(tmp_path))
    cal._calendar.cache_clear()
    try:
        built = cal._calendar()  # no file yet: built and stored
        path = cal._cache_file()
        assert path is not None and path.parent.parent == tmp_path and path.exists()
        assert cal._load(path) == built == cal._build()
    finally:
        cal._calendar.cache_clear()


def test_a_damaged_cache_file_is_built_again_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv(cal.CACHE_ENV, str(tmp_path))
    path = cal._cache_file()
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_text('{"sessions": [1, 2')
    cal._calendar.cache_clear()
    try:
        assert cal.closure_reason(date(2025, 1, 9)) == "market holiday (special closure)"
        assert cal._load(path) == cal._build()
    finally:
        cal._calendar.cache_clear()


def test_a_process_reading_the_cache_does_not_load_the_library(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, cal.CACHE_ENV: str(tmp_path)}
    probe = (
        "import sys; from datetime import date; from options_pipeline import calendar; "
        "print(calendar.is_session(date(2025, 1, 9)), 'exchange_calendars' in sys.modules)"
    )
    runs = [
        subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert [r.stdout.split() for r in runs] == [["False", "True"], ["False", "False"]], runs
