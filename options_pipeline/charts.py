"""PNG charts of the dealer metrics, rendered headless (Agg canvas, no pyplot global state)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from options_pipeline.metrics.params import GEX_UNITS, DayMetrics

_CALL, _PUT = "#2e7d32", "#c62828"
# compact: one per symbol goes into the materialization event, so keep each a few kB
WIDTH_IN, HEIGHT_IN, DPI = 5.0, 2.5, 80  # 400 x 200 px


def _usd(value: float, _pos: object = None) -> str:
    """Compact axis labels: 1.2B, -350M, 40k."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:,.4g}{suffix}"
    return f"{value:,.4g}"


@dataclass(frozen=True, slots=True)
class GexBars:
    """What the chart draws: call and put GEX per strike within the wall range (the walls are the
    largest |bar| of each series, so the tallest bars are the walls the metrics report)."""

    strikes: np.ndarray
    calls: np.ndarray
    puts: np.ndarray
    low: float
    high: float


def gex_bars(day: DayMetrics) -> GexBars | None:
    """None for a day with nothing to draw (INVALID, no spot, no strikes)."""
    spot = day.spot
    if day.status == "INVALID" or spot is None or day.strikes.size == 0:
        return None
    lo, hi = spot * (1 - day.params.wall_range), spot * (1 + day.params.wall_range)
    keep = np.abs(day.strikes - spot) <= day.params.wall_range * spot  # the walls' own range
    return GexBars(
        day.strikes[keep], day.call_gex_by_strike[keep], day.put_gex_by_strike[keep], lo, hi
    )


def gex_by_strike_png(day: DayMetrics, *, title: str) -> bytes:
    """Call and put GEX by strike side by side (not netted: a net bar can hide both walls), with
    spot, flip and the top call/put walls marked. 400x200 px; an INVALID day renders its reason
    instead of bars, so a report can always embed a picture."""
    # matplotlib only when a chart is drawn: loading the code location (every ingest_options
    # start, every run worker) would otherwise import it for nothing (~0.5-2 s)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)
    bars = gex_bars(day)
    if bars is None:
        ax.text(
            0.5,
            0.5,
            f"{day.status}: {day.status_reason}",
            ha="center",
            va="center",
            fontsize=7,
            transform=ax.transAxes,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        assert day.spot is not None
        if bars.strikes.size:
            gaps = np.diff(bars.strikes)
            width = 0.4 * float(gaps.min()) if gaps.size else 0.005 * day.spot
            # one collection of rectangles per series: what ax.bar draws, without one patch
            # object per bar (ax.bar made a chart take ~1.5 s on a busy machine)
            for offset, heights, color, label in (
                (-width / 2, bars.calls, _CALL, "call GEX"),
                (width / 2, bars.puts, _PUT, "put GEX"),
            ):
                left = bars.strikes + offset - width / 2
                right = left + width
                zero = np.zeros_like(heights)
                verts = np.stack(
                    [
                        np.column_stack([left, zero]),
                        np.column_stack([left, heights]),
                        np.column_stack([right, heights]),
                        np.column_stack([right, zero]),
                    ],
                    axis=1,
                )
                ax.add_collection(
                    PolyCollection(list(verts), facecolors=color, linewidths=0, label=label)
                )
            ax.autoscale_view()
        ax.yaxis.set_major_formatter(FuncFormatter(_usd))
        ax.set_ylabel(GEX_UNITS, fontsize=6)
        ax.axhline(0.0, color="black", linewidth=0.5)
        ax.axvline(day.spot, color="black", linewidth=1.0, label=f"spot {day.spot:,.2f}")
        if day.flip is not None:
            ax.axvline(
                day.flip,
                color="#6a1b9a",
                linestyle="--",
                linewidth=1.0,
                label=f"flip {day.flip:,.2f}",
            )
        if day.call_walls:
            ax.axvline(
                day.call_walls[0].strike,
                color=_CALL,
                linestyle=":",
                linewidth=1.0,
                label=f"call wall {day.call_walls[0].strike:,.2f}",
            )
        if day.put_walls:
            ax.axvline(
                day.put_walls[0].strike,
                color=_PUT,
                linestyle=":",
                linewidth=1.0,
                label=f"put wall {day.put_walls[0].strike:,.2f}",
            )
        ax.set_xlim(bars.low, bars.high)
        ax.legend(loc="best", fontsize=5, framealpha=0.85)
    # fixed margins fitting the 6-8 pt labels: tight_layout would draw the figure once more
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.09, top=0.91)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()
