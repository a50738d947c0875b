"""activities.list of the fake Admin SDK Reports API, served from the org's ReportsStore.

Faithful to https://developers.google.com/workspace/admin/reports/reference/rest/v1/activities/list and
the discovery document googleapiclient ships (admin reports_v1):
- GET /admin/reports/v1/activity/users/{userKey or all}/applications/{applicationName}, newest first;
- userKey: `all` or a Workspace user's primary email (unknown user: 404); applicationName from the
  documented enum (anything else: 400);
- startTime / endTime in RFC 3339; startTime must be before endTime and the current time; without
  endTime the report runs to now, and never reaches back more than 180 days; for `gmail` both are
  required and at most 30 days apart;
- eventName; filters: comma-separated `{parameter}{op}{value}` with ==, <>, <, <=, >, >= on the event's
  parameters, nested ones by their full name (`event_info.mail_event_type==2`); a parameter the event does
  not have matches nothing ("an empty report is returned"), and a malformed element is ignored ("if an
  invalid parameter is supplied ... the API ignores that parameter");
- actorIpAddress; customerId (`my_customer` or the org's id);
- maxResults 1..1000 (default 1000); pageToken from nextPageToken;
- the answer {"kind": "admin#reports#activities", "etag", "items", "nextPageToken"}, with no `items` key
  when nothing matched, as Google's JSON omits empty lists.
Authorization: a bearer token from the fake token endpoint carrying
https://www.googleapis.com/auth/admin.reports.audit.readonly (else 403 insufficientPermissions), issued
for a Workspace admin through domain-wide delegation (else 401 "Access denied. You are not authorized to
read activity records.", the answer Google gives a non-admin or a service account acting as itself).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web

from sandbox.google import errors
from sandbox.org import GOOGLE_REPORTS_AUDIT_SCOPE, GoogleAccessToken, Org, iso
from sandbox.reports import StoredActivity

# The applicationName enum of the reports_v1 discovery document.
APPLICATIONS = frozenset(
    {
        "access_transparency", "admin", "calendar", "chat", "drive", "gcp", "gmail", "gplus", "groups",
        "groups_enterprise", "jamboard", "login", "meet", "mobile", "rules", "saml", "token",
        "user_accounts", "context_aware_access", "chrome", "data_studio", "keep", "vault",
        "gemini_in_workspace_apps", "classroom", "assignments", "cloud_search", "tasks", "data_migration",
        "meet_hardware", "directory_sync", "ldap", "profile", "access_evaluation", "admin_data_action",
        "contacts", "takeout", "graduation", "voice", "chrome_sync", "workspace_studio", "gemini_notebook",
    }
)  # fmt: skip

# The startTime / endTime pattern of the discovery document.
_RFC3339 = re.compile(r"^(\d\d\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:(Z)|([-+])(\d\d):(\d\d))$")
_CUSTOMER_ID = re.compile(r"^(C.+|my_customer)$")
_FILTER = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(==|<>|<=|>=|<|>)(.*)$")
MAX_RESULTS = 1000
RETENTION = timedelta(days=180)
GMAIL_MAX_SPAN = timedelta(days=30)
_SCAN_CHUNK = 500

Handler = Callable[[web.Request], Awaitable[web.Response]]


def parse_rfc3339(value: str) -> datetime | None:
    match = _RFC3339.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, UTC)
    except ValueError:
        return None
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        stamp = stamp - offset if sign == "+" else stamp + offset
    return stamp


@dataclass(frozen=True)
class Condition:
    name: str
    op: str
    raw: str


def parse_filters(text: str) -> list[Condition]:
    """`name==v,name2<>w`; malformed elements are dropped, as the API ignores invalid parameters."""
    conditions = []
    for part in text.split(","):
        match = _FILTER.match(part)
        if match:
            conditions.append(Condition(match.group(1), match.group(2), match.group(3).strip()))
    return conditions


def _flatten(parameters: list[dict[str, Any]], prefix: str = "") -> Iterator[tuple[str, object]]:
    """(full name, typed value) for every parameter, nested ones as `outer.inner`."""
    for param in parameters:
        name = prefix + str(param.get("name", ""))
        if "messageValue" in param:
            yield from _flatten(param["messageValue"].get("parameter", []), name + ".")
        for message in param.get("multiMessageValue", []):
            yield from _flatten(message.get("parameter", []), name + ".")
        if "intValue" in param:
            yield name, int(param["intValue"])
        if "boolValue" in param:
            yield name, bool(param["boolValue"])
        if "value" in param:
            yield name, str(param["value"])
        for value in param.get("multiValue", []):
            yield name, str(value)
        for value in param.get("multiIntValue", []):
            yield name, int(value)
        for value in param.get("multiBoolValue", []):
            yield name, bool(value)


_Ordered = TypeVar("_Ordered", int, str)


def _ordered(left: _Ordered, op: str, right: _Ordered) -> bool:
    if op == "==":
        return left == right
    if op == "<>":
        return left != right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _compare(value: object, op: str, raw: str) -> bool:
    """Compare one typed parameter value with a filter's text, the way its type reads it."""
    if isinstance(value, bool):
        if raw.lower() not in ("true", "false"):
            return False
        return _ordered(int(value), op, int(raw.lower() == "true"))
    if isinstance(value, int):
        try:
            return _ordered(value, op, int(raw))
        except ValueError:
            return False
    return _ordered(str(value), op, raw)


def event_matches(event: dict[str, Any], conditions: list[Condition]) -> bool:
    values: dict[str, list[object]] = {}
    for name, value in _flatten(event.get("parameters", [])):
        values.setdefault(name, []).append(value)
    for cond in conditions:
        present = values.get(cond.name)
        if not present:
            return False
        if cond.op == "<>":
            if not all(_compare(v, cond.op, cond.raw) for v in present):
                return False
        elif not any(_compare(v, cond.op, cond.raw) for v in present):
            return False
    return True


def activity_matches(
    activity: dict[str, Any], event_name: str | None, conditions: list[Condition], ip: str | None
) -> bool:
    if ip is not None and activity.get("ipAddress") != ip:
        return False
    for event in activity.get("events", []):
        if event_name is not None and event.get("name") != event_name:
            continue
        if event_matches(event, conditions):
            return True
    return False


def encode_page_token(cursor: tuple[str, int]) -> str:
    raw = json.dumps({"t": cursor[0], "s": cursor[1]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        cursor = (str(data["t"]), int(data["s"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return cursor if parse_rfc3339(cursor[0]) is not None else None


def _authorize(request: web.Request, org: Org, super_admin: str) -> GoogleAccessToken | web.Response:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return errors.missing_credentials()
    with org.lock:
        token = org.credentials.google_access_tokens.get(credential.strip())
    if token is None or token.expires_at <= time.time():
        return errors.invalid_credentials()
    if GOOGLE_REPORTS_AUDIT_SCOPE not in token.scopes:
        return errors.insufficient_scopes()
    admins = {super_admin.lower()} | {a.lower() for a in org.google_admins}
    if token.subject is None or token.subject.lower() not in admins:
        return errors.api_error(
            401, "Access denied. You are not authorized to read activity records.", "authError",
            location=("Authorization", "header"),
        )  # fmt: skip
    return token


def _user_email(org: Org, user_key: str, super_admin: str) -> str | None:
    """The primary email for `userKey`, or None if no such Workspace user."""
    key = user_key.lower()
    if key == super_admin.lower():
        return super_admin
    for admin in org.google_admins:
        if admin.lower() == key:
            return admin
    with org.lock:
        user = org.user_by_login(user_key)
        if user is None:
            user = next((u for u in org.users.values() if u.email.lower() == key), None)
        return user.email if user is not None else None


def make_list_handler(org: Org, super_admin: str) -> Handler:
    async def list_activities(request: web.Request) -> web.Response:
        auth = _authorize(request, org, super_admin)
        if isinstance(auth, web.Response):
            return auth
        query = request.query
        user_key = request.match_info["userKey"]
        application = request.match_info["applicationName"]
        if application not in APPLICATIONS:
            return errors.invalid_argument(f"Invalid value '{application}' for applicationName.")

        customer = query.get("customerId")
        if customer is not None:
            if not _CUSTOMER_ID.match(customer):
                return errors.invalid_argument(f"Invalid value '{customer}' for customerId.")
            if customer not in ("my_customer", org.google_customer_id):
                return errors.api_error(403, "Not Authorized to access this resource/api", "forbidden")

        raw_max = query.get("maxResults", str(MAX_RESULTS))
        try:
            max_results = int(raw_max)
        except ValueError:
            max_results = 0
        if not 1 <= max_results <= MAX_RESULTS:
            return errors.invalid_argument(
                f"Invalid value '{raw_max}'. Values must be within the range: [1, {MAX_RESULTS}]"
            )

        now = org.now()
        bounds: dict[str, datetime | None] = {}
        for name in ("startTime", "endTime"):
            text = query.get(name)
            bounds[name] = None if text is None else parse_rfc3339(text)
            if text is not None and bounds[name] is None:
                return errors.invalid_argument(f"Invalid value '{text}' for {name}.")
        start, end = bounds["startTime"], bounds["endTime"]
        if application == "gmail":
            if start is None or end is None:
                return errors.invalid_argument(
                    "Invalid request: startTime and endTime are required for Gmail requests."
                )
            if end - start > GMAIL_MAX_SPAN:
                return errors.invalid_argument(
                    "Invalid request: The difference between startTime and endTime must not be greater "
                    "than 30 days for Gmail requests."
                )
        if start is not None and end is not None and start > end:
            return errors.invalid_argument("Invalid request: Start time is after end time.")
        if start is not None and start > now:
            return errors.invalid_argument("Invalid request: Start time is after current time.")
        if end is None:
            end = now
        floor = now - RETENTION
        if start is None or start < floor:
            start = floor

        before: tuple[str, int] | None = None
        page_token = query.get("pageToken")
        if page_token:
            before = decode_page_token(page_token)
            if before is None:
                return errors.invalid_argument(f"Invalid value '{page_token}' for pageToken.")

        actor_email: str | None = None
        if user_key != "all":
            actor_email = _user_email(org, user_key, super_admin)
            if actor_email is None:
                return errors.api_error(404, f"Resource Not Found: {user_key}", "notFound")

        event_name = query.get("eventName") or None
        conditions = parse_filters(query.get("filters", ""))
        ip = query.get("actorIpAddress") or None
        matches = await asyncio.to_thread(
            _collect,
            org,
            application,
            actor_email,
            iso(start),
            iso(end),
            event_name,
            conditions,
            ip,
            before,
            max_results,
        )
        page = matches[:max_results]
        items = [activity for _, activity in page]
        etag_source = ",".join(f"{row.time}/{row.seq}" for row, _ in page)
        body: dict[str, Any] = {
            "kind": "admin#reports#activities",
            "etag": '"' + hashlib.sha1(etag_source.encode()).hexdigest() + '"',
        }
        if items:
            body["items"] = items
        if len(matches) > max_results:
            last = page[-1][0]
            body["nextPageToken"] = encode_page_token((last.time, last.seq))
        return web.json_response(body)

    return list_activities


def _collect(
    org: Org,
    application: str,
    actor_email: str | None,
    start: str,
    end: str,
    event_name: str | None,
    conditions: list[Condition],
    ip: str | None,
    before: tuple[str, int] | None,
    max_results: int,
) -> list[tuple[StoredActivity, dict[str, Any]]]:
    """Up to max_results + 1 matching activities, newest first (the extra one says a next page exists)."""
    found: list[tuple[StoredActivity, dict[str, Any]]] = []
    cursor = before
    needs_check = bool(conditions) or ip is not None or event_name is not None
    chunk = max_results + 1 if not needs_check else max(_SCAN_CHUNK, max_results + 1)
    while len(found) <= max_results:
        rows = org.reports.scan(
            application,
            actor_email=actor_email,
            start_time=start,
            end_time=end,
            event_names=[event_name] if event_name else None,
            before=cursor,
            limit=chunk,
        )
        for row in rows:
            cursor = (row.time, row.seq)
            activity = row.as_dict()
            if not needs_check or activity_matches(activity, event_name, conditions, ip):
                found.append((row, activity))
                if len(found) > max_results:
                    break
        if len(rows) < chunk:
            break
    return found
