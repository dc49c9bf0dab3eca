"""`provider check`: does a provider's field map match what its API really answers?

A provider that can be checked implements `check(symbol, day) -> ProviderCheckReport`: the
smallest request to each endpoint its history and current paths use, the field names each
response carried, which entries of its field map matched and which are missing. `ok` only when
every endpoint answered with rows and every required entry maps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class EndpointCheck:
    name: str  # short label, e.g. "analytics"
    request: str  # what was asked (path and query, never the key)
    status: str  # "HTTP 200", or the error (plan, auth, shape) in one line
    rows: int = 0
    fields_seen: tuple[str, ...] = ()  # JSON paths present in the rows ("a.b" = nested)
    matched: tuple[tuple[str, str], ...] = ()  # (map entry, JSON path that carried it)
    missing: tuple[str, ...] = ()  # required entries no row carried
    missing_optional: tuple[str, ...] = ()
    error: bool = False

    @property
    def ok(self) -> bool:
        return not self.error and self.rows > 0 and not self.missing


@dataclass(frozen=True, slots=True)
class ProviderCheckReport:
    provider: str
    symbol: str
    day: date
    endpoints: tuple[EndpointCheck, ...]
    requests: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return bool(self.endpoints) and all(e.ok for e in self.endpoints)

    def render(self) -> str:
        lines = [f"provider check: {self.provider}, {self.symbol}, session {self.day.isoformat()}"]
        lines += [f"  note: {n}" for n in self.notes]
        for e in self.endpoints:
            lines.append(f"[{'ok' if e.ok else 'FAIL'}] {e.name}: GET {e.request}")
            lines.append(f"    status: {e.status}; rows: {e.rows}")
            if e.error:
                continue
            lines.append(f"    fields seen: {', '.join(e.fields_seen) or '-'}")
            shown = [m if m == p else f"{m}<-{p}" for m, p in e.matched]
            lines.append(f"    mapped: {', '.join(shown) or '-'}")
            lines.append(f"    missing (required): {', '.join(e.missing) or '-'}")
            lines.append(f"    missing (optional): {', '.join(e.missing_optional) or '-'}")
        lines.append(f"requests used: {self.requests}")
        lines.append(
            "result: OK, every required field maps"
            if self.ok
            else "result: FAILED, see the endpoints marked FAIL"
        )
        return "\n".join(lines)


def json_paths(rows: Iterable[Any], depth: int = 2) -> tuple[str, ...]:
    """Every key path present in the rows (nested objects to `depth` levels), sorted."""
    seen: set[str] = set()

    def walk(node: Mapping[str, Any], prefix: str, level: int) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            seen.add(path)
            if isinstance(value, Mapping) and level < depth:
                walk(value, path + ".", level + 1)

    for row in rows:
        if isinstance(row, Mapping):
            walk(row, "", 1)
    return tuple(sorted(seen))


def match_fields(
    seen: Iterable[str],
    field_map: Mapping[str, tuple[str, ...]],
    required: Iterable[str],
    optional: Iterable[str],
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...], tuple[str, ...]]:
    """(matched (entry, path), missing required, missing optional) of `field_map` over `seen`."""
    present = set(seen)
    matched: list[tuple[str, str]] = []
    missing: list[str] = []
    missing_optional: list[str] = []
    for names, out in ((required, missing), (optional, missing_optional)):
        for name in names:
            path = next((p for p in field_map[name] if p in present), None)
            if path is None:
                out.append(name)
            else:
                matched.append((name, path))
    return tuple(matched), tuple(missing), tuple(missing_optional)
