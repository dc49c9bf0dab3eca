"""The trader's row from a stored dealer-metrics document (constructed documents)."""

import pytest

from options_pipeline.metrics.summary import CSV_COLUMNS, csv_row, render_table, summary, usd

DOC = {
    "spot": 500.0,
    "gex_net": -523_000_000.0,
    "gex_total": 4_100_000_000.0,
    "flip": 510.0,
    "position": "short_gamma",
    "abs_gamma_strike": 505.0,
    "units": "USD per 1% move",
    "convention": "dealer_long_calls_short_puts",
    "status_reason": "ok",
    "call_walls": [{"strike": 520.0, "gex": 812e6}, {"strike": 495.0, "gex": 300e6}],
    "put_walls": [{"strike": 480.0, "gex": -611e6}, {"strike": 500.0, "gex": -100e6}],
    "window": {
        "confidence_reasons": [
            "high: presence: 5/5 sessions valid",
            "low: flip spread 9.5% of spot over 5 session(s) (> 5%)",
        ]
    },
}


def _row(doc=DOC):
    return summary(
        doc,
        session="2025-12-22",
        symbol="SPY",
        status="FULL",
        confidence="low",
        days_present=5,
        window_days=5,
    )


def test_ratio_distance_and_sides():
    r = _row()
    assert r["net_total_ratio"] == pytest.approx(-523 / 4100)
    assert r["flip_distance_pct"] == pytest.approx(2.0)  # 510 is 2% above 500
    assert [w["side"] for w in r["call_walls"]] == ["above", "below"]
    assert [w["side"] for w in r["put_walls"]] == ["below", "at"]
    assert r["confidence_reasons"] == DOC["window"]["confidence_reasons"]


def test_invalid_day_has_no_numbers_and_no_crash():
    r = _row(
        {
            "spot": None,
            "gex_net": None,
            "gex_total": None,
            "flip": None,
            "call_walls": [],
            "put_walls": [],
            "window": {},
        }
    )
    assert r["net_total_ratio"] is None and r["flip_distance_pct"] is None
    assert r["confidence_reasons"] == []
    assert csv_row(r)[CSV_COLUMNS.index("call_wall")] == ""
    assert render_table("symbol", [("SPY", r)])[1].split()[1:4] == ["-", "-", "-"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-523_000_000, "-$523M"),
        (4_100_000_000, "$4.10B"),
        (72_600_000, "$72.6M"),
        (999, "$999"),
        (0, "$0"),
        (1.5e12, "$1.50T"),
        (None, "-"),
    ],
)
def test_usd(value, text):
    assert usd(value) == text


def test_table_row_reads_like_a_trader_would_say_it():
    header, line = render_table("symbol", [("SPY", _row())])
    assert header.split()[0] == "symbol" and "spot→flip" in header
    assert line.split() == [
        "SPY",
        "500.00",
        "-$523M",
        "$4.10B",
        "-12.8%",
        "510.00",
        "+2.0%",
        "520",
        "$812M",
        "above",
        "480",
        "-$611M",
        "below",
        "505",
        "FULL",
        "low",
        "5/5",
    ]
