"""Dealer metrics of one trading day for every active symbol, from what is stored (no provider).

Reads the N trading days ending on D from the ledger and options_chains, computes each day's
metrics (pure numpy, `options_pipeline.metrics`), summarises the window, and replaces D's rows in
public.dealer_metrics in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import psycopg

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


def window_days(day: date, n: int) -> list[date]:
    """The n trading days (weekdays) ending on `day`, ascending."""
    days: list[date] = []
    current = day
    while len(days) < n:
        if current.weekday() < 5:
            days.append(current)
        current -= timedelta(days=1)
    return days[::-1]


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
    for symbol in store.active_symbols(conn, watchlist):
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
            chain = ChainArrays.from_columns(as_of=d, spot=row.underlying_price,
                                             symbol=symbol, **columns)
            per_day[d] = compute_metrics(chain, params)
        own = per_day[day]
        assert own is not None
        summary = summarize_window(per_day, as_of=day, params=window)
        results.append(SymbolDealerMetrics(symbol, own, summary))
        rows.append(_row(ledger[day].ticker_id, own, summary))
    store.replace_dealer_metrics(conn, rows)
    return DealerDayReport(day, tuple(results), tuple(missing))


def _row(ticker_id, m: DayMetrics, w: WindowSummary) -> store.DealerMetricsRow:
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
