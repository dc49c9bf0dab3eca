"""The ingestion modes as a pure function: --as-of, a range, or today (no database, no run)."""

import argparse
from datetime import date, timedelta

import numpy as np
import pytest

from options_pipeline.cli import UsageError, _ingest_parser, resolve_days
from options_pipeline_tests.unit.test_calendar import PUBLISHED_CLOSURES

TODAY = date(2026, 11, 24)


def _args(**kw) -> argparse.Namespace:
    base = {"as_of": None, "start_date": None, "end_date": None, "confirm_large_range": False}
    return argparse.Namespace(**(base | kw))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2025, 12, 15), date(2025, 12, 22)),
        (date(2025, 12, 20), date(2025, 12, 21)),
        (date(2024, 2, 26), date(2024, 3, 4)),
        (date(2025, 1, 1), date(2025, 12, 31)),
        (date(2025, 12, 22), date(2026, 1, 2)),
        (date(2025, 12, 25), date(2025, 12, 25)),
        (date(2022, 1, 3), date(2023, 12, 29)),
    ],
)
def test_range_expands_trading_days_only(start, end):
    # oracle: numpy's business-day calendar with NYSE's published closures as its holidays
    holidays = [np.datetime64(d) for d in PUBLISHED_CLOSURES]
    expected = [
        d.astype(object)
        for d in np.arange(np.datetime64(start), np.datetime64(end + timedelta(1)))
        if np.is_busday(d, holidays=holidays)
    ]
    args = _args(start_date=start, end_date=end, confirm_large_range=True)
    if not expected:
        with pytest.raises(UsageError, match="no NYSE sessions"):
            resolve_days(args, today=TODAY)
        return
    days = resolve_days(args, today=TODAY)
    assert days == expected
    if (start, end) == (date(2025, 12, 15), date(2025, 12, 22)):
        assert [d.day for d in days] == [15, 16, 17, 18, 19, 22]
    if (start, end) == (date(2025, 12, 22), date(2026, 1, 2)):
        assert len(days) == 8 and date(2025, 12, 25) not in days and date(2026, 1, 1) not in days


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {
                "as_of": date(2025, 12, 15),
                "start_date": date(2025, 12, 15),
                "end_date": date(2025, 12, 16),
            },
            "--as-of cannot be combined",
        ),
        (
            {"as_of": date(2025, 12, 15), "end_date": date(2025, 12, 16)},
            "--as-of cannot be combined",
        ),
        ({"start_date": date(2025, 12, 15)}, "--start-date requires --end-date"),
        ({"end_date": date(2025, 12, 15)}, "--end-date requires --start-date"),
        (
            {"start_date": date(2025, 12, 22), "end_date": date(2025, 12, 15)},
            "is before --start-date",
        ),
        (
            {"as_of": date(2025, 12, 20)},
            r"--as-of 2025-12-20 \(Saturday\) is not an NYSE session: weekend",
        ),
        ({"as_of": date(2025, 12, 25)}, r"is not an NYSE session: market holiday \(Christmas\)"),
        ({"as_of": date(2025, 1, 9)}, "is not an NYSE session: market holiday"),
        ({"as_of": TODAY + timedelta(days=1)}, "is in the future"),
    ],
)
def test_range_rejects_invalid_combinations(kw, message):
    with pytest.raises(UsageError, match=message):
        resolve_days(_args(**kw), today=TODAY)


@pytest.mark.parametrize(
    "argv", [["--as-of", "2025-13-01"], ["--start-date", "15/12/2025", "--end-date", "2025-12-22"]]
)
def test_unparseable_dates_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        _ingest_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid date" in err and len(err.strip().splitlines()) == 1


def test_no_flags_means_today_and_a_weekend_means_nothing_to_do():
    assert resolve_days(_args(), today=date(2025, 12, 19)) == [date(2025, 12, 19)]
    assert resolve_days(_args(), today=date(2025, 12, 20)) == []  # Saturday: quiet no-op
    assert resolve_days(_args(), today=date(2025, 12, 25)) == []  # Christmas: quiet no-op
