"""What a trader reads from one stored (session, symbol) of dealer metrics: pure functions over
the stored document (DayMetrics.to_dict() plus its "window"), no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The --csv columns, in order (stable: new columns are appended, never renamed).
CSV_COLUMNS = (
    "session",
    "symbol",
    "status",
    "confidence",
    "days_present",
    "window_days",
    "spot",
    "gex_net",
    "gex_total",
    "net_total_ratio",
    "position",
    "flip",
    "flip_distance_pct",
    "call_wall",
    "call_wall_gex",
    "call_wall_side",
    "put_wall",
    "put_wall_gex",
    "put_wall_side",
    "abs_gamma_strike",
    "confidence_reasons",
)


def side_of_spot(strike: float, spot: float | None) -> str | None:
    if spot is None:
        return None
    return "above" if strike > spot else "below" if strike < spot else "at"


def summary(
    document: dict[str, Any],
    *,
    session: str,
    symbol: str,
    status: str,
    confidence: str,
    days_present: int,
    window_days: int,
) -> dict[str, Any]:
    """The --json row: spot, net and total GEX and their ratio, flip and its distance from spot
    (% of spot, + when the flip is above), walls with GEX and side of spot, abs-gamma strike,
    status, confidence and its reasons."""
    spot = document.get("spot")
    net, total, flip = document.get("gex_net"), document.get("gex_total"), document.get("flip")
    window = document.get("window") or {}

    def walls(key: str) -> list[dict[str, Any]]:
        return [
            {"strike": w["strike"], "gex": w["gex"], "side": side_of_spot(w["strike"], spot)}
            for w in document.get(key) or []
        ]

    return {
        "session": session,
        "symbol": symbol,
        "status": status,
        "status_reason": document.get("status_reason"),
        "confidence": confidence,
        "confidence_reasons": list(window.get("confidence_reasons") or []),
        "days_present": days_present,
        "window_days": window_days,
        "spot": spot,
        "gex_net": net,
        "gex_total": total,
        "net_total_ratio": net / total if net is not None and total else None,
        "position": document.get("position"),
        "flip": flip,
        "flip_distance_pct": 100.0 * (flip - spot) / spot if flip is not None and spot else None,
        "flip_reason": document.get("flip_reason"),
        "call_walls": walls("call_walls"),
        "put_walls": walls("put_walls"),
        "abs_gamma_strike": document.get("abs_gamma_strike"),
        "units": document.get("units"),
        "convention": document.get("convention"),
    }


def csv_row(row: dict[str, Any]) -> list[Any]:
    call = row["call_walls"][0] if row["call_walls"] else {}
    put = row["put_walls"][0] if row["put_walls"] else {}
    flat = {
        **row,
        "call_wall": call.get("strike"),
        "call_wall_gex": call.get("gex"),
        "call_wall_side": call.get("side"),
        "put_wall": put.get("strike"),
        "put_wall_gex": put.get("gex"),
        "put_wall_side": put.get("side"),
        "confidence_reasons": "; ".join(row["confidence_reasons"]),
    }
    return ["" if flat[c] is None else flat[c] for c in CSV_COLUMNS]


def usd(value: float | None) -> str:
    """-523.4e6 -> '-$523.4M'; 4.1e9 -> '$4.10B' (three significant figures or more)."""
    if value is None:
        return "-"
    sign = "-" if value < 0 else ""
    v = abs(value)
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= scale:
            x = v / scale
            return (
                f"{sign}${x:.2f}{unit}"
                if x < 10
                else f"{sign}${x:.1f}{unit}"
                if x < 100
                else f"{sign}${x:.0f}{unit}"
            )
    return f"{sign}${v:.0f}"


def pct(value: float | None, *, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}%" if signed else f"{value:.1f}%"


def num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def wall_text(wall: dict[str, Any] | None) -> str:
    if not wall:
        return "-"
    return f"{wall['strike']:g} {usd(wall['gex'])} {wall['side'] or ''}".rstrip()


TABLE_HEADER = (
    "spot",
    "net GEX",
    "total GEX",
    "net/total",
    "flip",
    "spot→flip",
    "call wall (GEX, side)",
    "put wall (GEX, side)",
    "abs-γ",
    "status",
    "confidence",
)


def table_cells(row: dict[str, Any]) -> tuple[str, ...]:
    ratio = row["net_total_ratio"]
    return (
        num(row["spot"]),
        usd(row["gex_net"]),
        usd(row["gex_total"]),
        pct(None if ratio is None else 100 * ratio),
        num(row["flip"]),
        pct(row["flip_distance_pct"]),
        wall_text(row["call_walls"][0] if row["call_walls"] else None),
        wall_text(row["put_walls"][0] if row["put_walls"] else None),
        "-" if row["abs_gamma_strike"] is None else f"{row['abs_gamma_strike']:g}",
        row["status"],
        f"{row['confidence']} {row['days_present']}/{row['window_days']}",
    )


def render_table(first: str, rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Aligned columns; `first` names the key column (symbol or session)."""
    header = (first, *TABLE_HEADER)
    body = [(key, *table_cells(row)) for key, row in rows]
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    left = {0, 7, 8, 10, 11}  # text columns

    def fmt(r: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    return [fmt(header), *(fmt(r) for r in body)]
