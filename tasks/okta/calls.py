"""The one place where okta SDK results become values or exceptions, and where retries are decided.

The SDK hands back tuples whose shape depends on the outcome (FACTS.md); `send` always returns an
`OktaResponse` or raises `ProviderError`. Retries are decided by error type only: 429 waits for the
bucket's X-Rate-Limit-Reset; 5xx, timeouts and dropped connections back off exponentially; 4xx other than
429 is never retried (the caller records Okta's error).

Scale-out: with `okta.shared_rate_limits` on, every attempt first takes a slot of its bucket's Prefect global
concurrency limit with slot decay (`okta-<bucket>`, see flows/deployments.py), so workers on several machines
share one per-minute budget through the orchestrator. The per-process limiter still runs behind it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from okta.client import Client
from okta.errors.http_error import HTTPError
from okta.errors.okta_api_error import OktaAPIError
from okta.http_client import HTTPClient

from config.errors import ConfigError, ProviderError
from tasks.okta.ratelimit import RateLimiter

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
SHARED_LIMIT_PREFIX = "okta-"
# Clients whose calls take a shared slot first (set at the edge by tasks/okta/clients.py from the settings).
_SHARED_BUDGET: weakref.WeakKeyDictionary[Client, bool] = weakref.WeakKeyDictionary()


def shared_limit_name(bucket: str) -> str:
    """The Prefect global concurrency limit that holds `bucket`'s budget for every worker."""
    return SHARED_LIMIT_PREFIX + bucket


def share_budget(client: Client, enabled: bool) -> None:
    """Make every call through `client` take a slot of its bucket's shared limit first (scale-out)."""
    _SHARED_BUDGET[client] = enabled


async def _take_shared_slot(bucket: str) -> None:
    """One slot of `okta-<bucket>`; waits while the workers together have spent the bucket's budget.

    https://docs.prefect.io/v3/how-to-guides/workflows/global-concurrency-limits (rate limits, slot decay).
    A missing limit fails loudly (strict): running unshared while believing it shared would overrun Okta.
    """
    from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError
    from prefect.concurrency.asyncio import rate_limit

    name = shared_limit_name(bucket)
    try:
        await rate_limit(name, occupy=1, strict=True)
    except ConcurrencySlotAcquisitionError as err:
        if err.__cause__ is None:  # Prefect answered: no such limit
            raise ConfigError(
                f"okta.shared_rate_limits is on but Prefect has no global concurrency limit {name!r}: run "
                "`holdfast rate-limits` against this Prefect API, or turn the setting off"
            ) from None
        # The API failed after the Prefect client's own retries: no slot, so no call to Okta either.
        raise ProviderError("prefect", f"no slot of {name!r} ({err.__cause__})", retryable=True) from None


@dataclass(frozen=True)
class OktaResponse:
    status: int
    headers: Mapping[str, str]
    body: str
    links: Mapping[str, str]  # rel -> absolute URL, from the Link header

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Okta-Request-Id")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        return delay * (0.5 + random.random() / 2)


def relative_path(url: str) -> str:
    """Path and query of an absolute Link URL: the request executor prefixes the org URL itself."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _links(response: aiohttp.ClientResponse) -> dict[str, str]:
    return {str(rel): str(link["url"]) for rel, link in response.links.items()}


def _provider_error(error: Exception) -> ProviderError:
    if isinstance(error, OktaAPIError):
        status = error.status
        request_id = (error.headers or {}).get("X-Okta-Request-Id")
        return ProviderError(
            "okta",
            error.error_summary or "request failed",
            status=status,
            code=error.error_code,
            request_id=request_id,
            retryable=status in RETRYABLE_STATUS,
        )
    if isinstance(error, HTTPError):
        return ProviderError(
            "okta", "unexpected answer", status=error.status, retryable=error.status in RETRYABLE_STATUS
        )
    # aiohttp.ClientError / asyncio.TimeoutError: the request may or may not have reached Okta.
    kind = "timed out" if isinstance(error, asyncio.TimeoutError) else f"connection failed ({type(error).__name__})"
    return ProviderError("okta", kind, retryable=True)


def _reset_epoch(headers: Mapping[str, str] | None) -> float:
    try:
        return float((headers or {})["X-Rate-Limit-Reset"])
    except (KeyError, ValueError):
        return time.time() + 60.0


async def _execute(executor: Any, request: dict[str, Any]) -> tuple[Any, str | None, Exception | None]:
    """RequestExecutor.execute without its two json.loads of every 2xx GET body: one decides whether to
    cache (the SDK's cache is off in holdfast), the other builds a response object execute then drops. For
    a 1,000-event System Log page that was ~30 ms of parsing the event loop did for nothing; holdfast reads
    the text itself. The same SDK path otherwise: its HTTP client, auth and DPoP nonce handling, and its
    error objects for anything but 2xx."""
    _, response, text, error = await executor.fire_request_helper(request, 0, time.time())
    if error is None and response is not None and not 200 <= response.status <= 299:
        _, error = HTTPClient.check_response_for_error(request["url"], response, text)
    return response, text, error


async def send(
    client: Client,
    method: str,
    path: str,
    *,
    bucket: str,
    limiter: RateLimiter,
    body: dict[str, Any] | None = None,
    policy: RetryPolicy | None = None,
) -> OktaResponse:
    """One Okta call through the SDK's request executor (its auth, TLS and user agent), with retries."""
    policy = policy or RetryPolicy()
    executor = client.get_request_executor()
    shared = _SHARED_BUDGET.get(client, False)
    last: ProviderError | None = None
    for attempt in range(policy.attempts):
        if shared:
            await _take_shared_slot(bucket)  # every attempt counts at Okta, so every attempt takes a slot
        await limiter.acquire(bucket)
        headers: Mapping[str, str] | None = None
        try:
            request, error = await executor.create_request(method, path, body or {}, {})
            if error is not None:
                raise _provider_error(error)
            response, text, error = await _execute(executor, request)
            headers = response.headers if response is not None else getattr(error, "headers", None)
        finally:
            limiter.release(bucket, headers)
        if error is None:
            assert response is not None
            return OktaResponse(response.status, response.headers, text or "", _links(response))
        last = _provider_error(error)
        if not last.retryable:
            raise last
        if last.status == 429:
            limiter.exhausted(bucket, _reset_epoch(headers))
        else:
            await asyncio.sleep(policy.backoff(attempt))
    assert last is not None
    raise last
