"""Window confidence and stability against hand-computed values."""

from __future__ import annotations

import json
from datetime import date

import pytest

from options_pipeline.metrics import (
    DayMetrics,
    MetricsParams,
    StrikeLevel,
    WindowParams,
    summarize_window,
)

DAYS = [date(2024, 6, 3), date(2024, 6, 4), date(2024, 6, 5), date(2024, 6, 6), date(2024, 6, 7)]
D = DAYS[-1]


def _day(as_of, *, flip=100.0, call=110.0, put=90.0, net=1e9, total=1e10, status="FULL"):
    return DayMetrics(
        symbol="SPY",
        as_of=as_of,
        spot=100.0,
        status=status,
        status_reason="test",
        params=MetricsParams(),
        total_contracts=100,
        eligible_contracts=50,
        excluded={},
        gex_net=net,
        gex_total=total,
        position="long_gamma",
        flip=flip,
        call_walls=(StrikeLevel(call, 5e8), StrikeLevel(call + 5, 4e8)) if call else (),
        put_walls=(StrikeLevel(put, -5e8),) if put else (),
    )


def _window(**overrides):
    return {d: overrides.get(d.isoformat(), _day(d)) for d in DAYS}


def test_all_five_days_is_high():
    s = summarize_window(_window(), as_of=D)
    assert (s.days_present, s.days_valid, s.confidence) == (5, 5, "high")
    assert s.days == tuple(DAYS)
    assert s.missing_days == ()


def test_four_of_five_is_medium():
    s = summarize_window(_window(**{"2024-06-04": None}), as_of=D)
    assert (s.days_present, s.days_valid, s.confidence) == (4, 4, "medium")
    assert s.missing_days == (date(2024, 6, 4),)


def test_three_of_five_is_low():
    s = summarize_window(_window(**{"2024-06-03": None, "2024-06-05": None}), as_of=D)
    assert (s.days_present, s.confidence) == (3, "low")


def test_invalid_day_counts_as_present_but_not_valid():
    bad = _day(DAYS[0], status="INVALID", flip=None, call=None, put=None, net=None, total=None)
    s = summarize_window(_window(**{"2024-06-03": bad}), as_of=D)
    assert (s.days_present, s.days_valid, s.confidence) == (5, 4, "medium")
    assert s.invalid_days == (DAYS[0],)


def test_own_day_missing_raises_naming_the_day():
    with pytest.raises(ValueError, match="2024-06-07"):
        summarize_window(_window(**{"2024-06-07": None}), as_of=D)
    days = _window()
    del days[D]
    with pytest.raises(ValueError, match="2024-06-07"):
        summarize_window(days, as_of=D)


def test_too_few_days_raises():
    days = {d: _day(d) for d in DAYS[2:]}
    with pytest.raises(ValueError, match="need the 5 trading days"):
        summarize_window(days, as_of=D)


def test_later_days_ignored_and_window_configurable():
    days = _window()
    days[date(2024, 6, 10)] = None
    s = summarize_window(days, as_of=D, params=WindowParams(window=3))
    assert s.days == tuple(DAYS[2:])
    assert s.confidence == "high"


def test_stability_numbers_by_hand():
    days = {
        DAYS[0]: _day(DAYS[0], flip=100.0, call=110.0, put=90.0, net=1e9),
        DAYS[1]: _day(DAYS[1], flip=102.0, call=105.0, put=90.0, net=3e9),
        DAYS[2]: _day(DAYS[2], flip=None, call=110.0, put=85.0, net=2e9),
        DAYS[3]: _day(DAYS[3], flip=98.0, call=110.0, put=85.0, net=5e9),
        DAYS[4]: _day(DAYS[4], flip=101.0, call=110.0, put=90.0, net=4e9),
    }
    s = summarize_window(days, as_of=D)
    # flips 100, 102, 98, 101 -> median (100 + 101)/2, range 102 − 98
    assert s.flip_days == 4
    assert s.flip_median == pytest.approx(100.5)
    assert s.flip_spread == pytest.approx(4.0)
    assert s.flip_spread_pct == pytest.approx(4.0)  # spot 100
    # D's walls: call 110 held on 4 days (not 06-04), put 90 on 3 days
    assert (s.primary_call_wall, s.call_wall_held_days) == (110.0, 4)
    assert (s.primary_put_wall, s.put_wall_held_days) == (90.0, 3)
    # y = 1, 3, 2, 5, 4 (e9) at x = 0..4: Σ(x−2)(y−3) = 4 + 0 + 0 + 2 + 2 = 8, Σ(x−2)² = 10
    assert s.gex_net_slope == pytest.approx(0.8e9)
    # fitted change 0.8e9 · 4 = 3.2e9 > 10 % of mean total 1e10 -> rising
    assert s.gex_net_trend == "rising"


def test_trend_uses_trading_day_positions_with_gaps():
    # missing 06-04: points (0, 1), (2, 2), (3, 5), (4, 4) e9
    days = {
        DAYS[0]: _day(DAYS[0], net=1e9),
        DAYS[1]: None,
        DAYS[2]: _day(DAYS[2], net=2e9),
        DAYS[3]: _day(DAYS[3], net=5e9),
        DAYS[4]: _day(DAYS[4], net=4e9),
    }
    # x̄ = 9/4, ȳ = 3: Σ(x−x̄)(y−ȳ) = (−2.25)(−2) + (−0.25)(−1) + (0.75)(2) + (1.75)(1) = 8
    # Σ(x−x̄)² = 5.0625 + 0.0625 + 0.5625 + 3.0625 = 8.75
    s = summarize_window(days, as_of=D)
    assert s.gex_net_slope == pytest.approx(8e9 / 8.75)


@pytest.mark.parametrize(
    ("nets", "trend"),
    [
        ((5.0, 5.1, 4.9, 5.0, 5.05), "flat"),  # slope 0.0 -> flat
        ((5.0, 4.0, 3.0, 2.0, 1.0), "falling"),
        ((1.0, 1.0, 1.0, 1.0, 1.25), "flat"),  # slope 0.05, change 0.2 < 10 % of 10 = 1.0
    ],
)
def test_trend_words(nets, trend):
    days = {d: _day(d, net=n * 1e9, total=10e9) for d, n in zip(DAYS, nets, strict=True)}
    assert summarize_window(days, as_of=D).gex_net_trend == trend


def test_single_valid_day_has_no_trend_or_spread_of_one():
    days = {d: None for d in DAYS[:-1]} | {D: _day(D, flip=99.0)}
    s = summarize_window(days, as_of=D)
    assert s.confidence == "low"
    assert s.gex_net_slope is None
    assert s.gex_net_trend == "insufficient"
    assert (s.flip_median, s.flip_spread) == (99.0, 0.0)
    assert s.call_wall_held_days == 1


def test_no_walls_on_own_day():
    days = _window(**{"2024-06-07": _day(D, call=None, put=None)})
    s = summarize_window(days, as_of=D)
    assert s.primary_call_wall is None and s.call_wall_held_days is None
    assert s.primary_put_wall is None and s.put_wall_held_days is None


def test_to_dict_is_json():
    s = summarize_window(_window(**{"2024-06-04": None}), as_of=D)
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert d["as_of"] == "2024-06-07"
    assert d["missing_days"] == ["2024-06-04"]
    assert d["confidence"] == "medium"
    assert d["params"]["window"] == 5


# --- confidence = the lowest of presence, flip dispersion and wall persistence ------------------
# Spot is 100 on every constructed day, so a flip spread of x strike points is x% of spot.


def _flips(*flips):
    return {d: _day(d, flip=f) for d, f in zip(DAYS, flips, strict=True)}


def test_five_of_five_with_the_flip_moving_9_5_percent_is_low():
    s = summarize_window(_flips(95.0, 97.0, 100.0, 102.0, 104.5), as_of=D)
    assert s.days_valid == 5 and s.flip_spread_pct == pytest.approx(9.5)
    assert s.confidence == "low"
    assert s.confidence_reasons == (
        "high: presence: 5/5 sessions valid",
        "low: flip spread 9.5% of spot over 5 session(s) (> 5%)",
        "high: walls: call wall 110 held 5/5, put wall 90 held 5/5 (>= 80%)",
    )


@pytest.mark.parametrize(
    ("flips", "grade"),
    [
        ((100.0, 100.5, 101.0, 101.5, 102.5), "high"),  # 2.5% spread: the high limit itself
        ((100.0, 100.5, 101.0, 101.5, 102.6), "medium"),
        ((100.0, 101.0, 102.0, 103.0, 105.0), "medium"),  # 5.0%: the medium limit itself
        ((100.0, 101.0, 102.0, 103.0, 105.1), "low"),
    ],
)
def test_flip_dispersion_thresholds(flips, grade):
    assert summarize_window(_flips(*flips), as_of=D).confidence == grade


def test_a_flip_missing_on_a_valid_session_caps_at_medium():
    s = summarize_window(_flips(None, 100.0, 100.0, 100.0, 100.0), as_of=D)
    assert s.confidence == "medium"
    assert s.confidence_reasons[1] == (
        "medium: flip spread 0.0% of spot over 4 session(s) "
        "(<= 2.5%), missing on 1 valid session(s)"
    )


@pytest.mark.parametrize(
    ("moved", "grade", "held"),
    [
        (1, "high", 4),  # 4/5 = 80%
        (2, "medium", 3),  # 3/5 = 60%
        (3, "low", 2),  # 2/5 = 40% < 50%
    ],
)
def test_wall_persistence_thresholds(moved, grade, held):
    days = {d: _day(d, put=85.0 if i < moved else 90.0) for i, d in enumerate(DAYS)}
    s = summarize_window(days, as_of=D)
    assert s.put_wall_held_days == held and s.call_wall_held_days == 5
    assert s.confidence == grade
    assert s.confidence_reasons[2].startswith(
        f"{grade}: walls: call wall 110 held 5/5, put wall 90 held {held}/5"
    )


def test_no_put_wall_on_the_session_caps_at_medium():
    days = {d: _day(d, put=None) for d in DAYS}
    s = summarize_window(days, as_of=D)
    assert s.confidence == "medium"
    assert s.confidence_reasons[2] == (
        "medium: walls: call wall 110 held 5/5, no put wall on the session (>= 80%)"
    )


def test_presence_still_grades_and_reasons_are_in_the_json():
    s = summarize_window(_window(**{"2024-06-04": None}), as_of=D)
    assert s.confidence == "medium"
    reasons = json.loads(json.dumps(s.to_dict(), allow_nan=False))["confidence_reasons"]
    assert reasons[0] == "medium: presence: 4/5 sessions valid"


def test_threshold_order_is_checked():
    with pytest.raises(ValueError):
        WindowParams(flip_spread_high_pct=6.0)
    with pytest.raises(ValueError):
        WindowParams(wall_held_medium=0.9)
