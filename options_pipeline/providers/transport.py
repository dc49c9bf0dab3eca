"""HTTP transport shared by the HTTP providers: session, rate limit, retries, pagination, scrubbing.

What requests/urllib3 already do is used as is: one `requests.Session` (connection pooling), and a
urllib3 `Retry` on the adapter for *connect* errors only (the request never reached the server, so
it costs no rate budget). Everything that did reach the server goes through the loop below, so that
every attempt is rate limited, counted and logged:

- one `RateLimiter` per provider host and API key for the whole process (`shared_limiter`): evenly
  spaced requests, and never more than the server's window allows as the server stamps them
  (a request's window place is held until its answer is back);
- 429 -> wait `Retry-After` if given, else exponential backoff with jitter; the whole limiter is
  pushed back, so other threads pause too; after `max_retries` -> RateLimited;
- 5xx, dropped connections, truncated bodies -> backoff and retry; then ProviderError;
- read timeout -> WARNING, backoff and retry; then ProviderTimeout;
- 401 -> Unauthorized; 403 -> NotAvailable (Polygon's "your plan doesn't include ..."); other 4xx
  -> ProviderError. Errors carry the provider's `error`/`message` (or the first line of a plain-text
  body) and `request_id`. A provider can map its own statuses (`status_errors`, e.g. ThetaData's
  471/472), retry more of them (`retry_statuses`), and flag 200 answers that are really a rate
  limit (`inspect` raising RetryableAnswer, e.g. Alpha Vantage's "Note").
- `max_concurrent` bounds the requests in flight across threads (ThetaData's tiers limit
  outstanding requests, not a rate); `rate_limit_per_minute=None` means no rate limit.

By default the API key travels only in `Authorization: Bearer`. It never appears in a URL we send
(an `apiKey` parameter in a `next_url` is removed). Providers whose key must be a query parameter
(`auth="query:token"`) get it added to the prepared request only, so it is in no params dict we
log; urllib3's own DEBUG request lines are scrubbed by a logging filter, exceptions from requests
(whose text names the URL) are never chained, and `scrub()` is applied to every log line and error
message we produce.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import orjson
import requests
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util import Retry

from options_pipeline.providers.base import (
    NotAvailable,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    Unauthorized,
)

log = logging.getLogger(__name__)

USER_AGENT = "options-pipeline/0.1 (+requests)"
_APIKEY_PARAM_RE = re.compile(r"(?i)((?:apikey|token)=)[^&#\s]+")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)\S+")


class RateLimiter:
    """At most `per_minute` calls a minute, evenly spaced, and never more than the server's window
    allows on the server's own clock.

    Two rules, both thread-safe:

    - spacing: each `acquire()` reserves the next slot (`interval` after the previous one) under
      a lock and sleeps outside it. Slots are not banked while idle, so a long pause is not
      followed by a burst. `headroom` widens the interval slightly (2% by default).
    - window: a server counting "N requests per `window` seconds" (N = per_minute x window / 60)
      stamps a request when it arrives, which is some time after we send it -- later still on a
      loaded machine, and by a varying amount, so two evenly sent requests can arrive closer than
      they left. A request's arrival is certainly no later than the moment its answer is back
      (`release()`), so a new request goes out only while fewer than N others are in flight or
      were answered within the last `window` seconds. Then no `window` of the server's clock
      ever holds more than N arrivals, however late the server stamps them (fixed windows are
      covered too: each lies inside a sliding one). The price is one round trip per N requests,
      about nothing at the real 60 s window.

    Every `acquire()` must be paired with one `release()` when the request is over (answered or
    failed); the transport does it in a `finally`.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        window: float = 60.0,
        headroom: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        ok = isinstance(per_minute, int | float) and not math.isnan(per_minute) and per_minute > 0
        if not ok:
            raise ProviderConfigError(f"rate limit must be positive (per minute): {per_minute!r}")
        if not (isinstance(window, int | float) and math.isfinite(window) and window > 0):
            raise ProviderConfigError(f"rate-limit window must be positive seconds: {window!r}")
        self.per_minute = float(per_minute)
        # math.inf = no rate limit; the limiter still serves defer() after a 429
        self.interval = 60.0 / self.per_minute * (1.0 + headroom)
        self.window = float(window)
        # requests the server allows per window (at least one); None: no window to keep
        per_window = self.per_minute * self.window / 60.0
        self.capacity: int | None = (
            None if math.isinf(per_window) else max(1, int(per_window + 1e-9))
        )
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._next = -math.inf
        self._in_flight = 0
        self._done: deque[float] = deque()  # answer times within the last window, ascending

    def acquire(self) -> float:
        """Wait for this caller's slot (and room in the window); returns the seconds slept."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            log.debug("rate limit: waiting %.3fs for the next request slot", wait)
            self._sleep(wait)
        return max(wait, 0.0) + self._enter_window()

    def _enter_window(self) -> float:
        capacity = self.capacity
        slept = 0.0
        while True:
            with self._lock:
                if capacity is None:
                    self._in_flight += 1
                    return slept
                now = self._clock()
                done = self._done
                while done and done[0] <= now - self.window:
                    done.popleft()
                if self._in_flight + len(done) < capacity:
                    self._in_flight += 1
                    return slept
                if self._in_flight >= capacity or not done:
                    # every place in the window is taken by a request still out: its answer
                    # (release) is what frees one
                    self._answered.wait(timeout=self.window)
                    slept += self._clock() - now
                    continue
                wait = done[0] + self.window - now
            log.debug("rate limit: waiting %.3fs for room in the server's window", wait)
            self._sleep(wait)
            slept += wait

    def release(self) -> None:
        """The request from the last `acquire()` is over: its answer is back (or it failed)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if self.capacity is not None:
                self._done.append(self._clock())
                while len(self._done) > self.capacity:
                    self._done.popleft()
            self._answered.notify()

    def defer(self, seconds: float) -> None:
        """Push the next slot to at least `seconds` from now (after a 429 / Retry-After)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


_SHARED_LIMITERS: dict[tuple[str, str, float, float, float], RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(
    base_url: str, api_key: str, per_minute: float, headroom: float, window: float = 60.0
) -> RateLimiter:
    """The process's one limiter for this provider host and API key (and budget): every client
    built for them -- one per Dagster run, several runs per CLI invocation -- draws from the same
    slots, so a new day or run never starts with a fresh budget the server does not know about.
    Keyed by a digest; the key itself is not kept here."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    key = (base_url.rstrip("/"), digest, float(per_minute), float(headroom), float(window))
    with _SHARED_LOCK:
        limiter = _SHARED_LIMITERS.get(key)
        if limiter is None:
            limiter = RateLimiter(per_minute, window=window, headroom=headroom)
            _SHARED_LIMITERS[key] = limiter
        return limiter


@dataclass
class RequestStats:
    """Requests spent on one logical call (one snapshot); the transport also keeps a total."""

    requests: int = 0


class RetryableAnswer(Exception):
    """Raised by an `inspect` callback: a 200 answer that says "slow down" (retried like 429)."""


class _SecretFilter(logging.Filter):
    """Scrubs registered secrets from urllib3's DEBUG lines (they carry the full request URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            scrubbed = _APIKEY_PARAM_RE.sub(r"\1***", message)
            for secret in self.secrets:
                scrubbed = scrubbed.replace(secret, "***")
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return True


_URLLIB3_FILTER = _SecretFilter()
logging.getLogger("urllib3.connectionpool").addFilter(_URLLIB3_FILTER)


class _QueryAuth(requests.auth.AuthBase):
    """Adds the key as a query parameter to the prepared request only (for APIs that need it)."""

    def __init__(self, param: str, key: str) -> None:
        self._param = param
        self._key = key

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.prepare_url(r.url or "", {self._param: self._key})
        return r

    def __repr__(self) -> str:
        return f"_QueryAuth({self._param}=***)"


class _BearerAuth(requests.auth.AuthBase):
    """Sets the Authorization header (as an auth object, so ~/.netrc can never override it)."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._key}"
        return r

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


class HttpTransport:
    """One provider's HTTP client. `requests` is the total number of requests sent."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        rate_limit_per_minute: float | None,
        rate_limit_window: float = 60.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        retry_after_max: float = 300.0,
        headroom: float = 0.02,
        max_pages: int = 10_000,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        auth: str = "bearer",
        max_concurrent: int | None = None,
        retry_statuses: Collection[int] = (),
        status_errors: Mapping[int, type[ProviderError]] | None = None,
        accept: str = "application/json",
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProviderConfigError(f"base URL must be http(s)://host[/prefix]: {base_url!r}")
        if max_retries < 0:
            raise ProviderConfigError(f"max_retries must be >= 0: {max_retries}")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ProviderConfigError("timeouts must be positive")
        if max_concurrent is not None and max_concurrent < 1:
            raise ProviderConfigError(f"max_concurrent must be >= 1: {max_concurrent}")
        if auth != "bearer" and auth != "none" and not auth.startswith("query:"):
            raise ProviderConfigError(f"auth must be bearer, none or query:<param>: {auth!r}")
        self.base_url = base_url.rstrip("/")
        self._origin = (parts.scheme, parts.netloc)
        self._key = api_key or ""
        # an exception from requests names the URL; with the key in the query it must not chain
        self._key_in_url = auth.startswith("query:")
        self._retry_statuses = frozenset(retry_statuses)
        self._status_errors = dict(status_errors or {})
        self._slots = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None
        self.max_concurrent = max_concurrent
        self._timeout = (connect_timeout, read_timeout)
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._retry_after_max = retry_after_max
        self._max_pages = max_pages
        self._sleep = sleep
        per_minute = math.inf if rate_limit_per_minute is None else rate_limit_per_minute
        if sleep is time.sleep and clock is time.monotonic:
            self.limiter = shared_limiter(
                base_url, self._key, per_minute, headroom, rate_limit_window
            )
        else:  # an injected clock (tests): a private limiter on that clock
            self.limiter = RateLimiter(
                per_minute, window=rate_limit_window, headroom=headroom, clock=clock, sleep=sleep
            )
        self._count_lock = threading.Lock()
        self._requests = 0

        self._session = requests.Session()
        if auth == "bearer":
            self._session.auth = _BearerAuth(self._key)
        elif self._key_in_url:
            self._session.auth = _QueryAuth(auth.removeprefix("query:"), self._key)
            if self._key:
                _URLLIB3_FILTER.secrets.add(self._key)
        self._session.headers.update({"Accept": accept, "User-Agent": USER_AGENT})
        # urllib3 retries connection *establishment* only; read errors and statuses are ours.
        connect_retry = Retry(
            total=None,
            connect=max_retries,
            read=False,
            status=0,
            other=0,
            redirect=3,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=backoff_base,
            backoff_max=backoff_max,
            backoff_jitter=backoff_base,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=connect_retry)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    # ------------------------------------------------------------------ public

    @property
    def requests(self) -> int:
        return self._requests

    def close(self) -> None:
        self._session.close()
        if self._key_in_url and self._key:
            _URLLIB3_FILTER.secrets.discard(self._key)

    def scrub(self, text: str) -> str:
        """Remove the API key (and anything that looks like a key parameter) from text."""
        if self._key:
            text = text.replace(self._key, "***")
        text = _APIKEY_PARAM_RE.sub(r"\1***", text)
        return _BEARER_RE.sub(r"\1***", text)

    def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        stats: RequestStats | None = None,
        inspect: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """One GET (with retries) of `path` below the base URL; the decoded JSON object.

        `inspect(body)` may raise a ProviderError (the answer is an error in a 200 envelope) or
        RetryableAnswer (it says "slow down": backed off and retried like a 429).
        """
        body: dict[str, Any] = self._request(
            self.base_url + path, params, stats, path, inspect=inspect
        )
        return body

    def get_text(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        stats: RequestStats | None = None,
    ) -> str:
        """One GET (with retries) of `path`; the body as text (e.g. CSV)."""
        text: str = self._request(self.base_url + path, params, stats, path, text=True)
        return text

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        stats: RequestStats | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield each page of a `next_url`-paginated listing as it arrives.

        `next_url` is opaque: it is followed as given (auth re-attached by the session), only
        re-based onto our base URL if it names another host, so the key is never sent elsewhere.
        A cursor seen before stops the listing with a ProviderError (polygon-io/issues#289).
        """
        url: str = self.base_url + path
        page_params = params
        seen: set[str] = set()
        pages = 0
        while True:
            log.debug("GET %s page %d", path, pages + 1)
            page = self._request(url, page_params, stats, path)
            pages += 1
            yield page
            nxt = page.get("next_url")
            if nxt is None or nxt == "":
                return
            if not isinstance(nxt, str):
                raise ProviderError(
                    f"unexpected response shape from {path}: next_url is not a string",
                    request_id=request_id(page),
                )
            url = self._resolve_next(nxt)
            if url in seen:
                raise ProviderError(
                    f"pagination cursor repeated after page {pages} of {path}; stopping "
                    "(the listing would never end)",
                    request_id=request_id(page),
                )
            if pages >= self._max_pages:
                raise ProviderError(f"more than {self._max_pages} pages from {path}; stopping")
            seen.add(url)
            page_params = None

    # ------------------------------------------------------------------ internals

    def _resolve_next(self, nxt: str) -> str:
        parts = urlsplit(urljoin(self.base_url + "/", nxt))
        query = parts.query
        if "apikey=" in query.lower():  # never send the key in a URL (it would end up in logs)
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, v) for k, v in pairs if k.lower() != "apikey"])
        if (parts.scheme, parts.netloc) == self._origin:
            return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        log.debug("next_url names another host; re-basing it onto %s", self.base_url)
        return self.base_url + urlunsplit(("", "", parts.path, query, ""))

    def _count(self, stats: RequestStats | None) -> None:
        with self._count_lock:
            self._requests += 1
        if stats is not None:
            stats.requests += 1

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        cap = min(self._backoff_max, self._backoff_base * (2**attempt))
        return float(cap / 2 + random.uniform(0, cap / 2))

    def _retry_after(self, resp: Response) -> float | None:
        value = resp.headers.get("Retry-After")
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            seconds = when.timestamp() - time.time()
        if not math.isfinite(seconds):
            return None
        return min(max(seconds, 0.0), self._retry_after_max)

    def _cause(self, exc: BaseException) -> BaseException | None:
        return None if self._key_in_url else exc

    def _get(self, url: str, params: Mapping[str, Any] | None) -> Response:
        """One request; the limiter's window place is held until its answer is back."""
        try:
            if self._slots is None:
                return self._session.get(url, params=params, timeout=self._timeout)
            with self._slots:  # held while the request is outstanding, not while backing off
                return self._session.get(url, params=params, timeout=self._timeout)
        finally:
            self.limiter.release()

    def _request(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        stats: RequestStats | None,
        what: str,
        *,
        text: bool = False,
        inspect: Callable[[dict[str, Any]], None] | None = None,
    ) -> Any:
        attempt = 0
        while True:
            self.limiter.acquire()
            self._count(stats)
            retry_reason: str
            try:
                resp = self._get(url, params)
            except requests.ReadTimeout as exc:
                if attempt >= self._max_retries:
                    log.warning(
                        "read timeout on %s; giving up after %d attempts", what, attempt + 1
                    )
                    raise ProviderTimeout(
                        f"read timeout ({self._timeout[1]}s) on {what} after {attempt + 1} attempts"
                    ) from self._cause(exc)
                delay = self._backoff(attempt)
                log.warning(
                    "read timeout on %s (attempt %d/%d); retrying in %.2fs",
                    what,
                    attempt + 1,
                    self._max_retries + 1,
                    delay,
                )
                self._sleep(delay)
                attempt += 1
                continue
            except requests.ConnectTimeout as exc:  # urllib3 already retried the connect
                raise ProviderUnreachable(
                    f"cannot connect to {self._origin[1]}: connect timeout "
                    f"({self._timeout[0]}s) on {what} after retries"
                ) from self._cause(exc)
            except requests.ConnectionError as exc:
                if exc.args and isinstance(exc.args[0], MaxRetryError):  # connect retries spent
                    cause = self.scrub(_connect_cause(exc))
                    raise ProviderUnreachable(
                        f"cannot connect to {self._origin[1]} ({cause}) for {what}"
                    ) from self._cause(exc)
                retry_reason = f"connection dropped ({type(exc).__name__})"
                resp = None
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                retry_reason = f"truncated response body ({type(exc).__name__})"
                resp = None
            except requests.RequestException as exc:
                raise ProviderError(
                    f"request to {what} failed: {type(exc).__name__}"
                ) from self._cause(exc)

            if resp is not None:
                status = resp.status_code
                slow_down: str | None = None
                if status == 200:
                    if text:
                        return self._text(resp, what)
                    body = self._decode(resp, what)
                    if inspect is None:
                        return body
                    try:
                        inspect(body)
                        return body
                    except RetryableAnswer as answer:
                        slow_down = self.scrub(str(answer))[:500]
                message, request_id = (
                    (slow_down, None) if slow_down is not None else self._error_details(resp)
                )
                if status in self._status_errors and slow_down is None:
                    raise self._status_errors[status](
                        f"HTTP {status} from {what}: {message}", request_id=request_id
                    )
                if status == 429 or slow_down is not None:
                    if attempt >= self._max_retries:
                        raise RateLimited(
                            f"rate limited on {what} after {attempt + 1} attempts: {message}",
                            request_id=request_id,
                            http_status=status,
                        )
                    retry_after = self._retry_after(resp)
                    delay = retry_after if retry_after is not None else self._backoff(attempt)
                    log.debug(
                        "429 on %s (attempt %d/%d); %s %.2fs",
                        what,
                        attempt + 1,
                        self._max_retries + 1,
                        "Retry-After" if retry_after is not None else "backing off",
                        delay,
                    )
                    self.limiter.defer(delay)  # every thread waits, then our slot follows
                    attempt += 1
                    continue
                if status == 401:
                    raise Unauthorized(
                        f"provider rejected the API key on {what}: {message}",
                        request_id=request_id,
                        http_status=status,
                    )
                if status == 403:
                    raise NotAvailable(
                        f"not available on this plan ({what}): {message}",
                        request_id=request_id,
                        http_status=status,
                    )
                if status < 500 and status not in self._retry_statuses:
                    raise ProviderError(
                        f"HTTP {status} from {what}: {message}",
                        request_id=request_id,
                        http_status=status,
                    )
                if attempt >= self._max_retries:
                    raise ProviderError(
                        f"server error {status} from {what} after {attempt + 1} attempts: "
                        f"{message}",
                        request_id=request_id,
                        http_status=status,
                    )
                retry_reason = f"server error {status}"

            if attempt >= self._max_retries:  # (5xx already raised above with its message)
                raise ProviderError(f"{retry_reason} from {what} after {attempt + 1} attempts")
            delay = self._backoff(attempt)
            log.debug(
                "%s on %s (attempt %d/%d); retrying in %.2fs",
                retry_reason,
                what,
                attempt + 1,
                self._max_retries + 1,
                delay,
            )
            self._sleep(delay)
            attempt += 1

    def _text(self, resp: Response, what: str) -> str:
        try:
            return resp.content.decode(resp.encoding or "utf-8")
        except (LookupError, UnicodeDecodeError):
            raise ProviderError(
                f"undecodable text body from {what} ({len(resp.content)} bytes)"
            ) from None

    def _decode(self, resp: Response, what: str) -> dict[str, Any]:
        try:
            body = decode_json(resp.content)
        except (ValueError, UnicodeDecodeError):
            raise ProviderError(
                f"malformed JSON from {what} ({len(resp.content)} bytes)",
                request_id=resp.headers.get("X-Request-Id"),
            ) from None
        if not isinstance(body, dict):
            raise ProviderError(f"unexpected response shape from {what}: not a JSON object")
        status = body.get("status")
        if status == "NOT_AUTHORIZED":
            raise NotAvailable(
                f"not available on this plan ({what}): {self._message(body)}",
                request_id=request_id(body),
            )
        if status == "ERROR":
            raise ProviderError(
                f"provider error from {what}: {self._message(body)}", request_id=request_id(body)
            )
        return body

    def _message(self, body: Mapping[str, Any]) -> str:
        parts = [str(body[k]) for k in ("error", "message") if body.get(k)]
        return self.scrub(" - ".join(parts))[:500] or "(no message)"

    def _error_details(self, resp: Response) -> tuple[str, str | None]:
        try:
            body = json.loads(resp.content)
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            return self._message(body), request_id(body)
        # plain-text error bodies (ThetaData's terminal): the first line says what went wrong
        first = resp.content[:300].decode("utf-8", "replace").strip().splitlines()
        if first and first[0].strip() and not first[0].lstrip().startswith("<"):
            return self.scrub(first[0].strip())[:200], None
        return self.scrub(f"HTTP {resp.status_code} {resp.reason or ''}".strip()), None


def _connect_cause(exc: BaseException) -> str:
    """ "connection refused", "name not resolved", ...: the innermost OS error, short."""
    seen = exc
    while True:
        nxt = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    if isinstance(seen, OSError) and seen.strerror:
        return seen.strerror.lower()
    text = str(seen)
    return text.rsplit(": ", 1)[-1].strip(" ')") or type(seen).__name__


def decode_json(content: bytes) -> Any:
    """JSON -> Python objects. orjson decodes a full 250-row page ~3x faster than the standard
    library (the client's largest cost per page); what orjson refuses (NaN/Infinity literals,
    which json.loads accepts) goes to json.loads, so the same bodies decode as before and a
    non-finite number is still counted against its row, not the page. ValueError if neither can.
    """
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def request_id(body: Mapping[str, Any]) -> str | None:
    """The vendor's request id in a JSON body (Polygon's `request_id`), for error messages."""
    rid = body.get("request_id")
    return str(rid) if rid not in (None, "") else None
