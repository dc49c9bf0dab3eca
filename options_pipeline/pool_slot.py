"""Waiting for the options_chains pool slot from the CLI: quietly, visibly, interruptibly.

`ingest_options` claims the slot for a run id of its own before it creates the run, through
Dagster's own queue (`claim_concurrency_slot`), so the run's step finds the slot already claimed.
It does not leave the wait to Dagster: in 1.13 the in-process executor's wait never sleeps
(`InstanceConcurrencyContext.interval_to_next_pending_claim_check` returns `min(0, ...)`, always
<= 0, so `ActiveExecution.sleep_til_ready` never sleeps; dagster-io/dagster#20367), says nothing
on a CLI console, and only checks for Ctrl-C inside a step.

While waiting it names the holder (run id, how it was launched, since when), repeats that every
STATUS_EVERY seconds, frees a holder whose run is over or has no live process (see
options_pipeline.db.presence), and stops on a signal or at the --wait deadline.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import psycopg
from dagster import DagsterInstance, DagsterRunStatus

from options_pipeline.db.connection import connection
from options_pipeline.db.presence import run_is_present

_log = logging.getLogger("options_pipeline.cli")

STATUS_EVERY = 30.0  # seconds between "still waiting" lines
POLL = 1.0  # seconds between claim attempts (one small query each)
DEAD_AFTER = 10.0  # seconds a holder must be seen without a live process before it is freed
HOST_TAG, PID_TAG = "options_pipeline/host", "options_pipeline/pid"
LAUNCHED_BY_TAG = "options_pipeline/launched_by"
_ENDED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

# what signal.signal takes and returns (typeshed's signal._HANDLER, which is stub-only)
_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class WaitExpired(Exception):
    """The slot stayed busy for the whole --wait bound."""


class Signals:
    """SIGINT/SIGTERM recorded, not raised, so every wait can end cleanly.

    Dagster installs its own handlers while a run executes (and raises inside the step); a wakeup
    fd records the signal number whichever Python handler runs, so `received()` is exact."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._signum: int | None = None
        self._read, write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(write, False)
        self._write = write
        self._previous: dict[signal.Signals, _SignalHandler] = {}

    @contextmanager
    def installed(self) -> Iterator[Signals]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        old_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        try:
            yield self
        finally:
            signal.set_wakeup_fd(old_fd)
            for previous, handler in self._previous.items():
                signal.signal(previous, handler)
            os.close(self._read)
            os.close(self._write)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self._signum = self._signum or signum
        self.event.set()

    def received(self) -> int | None:
        try:
            data = os.read(self._read, 64)
        except BlockingIOError:
            data = b""
        for byte in data:
            if byte in (signal.SIGINT, signal.SIGTERM):
                self._signum = self._signum or byte
        if self._signum is not None:
            self.event.set()
        return self._signum

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`; raise Interrupted at once if a signal arrives."""
        self.event.wait(max(seconds, 0.0))
        signum = self.received()
        if signum is not None:
            raise Interrupted(signum)


@dataclass(frozen=True, slots=True)
class Holder:
    run_id: str
    launched_by: str
    since: datetime | None
    dead_because: str | None  # set when its run is over or no live process works for it

    def describe(self) -> str:
        since = ""
        if self.since is not None:
            age = (datetime.now(UTC) - self.since).total_seconds()
            since = f", since {self.since:%H:%M:%S} UTC ({_duration(age)} ago)"
        return f"run {self.run_id[:8]} ({self.launched_by}{since})"


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds}s"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def launched_by(tags: dict[str, str]) -> str:
    if tags.get(LAUNCHED_BY_TAG) == "ingest_options":
        return f"ingest_options, pid {tags.get(PID_TAG, '?')} on {tags.get(HOST_TAG, '?')}"
    if "dagster/backfill" in tags:
        return f"backfill {tags['dagster/backfill']}"
    if "dagster/schedule_name" in tags:
        return f"schedule {tags['dagster/schedule_name']}"
    if "dagster/sensor_name" in tags:
        return f"sensor {tags['dagster/sensor_name']}"
    if tags.get("dagster/from_ui") == "true":
        return "launched in the Dagster UI"
    return "dagster asset materialize or the Python API"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SlotWaiter:
    """Claims `pool`'s slot for the run id about to be created; see the module docstring."""

    def __init__(
        self,
        instance: DagsterInstance,
        database_url: str,
        pool: str,
        step_key: str,
        signals: Signals,
    ) -> None:
        self.instance = instance
        self.url = database_url
        self.pool = pool
        self.step_key = step_key
        self.signals = signals
        self._absent_since: dict[str, float] = {}

    def claim(self, run_id: str, *, wait: float | None) -> None:
        """Return once `run_id` holds the slot; Interrupted / WaitExpired otherwise (our place
        in the queue is given up then)."""
        storage = self.instance.event_log_storage
        started = time.monotonic()
        announced: set[str] = set()
        last_status = started
        try:
            while True:
                if storage.claim_concurrency_slot(self.pool, run_id, self.step_key, 0).is_claimed:
                    if announced:
                        _log.info(
                            "options_chains slot free after %s; starting",
                            _duration(time.monotonic() - started),
                        )
                    return
                holders = self.holders(run_id)
                dead = [h for h in holders if h.dead_because]
                if dead:
                    for holder in dead:
                        self.recover(holder)
                    continue
                now = time.monotonic()
                ids = {h.run_id for h in holders}
                if holders and not ids <= announced:
                    bound = (
                        f"up to {_duration(wait)} (--wait)"
                        if wait is not None
                        else "until it is free (bound it with --wait SECONDS)"
                    )
                    _log.warning(
                        "options_chains slot held by %s; waiting %s, Ctrl-C to stop",
                        ", ".join(h.describe() for h in holders),
                        bound,
                    )
                    announced |= ids
                    last_status = now
                elif now - last_status >= STATUS_EVERY:
                    who = ", ".join(h.describe() for h in holders) or "a run finishing"
                    _log.info(
                        "still waiting for the options_chains slot (%s waited), held by %s",
                        _duration(now - started),
                        who,
                    )
                    last_status = now
                if wait is not None and now - started >= wait:
                    raise WaitExpired(
                        f"the options_chains slot is still held by "
                        f"{', '.join(h.describe() for h in holders) or 'another run'} after "
                        f"--wait {_duration(wait)}; nothing was ingested by this command"
                    )
                pause = POLL if wait is None else min(POLL, wait - (now - started))
                self.signals.wait(pause)
        except BaseException:
            storage.free_concurrency_slots_for_run(run_id)  # leave the queue
            raise

    def holders(self, own_run_id: str) -> list[Holder]:
        info = self.instance.event_log_storage.get_concurrency_info(self.pool)
        ids = [s.run_id for s in info.claimed_slots if s.run_id != own_run_id]
        assigned = {
            p.run_id: p.assigned_timestamp
            for p in info.pending_steps
            if p.assigned_timestamp is not None
        }
        ids += [r for r in assigned if r != own_run_id and r not in ids]
        if not ids:
            return []
        with connection(self.url) as conn:
            return [self._holder(conn, run_id, assigned.get(run_id)) for run_id in ids]

    def _holder(
        self, conn: psycopg.Connection, run_id: str, assigned_at: datetime | None
    ) -> Holder:
        record = self.instance.get_run_record_by_id(run_id)
        run = record.dagster_run if record else None
        tags = dict(run.tags) if run else {}
        since: datetime | None
        if record and record.start_time:
            since = datetime.fromtimestamp(record.start_time, UTC)
        elif record:
            since = record.create_timestamp.astimezone(UTC)
        else:
            since = assigned_at.astimezone(UTC) if assigned_at else None
        how = launched_by(tags) if run else "ingest_options, run being created"
        dead: str | None = None
        if run is not None and run.status in _ENDED:
            dead = f"its run already ended ({run.status.value}) without freeing the slot"
        elif (
            tags.get(HOST_TAG) == socket.gethostname()
            and tags.get(PID_TAG, "").isdigit()
            and not pid_alive(int(tags[PID_TAG]))
        ):
            dead = f"its process {tags[PID_TAG]} is gone"
        elif run_is_present(conn, run_id):
            self._absent_since.pop(run_id, None)
        else:
            first = self._absent_since.setdefault(run_id, time.monotonic())
            if time.monotonic() - first >= DEAD_AFTER:
                dead = f"no live process has worked for it for {DEAD_AFTER:.0f}s"
        return Holder(run_id, how, since, dead)

    def recover(self, holder: Holder) -> None:
        """Mark a dead holder's run failed (if it was still open) and free its slot."""
        _log.warning(
            "freeing the options_chains slot of %s: %s", holder.describe(), holder.dead_because
        )
        record = self.instance.get_run_record_by_id(holder.run_id)
        if record and record.dagster_run.status not in _ENDED:
            self.instance.report_run_failed(
                record.dagster_run,
                f"its process died holding the options_chains slot ({holder.dead_because})",
            )
        self.instance.event_log_storage.free_concurrency_slots_for_run(holder.run_id)
        self._absent_since.pop(holder.run_id, None)
