"""A PostgreSQL server started by hand on 127.0.0.1 — an "external" server for DATABASE_URL tests
and for stopping/starting PostgreSQL under a running ingestion."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

from pgserver._commands import POSTGRES_BIN_PATH

RUN_AS = "pgserver" if os.geteuid() == 0 else None  # postgres refuses to run as root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresProcess:
    def __init__(self, root: Path) -> None:
        self.pgdata = root / "external-pgdata"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / tool), *args],
            check=True,
            user=RUN_AS,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def init(self) -> PostgresProcess:
        self.pgdata.mkdir(parents=True)
        if RUN_AS:
            # pgserver created this user when the session's embedded server started
            user = pwd.getpwnam(RUN_AS)
            for path in (self.pgdata, *self.pgdata.parents):
                if path == Path("/"):
                    break
                path.chmod(path.stat().st_mode | 0o011)
            shutil.chown(self.pgdata, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust")
        return self

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-w",
            "-l",
            str(self.pgdata / "log"),
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
