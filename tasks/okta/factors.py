"""Okta factor reads: the MFA factors currently enrolled on one user.

GET /api/v1/users/{userId}/factors (https://developer.okta.com/docs/reference/api/factors/#list-enrolled-factors)
through the request executor (`tasks.okta.calls.send`), answered as the JSON Okta sent: the SDK's typed
`list_factors` would build one model per factor for fields we read from the profile anyway. Okta counts these
calls in its "most other API actions" bucket (https://developer.okta.com/docs/reference/rl-global-mgmt/),
named `api_other` here as in the sandbox's rate limiter.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from okta.client import Client

from config.errors import ProviderError
from tasks.okta.calls import RetryPolicy, send
from tasks.okta.ratelimit import RateLimiter

FACTORS_BUCKET = "api_other"


async def list_factors(
    client: Client, limiter: RateLimiter, user_id: str, policy: RetryPolicy | None = None
) -> list[dict[str, Any]]:
    """The user's enrolled factors (id, factorType, provider, status, created, lastUpdated, profile)."""
    path = f"/api/v1/users/{quote(user_id, safe='')}/factors"
    response = await send(client, "GET", path, bucket=FACTORS_BUCKET, limiter=limiter, policy=policy)
    body = response.json()
    if not isinstance(body, list):
        raise ProviderError("okta", "factors: expected a JSON array", status=response.status)
    return [f for f in body if isinstance(f, dict)]
