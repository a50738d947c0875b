"""User lifecycle operations (suspend, unsuspend, password and factor resets), each one Okta call.

https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserLifecycle/
Idempotency is narrow: only Okta's specific "not in the required status" answer, confirmed by reading the
user's status, counts as "already done"; everything else raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from okta.client import Client

from config.errors import ProviderError
from tasks.okta import buckets
from tasks.okta.calls import RetryPolicy, send
from tasks.okta.ratelimit import RateLimiter

Outcome = Literal["done", "already_done"]


@dataclass(frozen=True)
class CallResult:
    outcome: Outcome
    request_id: str | None


async def user_status(client: Client, limiter: RateLimiter, user_id: str, policy: RetryPolicy | None = None) -> str:
    """GET /api/v1/users/{id} -> status (https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/)"""
    response = await send(
        client, "GET", f"/api/v1/users/{quote(user_id)}", bucket=buckets.USERS_GET, limiter=limiter, policy=policy
    )
    body = response.json()
    return str(body["status"])


async def _transition(
    client: Client,
    limiter: RateLimiter,
    user_id: str,
    operation: str,
    *,
    already_if: str | None,
    policy: RetryPolicy | None,
    query: str = "",
) -> tuple[CallResult, dict[str, object] | None]:
    path = f"/api/v1/users/{quote(user_id)}/lifecycle/{operation}{query}"
    try:
        response = await send(client, "POST", path, bucket=buckets.USERS_WRITE, limiter=limiter, policy=policy)
    except ProviderError as err:
        refused = already_if is not None and err.code == "E0000001" and err.status == 400
        if refused and await user_status(client, limiter, user_id, policy) == already_if:
            return CallResult("already_done", err.request_id), None
        raise
    body = response.json()
    return CallResult("done", response.request_id), body if isinstance(body, dict) else None


async def suspend(client: Client, limiter: RateLimiter, user_id: str, policy: RetryPolicy | None = None) -> CallResult:
    """POST .../lifecycle/suspend: ACTIVE -> SUSPENDED; an already SUSPENDED user is "already done"."""
    result, _ = await _transition(client, limiter, user_id, "suspend", already_if="SUSPENDED", policy=policy)
    return result


async def unsuspend(
    client: Client, limiter: RateLimiter, user_id: str, policy: RetryPolicy | None = None
) -> CallResult:
    """POST .../lifecycle/unsuspend: SUSPENDED -> ACTIVE; an ACTIVE user is "already done"."""
    result, _ = await _transition(client, limiter, user_id, "unsuspend", already_if="ACTIVE", policy=policy)
    return result


async def reset_password(
    client: Client, limiter: RateLimiter, user_id: str, policy: RetryPolicy | None = None
) -> tuple[CallResult, str | None]:
    """POST .../lifecycle/reset_password?sendEmail=false -> RECOVERY and a one-time reset link.

    The link is a secret: callers hand it to the person during the verification call and never log or
    store it. Not idempotent (each call issues a new link and invalidates the previous one).
    """
    result, body = await _transition(
        client, limiter, user_id, "reset_password", already_if=None, policy=policy, query="?sendEmail=false"
    )
    url = body.get("resetPasswordUrl") if body else None
    return result, url if isinstance(url, str) else None


async def reset_factors(
    client: Client, limiter: RateLimiter, user_id: str, policy: RetryPolicy | None = None
) -> CallResult:
    """POST .../lifecycle/reset_factors: every factor unenrolled; the person enrols again."""
    result, _ = await _transition(client, limiter, user_id, "reset_factors", already_if=None, policy=policy)
    return result
