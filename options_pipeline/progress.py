"""Progress of a long ingestion: one live line on a terminal, plain periodic lines otherwise.

Plain Python (no dagster). The runner reports each finished session; log lines written while
the live line is shown go through `log()` so they never tear it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from options_pipeline.plan import format_duration

RATE_WINDOW = 5  # sessions the "current rate" is measured over


class Progress:
    """Sessions done/total, pairs, rows, requests, current request rate and ETA.

    The ETA is the elapsed time per pair fetched so far times the pairs still to fetch (pairs
    already complete cost almost nothing), falling back to time per session before the first
    fetch."""

    def __init__(
        self,
        *,
        sessions: int,
        pairs: int,
        pairs_to_fetch: int,
        stream: TextIO | None = None,
        live: bool | None = None,
        every_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        shown: bool = True,
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.shown = shown  # False (--quiet): figures kept, nothing written
        self.sessions, self.pairs, self.pairs_to_fetch = sessions, pairs, pairs_to_fetch
        self.every_seconds = every_seconds
        self._clock = clock
        self._start = clock()
        self._last_plain = -float("inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._shown = ""  # what the live line shows now
        self.sessions_done = self.pairs_done = self.fetched = self.rows = self.requests = 0
        self._recent: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW + 1)
        self._recent.append((self._start, 0))

    # --- updates -------------------------------------------------------------------------

    def session_done(self, *, pairs: int, fetched: int, rows: int, requests: int) -> None:
        with self._lock:
            self.sessions_done += 1
            self.pairs_done += pairs
            self.fetched += fetched
            self.rows += rows
            self.requests += requests
            now = self._clock()
            self._recent.append((now, self.requests))
            if not self.shown:
                pass
            elif self.live:
                self._draw(self.line())
            elif now - self._last_plain >= self.every_seconds or self.finished:
                self._last_plain = now
                self.stream.write(f"progress {self.line()}\n")
                self.stream.flush()

    def log(self, text: str) -> None:
        """Write a log line above the live line (or plainly)."""
        with self._lock:
            if self.live and self._shown:
                self.stream.write("\r\x1b[2K")
            self.stream.write(text if text.endswith("\n") else text + "\n")
            if self.live and self._shown:
                self.stream.write(self._shown)
            self.stream.flush()

    def tick(self) -> None:
        """Redraw the live line (the ETA counts down during a long session)."""
        with self._lock:
            if self.live and self._shown:
                self._draw(self.line())

    def start_ticking(self, every: float = 1.0) -> None:
        if not (self.live and self.shown):
            return

        def loop() -> None:
            while not self._stop.wait(every):
                self.tick()

        threading.Thread(target=loop, name="progress", daemon=True).start()

    def close(self) -> None:
        """End the live line (the final state stays on screen)."""
        self._stop.set()
        with self._lock:
            if self.live and self._shown:
                self.stream.write("\n")
                self.stream.flush()
                self._shown = ""

    # --- figures -------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.sessions_done >= self.sessions

    def rate_per_minute(self) -> float | None:
        """Requests per minute over the last few sessions."""
        (t0, r0), (t1, r1) = self._recent[0], self._recent[-1]
        return None if t1 <= t0 else (r1 - r0) * 60.0 / (t1 - t0)

    def _remaining_at_last_session(self) -> float | None:
        elapsed = self._recent[-1][0] - self._start
        if self.finished:
            return 0.0
        if self.fetched:
            return elapsed / self.fetched * max(self.pairs_to_fetch - self.fetched, 0)
        if self.sessions_done:
            return elapsed / self.sessions_done * (self.sessions - self.sessions_done)
        return None

    def eta_seconds(self) -> float | None:
        """Counts down between sessions from the estimate made at the last one."""
        remaining = self._remaining_at_last_session()
        if remaining is None:
            return None
        return max(remaining - (self._clock() - self._recent[-1][0]), 0.0)

    def line(self) -> str:
        rate = self.rate_per_minute()
        eta = self.eta_seconds()
        elapsed = format_duration(self._clock() - self._start)
        return (
            f"sessions {self.sessions_done}/{self.sessions}, "
            f"pairs {self.pairs_done}/{self.pairs} ({self.fetched} fetched), "
            f"rows {self.rows:,}, requests {self.requests:,}, "
            f"rate {'-' if rate is None else f'{rate:,.1f}'} req/min, "
            f"elapsed {elapsed}, ETA {'-' if eta is None else format_duration(eta)}"
        )

    def _draw(self, text: str) -> None:
        self._shown = text
        self.stream.write(f"\r\x1b[2K{text}")
        self.stream.flush()
