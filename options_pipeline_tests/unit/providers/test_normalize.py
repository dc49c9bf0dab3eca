"""Shared row normalisation: validation, rejects, expiry, de-duplication, OCC, calendar."""

from __future__ import annotations

import math
from datetime import date

import pytest

from options_pipeline.providers.base import NoContracts, ProviderError
from options_pipeline.providers.normalize import (
    ChainBuilder,
    epoch_to_datetime,
    market_closed_reason,
    occ_symbol,
    parse_occ,
    raise_if_closed,
)

D = date(2025, 3, 14)


def good(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "contract_symbol": "O:SPY250417C00600000",
        "expiration_date": "2025-04-17",
        "strike": 600,
        "option_type": "call",
        "bid": 1.2,
        "ask": 1.3,
        "volume": 10,
        "open_interest": 1000,
        "implied_volatility": 0.18,
        "delta": 0.3,
        "gamma": 0.01,
    }
    row.update(over)
    return row


def test_valid_row_is_normalised() -> None:
    b = ChainBuilder("SPY", D)
    q = b.add(**good(multiplier=None))  # type: ignore[arg-type]
    assert q is not None
    assert q.contract_symbol == "SPY250417C00600000"  # "O:" stripped
    assert (q.expiration_date, q.strike, q.option_type) == (date(2025, 4, 17), 600.0, "C")
    assert q.open_interest == 1000 and isinstance(q.open_interest, int)
    assert q.multiplier == 100
    snap = b.build(provider="x", underlying_price=600.0, underlying_price_source="x")
    assert snap.rejected == {} and len(snap.quotes) == 1


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"strike": None}, "missing_strike"),
        ({"strike": -5}, "bad_strike"),
        ({"strike": "abc"}, "bad_strike"),
        ({"strike": math.nan}, "non_finite"),
        ({"expiration_date": None}, "missing_expiration"),
        ({"expiration_date": "2025-13-45"}, "bad_expiration"),
        ({"expiration_date": "next friday"}, "bad_expiration"),
        ({"expiration_date": "2099-01-01"}, "bad_expiration"),
        ({"expiration_date": "2025-03-13"}, "expired"),
        ({"option_type": "other"}, "bad_option_type"),
        ({"bid": -0.5}, "negative_price"),
        ({"ask": math.inf}, "non_finite"),
        ({"implied_volatility": math.nan}, "non_finite"),
        ({"implied_volatility": -0.2}, "negative_iv"),
        ({"delta": "x"}, "bad_number"),
        ({"volume": -1}, "negative_size"),
        ({"open_interest": 12.5}, "bad_number"),
        ({"open_interest": True}, "bad_number"),
        ({"multiplier": 0}, "bad_multiplier"),
    ],
)
def test_bad_rows_are_dropped_and_counted(over: dict[str, object], reason: str) -> None:
    b = ChainBuilder("SPY", D)
    assert b.add(**good(**over)) is None  # type: ignore[arg-type]
    b.add(**good(strike=601))  # type: ignore[arg-type]
    snap = b.build(provider="x", underlying_price=None, underlying_price_source="x")
    assert snap.rejected == {reason: 1}
    assert len(snap.quotes) == 1


def test_same_day_expiry_is_kept_and_duplicates_keep_the_first() -> None:
    b = ChainBuilder("SPY", D)
    b.add(**good(expiration_date="2025-03-14", bid=1.0))  # type: ignore[arg-type]
    b.add(**good(expiration_date="2025-03-14", bid=2.0))  # type: ignore[arg-type]
    b.add(**good(expiration_date=date(2025, 3, 14), option_type="P"))  # type: ignore[arg-type]
    snap = b.build(provider="x", underlying_price=None, underlying_price_source="x")
    assert snap.rejected == {"duplicate": 1}
    assert [q.bid for q in snap.quotes] == [1.0, 1.2]


def test_missing_contract_symbol_is_synthesised_as_occ() -> None:
    b = ChainBuilder("SPY", D)
    q = b.add(**good(contract_symbol=None, strike=432.5, option_type="put"))  # type: ignore[arg-type]
    assert q is not None and q.contract_symbol == "SPY250417P00432500"


def test_empty_is_no_contracts_and_all_rejected_is_a_provider_error() -> None:
    with pytest.raises(NoContracts, match="no contracts for SPY on 2025-03-14"):
        ChainBuilder("SPY", D).build(
            provider="x", underlying_price=None, underlying_price_source=""
        )
    b = ChainBuilder("SPY", D)
    b.reject("malformed_row", 3)
    b.add(**good(strike=None))  # type: ignore[arg-type]
    with pytest.raises(ProviderError, match="every one of the 4 rows") as exc:
        b.build(provider="x", underlying_price=None, underlying_price_source="")
    assert not isinstance(exc.value, NoContracts)


def test_occ_round_trip() -> None:
    sym = occ_symbol("SPY", date(2025, 12, 19), "C", 600.5)
    assert sym == "SPY251219C00600500"
    assert parse_occ("O:" + sym) == ("SPY", date(2025, 12, 19), "C", 600.5)
    assert parse_occ("garbage") is None
    assert parse_occ("SPY251399C00600500") is None


def test_calendar() -> None:
    assert market_closed_reason(date(2025, 3, 15)) == "weekend"
    # Good Friday 2026 per NYSE's published 2026 calendar
    assert market_closed_reason(date(2026, 4, 3)) == "market holiday (Good Friday)"
    assert market_closed_reason(date(2025, 3, 14)) is None
    with pytest.raises(NoContracts, match=r"no trading on 2025-01-09: market holiday"):
        raise_if_closed(date(2025, 1, 9))  # unscheduled closure (national day of mourning)
    raise_if_closed(date(2025, 1, 8))


def test_epoch_units() -> None:
    ns = 1_741_982_400_000_000_000  # 2025-03-14 20:00 UTC
    for v in (ns, ns // 1000, ns // 10**6, ns // 10**9):
        dt = epoch_to_datetime(v)
        assert dt is not None and dt.isoformat().startswith("2025-03-14T20:00")
    assert epoch_to_datetime("x") is None and epoch_to_datetime(5) is None


def test_parse_occ_dates_match_strptime_including_the_century_pivot() -> None:
    """Oracle: the standard library's %y%m%d (00-68 -> 20xx, 69-99 -> 19xx; invalid days)."""
    from datetime import datetime

    from options_pipeline.providers.normalize import parse_occ

    for yy in range(100):
        for mm, dd in ((1, 1), (2, 29), (2, 30), (12, 31), (13, 1), (0, 10), (4, 31)):
            ymd = f"{yy:02d}{mm:02d}{dd:02d}"
            try:
                expected = datetime.strptime(ymd, "%y%m%d").date()
            except ValueError:
                expected = None
            parsed = parse_occ(f"O:SPXW{ymd}P05000000")
            assert (parsed[1] if parsed else None) == expected, ymd
