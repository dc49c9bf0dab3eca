"""Dealer metrics of a range of sessions for every active symbol, from what is stored (no provider).

Each session D's window is the N NYSE sessions ending on D (holidays are not sessions, so they never
count as missing). For a range, the union of the windows is read set-based -- the ledger in one
query, the chains one query per session for every symbol -- and each (symbol, session)'s metrics
are computed once (pure numpy, `options_pipeline.metrics`); each D's window is then summarised from
those, and D's rows replace the stored ones in one transaction as soon as D is done. Sessions
before the range may instead be read back from their stored results (public.dealer_metrics.document)
when those were computed by this model version with the same parameters after the chain was
stored. Every symbol with D's snapshot is computed; active symbols without one are reported in
`missing_own_snapshot`, and only when no symbol has it is there nothing to compute for D.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

import psycopg

from options_pipeline.calendar import sessions_ending
from options_pipeline.db import dealer_reads, store
from options_pipeline.metrics import (
    ChainArrays,
    DayMetrics,
    MetricsParams,
    params_fingerprint,
)
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


@dataclass(slots=True)
class RangeStats:
    """What a range computation read and computed (filled in as it goes)."""

    sessions: int = 0  # sessions of the union of the windows
    chain_queries: int = 0
    chains_read: int = 0  # (symbol, session) chains read from options_chains
    computed: int = 0  # (symbol, session) metrics computed
    reused: int = 0  # (symbol, session) metrics read back from stored results


def window_days(day: date, n: int) -> list[date]:
    """The n NYSE sessions ending on `day`, ascending."""
    return sessions_ending(day, n)


def compute_dealer_range(
    conn: psycopg.Connection,
    *,
    days: Sequence[date],
    params: MetricsParams,
    window: WindowParams,
    watchlist: str | None = None,
    reuse_stored: bool = True,
    stats: RangeStats | None = None,
) -> Iterator[DealerDayReport]:
    """Compute, store and yield each session of `days` in order (each D is stored, in its own
    transaction, before it is yielded). `reuse_stored=False` recomputes every session."""
    stats = stats if stats is not None else RangeStats()
    targets = sorted(set(days))
    if not targets:
        return
    windows = {d: window_days(d, window.window) for d in targets}
    union = sorted({s for w in windows.values() for s in w})
    stats.sessions = len(union)
    symbols = store.active_symbols(conn, watchlist)
    ledger = {(r.symbol, r.as_of): r for r in dealer_reads.snapshots(conn, union, symbols)}
    needed: set[tuple[str, date]] = {
        (sym, s)
        for d in targets
        for sym in symbols
        if (sym, d) in ledger
        for s in windows[d]
        if (sym, s) in ledger
    }
    metrics: dict[tuple[str, date], DayMetrics] = {}
    fingerprint = params_fingerprint(params)
    if reuse_stored:
        earlier = [ledger[k] for k in sorted(needed) if k[1] < targets[0]]
        stored = dealer_reads.reusable_documents(
            conn,
            earlier,
            model_version=MODEL_VERSION,
            params_fingerprint=fingerprint,
        )
        metrics.update({k: DayMetrics.from_dict(doc) for k, doc in stored.items()})
        stats.reused += len(stored)
    by_session: dict[date, list[dealer_reads.Snapshot]] = {}
    for key in sorted(needed - metrics.keys(), key=lambda k: (k[1], k[0])):
        by_session.setdefault(key[1], []).append(ledger[key])
    target_set = set(targets)
    for session in union:
        refs = by_session.get(session, [])
        if refs:
            chains = dealer_reads.session_chains(conn, session, [r.ticker_id for r in refs])
            stats.chain_queries += 1
            for ref in refs:
                columns = chains.get(ref.ticker_id)
                chain = ChainArrays.from_columns(
                    as_of=session,
                    spot=ref.underlying_price,
                    symbol=ref.symbol,
                    **(columns if columns is not None else _EMPTY_CHAIN),
                )
                stats.chains_read += 1
                metrics[(ref.symbol, session)] = compute_metrics(chain, params)
                stats.computed += 1
        if session in target_set:
            yield _store_day(
                conn, session, symbols, windows[session], metrics, ledger, window, fingerprint
            )
            # sessions no later window needs are dropped: memory stays bounded by one window
            later = [d for d in targets if d > session]
            if later:
                first_needed = windows[later[0]][0]
                for key in [k for k in metrics if k[1] < first_needed]:
                    del metrics[key]


_EMPTY_CHAIN: dict[str, list[object]] = {
    "expiration_date": [],
    "strike": [],
    "option_type": [],
    "implied_volatility": [],
    "open_interest": [],
    "volume": [],
}


def _store_day(
    conn: psycopg.Connection,
    day: date,
    symbols: list[str],
    days: list[date],
    metrics: dict[tuple[str, date], DayMetrics],
    ledger: dict[tuple[str, date], dealer_reads.Snapshot],
    window: WindowParams,
    fingerprint: str,
) -> DealerDayReport:
    results: list[SymbolDealerMetrics] = []
    missing: list[str] = []
    rows: list[store.DealerMetricsRow] = []
    for symbol in symbols:
        own = metrics.get((symbol, day))
        if own is None:
            missing.append(symbol)
            continue
        per_day = {d: metrics.get((symbol, d)) for d in days}
        summary = summarize_window(per_day, as_of=day, params=window)
        results.append(SymbolDealerMetrics(symbol, own, summary))
        rows.append(_row(ledger[(symbol, day)].ticker_id, own, summary, fingerprint))
    store.replace_dealer_metrics(conn, rows)
    return DealerDayReport(day, tuple(results), tuple(missing), tuple(symbols))


def compute_dealer_day(
    conn: psycopg.Connection,
    *,
    day: date,
    params: MetricsParams,
    window: WindowParams,
    watchlist: str | None = None,
    reuse_stored: bool = True,
) -> DealerDayReport:
    """One session: the range path over [day]."""
    (report,) = compute_dealer_range(
        conn,
        days=[day],
        params=params,
        window=window,
        watchlist=watchlist,
        reuse_stored=reuse_stored,
    )
    return report


def _row(
    ticker_id: UUID, m: DayMetrics, w: WindowSummary, fingerprint: str
) -> store.DealerMetricsRow:
    document = m.to_dict() | {
        "window": w.to_dict(),
        "model_version": MODEL_VERSION,
        "params_fingerprint": fingerprint,
    }
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
