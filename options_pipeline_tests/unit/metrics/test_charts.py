"""The GEX-by-strike chart renders to PNG bytes of the stated size, also for INVALID days."""

from __future__ import annotations

import struct
from datetime import date, timedelta

import numpy as np

from options_pipeline.charts import gex_bars, gex_by_strike_png
from options_pipeline.metrics import ChainArrays, compute_day_metrics

AS_OF = date(2024, 6, 3)


def _chain(spot):
    strikes = [85.0, 90.0, 95.0, 100.0, 105.0, 110.0, 115.0, 150.0]
    return ChainArrays.from_columns(
        as_of=AS_OF,
        spot=spot,
        strike=strikes * 2,
        option_type=["C"] * len(strikes) + ["P"] * len(strikes),
        expiration_date=[AS_OF + timedelta(days=30)] * (2 * len(strikes)),
        implied_volatility=[0.25] * (2 * len(strikes)),
        open_interest=[1000, 2000, 3000, 4000, 3000, 2000, 1000, 500] * 2,
        volume=[10] * (2 * len(strikes)),
    )


def _png_size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


def test_chart_is_png_of_expected_size():
    day = compute_day_metrics(_chain(101.0))
    assert day.flip is not None and day.call_walls
    png = gex_by_strike_png(day, title="SPY 2024-06-03 net GEX by strike")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert _png_size(png) == (400, 200)
    assert len(png) < 40_000  # one per symbol goes into the materialization event


def test_tallest_call_and_put_bars_are_the_known_walls():
    # by construction: calls concentrate at 105, puts at 95 (10x the OI of any other strike);
    # netting calls and puts per strike would let the two series cancel elsewhere
    strikes = [90.0, 95.0, 100.0, 105.0, 110.0]
    call_oi = [1000, 1000, 1000, 10_000, 1000]
    put_oi = [1000, 10_000, 1000, 1000, 1000]
    chain = ChainArrays.from_columns(
        as_of=AS_OF,
        spot=100.0,
        strike=strikes * 2,
        option_type=["C"] * 5 + ["P"] * 5,
        expiration_date=[AS_OF + timedelta(days=30)] * 10,
        implied_volatility=[0.25] * 10,
        open_interest=call_oi + put_oi,
        volume=[10] * 10,
    )
    day = compute_day_metrics(chain)
    bars = gex_bars(day)
    assert bars is not None
    assert bars.strikes[int(np.argmax(np.abs(bars.calls)))] == 105.0
    assert bars.strikes[int(np.argmax(np.abs(bars.puts)))] == 95.0
    assert day.call_walls[0].strike == 105.0 and day.put_walls[0].strike == 95.0


def test_chart_of_invalid_day_still_renders():
    day = compute_day_metrics(_chain(None))
    assert day.status == "INVALID"
    png = gex_by_strike_png(day, title="no spot")
    assert png.startswith(b"\x89PNG")
