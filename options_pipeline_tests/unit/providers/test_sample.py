"""The sample market: deterministic, realistic enough, closed on holidays, BS greeks correct."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest
from scipy.stats import norm

from options_pipeline.providers.base import NoContracts, ProviderConfigError
from options_pipeline.providers.sample import (
    RISK_FREE,
    SampleProvider,
    profile,
    sample_chain,
    spot_price,
)

D = date(2025, 3, 14)


def test_same_inputs_same_snapshot() -> None:
    a = sample_chain("SPY", D, 2000)
    b = sample_chain("SPY", D, 2000)
    assert a == b
    assert SampleProvider(contracts_per_symbol=2000).fetch_chain("SPY", D) == a


def test_different_dates_different_spot_and_walk_is_path_independent() -> None:
    later = date(2025, 6, 13)
    s_later_first = spot_price("QQQ", later)
    s1, s2 = spot_price("QQQ", D), spot_price("QQQ", later)
    assert s1 != s2
    assert s_later_first == s2
    assert sample_chain("QQQ", D, 100).underlying_price == s1  # independent of chain size
    assert sample_chain("QQQ", D, 3000).underlying_price == s1
    assert sample_chain("QQQ", D, 100).quotes != sample_chain("QQQ", D + timedelta(3), 100).quotes


def test_plausible_start_prices() -> None:
    anchor = date(2025, 1, 2)
    assert spot_price("SPY", anchor) == 600.0
    assert spot_price("QQQ", anchor) == 520.0
    assert spot_price("IWM", anchor) == 240.0
    assert spot_price("AAPL", anchor) == 230.0
    assert 20.0 <= spot_price("ZZTOP", anchor) <= 500.0
    # a year of daily moves stays in a believable band
    assert 400 < spot_price("SPY", D) < 800


def test_realistic_shape() -> None:
    snap = sample_chain("SPY", D, 6000)
    spot = snap.underlying_price
    assert spot is not None
    quotes = snap.quotes
    assert abs(len(quotes) - 6000) <= 60
    assert Counter(q.option_type for q in quotes) == {"C": len(quotes) // 2, "P": len(quotes) // 2}
    exps = sorted({q.expiration_date for q in quotes})
    assert exps[0] >= D and 300 <= (exps[-1] - D).days <= 400
    assert len(exps) >= 15
    strikes = np.array([q.strike for q in quotes])
    assert abs(np.median(strikes) / spot - 1) < 0.1
    near = [q for q in quotes if q.expiration_date == exps[0]]
    assert min(abs(q.strike - spot) for q in near) <= 1.0  # $1 strikes near the money
    assert all(q.bid is not None and q.ask is not None and 0 <= q.bid < q.ask for q in quotes)
    assert len({q.contract_symbol for q in quotes}) == len(quotes)

    # open interest: near the money, round strikes, near-dated expiries
    oi = np.array([q.open_interest for q in quotes], dtype=float)
    money = np.abs(np.log(strikes / spot))
    assert oi[money < 0.05].mean() > 3 * oi[money > 0.2].mean()
    nearby = money < 0.08
    round_ = np.array([q.strike % 10 == 0 for q in quotes]) & nearby
    odd = np.array([q.strike % 5 != 0 for q in quotes]) & nearby
    assert oi[round_].mean() > 1.2 * oi[odd].mean()
    per_expiry: Counter[date] = Counter()
    for q in quotes:
        per_expiry[q.expiration_date] += q.open_interest or 0
    assert per_expiry.most_common(1)[0][0] < D + timedelta(days=45)
    assert per_expiry[exps[1]] > per_expiry[exps[-1]]
    assert 5e6 < oi.sum() < 1e8

    # skew: one-month 90% put richer than 110% call
    month = min((e for e in exps if (e - D).days >= 25), key=lambda e: (e - D).days)
    by_k = {(q.strike, q.option_type): q for q in quotes if q.expiration_date == month}

    def iv_at(k: float, cp: str) -> float:
        key = min((x for x in by_k if x[1] == cp), key=lambda x: abs(x[0] - k))
        iv = by_k[key].implied_volatility
        assert iv is not None
        return iv

    assert iv_at(0.9 * spot, "P") > iv_at(spot, "C") > iv_at(1.1 * spot, "C") * 0.95


def test_size_is_configurable() -> None:
    for n in (10, 300, 20_000):
        snap = sample_chain("IWM", D, n)
        assert abs(len(snap.quotes) - n) <= max(2, n // 100)


def test_chain_greeks_are_the_bs_greeks_of_its_iv() -> None:
    snap = sample_chain("AAPL", D, 400)
    spot = snap.underlying_price
    assert spot is not None
    q_div = profile("AAPL").dividend_yield
    for quote in snap.quotes[::37]:
        t = ((quote.expiration_date - D).days + 0.3) / 365.0
        # the textbook closed form, with scipy's normal distribution as the reference
        vol, k = quote.implied_volatility, quote.strike
        assert vol is not None
        d1 = (math.log(spot / k) + (RISK_FREE - q_div + vol**2 / 2) * t) / (vol * math.sqrt(t))
        gamma = math.exp(-q_div * t) * norm.pdf(d1) / (spot * vol * math.sqrt(t))
        delta = math.exp(-q_div * t) * (norm.cdf(d1) if quote.option_type == "C" else -norm.sf(d1))
        assert quote.gamma is not None and math.isclose(quote.gamma, gamma, rel_tol=1e-4)
        assert quote.delta is not None
        assert math.isclose(quote.delta, delta, rel_tol=1e-4, abs_tol=1e-9)


# NYSE's published closures, incl. 2022-23 (before the old hand-typed list) and 2025-01-09
@pytest.mark.parametrize(
    ("holiday", "name"),
    [
        (date(2022, 4, 15), "Good Friday"),
        (date(2022, 6, 20), "Juneteenth"),
        (date(2022, 12, 26), "Christmas"),
        (date(2023, 7, 4), "July 4th"),
        (date(2023, 1, 2), "New Year"),
        (date(2025, 1, 9), "special closure"),
        (date(2025, 12, 25), "Christmas"),
        (date(2026, 7, 3), "July 4th"),
    ],
    ids=str,
)
def test_holidays_have_no_contracts(holiday: date, name: str) -> None:
    expected = rf"no trading on {holiday.isoformat()}: market holiday \(.*{name}"
    with pytest.raises(NoContracts, match=expected):
        SampleProvider(contracts_per_symbol=50).fetch_chain("SPY", holiday)


def test_weekends_have_no_contracts() -> None:
    with pytest.raises(NoContracts, match="weekend"):
        sample_chain("SPY", date(2025, 3, 15), 50)


def test_bad_size_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError):
        SampleProvider(contracts_per_symbol=0)
    with pytest.raises(ProviderConfigError):
        SampleProvider(contracts_per_symbol=10**9)
