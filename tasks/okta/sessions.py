"""Revoke a user's sessions (and OAuth tokens): DELETE /api/v1/users/{id}/sessions.

https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserSessions/
Idempotent by nature: revoking the sessions of a user who has none succeeds.
"""

from __future__ import annotations

from urllib.parse import quote

from okta.client import Client

from tasks.okta import buckets
from tasks.okta.calls import RetryPolicy, send
from tasks.okta.lifecycle import CallResult
from tasks.okta.ratelimit import RateLimiter


async def revoke_sessions(
    client: Client, limiter: RateLimiter, user_id: str, *, oauth_tokens: bool, policy: RetryPolicy | None = None
) -> CallResult:
    query = "?oauthTokens=true" if oauth_tokens else ""
    response = await send(
        client,
        "DELETE",
        f"/api/v1/users/{quote(user_id)}/sessions{query}",
        bucket=buckets.API_OTHER,
        limiter=limiter,
        policy=policy,
    )
    return CallResult("done", response.request_id)
