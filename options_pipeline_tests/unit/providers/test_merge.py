"""Two roots, one stored identity (SPX/SPXW): rows are merged, deterministically."""

from __future__ import annotations

import itertools
import math
from datetime import date

import numpy as np
import pytest

from options_pipeline.metrics.exposure import ChainArrays, MetricsParams, compute_day_metrics
from options_pipeline.models import ChainColumns, OptionQuote
from options_pipeline.providers.normalize import ChainBuilder
from options_pipeline.providers.sample import sample_chain
from options_pipeline_tests.polygon_server import split_roots

D = date(2025, 3, 14)


def row(root: str, **over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "contract_symbol": f"O:{root}250321C05700000",
        "expiration_date": "2025-03-21",
        "strike": 5700,
        "option_type": "call",
        "bid": 10.0,
        "ask": 10.4,
        "last": 10.2,
        "volume": 50,
        "open_interest": 1000,
        "implied_volatility": 0.20,
        "delta": 0.5,
        "gamma": 0.002,
        "theta": -1.5,
        "vega": 4.0,
    }
    base.update(over)
    return base


def build(*rows: dict[str, object]) -> tuple[OptionQuote, ...]:
    b = ChainBuilder("SPX", D)
    for r in rows:
        b.add(**r)  # type: ignore[arg-type]
    snap = b.build(provider="x", underlying_price=5700.0, underlying_price_source="x")
    return snap.quotes, snap.merged, snap.rejected  # type: ignore[return-value]


def test_sums_weights_and_quotes_of_the_larger_oi() -> None:
    am = row("SPX", open_interest=3000, volume=10, implied_volatility=0.20, delta=0.50, bid=10.0)
    pm = row(
        "SPXW",
        open_interest=1000,
        volume=90,
        implied_volatility=0.24,
        delta=0.54,
        bid=11.0,
        ask=11.3,
        last=None,
    )
    (q,), merged, rejected = build(am, pm)
    assert merged == 1 and rejected == {}
    assert q.open_interest == 4000 and q.volume == 100
    assert q.implied_volatility == pytest.approx((3000 * 0.20 + 1000 * 0.24) / 4000)
    assert q.delta == pytest.approx((3000 * 0.50 + 1000 * 0.54) / 4000)
    assert (q.bid, q.ask, q.last, q.contract_symbol) == (10.0, 10.4, 10.2, "SPX250321C05700000")


def test_weights_fall_back_to_volume_then_equal() -> None:
    no_oi = [
        row("SPX", open_interest=None, volume=30, implied_volatility=0.20),
        row("SPXW", open_interest=None, volume=10, implied_volatility=0.28),
    ]
    (q,), _, _ = build(*no_oi)
    assert q.open_interest is None and q.volume == 40
    assert q.implied_volatility == pytest.approx((30 * 0.20 + 10 * 0.28) / 40)
    neither = [
        row("SPX", open_interest=0, volume=None, implied_volatility=0.20),
        row("SPXW", open_interest=0, volume=None, implied_volatility=0.30),
    ]
    (q,), _, _ = build(*neither)
    assert q.implied_volatility == pytest.approx(0.25) and q.open_interest == 0
    one_iv = [
        row("SPX", open_interest=10, implied_volatility=None, delta=None),
        row("SPXW", open_interest=5, implied_volatility=0.3, delta=0.4),
    ]
    (q,), _, _ = build(*one_iv)
    assert q.implied_volatility == 0.3 and q.delta == 0.4  # a missing value carries no weight


def test_order_does_not_matter_and_repeats_stay_duplicates() -> None:
    rows = [
        row("SPX", open_interest=700, implied_volatility=0.21),
        row("SPXW", open_interest=700, implied_volatility=0.23, bid=9.0),
        row("SPX1", open_interest=11, implied_volatility=0.5),
    ]
    results = {build(*perm)[0] for perm in itertools.permutations(rows)}
    assert len(results) == 1
    (q,), merged, rejected = build(*rows, rows[1])  # a page served twice
    assert merged == 2 and rejected == {"duplicate": 1} and q.open_interest == 1411
    assert q.bid == 10.0  # OI tie: the first contract symbol in sort order, not page order


def _oracle_gex(rows: list[OptionQuote], spot: float, as_of: date) -> tuple[float, float]:
    """Net and absolute GEX ($ per 1%) of the unmerged rows: closed-form BS gamma, r = q = 0."""
    net = total = 0.0
    for q in rows:
        dte = (q.expiration_date - as_of).days
        oi, iv = q.open_interest or 0, q.implied_volatility or 0.0
        if not (0 <= dte <= 90 and oi >= 1 and iv > 0):
            continue
        t = max(dte / 365.0, 1.0 / (365.0 * 24.0))
        d1 = (math.log(spot / q.strike) + 0.5 * iv * iv * t) / (iv * math.sqrt(t))
        gamma = math.exp(-0.5 * d1 * d1) / (math.sqrt(2 * math.pi) * spot * iv * math.sqrt(t))
        gex = gamma * oi * 100 * spot * spot * 0.01
        net += gex if q.option_type == "C" else -gex
        total += gex
    return net, total


def test_dealer_metrics_of_a_merged_two_root_chain_match_the_unmerged_rows() -> None:
    chain = sample_chain("SPX", D, 3000)
    rows = split_roots(chain)  # monthlies under SPX and SPXW, OI split 2:1, IV 0.6% apart
    assert len(rows) - len({q.identity for q in rows}) > 300
    b = ChainBuilder("SPX", D)
    for q in reversed(rows):  # page order must not matter either
        b.add(
            contract_symbol=q.contract_symbol,
            expiration_date=q.expiration_date,
            strike=q.strike,
            option_type=q.option_type,
            volume=q.volume,
            open_interest=q.open_interest,
            implied_volatility=q.implied_volatility,
        )
    snap = b.build(
        provider="x", underlying_price=chain.underlying_price, underlying_price_source="x"
    )
    spot = chain.underlying_price
    assert spot is not None
    params = MetricsParams(min_open_interest=1, min_volume=0)
    merged = compute_day_metrics(
        ChainArrays.from_columns(
            as_of=D,
            spot=spot,
            symbol="SPX",
            **{
                name: [getattr(q, name) for q in snap.quotes]
                for name in (
                    "strike",
                    "option_type",
                    "expiration_date",
                    "implied_volatility",
                    "open_interest",
                    "volume",
                )
            },
        ),
        params,
    )
    net, total = _oracle_gex(rows, spot, D)
    assert merged.gex_net == pytest.approx(net, rel=0.005)
    assert merged.gex_total == pytest.approx(total, rel=0.005)
    # keeping one root per identity (the old behaviour) is far off: the test can fail
    first_only = {q.identity: q for q in reversed(rows)}
    kept_net, _ = _oracle_gex(list(first_only.values()), spot, D)
    assert not np.isclose(kept_net, net, rtol=0.02)


@pytest.mark.parametrize(
    ("raw", "index"),
    [
        ("SPX", True),
        ("^spx", True),
        ("I:NDX", True),
        ("DJX", True),
        ("SPY", False),
        ("I:SPY", False),
    ],
)
def test_is_index(raw: str, index: bool) -> None:
    from options_pipeline.symbols import is_index

    assert is_index(raw) is index


def test_the_column_path_merges_like_the_row_path() -> None:
    rows = split_roots(sample_chain("SPX", D, 600))
    by_row = ChainBuilder("SPX", D)
    for q in rows:
        by_row.add(
            contract_symbol=q.contract_symbol,
            expiration_date=q.expiration_date,
            strike=q.strike,
            option_type=q.option_type,
            bid=q.bid,
            ask=q.ask,
            last=q.last,
            volume=q.volume,
            open_interest=q.open_interest,
            implied_volatility=q.implied_volatility,
            delta=q.delta,
            gamma=q.gamma,
            theta=q.theta,
            vega=q.vega,
        )
    by_columns = ChainBuilder("SPX", D)
    half = len(rows) // 2  # two batches, the twins of one identity possibly in both
    by_columns.add_columns(ChainColumns.from_quotes(rows[:half] + rows[:3]))  # 3 repeated
    by_columns.add_columns(ChainColumns.from_quotes(rows[half:]))
    expected = by_row.build(provider="x", underlying_price=1.0, underlying_price_source="x")
    got = by_columns.build(provider="x", underlying_price=1.0, underlying_price_source="x")
    assert got.merged == expected.merged == len(rows) - len({q.identity for q in rows}) > 0
    assert got.rejected == {"duplicate": 3} and expected.rejected == {}
    assert sorted(got.quotes, key=lambda q: q.identity) == sorted(
        expected.quotes, key=lambda q: q.identity
    )
