"""Day metrics against hand arithmetic and independently written oracles (scipy brentq)."""

from __future__ import annotations

import json
import math
import pickle
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from options_pipeline.metrics import ChainArrays, MetricsParams, compute_day_metrics

AS_OF = date(2024, 6, 3)


def _chain(contracts, *, spot=100.0, as_of=AS_OF):
    """contracts: dicts with strike, type, dte, iv, oi and optional volume / multiplier."""
    return ChainArrays.from_columns(
        as_of=as_of,
        spot=spot,
        symbol="TEST",
        strike=[c["strike"] for c in contracts],
        option_type=[c["type"] for c in contracts],
        expiration_date=[as_of + timedelta(days=c["dte"]) for c in contracts],
        implied_volatility=[c["iv"] for c in contracts],
        open_interest=[c["oi"] for c in contracts],
        volume=[c.get("volume", 10) for c in contracts],
        multiplier=[c.get("multiplier", 100) for c in contracts],
    )


def _gamma(s, k, t, sigma):
    """Black–Scholes gamma with r = q = 0, written out for the oracles."""
    d1 = (math.log(s / k) + 0.5 * sigma * sigma * t) / (sigma * math.sqrt(t))
    return math.exp(-0.5 * d1 * d1) / (math.sqrt(2 * math.pi) * s * sigma * math.sqrt(t))


def _net_gex(x, contracts, call_sign=1.0):
    """Independent net GEX at hypothetical spot x (USD per 1% move)."""
    total = 0.0
    for c in contracts:
        sign = call_sign if c["type"] == "C" else -call_sign
        g = _gamma(x, c["strike"], c["dte"] / 365, c["iv"])
        total += sign * g * c["oi"] * c.get("multiplier", 100) * x * x * 0.01
    return total


# ---------------------------------------------------------------------------- hand arithmetic


THREE = [
    {"strike": 100.0, "type": "C", "dte": 30, "iv": 0.20, "oi": 1000},
    {"strike": 95.0, "type": "P", "dte": 30, "iv": 0.25, "oi": 2000},
    {"strike": 110.0, "type": "C", "dte": 60, "iv": 0.18, "oi": 500},
]


def test_three_contract_gex_by_hand():
    s = 100.0
    # contract 1: ATM call, d1 = (0 + 0.02·30/365) / (0.2·√(30/365))
    t1 = 30 / 365
    d1_1 = (0.5 * 0.04 * t1) / (0.2 * math.sqrt(t1))
    g1 = math.exp(-(d1_1**2) / 2) / (math.sqrt(2 * math.pi) * 100 * 0.2 * math.sqrt(t1))
    gex1 = +g1 * 1000 * 100 * 100**2 * 0.01
    # contract 2: 95 put
    d1_2 = (math.log(100 / 95) + 0.5 * 0.0625 * t1) / (0.25 * math.sqrt(t1))
    g2 = math.exp(-(d1_2**2) / 2) / (math.sqrt(2 * math.pi) * 100 * 0.25 * math.sqrt(t1))
    gex2 = -g2 * 2000 * 100 * 100**2 * 0.01
    # contract 3: 110 call, 60 days
    t3 = 60 / 365
    d1_3 = (math.log(100 / 110) + 0.5 * 0.0324 * t3) / (0.18 * math.sqrt(t3))
    g3 = math.exp(-(d1_3**2) / 2) / (math.sqrt(2 * math.pi) * 100 * 0.18 * math.sqrt(t3))
    gex3 = +g3 * 500 * 100 * 100**2 * 0.01

    m = compute_day_metrics(_chain(THREE, spot=s), MetricsParams(full_min_eligible=3))
    assert m.status == "FULL"
    assert m.eligible_contracts == 3
    assert m.gex_net == pytest.approx(gex1 + gex2 + gex3, rel=1e-12)
    assert m.gex_total == pytest.approx(abs(gex1) + abs(gex2) + abs(gex3), rel=1e-12)
    assert m.strikes.tolist() == [95.0, 100.0, 110.0]
    np.testing.assert_allclose(m.gex_by_strike, [gex2, gex1, gex3], rtol=1e-12)
    np.testing.assert_allclose(m.call_gex_by_strike, [0.0, gex1, gex3], rtol=1e-12)
    np.testing.assert_allclose(m.put_gex_by_strike, [gex2, 0.0, 0.0], rtol=1e-12)
    # walls: calls ordered by |GEX|, the single put
    assert [w.strike for w in m.call_walls] == sorted(
        [100.0, 110.0], key=lambda k: -abs({100.0: gex1, 110.0: gex3}[k])
    )
    assert [w.strike for w in m.put_walls] == [95.0]
    assert m.put_walls[0].gex == pytest.approx(gex2)
    expected_abs = max([(abs(gex2), 95.0), (abs(gex1), 100.0), (abs(gex3), 110.0)])[1]
    assert m.abs_gamma_strike == expected_abs
    assert m.convention == "dealer_long_calls_short_puts"
    assert m.units == "USD per 1% move"


def test_same_strike_call_and_put_aggregate():
    chain = _chain(
        [
            {"strike": 100.0, "type": "C", "dte": 30, "iv": 0.2, "oi": 1000},
            {"strike": 100.0, "type": "C", "dte": 60, "iv": 0.2, "oi": 1000},
            {"strike": 100.0, "type": "P", "dte": 30, "iv": 0.2, "oi": 500},
        ]
    )
    m = compute_day_metrics(chain)
    g30 = _gamma(100, 100, 30 / 365, 0.2) * 100 * 100 * 100 * 0.01
    g60 = _gamma(100, 100, 60 / 365, 0.2) * 100 * 100 * 100 * 0.01
    assert m.strikes.tolist() == [100.0]
    assert m.call_gex_by_strike[0] == pytest.approx(1000 * (g30 + g60))
    assert m.put_gex_by_strike[0] == pytest.approx(-500 * g30)
    assert m.gex_by_strike[0] == pytest.approx(1000 * (g30 + g60) - 500 * g30)


def test_convention_switch_negates_everything_signed():
    chain = _chain(THREE)
    a = compute_day_metrics(chain)
    b = compute_day_metrics(chain, MetricsParams(convention="dealer_short_calls_long_puts"))
    assert b.convention == "dealer_short_calls_long_puts"
    assert b.gex_net == pytest.approx(-a.gex_net)
    assert b.gex_total == pytest.approx(a.gex_total)
    np.testing.assert_allclose(b.gex_by_strike, -a.gex_by_strike)
    np.testing.assert_allclose(b.profile_gex, -a.profile_gex)
    assert b.gex_slope == pytest.approx(-a.gex_slope)
    assert b.crossings == pytest.approx(a.crossings)
    assert [w.strike for w in b.call_walls] == [w.strike for w in a.call_walls]


def test_unknown_convention_rejected():
    with pytest.raises(ValueError, match="convention"):
        MetricsParams(convention="dealer_flat")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("put_oi", "position"),
    [(1000, "neutral"), (1100, "neutral"), (1200, "short_gamma"), (800, "long_gamma")],
)
def test_position_threshold(put_oi, position):
    # same strike, expiry and IV: |GEX| proportional to OI, so net/total = (1000 − P)/(1000 + P)
    # 1100 → −4.8 % (inside ±5 %), 1200 → −9.1 %, 800 → +11.1 %
    chain = _chain(
        [
            {"strike": 100.0, "type": "C", "dte": 30, "iv": 0.2, "oi": 1000},
            {"strike": 100.0, "type": "P", "dte": 30, "iv": 0.2, "oi": put_oi},
        ]
    )
    assert compute_day_metrics(chain).position == position


# ---------------------------------------------------------------------------- flip


def test_flip_matches_closed_form():
    # One call at Kc and one put at Kp, same OI/expiry/IV, r = q = 0: the call and put gammas
    # (times x²) are equal where φ(d1c) = φ(d1p), i.e. d1c = −d1p, giving
    # x* = sqrt(Kc·Kp)·exp(−σ²T/2). Below x* the put dominates (net < 0), above the call does.
    kp, kc, sigma, dte = 90.0, 110.0, 0.30, 30
    x_star = math.sqrt(kc * kp) * math.exp(-(sigma**2) * (dte / 365) / 2)
    contracts = [
        {"strike": kp, "type": "P", "dte": dte, "iv": sigma, "oi": 1000},
        {"strike": kc, "type": "C", "dte": dte, "iv": sigma, "oi": 1000},
    ]
    m = compute_day_metrics(_chain(contracts, spot=100.0))
    assert m.status == "LIMITED"
    assert m.flip == pytest.approx(x_star, rel=1e-8)
    assert m.crossings == pytest.approx((x_star,), rel=1e-8)
    assert m.flip_reason is None
    assert m.profile_gex[0] < 0 < m.profile_gex[-1]


BRENTQ_CHAINS = {
    "one_crossing": [
        {"strike": 95.0, "type": "P", "dte": 45, "iv": 0.35, "oi": 3000},
        {"strike": 92.0, "type": "P", "dte": 10, "iv": 0.40, "oi": 800},
        {"strike": 104.0, "type": "C", "dte": 20, "iv": 0.25, "oi": 2500},
        {"strike": 110.0, "type": "C", "dte": 45, "iv": 0.22, "oi": 1500},
    ],
    "three_crossings": [  # put / call / put / call clusters: − + − + along the spot axis
        {"strike": 88.0, "type": "P", "dte": 30, "iv": 0.30, "oi": 4000},
        {"strike": 99.0, "type": "C", "dte": 14, "iv": 0.20, "oi": 1500},
        {"strike": 106.0, "type": "P", "dte": 14, "iv": 0.20, "oi": 2500},
        {"strike": 116.0, "type": "C", "dte": 30, "iv": 0.25, "oi": 6000},
    ],
}


@pytest.mark.parametrize("name", sorted(BRENTQ_CHAINS))
def test_flip_matches_brentq_on_independent_function(name):
    contracts = BRENTQ_CHAINS[name]
    spot = 101.0
    m = compute_day_metrics(_chain(contracts, spot=spot))

    def f(x):
        return _net_gex(x, contracts)

    xs = np.linspace(0.8 * spot, 1.2 * spot, 2001)
    vals = np.array([f(x) for x in xs])
    idx = np.flatnonzero(np.sign(vals[1:]) != np.sign(vals[:-1]))
    roots = [brentq(f, xs[i], xs[i + 1], xtol=1e-12) for i in idx]
    assert len(roots) == (1 if name == "one_crossing" else 3)
    assert m.crossings == pytest.approx(tuple(roots), rel=1e-8)
    assert all(type(c) is float for c in m.crossings)
    assert m.flip == pytest.approx(min(roots, key=lambda r: abs(r - spot)), rel=1e-8)


def test_profile_is_repriced_and_agrees_with_spot_gex():
    contracts = THREE
    m = compute_day_metrics(_chain(contracts, spot=100.0))
    assert m.profile_spots.size == 201
    assert m.profile_spots[0] == pytest.approx(80.0)
    assert m.profile_spots[-1] == pytest.approx(120.0)
    # gamma is re-priced at each hypothetical spot, with S² at that spot
    for i in (0, 37, 150, 200):
        x = m.profile_spots[i]
        assert m.profile_gex[i] == pytest.approx(_net_gex(x, contracts), rel=1e-10)
    # the odd grid puts the spot on a node, where the profile equals the spot GEX
    assert m.profile_spots[100] == pytest.approx(100.0)
    assert m.profile_gex[100] == pytest.approx(m.gex_net, rel=1e-10)


def test_gex_slope_by_hand():
    contracts = THREE
    spot = 100.0
    m = compute_day_metrics(_chain(contracts, spot=spot))
    want = (_net_gex(102.0, contracts) - _net_gex(98.0, contracts)) / (0.04 * spot)
    assert m.gex_slope == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize(
    ("convention", "side"),
    [("dealer_long_calls_short_puts", "positive"), ("dealer_short_calls_long_puts", "negative")],
)
def test_calls_only_has_no_flip(convention, side):
    contracts = [
        {"strike": k, "type": "C", "dte": d, "iv": 0.25, "oi": 1000}
        for k in (90.0, 100.0, 105.0, 115.0)
        for d in (2, 30)
    ]
    m = compute_day_metrics(_chain(contracts), MetricsParams(convention=convention))
    assert m.flip is None
    assert m.crossings == ()
    assert "no sign change" in m.flip_reason
    assert side in m.flip_reason
    assert m.put_walls == ()


def test_underflowed_tail_is_not_a_crossing():
    # a same-day call far from the edges of the grid: its gamma underflows to exactly 0 there
    contracts = [{"strike": 100.0, "type": "C", "dte": 0, "iv": 0.10, "oi": 1000}]
    m = compute_day_metrics(_chain(contracts))
    assert (m.profile_gex == 0).any()
    assert m.flip is None
    assert m.crossings == ()


def test_grid_is_configurable():
    m = compute_day_metrics(_chain(THREE), MetricsParams(grid_points=400, grid_range=0.1))
    assert m.profile_spots.size == 400
    assert m.profile_spots[0] == pytest.approx(90.0)
    assert m.profile_spots[-1] == pytest.approx(110.0)


# ---------------------------------------------------------------------------- eligibility


BASE = {"strike": 100.0, "type": "C", "dte": 30, "iv": 0.2, "oi": 500, "volume": 10}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"dte": -1}, "expired"),
        ({"dte": 91}, "dte_above_max"),
        ({"iv": None}, "no_iv"),
        ({"iv": 0.0}, "no_iv"),
        ({"iv": float("nan")}, "no_iv"),
        ({"oi": None}, "no_open_interest"),
        ({"oi": 0}, "no_open_interest"),
        ({"oi": 99}, "open_interest_below_min"),
        ({"volume": 0}, "volume_below_min"),
        ({"volume": None}, "volume_below_min"),
        ({"strike": 0.0}, "bad_strike_or_multiplier"),
    ],
)
def test_each_filter_excludes_what_it_should(change, reason):
    chain = _chain([BASE, {**BASE, **change}])
    m = compute_day_metrics(chain)
    assert m.total_contracts == 2
    assert m.eligible_contracts == 1
    assert m.excluded[reason] == 1
    assert sum(m.excluded.values()) == 1
    # the excluded contract contributes nothing: same as the base contract alone
    alone = compute_day_metrics(_chain([BASE]))
    assert m.gex_net == pytest.approx(alone.gex_net)


@pytest.mark.parametrize(
    "change", [{"dte": 0}, {"dte": 90}, {"oi": 100}, {"volume": 1}, {"iv": 3.0}]
)
def test_boundaries_are_eligible(change):
    m = compute_day_metrics(_chain([{**BASE, **change}]))
    assert m.eligible_contracts == 1
    assert m.status == "LIMITED"


def test_same_day_expiry_uses_time_floor():
    params = MetricsParams(time_floor_years=1 / (365 * 24))
    m = compute_day_metrics(_chain([{**BASE, "dte": 0}]), params)
    g = _gamma(100.0, 100.0, 1 / (365 * 24), 0.2)
    assert m.gex_net == pytest.approx(g * 500 * 100 * 100**2 * 0.01, rel=1e-12)


def test_filters_are_configurable():
    chain = _chain([{**BASE, "oi": 50, "volume": 0, "dte": 120}])
    assert compute_day_metrics(chain).eligible_contracts == 0
    loose = MetricsParams(min_open_interest=1, min_volume=0, max_dte_days=365)
    assert compute_day_metrics(chain, loose).eligible_contracts == 1
    strict = MetricsParams(min_dte_days=1)
    m = compute_day_metrics(_chain([{**BASE, "dte": 0}]), strict)
    assert m.excluded["dte_below_min"] == 1


# ---------------------------------------------------------------------------- status


def test_full_needs_25_eligible():
    contracts = [{**BASE, "strike": 80.0 + i} for i in range(25)]
    assert compute_day_metrics(_chain(contracts)).status == "FULL"
    m = compute_day_metrics(_chain(contracts[:24]))
    assert m.status == "LIMITED"
    assert "24" in m.status_reason


@pytest.mark.parametrize("spot", [None, 0.0, -5.0, float("nan")])
def test_no_spot_is_invalid(spot):
    m = compute_day_metrics(_chain(THREE, spot=spot))
    assert m.status == "INVALID"
    assert m.status_reason == "no spot"
    assert m.eligible_contracts == 3
    assert m.gex_net is None
    assert m.flip is None
    assert m.flip_reason == "no spot"
    json.loads(json.dumps(m.to_dict(), allow_nan=False))


def test_no_eligible_is_invalid():
    m = compute_day_metrics(_chain([{**BASE, "oi": 5}]))
    assert m.status == "INVALID"
    assert m.status_reason == "no eligible contracts"
    assert m.call_walls == ()
    assert m.strikes.size == 0


def test_empty_chain_is_invalid():
    m = compute_day_metrics(_chain([]))
    assert m.status == "INVALID"
    assert m.total_contracts == 0


def test_limited_threshold_configurable():
    m = compute_day_metrics(_chain(THREE), MetricsParams(limited_min_eligible=5))
    assert m.status == "INVALID"
    assert "< 5" in m.status_reason


# ---------------------------------------------------------------------------- walls


def test_walls_stay_within_range():
    # a huge, long-dated, high-IV put at 70 (−30 %) has the largest |GEX| of all strikes,
    # but lies outside ±20 % of spot, so it is the absolute-gamma strike yet no put wall
    contracts = [
        {"strike": 70.0, "type": "P", "dte": 90, "iv": 0.6, "oi": 5_000_000},
        {"strike": 95.0, "type": "P", "dte": 30, "iv": 0.25, "oi": 1000},
        {"strike": 90.0, "type": "P", "dte": 30, "iv": 0.25, "oi": 1000},
        {"strike": 85.0, "type": "P", "dte": 30, "iv": 0.25, "oi": 1000},
        {"strike": 82.0, "type": "P", "dte": 30, "iv": 0.25, "oi": 1000},
        {"strike": 105.0, "type": "C", "dte": 30, "iv": 0.25, "oi": 1000},
        {"strike": 150.0, "type": "C", "dte": 90, "iv": 0.6, "oi": 5_000_000},
    ]
    m = compute_day_metrics(_chain(contracts))
    by = dict(zip(m.strikes.tolist(), np.abs(m.gex_by_strike).tolist(), strict=True))
    assert by[70.0] > max(by[k] for k in (95.0, 90.0, 85.0, 82.0))
    # oracle: |GEX| per strike from the independent function, one contract at a time
    abs_by = {c["strike"]: abs(_net_gex(100.0, [c])) for c in contracts}
    assert m.abs_gamma_strike == max(abs_by, key=abs_by.__getitem__)
    assert m.abs_gamma_strike in (70.0, 150.0)
    assert [w.strike for w in m.put_walls] == [95.0, 90.0, 85.0]  # top 3 by |GEX|, in range
    assert [w.strike for w in m.call_walls] == [105.0]
    wide = compute_day_metrics(_chain(contracts), MetricsParams(wall_range=0.35))
    assert wide.put_walls[0].strike == 70.0


# ---------------------------------------------------------------------------- input / output


def test_from_columns_takes_missing_values_as_nan_and_is_read_only():
    chain = ChainArrays.from_columns(
        as_of=AS_OF,
        spot=100.0,
        strike=[100.0, 95.0],
        option_type=["C", "p"],
        expiration_date=[date(2024, 7, 3), date(2024, 7, 3)],
        implied_volatility=[0.2, None],
        open_interest=[500, None],
        volume=[10, None],
    )
    assert chain.is_call.tolist() == [True, False]
    assert np.isnan(chain.iv[1]) and np.isnan(chain.open_interest[1])
    assert chain.multiplier.tolist() == [100.0, 100.0]
    assert not chain.strike.flags.writeable
    assert len(chain) == 2


def test_from_columns_accepts_pandas_nullable_and_bool_types():
    df = pd.DataFrame(
        {
            "strike": [100.0, 95.0],
            "option_type": ["C", "P"],
            "expiration_date": pd.to_datetime(["2024-07-03", "2024-07-03"]),
            "implied_volatility": pd.array([0.2, pd.NA], dtype="Float64"),
            "open_interest": pd.array([500, pd.NA], dtype="Int64"),
            "volume": pd.array([10, 3], dtype="Int64"),
        }
    )
    chain = ChainArrays.from_columns(as_of=AS_OF, spot=100.0, **df.to_dict("series"))
    assert chain.expiration.dtype == np.dtype("datetime64[D]")
    assert np.isnan(chain.iv[1])
    assert compute_day_metrics(chain).eligible_contracts == 1
    with pytest.raises(ValueError, match="option_type"):
        ChainArrays.from_columns(
            as_of=AS_OF,
            spot=1.0,
            strike=[1.0],
            option_type=["X"],
            expiration_date=[AS_OF],
            implied_volatility=[0.2],
            open_interest=[1],
            volume=[1],
        )


def test_to_dict_is_json_and_pickle_roundtrips():
    m = compute_day_metrics(_chain(THREE))
    d = json.loads(json.dumps(m.to_dict(include_profile=True), allow_nan=False))
    assert d["as_of"] == "2024-06-03"
    assert d["units"] == "USD per 1% move"
    assert d["convention"] == "dealer_long_calls_short_puts"
    assert d["contracts"]["eligible"] == 3
    assert d["gex_net"] == pytest.approx(m.gex_net)
    assert d["call_walls"][0].keys() == {"strike", "gex"}
    assert len(d["by_strike"]["strike"]) == len(d["by_strike"]["net"]) == 3
    assert len(d["profile"]["spot"]) == 201
    assert d["params"]["min_open_interest"] == 100
    assert "profile" not in m.to_dict()
    back = pickle.loads(pickle.dumps(m))
    assert back.gex_net == m.gex_net
    assert back.call_walls == m.call_walls
