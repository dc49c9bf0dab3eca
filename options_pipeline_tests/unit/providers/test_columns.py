"""Columnar chains: vectorised validation agrees with the row-by-row rules; the binary numeric
encoding reproduces the decimal a text COPY would store."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal, localcontext

import numpy as np
import pytest

from options_pipeline.db.pgcopy import numeric_words
from options_pipeline.models import ChainColumns
from options_pipeline.providers.normalize import ChainBuilder
from options_pipeline.providers.sample import sample_chain

D = date(2025, 3, 14)
INF = math.inf


def _rows() -> list[dict[str, object]]:
    """Valid rows and rows breaking each rule (alone and several at once), plus duplicates."""
    base = {
        "expiration_date": date(2025, 4, 17),
        "strike": 600.0,
        "option_type": "C",
        "bid": 1.2,
        "ask": 1.3,
        "last": 1.25,
        "volume": 10.0,
        "open_interest": 1000.0,
        "implied_volatility": 0.18,
        "delta": 0.3,
        "gamma": 0.01,
        "theta": -0.05,
        "vega": 0.2,
        "multiplier": 100,
    }
    breaks = [
        {},
        {"strike": None},
        {"strike": INF},
        {"strike": -5.0},
        {"strike": 0.0},
        {"expiration_date": None},
        {"expiration_date": D + timedelta(days=366 * 11)},
        {"expiration_date": D - timedelta(days=1)},
        {"implied_volatility": -0.1},
        {"implied_volatility": INF},
        {"multiplier": 0},
        {"bid": -0.01},
        {"ask": INF},
        {"last": -1.0},
        {"volume": -1.0},
        {"open_interest": 2.5},
        {"open_interest": INF},
        {"delta": -INF},
        {"vega": INF},
        {"bid": None, "last": None, "delta": None},
        {"strike": -5.0, "bid": -1.0},
        {"bid": -1.0, "volume": -3.0},
        {"expiration_date": D - timedelta(days=3), "bid": -1.0},
    ]
    rows = []
    for i, change in enumerate(breaks):
        row = dict(base, strike=600.0 + i, **{k: v for k, v in change.items() if k != "strike"})
        if "strike" in change:
            row["strike"] = change["strike"]
        rows.append(row)
    rows.append(dict(base, strike=600.0))  # duplicate of the first row
    rows.append(dict(base, strike=600.0, option_type="P"))  # same strike, other type: kept
    return rows


def _columns(rows: list[dict[str, object]]) -> ChainColumns:
    def f(name: str) -> np.ndarray:
        return np.array([math.nan if r[name] is None else r[name] for r in rows], dtype=float)

    return ChainColumns(
        expiration_date=np.array(
            [r["expiration_date"] or "NaT" for r in rows], dtype="datetime64[D]"
        ),
        strike=f("strike"),
        is_call=np.array([r["option_type"] == "C" for r in rows]),
        bid=f("bid"),
        ask=f("ask"),
        last=f("last"),
        volume=f("volume"),
        open_interest=f("open_interest"),
        implied_volatility=f("implied_volatility"),
        delta=f("delta"),
        gamma=f("gamma"),
        theta=f("theta"),
        vega=f("vega"),
        multiplier=np.array([r["multiplier"] for r in rows], dtype=np.int64),
        root="SPY",
    )


def test_vectorised_validation_matches_the_row_rules() -> None:
    rows = _rows()
    by_row = ChainBuilder("SPY", D)
    for r in rows:
        by_row.add(contract_symbol=None, **r)
    by_columns = ChainBuilder("SPY", D)
    by_columns.add_columns(_columns(rows))
    assert by_columns.rows_seen == by_row.rows_seen == len(rows)
    assert by_columns.rejected == by_row.rejected
    expected = by_row.build(provider="x", underlying_price=600.0, underlying_price_source="x")
    got = by_columns.build(provider="x", underlying_price=600.0, underlying_price_source="x")
    assert got.rejected == expected.rejected
    assert got.quotes == expected.quotes  # same rows, same values, same order


def test_rows_and_batches_together_deduplicate_across_both() -> None:
    b = ChainBuilder("SPY", D)
    b.add(contract_symbol=None, expiration_date="2025-04-17", strike=600, option_type="call")
    rows = [r for r in _rows() if r["strike"] in (600.0, 601.0)]
    b.add_columns(_columns(rows))
    snap = b.build(provider="x", underlying_price=1.0, underlying_price_source="x")
    assert snap.rejected == {"duplicate": 2}
    assert [(q.strike, q.option_type) for q in snap.quotes] == [(600.0, "C"), (600.0, "P")]


def test_snapshot_quotes_round_trip_through_columns() -> None:
    snap = sample_chain("AAPL", D, 400)
    again = ChainColumns.from_quotes(snap.quotes)
    assert again.equals(snap.columns)
    assert again.to_quotes() == snap.quotes
    assert snap.quotes[0].contract_symbol.startswith("AAPL25")


def _decode(words: np.ndarray) -> Decimal:
    """numeric's binary form as PostgreSQL's numeric_recv reads it (weight is signed)."""
    ndigits, weight, sign, dscale, *digits = (int(w) for w in words)
    assert ndigits == len(digits) and sign in (0, 0x4000) and dscale >= 0
    with localcontext() as ctx:
        ctx.prec = 200
        value = sum(Decimal(d) * Decimal(10_000) ** (weight - i) for i, d in enumerate(digits))
        value = -value if sign == 0x4000 else value
        return value.quantize(Decimal(1).scaleb(-dscale))


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        1.0,
        600.0,
        0.01,
        1.23,
        55.95,
        0.5,
        491.0,
        12.3456,
        0.183421,
        1e-05,
        1.5e-07,
        123456.78,
        -0.034654184978375,
        -1.23,
        99999999.9999,
        1234567890123.45,
        2.5e-12,
        9.99999999999999,
    ],
)
def test_numeric_encoding_keeps_the_shortest_decimal_of_up_to_15_digits(value: float) -> None:
    got = _decode(numeric_words(np.array([value]))[0])
    assert got == Decimal(repr(value))  # the value a text COPY of repr() stores
    if "e" not in repr(value):  # and its scale (digits after the point), as numeric_in sets it
        assert str(got) == str(Decimal(repr(value)))


def test_numeric_encoding_of_long_values_is_within_1e14() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.normal(0, 1, 2000) * 10.0 ** rng.integers(-20, 8, 2000),
            -rng.random(500),
            rng.random(500) * 1e-9,
        ]
    )
    words = numeric_words(values)
    for v, w in zip(values.tolist(), words, strict=True):
        got = _decode(w)
        exact = Decimal(v)
        assert abs(got - exact) <= abs(exact) * Decimal("1e-14")
        digits = len(got.as_tuple().digits) if got else 0
        assert digits <= 15
