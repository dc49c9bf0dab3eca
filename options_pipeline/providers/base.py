"""The provider contract: "the option chain of SYMBOL as of trading day D", or a typed error.

The ingestion layer records these errors per (date, symbol) and moves on; nothing in it is
provider-specific.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the errors below are imported by the CLI before it needs numpy
    from options_pipeline.models import ChainSnapshot


class ProviderError(Exception):
    """A provider could not answer for one symbol; `reason` is a short stable code for reports."""

    reason = "provider_error"

    def __init__(
        self, message: str, *, request_id: str | None = None, http_status: int | None = None
    ) -> None:
        if request_id:
            message = f"{message} (request_id {request_id})"
        super().__init__(message)
        self.request_id = request_id
        self.http_status = http_status  # the HTTP status that caused it, when one did


class ProviderTimeout(ProviderError):
    reason = "timeout"


class ProviderUnreachable(ProviderError):
    """No connection to the provider's host (refused, unresolvable, connect timeout): an outage
    on our side or theirs, never evidence about the market."""

    reason = "unreachable"


class RateLimited(ProviderError):
    reason = "rate_limited"


class NoContracts(ProviderError):
    reason = "no_contracts"


class NotAvailable(ProviderError):
    """The data for that date or plan cannot be had (never substituted with today's values)."""

    reason = "not_available"


class Unauthorized(ProviderError):
    reason = "unauthorized"


class ProviderConfigError(ValueError):
    """A provider cannot be built from its settings (unknown name, missing API key, bad value).

    Raised at construction, never per symbol: it is a deployment problem, not a data problem.
    """


class OptionsProvider(Protocol):
    """What every provider plugin implements.

    Optional: `max_concurrency: int` -- how many fetch_chain calls ingest_day may run at once
    from worker threads (default 1: one fetch ahead of the writes; set it higher only when
    fetch_chain is thread-safe; its own limits still pace the requests)."""

    name: str

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far by this instance (0 for offline providers)."""
        ...

    def fetch_chain(self, symbol: str, as_of: date) -> ChainSnapshot:
        """Return the chain of `symbol` for trading day `as_of` or raise a ProviderError."""
        ...

    def close(self) -> None:
        """Release network resources (a no-op for offline providers)."""
        ...
