"""Dealer metrics of one session for every active symbol, from what is stored (no provider).

Reads the N NYSE sessions ending on D (holidays are not sessions, so they never count as missing)
from the ledger and options_chains, computes each session's metrics (pure numpy,
`options_pipeline.metrics`), summarises the window, and replaces D's rows in public.dealer_metrics
in one transaction. Every symbol with D's snapshot is computed; active symbols without one are
reported in `missing_own_snapshot`, and only when no symbol has it is there nothing to compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

import psycopg

from options_pipeline.calendar import sessions_ending
from options_pipeline.db import store
from options_pipeline.metrics import ChainArrays, DayMetrics, MetricsParams
from options_pipeline.metrics import compute_day_metrics as compute_metrics
from options_pipeline.metrics.window import WindowParams, WindowSummary, summarize_window

MODEL_VERSION = "dealer-metrics/1"


@dataclass(frozen=True, slots=True)
class SymbolDealerMetrics:
    symbol: str
    day: DayMetrics
    window: WindowSummary


@dataclass(frozen=True, slots=True)
class DealerDayReport:
    as_of: date
    results: tuple[SymbolDealerMetrics, ...]
    missing_own_snapshot: tuple[str, ...]  # active symbols with no snapshot for as_of
    symbols: tuple[str, ...] = ()  # the active symbols considered (computed + missing)


def window_days(day: date, n: int) -> list[date]:
    """The n NYSE sessions ending on `day`, ascending."""
    return sessions_ending(day, n)


def compute_dealer_day(
    conn: psycopg.Connection,
    *,
    day: date,
    params: MetricsParams,
    window: WindowParams,
    watchlist: str | None = None,
) -> DealerDayReport:
    days = window_days(day, window.window)
    results: list[SymbolDealerMetrics] = []
    missing: list[str] = []
    rows: list[store.DealerMetricsRow] = []
    symbols = store.active_symbols(conn, watchlist)
    for symbol in symbols:
        ledger = {row.as_of: row for row in store.ledger_rows(conn, days, symbol)}
        if day not in ledger:
            missing.append(symbol)
            continue
        per_day: dict[date, DayMetrics | None] = {}
        for d in days:
            row = ledger.get(d)
            if row is None:
                per_day[d] = None
                continue
            columns = store.chain_columns(conn, ticker_id=row.ticker_id, day=d)
            chain = ChainArrays.from_columns(
                as_of=d, spot=row.underlying_price, symbol=symbol, **columns
            )
            per_day[d] = compute_metrics(chain, params)
        own = per_day[day]
        assert own is not None
        summary = summarize_window(per_day, as_of=day, params=window)
        results.append(SymbolDealerMetrics(symbol, own, summary))
        rows.append(_row(ledger[day].ticker_id, own, summary))
    store.replace_dealer_metrics(conn, rows)
    return DealerDayReport(day, tuple(results), tuple(missing), tuple(symbols))


def _row(ticker_id: UUID, m: DayMetrics, w: WindowSummary) -> store.DealerMetricsRow:
    document = m.to_dict() | {"window": w.to_dict(), "model_version": MODEL_VERSION}
    return store.DealerMetricsRow(
        ticker_id=ticker_id,
        as_of=m.as_of,
        status=m.status,
        confidence=w.confidence,
        days_present=w.days_present,
        window_days=w.window,
        spot=m.spot,
        gex_net=m.gex_net,
        gex_total=m.gex_total,
        gamma_flip=m.flip,
        call_wall=m.call_walls[0].strike if m.call_walls else None,
        put_wall=m.put_walls[0].strike if m.put_walls else None,
        abs_gamma_strike=m.abs_gamma_strike,
        gex_slope=m.gex_slope,
        dealer_position=m.position,
        eligible_contracts=m.eligible_contracts,
        total_contracts=m.total_contracts,
        sign_convention=m.convention,
        units=m.units,
        document=document,
        model_version=MODEL_VERSION,
    )


# --------------------------------------------------------------------------- stored-row checks

LARGE_CHAIN = 1000  # a chain this big always has enough liquid contracts: INVALID means a bug

CHECKS: dict[str, str] = {
    "one_row_per_symbol_with_snapshot": (
        "every active symbol with a snapshot for the day has exactly one stored dealer row"
    ),
    "no_invalid_on_large_chain": (
        f"no stored INVALID status where the chain has {LARGE_CHAIN}+ contracts"
    ),
    "spot_within_strike_range": (
        "the stored spot lies within the stored chain's lowest..highest strike"
    ),
    "open_interest_matches_ledger": (
        "Σ open interest of the stored chain equals the ledger's total for the snapshot"
    ),
    "no_nan_stored": "no NaN in the stored numeric columns",
    "every_active_symbol_has_a_snapshot": (
        "active symbols without the day's snapshot (WARN: they are skipped, not failed)"
    ),
}
WARN_CHECKS = frozenset({"every_active_symbol_has_a_snapshot"})


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    name: str
    passed: bool
    detail: str


def check_stored(conn: psycopg.Connection, day: date, symbols: list[str]) -> list[CheckOutcome]:
    """The checks of `CHECKS`, over what is stored in PostgreSQL for `day` and `symbols` (not over
    the in-memory results, so a write that lost or altered rows fails them)."""
    state = store.stored_dealer_state(conn, day, symbols)
    nan_symbols = store.dealer_metrics_with_nan(conn, day)
    no_row = [s.symbol for s in state if s.has_snapshot and not s.has_metrics]
    stray = [s.symbol for s in state if s.has_metrics and not s.has_snapshot]
    invalid = [
        f"{s.symbol} ({s.total_contracts} contracts)"
        for s in state
        if s.status == "INVALID" and (s.total_contracts or 0) >= LARGE_CHAIN
    ]
    outside = [
        f"{s.symbol} spot {s.spot} outside [{s.min_strike}, {s.max_strike}]"
        for s in state
        if s.has_metrics
        and s.spot is not None
        and s.min_strike is not None
        and not s.min_strike <= s.spot <= (s.max_strike or s.min_strike)
    ]
    oi = [
        f"{s.symbol} stored {s.stored_open_interest} vs ledger {s.ledger_open_interest}"
        for s in state
        if s.has_snapshot
        and s.ledger_open_interest is not None
        and (s.stored_open_interest or 0) != s.ledger_open_interest
    ]
    no_snapshot = sorted({*symbols} - {s.symbol for s in state if s.has_snapshot})
    problems = {
        "one_row_per_symbol_with_snapshot": [f"{x}: no dealer row" for x in no_row]
        + [f"{x}: row without snapshot" for x in stray],
        "no_invalid_on_large_chain": invalid,
        "spot_within_strike_range": outside,
        "open_interest_matches_ledger": oi,
        "no_nan_stored": nan_symbols,
        "every_active_symbol_has_a_snapshot": no_snapshot,
    }
    return [
        CheckOutcome(name, not items, "; ".join(map(str, items)) or "ok")
        for name, items in problems.items()
    ]
