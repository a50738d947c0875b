"""Groups API of the fake Okta: list/search groups, get one, list its members with pagination.

https://developer.okta.com/docs/reference/api/groups/ and
https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Group/:
- GET /api/v1/groups: `q` (name startsWith, no paging, default limit 300), `filter` (id, type, lastUpdated,
  lastMembershipUpdated), `search` (profile properties, id, type, created, lastUpdated, lastMembershipUpdated;
  eq sw co), `limit` (maximum 10000), `after`.
- GET /api/v1/groups/{groupId}
- GET /api/v1/groups/{groupId}/users: member User objects (self link only), `limit`, `after`.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Sequence

from aiohttp import web

from sandbox.okta.errors import OktaError, not_found
from sandbox.okta.filters import Dialect, Node, evaluate
from sandbox.okta.users import UsersApi, add_links, base_url, parse_limit, parse_user_expression, user_json
from sandbox.org import Group, iso

JSONDict = dict[str, object]
GROUPS_MAX = 10_000
GROUPS_Q_DEFAULT = 300
MEMBERS_DEFAULT = 1000
MEMBERS_MAX = 10_000

_GROUP_DATES = frozenset({"created", "lastUpdated", "lastMembershipUpdated"})
GROUP_FILTER_DIALECT = Dialect(
    attributes=frozenset({"id", "type", "lastUpdated", "lastMembershipUpdated"}),
    operators=frozenset({"eq"}),
    attribute_operators={
        a: frozenset({"eq", "gt", "ge", "lt", "le"}) for a in ("lastUpdated", "lastMembershipUpdated")
    },
    date_attributes=_GROUP_DATES,
)
GROUP_SEARCH_DIALECT = Dialect(
    attributes=frozenset({"id", "type", "created", "lastUpdated", "lastMembershipUpdated"}),
    prefixes=("profile.",),
    operators=frozenset({"eq", "sw", "pr", "gt", "ge", "lt", "le"}),
    attribute_operators={a: frozenset({"eq", "sw", "co", "pr"}) for a in ("profile.name", "profile.description")},
    case_insensitive_values=True,
    date_attributes=_GROUP_DATES,
)


def group_json(group: Group, base: str) -> JSONDict:
    """A Group object (https://developer.okta.com/docs/reference/api/groups/#group-object)."""
    href = f"{base}/api/v1/groups/{group.id}"
    return {
        "id": group.id,
        "created": iso(group.created),
        "lastUpdated": iso(group.created),
        "lastMembershipUpdated": iso(group.created),
        "objectClass": ["okta:user_group"],
        "type": "OKTA_GROUP",
        "profile": {"name": group.name, "description": group.description or None},
        "_links": {
            "logo": [
                {"name": "medium", "href": f"{base}/assets/img/logos/groups/okta-medium.png", "type": "image/png"},
                {"name": "large", "href": f"{base}/assets/img/logos/groups/okta-large.png", "type": "image/png"},
            ],
            "users": {"href": f"{href}/users"},
            "apps": {"href": f"{href}/apps"},
        },
    }


def _group_getter(group: Group) -> Callable[[str], Sequence[object]]:
    values: dict[str, object] = {
        "id": group.id,
        "type": "OKTA_GROUP",
        "created": iso(group.created),
        "lastUpdated": iso(group.created),
        "lastMembershipUpdated": iso(group.created),
        "profile.name": group.name,
        "profile.description": group.description or None,
    }

    def get(attr: str) -> Sequence[object]:
        value = values.get(attr)
        return [] if value is None else [value]

    return get


class GroupsApi:
    def __init__(self, users: UsersApi) -> None:
        self.users = users
        self.org = users.org

    def find(self, group_id: str) -> Group:
        group = self.org.groups.get(group_id)
        if group is None:
            raise not_found(group_id, "UserGroup")
        return group

    async def list_groups(self, request: web.Request) -> web.Response:
        """GET /api/v1/groups."""
        q, flt, search = (request.query.get(k) for k in ("q", "filter", "search"))
        if sum(x is not None for x in (q, flt, search)) > 1:
            raise OktaError(400, "E0000033")
        base = base_url(request)
        with self.org.lock:
            groups = sorted(self.org.groups.values(), key=lambda g: g.id)
            if q is not None:
                limit = parse_limit(request, default=GROUPS_Q_DEFAULT, maximum=GROUPS_MAX)
                needle = q.lower()
                found = [group_json(g, base) for g in groups if g.name.lower().startswith(needle)][:limit]
                response = web.Response(text=json.dumps(found), content_type="application/json")
                add_links(response, request, None)
                return response
            limit = parse_limit(request, default=GROUPS_MAX, maximum=GROUPS_MAX)
            node: Node | None = None
            dialect = GROUP_SEARCH_DIALECT if search is not None else GROUP_FILTER_DIALECT
            expr = search if search is not None else flt
            if expr is not None:
                node = parse_user_expression(expr, dialect)
            after = request.query.get("after")
            ids = [g.id for g in groups]
            start = bisect.bisect_right(ids, after) if after else 0
            page: list[JSONDict] = []
            more = False
            for group in groups[start:]:
                if node is not None and not evaluate(node, _group_getter(group), dialect):
                    continue
                if len(page) == limit:
                    more = True
                    break
                page.append(group_json(group, base))
        response = web.Response(text=json.dumps(page), content_type="application/json")
        add_links(response, request, str(page[-1]["id"]) if more and page else None)
        return response

    async def get_group(self, request: web.Request) -> web.Response:
        """GET /api/v1/groups/{groupId}."""
        with self.org.lock:
            body = group_json(self.find(request.match_info["id"]), base_url(request))
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def list_members(self, request: web.Request) -> web.Response:
        """GET /api/v1/groups/{groupId}/users."""
        limit = parse_limit(request, default=MEMBERS_DEFAULT, maximum=MEMBERS_MAX)
        after = request.query.get("after")
        base = base_url(request)
        type_id = self.users.type_id
        with self.org.lock:
            group = self.find(request.match_info["id"])
            members = sorted(group.members)
            start = bisect.bisect_right(members, after) if after else 0
            page: list[JSONDict] = []
            more = False
            for uid in members[start:]:
                user = self.org.users.get(uid)
                if user is None:
                    continue
                if len(page) == limit:
                    more = True
                    break
                page.append(user_json(user, base, type_id))
        response = web.Response(text=json.dumps(page), content_type="application/json")
        add_links(response, request, str(page[-1]["id"]) if more and page else None)
        return response
