"""PNG charts of the dealer metrics, rendered headless (Agg canvas, no pyplot global state)."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from options_pipeline.metrics.params import GEX_UNITS, DayMetrics

_POS, _NEG = "#2e7d32", "#c62828"


def _usd(value: float, _pos: object = None) -> str:
    """Compact axis labels: 1.2B, -350M, 40k."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:,.4g}{suffix}"
    return f"{value:,.4g}"


def gex_by_strike_png(day: DayMetrics, *, title: str) -> bytes:
    """Bars of net GEX by strike within the wall range, with spot, flip and walls marked.

    About 800x400 px at 100 dpi. An INVALID day renders its reason instead of bars, so a
    report can always embed a picture.
    """
    fig = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("Strike (USD)")
    ax.set_ylabel(f"Net GEX ({GEX_UNITS})")

    spot = day.spot
    if day.status == "INVALID" or spot is None or day.strikes.size == 0:
        ax.text(
            0.5,
            0.5,
            f"{day.status}: {day.status_reason}",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        lo, hi = spot * (1 - day.params.wall_range), spot * (1 + day.params.wall_range)
        keep = (day.strikes >= lo) & (day.strikes <= hi)
        strikes, net = day.strikes[keep], day.gex_by_strike[keep]
        if strikes.size:
            gaps = np.diff(strikes)
            width = 0.8 * float(gaps.min()) if gaps.size else 0.01 * spot
            ax.bar(strikes, net, width=width, color=np.where(net >= 0, _POS, _NEG), linewidth=0)
        ax.yaxis.set_major_formatter(FuncFormatter(_usd))
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.axvline(spot, color="black", linestyle="-", linewidth=1.2, label=f"spot {spot:,.2f}")
        if day.flip is not None:
            ax.axvline(
                day.flip,
                color="#6a1b9a",
                linestyle="--",
                linewidth=1.2,
                label=f"flip {day.flip:,.2f}",
            )
        for i, w in enumerate(day.call_walls):
            ax.axvline(
                w.strike,
                color=_POS,
                linestyle=":",
                linewidth=1.0,
                label="call walls" if i == 0 else None,
            )
        for i, w in enumerate(day.put_walls):
            ax.axvline(
                w.strike,
                color=_NEG,
                linestyle=":",
                linewidth=1.0,
                label="put walls" if i == 0 else None,
            )
        ax.set_xlim(lo, hi)
        ax.legend(loc="best", fontsize=7, framealpha=0.85)
        ax.text(
            0.99,
            0.02,
            day.convention,
            ha="right",
            va="bottom",
            fontsize=7,
            color="gray",
            transform=ax.transAxes,
        )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
