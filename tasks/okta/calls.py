"""The one place where okta SDK results become values or exceptions, and where retries are decided.

The SDK hands back tuples whose shape depends on the outcome (FACTS.md); `send` always returns an
`OktaResponse` or raises `ProviderError`. Retries are decided by error type only: 429 waits for the
bucket's X-Rate-Limit-Reset; 5xx, timeouts and dropped connections back off exponentially; 4xx other than
429 is never retried (the caller records Okta's error).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from okta.client import Client
from okta.errors.http_error import HTTPError
from okta.errors.okta_api_error import OktaAPIError

from config.errors import ProviderError
from tasks.okta.ratelimit import RateLimiter

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


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
    last: ProviderError | None = None
    for attempt in range(policy.attempts):
        await limiter.acquire(bucket)
        headers: Mapping[str, str] | None = None
        try:
            request, error = await executor.create_request(method, path, body or {}, {})
            if error is not None:
                raise _provider_error(error)
            response, text, error = await executor.execute(request)
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
