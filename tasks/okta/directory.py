"""Directory reads containment needs: how many active users (for the blast-radius cap), who is in a group
(protected groups, verifiers), and a user by login (seed accounts).

https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#tag/User/operation/listUsers
https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Group/
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from okta.client import Client

from config.errors import ProviderError
from tasks.okta import buckets
from tasks.okta.calls import RetryPolicy, send
from tasks.okta.ratelimit import RateLimiter


def _next_path(links: dict[str, str] | Any) -> str | None:
    url = links.get("next")
    if not url:
        return None
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def count_active_users(
    client: Client, limiter: RateLimiter, *, enough: int | None = None, policy: RetryPolicy | None = None
) -> tuple[int, bool]:
    """(count, complete): pages through ACTIVE users, stopping early once `enough` are counted."""
    path: str | None = "/api/v1/users?" + urlencode({"search": 'status eq "ACTIVE"', "limit": 200})
    total = 0
    while path:
        response = await send(client, "GET", path, bucket=buckets.USERS_LIST, limiter=limiter, policy=policy)
        total += len(response.json() or [])
        if enough is not None and total >= enough:
            return total, False
        path = _next_path(response.links)
    return total, True


async def find_user(
    client: Client, limiter: RateLimiter, id_or_login: str, policy: RetryPolicy | None = None
) -> dict[str, Any] | None:
    """GET /api/v1/users/{idOrLogin}; None if Okta has no such user (404 E0000007)."""
    try:
        response = await send(
            client, "GET", f"/api/v1/users/{quote(id_or_login)}", bucket=buckets.USERS_GET, limiter=limiter,
            policy=policy,
        )  # fmt: skip
    except ProviderError as err:
        if err.status == 404:
            return None
        raise
    body = response.json()
    return body if isinstance(body, dict) else None


async def group_members(
    client: Client, limiter: RateLimiter, group_name: str, policy: RetryPolicy | None = None
) -> list[dict[str, Any]] | None:
    """Members of the group with exactly this name; None if there is no such group."""
    search = "/api/v1/groups?" + urlencode({"search": f'profile.name eq "{group_name}"', "limit": 10})
    response = await send(client, "GET", search, bucket=buckets.GROUPS_LIST, limiter=limiter, policy=policy)
    groups = [g for g in response.json() or [] if g.get("profile", {}).get("name") == group_name]
    if not groups:
        return None
    path: str | None = f"/api/v1/groups/{quote(groups[0]['id'])}/users?limit=200"
    members: list[dict[str, Any]] = []
    while path:
        response = await send(client, "GET", path, bucket=buckets.GROUPS_LIST, limiter=limiter, policy=policy)
        members.extend(response.json() or [])
        path = _next_path(response.links)
    return members
