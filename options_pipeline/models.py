"""Frozen records that cross layer boundaries: nothing downstream of a provider touches raw JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

OptionType = Literal["C", "P"]


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """One listed contract on one trading day, already validated and normalised."""

    contract_symbol: str  # OCC symbol without Polygon's "O:" prefix, e.g. SPY251219C00600000
    expiration_date: date
    strike: float
    option_type: OptionType
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    volume: int | None = None
    open_interest: int | None = None
    implied_volatility: float | None = None
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    multiplier: int = 100

    @property
    def identity(self) -> tuple[date, float, str]:
        """The part of the storage identity a snapshot can repeat: (expiration, strike, type)."""
        return (self.expiration_date, self.strike, self.option_type)


@dataclass(frozen=True, slots=True)
class ChainSnapshot:
    """The option chain of one symbol as of one trading day, as one provider answered it."""

    symbol: str
    as_of: date
    provider: str
    quotes: tuple[OptionQuote, ...]
    underlying_price: float | None
    underlying_price_source: str  # e.g. "polygon:snapshot.underlying_asset.price", "sample"
    provider_mark_time: datetime | None = None  # when the provider says the values were taken
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> rows dropped
    requests: int = 0  # HTTP requests spent on this snapshot (0 for offline providers)
    # kept contracts a provider completed or left without a value, e.g. {"iv_solved": 812,
    # "iv_outside_bounds": 37} (rows dropped are in `rejected`)
    annotations: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())
