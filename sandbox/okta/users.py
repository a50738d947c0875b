"""Users API and User Lifecycle of the fake Okta: list/search/get users, lifecycle operations, sessions.

Faithful to https://developer.okta.com/docs/reference/api/users/ and
https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserLifecycle/:
- GET /api/v1/users: `q` (startsWith on firstName/lastName/email, no paging, default limit 10, no
  DEPROVISIONED), `filter` (status, lastUpdated, id, profile.login/email/firstName/lastName; `eq` only,
  lastUpdated also gt/ge/lt/le; case-sensitive), `search` (any profile property and id, status, created,
  activated, statusChanged, lastUpdated, type.id; eq sw co pr gt ge lt le; values case-insensitive; `co`
  only on firstName/lastName/email/login), `limit` (default and maximum 200), `after` cursor. Without a
  query, DEPROVISIONED users are omitted. Link headers rel="self" and rel="next".
- The lifecycle state machine is the table `LIFECYCLE` below (the only place transitions are decided).
- DELETE /api/v1/users/{id}/sessions (oauthTokens=true also revokes OAuth tokens), 204.
Each successful change appends the documented System Log event.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import secrets
import string
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from sandbox.okta import audit
from sandbox.okta.errors import OktaError, not_found, validation_failed
from sandbox.okta.filters import Dialect, FilterError, Node, evaluate, parse
from sandbox.org import Org, User, UserStatus, iso

JSONDict = dict[str, object]
S = UserStatus

USER_DATE_ATTRIBUTES = frozenset(
    {"created", "activated", "statusChanged", "lastUpdated", "lastLogin", "passwordChanged"}
)

# `search`: any profile property plus top-level properties; `co` only on four profile properties.
SEARCH_DIALECT = Dialect(
    attributes=frozenset(
        {
            "id",
            "status",
            "created",
            "activated",
            "statusChanged",
            "lastUpdated",
            "lastLogin",
            "passwordChanged",
            "type.id",
        }
    ),
    prefixes=("profile.",),
    operators=frozenset({"eq", "sw", "pr", "gt", "ge", "lt", "le"}),
    attribute_operators={
        a: frozenset({"eq", "sw", "co", "pr", "gt", "ge", "lt", "le"})
        for a in ("profile.firstName", "profile.lastName", "profile.email", "profile.login")
    },
    case_insensitive_values=True,
    date_attributes=USER_DATE_ATTRIBUTES,
)

# `filter`: a short list of properties, `eq` only except lastUpdated; case-sensitive.
FILTER_DIALECT = Dialect(
    attributes=frozenset(
        {"status", "lastUpdated", "id", "profile.login", "profile.email", "profile.firstName", "profile.lastName"}
    ),
    operators=frozenset({"eq"}),
    attribute_operators={"lastUpdated": frozenset({"eq", "gt", "ge", "lt", "le"})},
    date_attributes=frozenset({"lastUpdated"}),
)

LIST_MAX = 200
Q_DEFAULT_LIMIT = 10


def default_type_id(org: Org) -> str:
    """The org's default user type id (an `oty...` id), stable for a given org domain."""
    digest = hashlib.sha256(org.domain.encode()).digest()
    alphabet = string.ascii_letters + string.digits
    return "oty" + "".join(alphabet[b % len(alphabet)] for b in digest[:17])


def base_url(request: web.Request) -> str:
    return f"https://{request.host}"


def _opt(ts: datetime | None) -> str | None:
    return iso(ts) if ts is not None else None


def profile_json(user: User) -> JSONDict:
    return {
        "firstName": user.first_name,
        "lastName": user.last_name,
        "mobilePhone": None,
        "secondEmail": None,
        "login": user.login,
        "email": user.email,
        "displayName": f"{user.first_name} {user.last_name}".strip(),
        "department": user.department or None,
        "title": user.title or None,
    }


def user_json(user: User, base: str, type_id: str, *, links: dict[str, str] | None = None) -> JSONDict:
    """A User object (https://developer.okta.com/docs/reference/api/users/#user-object)."""
    self_href = f"{base}/api/v1/users/{user.id}"
    link_json: JSONDict = {"self": {"href": self_href}}
    if links is not None:
        for rel, suffix in links.items():
            link_json[rel] = {"href": f"{self_href}/{suffix}", "method": "POST"}
        link_json["schema"] = {"href": f"{base}/api/v1/meta/schemas/user/osc{type_id[3:]}"}
        link_json["type"] = {"href": f"{base}/api/v1/meta/types/user/{type_id}"}
    credentials: JSONDict = {"provider": {"type": "OKTA", "name": "OKTA"}}
    if user.password_changed is not None:
        credentials = {"password": {}, **credentials}
    return {
        "id": user.id,
        "status": user.status.value,
        "created": iso(user.created),
        "activated": _opt(user.activated),
        "statusChanged": _opt(user.status_changed),
        "lastLogin": _opt(user.last_login),
        "lastUpdated": iso(user.last_updated or user.created),
        "passwordChanged": _opt(user.password_changed),
        "type": {"id": type_id},
        "profile": profile_json(user),
        "credentials": credentials,
        "_links": link_json,
    }


def user_getter(user: User, type_id: str) -> Callable[[str], Sequence[object]]:
    """Attribute lookup for `filter`/`search` expressions on a user."""

    def get(attr: str) -> Sequence[object]:
        if attr.startswith("profile."):
            value = profile_json(user).get(attr[len("profile.") :])
        elif attr == "id":
            value = user.id
        elif attr == "status":
            value = user.status.value
        elif attr == "type.id":
            value = type_id
        elif attr == "created":
            value = iso(user.created)
        elif attr == "lastUpdated":
            value = iso(user.last_updated or user.created)
        elif attr == "activated":
            value = _opt(user.activated)
        elif attr == "statusChanged":
            value = _opt(user.status_changed)
        elif attr == "lastLogin":
            value = _opt(user.last_login)
        elif attr == "passwordChanged":
            value = _opt(user.password_changed)
        else:
            value = None
        return [] if value is None else [value]

    return get


# --------------------------------------------------------------------------------------------------------
# The lifecycle state machine: which operation is legal from which status, where it leads, and what Okta
# answers otherwise. Sources (Users API reference, "Lifecycle operations"):
# - activate: "only on users with a STAGED or DEPROVISIONED status"; an ACTIVE user gets E0000016
#   "Activation failed because the user is already active" (error-code table). Users without a password
#   must finish the welcome flow, so they land in PROVISIONED.
# - reactivate: "only on users with a PROVISIONED or RECOVERY status"; otherwise 403 E0000038 (documented
#   "unexpected user status" example).
# - deactivate: "only on users that do not have a DEPROVISIONED status".
# - suspend: "only on users with an ACTIVE status"; otherwise "400 Bad Request ... E0000001" (documented).
# - unsuspend: "only on users that have a SUSPENDED status"; otherwise 400 E0000001 (documented).
# - unlock: users LOCKED_OUT, or ACTIVE and blocked from unknown devices; otherwise E0000032 "Unlock is not
#   allowed for this user."
# - reset_password -> RECOVERY; expire_password -> PASSWORD_EXPIRED; reset_factors keeps the status.
#   "Suspended users ... can only be unsuspended or deactivated", so password and factor resets of a
#   SUSPENDED user are refused with E0000038 "This operation is not allowed in the user's current status",
#   as are users without usable credentials (STAGED, DEPROVISIONED; PROVISIONED has no password to expire).
#   Consequence for responders: reset or expire first and suspend later is impossible (suspend needs
#   ACTIVE); suspend first, then unsuspend and reset when the hold is released.
# --------------------------------------------------------------------------------------------------------

Refusal = tuple[int, str]
_NOT_IN_STATUS: Refusal = (403, "E0000038")
_CREDENTIALED = frozenset({S.ACTIVE, S.RECOVERY, S.PASSWORD_EXPIRED, S.LOCKED_OUT})


@dataclass(frozen=True)
class Transition:
    op: str  # URL segment under /lifecycle/
    allowed_from: frozenset[UserStatus]
    to: UserStatus | None  # None: status unchanged
    refusal: Refusal
    event_type: str
    display_message: str
    link: str | None  # relation in the user's `_links` when the operation is available
    refusal_by_status: dict[UserStatus, Refusal] = field(default_factory=dict)
    to_without_password: UserStatus | None = None  # where a user without a password lands instead

    def refusal_for(self, status: UserStatus) -> Refusal:
        return self.refusal_by_status.get(status, self.refusal)

    def target(self, user: User) -> UserStatus:
        """The status `user` ends in after this operation."""
        if self.to_without_password is not None and user.password_changed is None:
            return self.to_without_password
        return self.to if self.to is not None else user.status


T = Transition
CRED = _CREDENTIALED
NOT_IN_STATUS = _NOT_IN_STATUS
BAD_REQUEST: Refusal = (400, "E0000001")
# fmt: off
_TABLE = (
    # op, allowed from, to, refusal otherwise, System Log event type, display message, _links relation
    T("activate", frozenset({S.STAGED, S.DEPROVISIONED}), S.ACTIVE, NOT_IN_STATUS,
      "user.lifecycle.activate", "Activate Okta user", "activate",
      refusal_by_status={S.ACTIVE: (403, "E0000016")}, to_without_password=S.PROVISIONED),
    T("reactivate", frozenset({S.PROVISIONED, S.RECOVERY}), S.PROVISIONED, NOT_IN_STATUS,
      "user.lifecycle.reactivate", "Reactivate Okta user", "reactivate"),
    T("deactivate", frozenset(S) - {S.DEPROVISIONED}, S.DEPROVISIONED, NOT_IN_STATUS,
      "user.lifecycle.deactivate", "Deactivate Okta user", "deactivate"),
    T("suspend", frozenset({S.ACTIVE}), S.SUSPENDED, BAD_REQUEST,
      "user.lifecycle.suspend", "Suspend Okta user", "suspend"),
    T("unsuspend", frozenset({S.SUSPENDED}), S.ACTIVE, BAD_REQUEST,
      "user.lifecycle.unsuspend", "Unsuspend Okta user", "unsuspend"),
    T("unlock", frozenset({S.LOCKED_OUT, S.ACTIVE}), S.ACTIVE, (403, "E0000032"),
      "user.account.unlock_by_admin", "Unlock user account by admin", "unlock"),
    T("reset_password", CRED | {S.PROVISIONED}, S.RECOVERY, NOT_IN_STATUS,
      "user.account.reset_password", "Reset user password", "resetPassword"),
    T("expire_password", CRED, S.PASSWORD_EXPIRED, NOT_IN_STATUS,
      "user.account.expire_password", "Expire user password", "expirePassword"),
    T("expire_password_with_temp_password", CRED, S.PASSWORD_EXPIRED, NOT_IN_STATUS,
      "user.account.expire_password", "Expire user password", None),
    T("reset_factors", CRED | {S.PROVISIONED}, None, NOT_IN_STATUS,
      "user.mfa.factor.reset_all", "Reset all factors for user", "resetFactors"),
)
# fmt: on
LIFECYCLE: dict[str, Transition] = {t.op: t for t in _TABLE}


def available_links(org: Org, user: User) -> dict[str, str]:
    """The `_links` lifecycle relations for the user's current status, derived from `LIFECYCLE`."""
    links: dict[str, str] = {}
    for t in LIFECYCLE.values():
        if t.link is None or user.status not in t.allowed_from:
            continue
        if t.op == "reset_factors" and not org.factors.get(user.id):
            continue  # "This link is present only if the user is currently enrolled in ... MFA factors."
        if t.op == "unlock" and user.status is not S.LOCKED_OUT:
            continue
        links[t.link] = f"lifecycle/{t.op}"
    return links


def _refuse(t: Transition, user: User) -> OktaError:
    status, code = t.refusal_for(user.status)
    if code == "E0000001":
        cause = f"Cannot {t.op} a user with status {user.status.value}; allowed from: " + ", ".join(
            sorted(s.value for s in t.allowed_from)
        )
        return validation_failed(cause, field=f"{t.op}")
    return OktaError(status, code)


def _flag(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    return raw.strip().lower() == "true"


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _one_time_token(prefix: str = "") -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(20))


@dataclass
class UserIndex:
    """User ids in cursor order, rebuilt when users are added (the scenario adds them while serving)."""

    ids: list[str] = field(default_factory=list)
    size: int = -1

    def sorted_ids(self, org: Org) -> list[str]:
        with org.lock:
            if len(org.users) != self.size:
                self.ids = sorted(org.users)
                self.size = len(org.users)
            return self.ids


@dataclass
class UsersApi:
    org: Org
    index: UserIndex = field(default_factory=UserIndex)

    @property
    def type_id(self) -> str:
        return default_type_id(self.org)

    def find(self, id_or_login: str) -> User:
        user = self.org.find_user(id_or_login)
        if user is None:
            raise not_found(id_or_login, "User")
        return user

    # ---------------------------------------------------------------- reads

    async def list_users(self, request: web.Request) -> web.Response:
        """GET /api/v1/users (https://developer.okta.com/docs/reference/api/users/#list-users)."""
        q, flt, search = (request.query.get(k) for k in ("q", "filter", "search"))
        if sum(x is not None for x in (q, flt, search)) > 1:
            raise OktaError(400, "E0000033")
        type_id = self.type_id
        base = base_url(request)
        if q is not None:
            return self._find_users(request, q, base, type_id)
        limit = parse_limit(request, default=LIST_MAX, maximum=LIST_MAX)
        node: Node | None = None
        dialect = SEARCH_DIALECT if search is not None else FILTER_DIALECT
        expr = search if search is not None else flt
        if expr is not None:
            node = parse_user_expression(expr, dialect)
        after = request.query.get("after")
        ids = self.index.sorted_ids(self.org)
        start = bisect.bisect_right(ids, after) if after else 0
        page: list[JSONDict] = []
        more = False
        with self.org.lock:
            for uid in ids[start:]:
                user = self.org.users.get(uid)
                if user is None:
                    continue
                if node is None:
                    matched = user.status is not S.DEPROVISIONED
                else:
                    matched = evaluate(node, user_getter(user, type_id), dialect)
                if not matched:
                    continue
                if len(page) == limit:
                    more = True
                    break
                page.append(user_json(user, base, type_id))
        response = _json(page)
        add_links(response, request, str(page[-1]["id"]) if more and page else None)
        return response

    def _find_users(self, request: web.Request, q: str, base: str, type_id: str) -> web.Response:
        """`q`: startsWith on firstName, lastName or email; no paging; omits DEPROVISIONED users."""
        limit = parse_limit(request, default=Q_DEFAULT_LIMIT, maximum=LIST_MAX)
        needle = q.lower()
        page: list[JSONDict] = []
        with self.org.lock:
            for uid in self.index.sorted_ids(self.org):
                user = self.org.users.get(uid)
                if user is None or user.status is S.DEPROVISIONED:
                    continue
                if any(v.lower().startswith(needle) for v in (user.first_name, user.last_name, user.email)):
                    page.append(user_json(user, base, type_id))
                    if len(page) == limit:
                        break
        response = _json(page)
        add_links(response, request, None)
        return response

    async def get_user(self, request: web.Request) -> web.Response:
        """GET /api/v1/users/{id or login or login shortname}."""
        with self.org.lock:
            user = self.find(request.match_info["id"])
            body = user_json(user, base_url(request), self.type_id, links=available_links(self.org, user))
        return _json(body)

    # ---------------------------------------------------------------- lifecycle

    def lifecycle_handler(self, op: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        transition = LIFECYCLE[op]

        async def handler(request: web.Request) -> web.Response:
            await reject_malformed_body(request)
            return self._apply(request, transition)

        handler.__doc__ = f"POST /api/v1/users/{{id}}/lifecycle/{op}"
        return handler

    def _apply(self, request: web.Request, t: Transition) -> web.Response:
        org = self.org
        base = base_url(request)
        extra_events: list[tuple[str, str]] = []
        with org.lock:
            user = self.find(request.match_info["id"])
            if user.status not in t.allowed_from:
                raise _refuse(t, user)
            now = org.now()
            body: object = {}
            target = t.target(user)
            if target is not user.status:
                user.status = target
                user.status_changed = now
            if t.op == "activate" and user.status is S.ACTIVE:
                user.activated = now
            if t.op in ("activate", "reactivate") and not _flag(request, "sendEmail", t.op == "activate"):
                token = _one_time_token()
                body = {"activationUrl": f"{base}/welcome/{token}", "activationToken": token}
            elif t.op == "deactivate":
                user.sessions = 0
                user.oauth_tokens = 0
            elif t.op == "reset_password":
                user.password_reset_pending = True
                if _flag(request, "revokeSessions", False) and user.sessions:
                    user.sessions = 0
                    extra_events.append(("user.session.clear", "Clear user session"))
                if not _flag(request, "sendEmail", True):
                    body = {"resetPasswordUrl": f"{base}/reset_password/{_one_time_token('drp')}"}
            elif t.op in ("expire_password", "expire_password_with_temp_password"):
                user.password_reset_pending = True
                temp = t.op == "expire_password_with_temp_password" or _flag(request, "tempPassword", False)
                if temp:
                    user.password_changed = now
                    if _flag(request, "revokeSessions", False) and user.sessions:
                        user.sessions = 0
                        extra_events.append(("user.session.clear", "Clear user session"))
                    body = {"tempPassword": _one_time_token()[:10]}
            elif t.op == "reset_factors":
                org.factors[user.id] = []
            user.last_updated = now
            if t.op == "expire_password" and body == {}:
                body = user_json(user, base, self.type_id, links=available_links(org, user))
            target_ref = audit.user_target(user)
        audit.record(request, org, t.event_type, display_message=t.display_message, targets=(target_ref,))
        for event_type, message in extra_events:
            audit.record(request, org, event_type, display_message=message, targets=(target_ref,))
        return _json(body)

    # ---------------------------------------------------------------- sessions

    async def clear_sessions(self, request: web.Request) -> web.Response:
        """DELETE /api/v1/users/{id}/sessions (https://developer.okta.com/docs/reference/api/users/#user-sessions)."""
        with self.org.lock:
            user = self.find(request.match_info["id"])
            revoke_tokens = _flag(request, "oauthTokens", False)
            sessions, tokens = user.sessions, user.oauth_tokens
            user.sessions = 0
            if revoke_tokens:
                user.oauth_tokens = 0
            target = audit.user_target(user)
        audit.record(
            request,
            self.org,
            "user.session.clear",
            display_message="Clear user session",
            targets=(target,),
            debug={
                "revokedSessions": sessions,
                "revokedOauthTokens": tokens if revoke_tokens else 0,
                "oauthTokens": revoke_tokens,
            },
        )
        return web.Response(status=204)


def parse_limit(request: web.Request, *, default: int, maximum: int, minimum: int = 1) -> int:
    """`limit` as Okta reads it: an integer; values above the documented maximum are capped."""
    raw = request.query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_failed("limit: must be an integer", field="limit") from None
    if value < minimum:
        raise validation_failed(f"limit: must be at least {minimum}", field="limit")
    return min(value, maximum)


def parse_user_expression(expr: str, dialect: Dialect) -> Node:
    """Parse a users/groups `filter` or `search`; Okta answers E0000031 (or E0000030 for a bad date)."""
    try:
        return parse(expr, dialect)
    except FilterError as exc:
        if exc.kind == "date":
            raise OktaError(400, "E0000030", causes=[str(exc)]) from exc
        raise OktaError(400, "E0000031", causes=[str(exc)]) from exc


def add_links(response: web.Response, request: web.Request, after: str | None) -> None:
    """Okta's Link headers: rel="self" always, rel="next" with the `after` cursor when there is more."""
    base = base_url(request)
    response.headers.add("Link", f'<{base}{request.path_qs}>; rel="self"')
    if after is not None:
        query = dict(request.query)
        query["after"] = after
        url = request.url.with_query(query)
        response.headers.add("Link", f'<{base}{url.path_qs}>; rel="next"')


async def reject_malformed_body(request: web.Request) -> None:
    """400 E0000003 when a POST carries a JSON body that doesn't parse."""
    if request.can_read_body:
        raw = await request.text()
        if raw.strip():
            try:
                json.loads(raw)
            except json.JSONDecodeError:
                raise OktaError(400, "E0000003") from None
