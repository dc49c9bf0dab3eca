"""The embedded PostgreSQL used when DATABASE_URL is unset.

It runs from the `pgserver` wheel's bundled binaries under `<state dir>/pgdata`, listens on a Unix
socket inside that folder (no TCP port to collide with), and keeps running between commands until
`options-pipeline db stop`.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

_log = logging.getLogger(__name__)


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started or stopped."""


def _pgdata(state_dir: Path) -> Path:
    return state_dir / "pgdata"


def ensure_running(state_dir: Path) -> str:
    """Start the embedded server if needed; return a libpq URL for its `postgres` database."""
    import pgserver  # imported lazily: only the embedded path needs it

    pgdata = _pgdata(state_dir)
    try:
        pgdata.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedDatabaseError(
            f"state directory {state_dir} is not writable ({exc.strerror})"
        ) from None
    if not os.access(state_dir, os.W_OK):
        raise EmbeddedDatabaseError(f"state directory {state_dir} is not writable")
    # pgserver logs every step at INFO; keep ours readable.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        if not is_running(state_dir):  # a handle cached by this process, of a stopped server
            server.ensure_postgres_running()
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        log_file = pgdata / "log"
        raise EmbeddedDatabaseError(
            f"embedded PostgreSQL failed to start under {pgdata} ({exc}); see {log_file}"
        ) from None
    return str(server.get_uri("postgres"))


def is_running(state_dir: Path) -> bool:
    pid_file = _pgdata(state_dir) / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return False
    return True


def stop(state_dir: Path) -> bool:
    """Stop the embedded server (fast shutdown). Returns False when it was not running."""
    from pgserver._commands import pg_ctl

    pgdata = _pgdata(state_dir)
    if not is_running(state_dir):
        return False
    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs postgres as this user
    try:
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=pgdata, user=user, timeout=60)
    except (subprocess.SubprocessError, OSError) as exc:
        raise EmbeddedDatabaseError(f"could not stop embedded PostgreSQL: {exc}") from None
    return True
