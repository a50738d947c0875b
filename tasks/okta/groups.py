"""Okta group reads: a group by its exact name, and all members of a group.

Through the request executor (`tasks.okta.calls.send`), answered as the JSON Okta sent.
- Find: GET /api/v1/groups?q=<name> matches names by prefix
  (https://developer.okta.com/docs/reference/api/groups/#list-groups); the exact name is picked here.
- Members: GET /api/v1/groups/{groupId}/users, paged by the rel="next" link
  (https://developer.okta.com/docs/reference/api/groups/#list-group-members).
Both count in Okta's `groups_list` bucket (/api/v1/groups except /api/v1/groups/{id},
https://developer.okta.com/docs/reference/rl-global-mgmt/).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from okta.client import Client

from config.errors import ProviderError
from tasks.okta.calls import RetryPolicy, relative_path, send
from tasks.okta.ratelimit import RateLimiter

GROUPS_LIST_BUCKET = "groups_list"
MEMBERS_PAGE = 1000


async def find_group(
    client: Client, limiter: RateLimiter, name: str, policy: RetryPolicy | None = None
) -> dict[str, Any] | None:
    """The group whose profile.name is exactly `name` (case-insensitive), or None."""
    path = f"/api/v1/groups?{urlencode({'q': name, 'limit': 300})}"
    response = await send(client, "GET", path, bucket=GROUPS_LIST_BUCKET, limiter=limiter, policy=policy)
    body = response.json()
    if not isinstance(body, list):
        raise ProviderError("okta", "groups: expected a JSON array", status=response.status)
    wanted = name.casefold()
    matches = [
        g
        for g in body
        if isinstance(g, dict)
        and isinstance(g.get("profile"), dict)
        and str(g["profile"].get("name", "")).casefold() == wanted
    ]
    return matches[0] if matches else None


async def list_group_members(
    client: Client, limiter: RateLimiter, group_id: str, policy: RetryPolicy | None = None
) -> list[dict[str, Any]]:
    """Every member (User objects) of the group, following the next links."""
    path: str | None = f"/api/v1/groups/{quote(group_id, safe='')}/users?limit={MEMBERS_PAGE}"
    members: list[dict[str, Any]] = []
    while path is not None:
        response = await send(client, "GET", path, bucket=GROUPS_LIST_BUCKET, limiter=limiter, policy=policy)
        body = response.json()
        if not isinstance(body, list):
            raise ProviderError("okta", "group members: expected a JSON array", status=response.status)
        page = [u for u in body if isinstance(u, dict)]
        members.extend(page)
        next_url = response.links.get("next")
        path = relative_path(next_url) if next_url and page else None
    return members
