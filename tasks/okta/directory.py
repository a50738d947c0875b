"""Directory reads containment needs: how many active users (for the blast-radius cap), who is in a group
(protected groups, verifiers), and a user by login (seed accounts).

https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#tag/User/operation/listUsers
https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Group/
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from okta.client import Client

from tasks.okta import buckets
from tasks.okta.calls import RetryPolicy, relative_path, send
from tasks.okta.groups import find_group, list_group_members
from tasks.okta.ratelimit import RateLimiter
from tasks.okta.users import get_user


def _next_path(links: dict[str, str] | Any) -> str | None:
    url = links.get("next")
    return relative_path(url) if url else None


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


async def group_members(
    client: Client, limiter: RateLimiter, group_name: str, policy: RetryPolicy | None = None
) -> list[dict[str, Any]] | None:
    """Members of the group with exactly this name; None if there is no such group."""
    group = await find_group(client, limiter, group_name, policy)
    if group is None:
        return None
    return await list_group_members(client, limiter, str(group["id"]), policy)


# A user by id or login (None when Okta has no such user): the same read the audit uses.
find_user = get_user
