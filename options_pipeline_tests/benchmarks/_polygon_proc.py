"""The local Polygon test server in its own process, driven over stdin/stdout (one JSON per line).

In-process, the server's JSON encoding would share the GIL with the client under test and be
billed to the pipeline; in a subprocess it behaves like the remote service it stands for.

    with PolygonProcess(today=DAY, contracts=1000) as srv:
        srv.base_url, srv.api_key
        srv.call("warm", symbol="SPY", day="2025-03-14")     # build the chain before timing
        srv.call("rate", limit=100, window=1.0)              # also clears the request log
        srv.call("log")  -> {"t": [...], "status": [...]}   # arrival times (monotonic), statuses

Server side: `python -m options_pipeline_tests.benchmarks._polygon_proc TODAY CONTRACTS`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from typing import Any

_MODULE = "options_pipeline_tests.benchmarks._polygon_proc"


class PolygonProcess:
    def __init__(self, *, today: date, contracts: int) -> None:
        self.today = today
        self.contracts = contracts
        self._proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.api_key = ""

    def __enter__(self) -> PolygonProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", _MODULE, self.today.isoformat(), str(self.contracts)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        hello = self._read()
        self.base_url, self.api_key = hello["base_url"], hello["api_key"]
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by handle
            proc.wait()
        self._proc = None

    def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the Polygon server subprocess exited")
        return json.loads(line)

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self._proc.stdin.flush()
        return self._read()


def _serve(today: date, contracts: int) -> None:
    from options_pipeline_tests.polygon_server import PolygonTestServer

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    with PolygonTestServer(today=today, contracts_per_symbol=contracts) as srv:
        reply({"base_url": srv.base_url, "api_key": srv.api_key})
        for line in sys.stdin:
            msg = json.loads(line)
            cmd = msg["cmd"]
            if cmd == "warm":
                srv.chain(msg["symbol"], date.fromisoformat(msg["day"]))
                reply({"ok": True})
            elif cmd == "rate":
                srv.reset()
                srv.set_rate_limit(msg["limit"], per_seconds=msg["window"])
                reply({"ok": True})
            elif cmd == "log":
                log = srv.requests
                reply({"t": [r.t for r in log], "status": [r.status for r in log]})
            else:
                reply({"error": f"unknown command {cmd!r}"})


if __name__ == "__main__":
    _serve(date.fromisoformat(sys.argv[1]), int(sys.argv[2]))
