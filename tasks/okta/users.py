"""Okta user reads: one user by id or login, and pages of the user list or a search.

One SDK call each, through the request executor (`tasks.okta.calls.send`: our rate limiter and retries, the
SDK's auth and TLS), answered as the JSON Okta sent. Buckets as Okta counts them
(https://developer.okta.com/docs/reference/rl-global-mgmt/): GET /api/v1/users/{idOrLogin} is `users_get`,
GET /api/v1/users (list, filter, search) is `users_list`.
- Get: https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#tag/User/operation/getUser
  (a login works in place of the id; an unknown user is 404 E0000007).
- List/search: https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#tag/User/operation/listUsers
  (`limit` at most 200, `after` cursor in the rel="next" link; without a query DEPROVISIONED users are left out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from okta.client import Client

from config.errors import ProviderError
from tasks.okta.calls import RetryPolicy, relative_path, send
from tasks.okta.ratelimit import RateLimiter

USERS_GET_BUCKET = "users_get"
USERS_LIST_BUCKET = "users_list"
MAX_PAGE = 200


@dataclass(frozen=True)
class UsersPage:
    users: list[dict[str, Any]]
    next_path: str | None


async def get_user(
    client: Client, limiter: RateLimiter, id_or_login: str, policy: RetryPolicy | None = None
) -> dict[str, Any] | None:
    """The User object, or None when Okta answers 404 (no such user); every other error raises."""
    path = f"/api/v1/users/{quote(id_or_login, safe='@')}"
    try:
        response = await send(client, "GET", path, bucket=USERS_GET_BUCKET, limiter=limiter, policy=policy)
    except ProviderError as err:
        if err.status == 404:
            return None
        raise
    body = response.json()
    if not isinstance(body, dict):
        raise ProviderError("okta", "user: expected a JSON object", status=response.status)
    return body


def users_path(*, search: str | None = None, limit: int = MAX_PAGE) -> str:
    """The first page of the user list (or of a `search` expression)."""
    query: dict[str, str | int] = {"limit": limit}
    if search is not None:
        query["search"] = search
    return f"/api/v1/users?{urlencode(query)}"


async def list_users_page(
    client: Client, limiter: RateLimiter, path: str, policy: RetryPolicy | None = None
) -> UsersPage:
    """One page of users; `next_path` is where the next page is (None on the last page)."""
    response = await send(client, "GET", path, bucket=USERS_LIST_BUCKET, limiter=limiter, policy=policy)
    body = response.json()
    if not isinstance(body, list):
        raise ProviderError("okta", "users: expected a JSON array", status=response.status)
    next_url = response.links.get("next")
    return UsersPage([u for u in body if isinstance(u, dict)], relative_path(next_url) if next_url else None)


async def search_users(
    client: Client, limiter: RateLimiter, search: str | None = None, policy: RetryPolicy | None = None
) -> list[dict[str, Any]]:
    """Every user of the list (or matching `search`), following the next links."""
    path: str | None = users_path(search=search)
    found: list[dict[str, Any]] = []
    while path is not None:
        page = await list_users_page(client, limiter, path, policy)
        found.extend(page.users)
        path = page.next_path if page.users else None
    return found
