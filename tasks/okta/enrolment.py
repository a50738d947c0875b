"""Unenrol one factor: DELETE /api/v1/users/{id}/factors/{factorId}.

https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserFactor/
A factor that is already gone (404 E0000007) is "already done"; nothing else is.
"""

from __future__ import annotations

from urllib.parse import quote

from okta.client import Client

from config.errors import ProviderError
from tasks.okta import buckets
from tasks.okta.calls import RetryPolicy, send
from tasks.okta.lifecycle import CallResult
from tasks.okta.ratelimit import RateLimiter


async def unenroll_factor(
    client: Client, limiter: RateLimiter, user_id: str, factor_id: str, policy: RetryPolicy | None = None
) -> CallResult:
    path = f"/api/v1/users/{quote(user_id)}/factors/{quote(factor_id)}"
    try:
        response = await send(client, "DELETE", path, bucket=buckets.API_OTHER, limiter=limiter, policy=policy)
    except ProviderError as err:
        if err.status == 404 and err.code == "E0000007":
            return CallResult("already_done", err.request_id)
        raise
    return CallResult("done", response.request_id)
