"""The exit codes of every command line (documented in each --help and the README)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done; nothing requested is missing
    GAPS = 1  # something requested is missing (listed); re-running retries it
    USAGE = 2  # bad input or environment: one line on stderr, nothing written
    RUN_FAILED = 3  # a Dagster run failed unexpectedly (its traceback is in the event log)
    BUSY = 4  # another ingestion kept the options_chains pool past the wait; nothing written
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, as shells report it
    TERMINATED = 143  # SIGTERM: 128 + 15

    @classmethod
    def for_signal(cls, signum: int) -> int:
        """128 + the signal number, as a shell reports a process that a signal stopped."""
        code = 128 + signum
        return cls(code) if code in cls._value2member_map_ else code
