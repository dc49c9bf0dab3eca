"""The one NYSE session calendar: sessions, closures (with the holiday's name), early closes.

Backed by `exchange_calendars`' XNYS calendar, which ships its rules and the unscheduled closures
(e.g. 2025-01-09, national day of mourning) in the package: nothing is called at run time. The
calendar is built once per process over a fixed span, so answers never depend on the day it is
asked. Dates outside that span raise `OutsideCalendar` rather than guessing.

Plain Python on purpose (no dagster import): the providers, the CLI and the partitions all ask it.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

MARKET_TIMEZONE = "America/New_York"
NEW_YORK = ZoneInfo(MARKET_TIMEZONE)

# Span the calendar is built over. The library's holiday rules extend indefinitely, but the far
# future cannot know unscheduled closures; 2035 leaves room for scheduling without pretending.
CALENDAR_START = date(2000, 1, 3)
CALENDAR_END = date(2035, 12, 31)

REGULAR_CLOSE = time(16, 0)
# the name the library gives no unscheduled closure (it lists only their dates)
SPECIAL_CLOSURE = "special closure"


class OutsideCalendar(ValueError):
    """A date before CALENDAR_START or after CALENDAR_END."""


@dataclass(frozen=True, slots=True)
class _Calendar:
    sessions: tuple[date, ...]  # ascending
    session_set: frozenset[date]
    closures: dict[date, str]  # weekday closures -> holiday name
    closes: dict[date, time]  # sessions that close before REGULAR_CLOSE -> NY close time


CACHE_ENV = "XDG_CACHE_HOME"
_CACHE_FORMAT = 1


def _cache_file() -> Path | None:
    """Where the built calendar is kept between processes, named by everything it depends on
    (the library's version, the span, the file format); None if the library is missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        library = version("exchange_calendars")
    except PackageNotFoundError:
        return None
    try:
        base = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache")
    except RuntimeError:  # no home directory to be found: build every time
        return None
    span = f"{CALENDAR_START:%Y%m%d}-{CALENDAR_END:%Y%m%d}"
    return base / "options_pipeline" / f"xnys-{library}-{span}-v{_CACHE_FORMAT}.json"


def _load(path: Path) -> _Calendar | None:
    try:
        data = json.loads(path.read_text())
        sessions = tuple(date.fromordinal(n) for n in data["sessions"])
        closures = {date.fromordinal(int(n)): str(name) for n, name in data["closures"].items()}
        closes = {
            date.fromordinal(int(n)): time.fromisoformat(t) for n, t in data["closes"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # absent, unreadable or not ours: built again
    return _Calendar(sessions, frozenset(sessions), closures, closes)


def _store(path: Path, calendar: _Calendar) -> None:
    data = {
        "sessions": [d.toordinal() for d in calendar.sessions],
        "closures": {d.toordinal(): name for d, name in calendar.closures.items()},
        "closes": {d.toordinal(): t.isoformat() for d, t in calendar.closes.items()},
    }
    with contextlib.suppress(OSError):  # a read-only home only costs the next process the build
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(data))
        os.replace(partial, path)  # atomic: a concurrent reader sees all of it or nothing


@cache
def _calendar() -> _Calendar:
    """The calendar, from the cache file when a process built it before: the build (pandas +
    exchange_calendars, ~1 s of CPU) was about a third of a command's start-up."""
    path = _cache_file()
    cached = _load(path) if path is not None else None
    if cached is not None:
        return cached
    built = _build()
    if path is not None:
        _store(path, built)
    return built


def _build() -> _Calendar:
    import exchange_calendars

    xnys = exchange_calendars.get_calendar(
        "XNYS", start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat()
    )
    sessions = tuple(ts.date() for ts in xnys.sessions)
    names: dict[date, str] = {}
    regular = xnys.regular_holidays
    if regular is not None:
        named = regular.holidays(
            start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat(), return_name=True
        )
        names = {ts.date(): str(name) for ts, name in named.items()}
    session_set = frozenset(sessions)
    closures: dict[date, str] = {}
    for ordinal in range(CALENDAR_START.toordinal(), CALENDAR_END.toordinal() + 1):
        day = date.fromordinal(ordinal)
        if day.weekday() < 5 and day not in session_set:
            closures[day] = names.get(day, SPECIAL_CLOSURE)
    closes: dict[date, time] = {}
    for ts in xnys.early_closes:
        d = ts.date()
        if d in session_set:
            closes[d] = xnys.session_close(ts).tz_convert(MARKET_TIMEZONE).time()
    return _Calendar(sessions, session_set, closures, closes)


def _check(d: date) -> None:
    if not CALENDAR_START <= d <= CALENDAR_END:
        raise OutsideCalendar(
            f"{d.isoformat()} is outside the NYSE calendar's span "
            f"({CALENDAR_START.isoformat()}..{CALENDAR_END.isoformat()})"
        )


def is_session(d: date) -> bool:
    """True when NYSE trades on `d` (a full or an early-close session)."""
    _check(d)
    return d in _calendar().session_set


def sessions_in_range(start: date, end: date) -> list[date]:
    """The sessions in [start, end], inclusive, ascending (empty when start > end)."""
    _check(start)
    _check(end)
    s = _calendar().sessions
    return list(s[bisect.bisect_left(s, start) : bisect.bisect_right(s, end)])


def previous_session(d: date) -> date:
    """The last session strictly before `d` (`d` itself need not be a session)."""
    _check(d)
    s = _calendar().sessions
    i = bisect.bisect_left(s, d)
    if i == 0:
        raise OutsideCalendar(f"no session before {d.isoformat()} in the NYSE calendar")
    return s[i - 1]


def sessions_ending(d: date, n: int) -> list[date]:
    """The `n` sessions ending on `d` (included when it is a session), ascending."""
    if n < 1:
        raise ValueError("n must be >= 1")
    _check(d)
    s = _calendar().sessions
    i = bisect.bisect_right(s, d)
    if i < n:
        raise OutsideCalendar(f"fewer than {n} sessions up to {d.isoformat()} in the calendar")
    return list(s[i - n : i])


def closure_reason(d: date) -> str | None:
    """None on a session; "weekend"; or "market holiday (<name>)", e.g. "(Christmas)"."""
    _check(d)
    if d.weekday() >= 5:
        return "weekend"
    name = _calendar().closures.get(d)
    return None if name is None else f"market holiday ({name})"


def closures_in_range(start: date, end: date) -> dict[date, str]:
    """Weekday closures in [start, end] -> holiday name (what the partitions exclude)."""
    _check(start)
    _check(end)
    return {d: n for d, n in sorted(_calendar().closures.items()) if start <= d <= end}


def is_early_close(d: date) -> bool:
    """True on a session that closes before 16:00 New York time (e.g. 13:00 on Christmas Eve)."""
    _check(d)
    return d in _calendar().closes


def close_time(d: date) -> datetime:
    """The session's close, tz-aware New York time: 16:00, or 13:00 on early closes.

    Raises ValueError when `d` is not a session.
    """
    if not is_session(d):
        raise ValueError(f"{d.isoformat()} is not an NYSE session ({closure_reason(d)})")
    return datetime.combine(d, _calendar().closes.get(d, REGULAR_CLOSE), tzinfo=NEW_YORK)


def now_in_new_york() -> datetime:
    """The current time in New York (tz-aware); the one clock market-day logic reads."""
    return datetime.now(NEW_YORK)


def today_in_new_york() -> date:
    """Today's date in New York: what "today's session" means, wherever the process runs."""
    return now_in_new_york().date()
