"""The fake Okta Management API: the aiohttp application the sandbox server runs on loopback HTTPS.

Request path, outermost first:
1. envelope: X-Okta-Request-Id on every response (aiohttp adds Date), Okta's error body for every error;
2. concurrency: the org-wide limit on requests in flight (429, X-Rate-Limit-Limit/Remaining 0);
3. rate limit: one fixed-window bucket per endpoint family, X-Rate-Limit-* headers on every response;
4. knobs: injected latency and faults per route name (sandbox/knobs.py), rendered as Okta's E0000009;
5. auth: API token or OAuth access token (+ DPoP proof), then the route's OAuth scope;
6. the handler.

Route names are the knob names ("okta.users.list", "okta.users.lifecycle.suspend", "okta.logs", ...).
Limits come from `org.okta_rate_limits`, read per request (see ratelimit.py); `app[RATE_LIMITS]` is the same
object unless the org's attribute is replaced later.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.knobs import Knobs, knobs_middleware
from sandbox.okta import audit
from sandbox.okta.auth import Principal, TokenStore, describe_caller, identify, require_scope
from sandbox.okta.errors import OktaError, new_id, server_error
from sandbox.okta.factors import FactorsApi
from sandbox.okta.groups import GroupsApi
from sandbox.okta.logs import LogsApi
from sandbox.okta.oauth import NonceBook, make_token_handler
from sandbox.okta.ratelimit import Decision, Limiter, RateLimits
from sandbox.okta.users import LIFECYCLE, UsersApi
from sandbox.org import Org
from sandbox.records import Actor, EventSpec, okta_log_event

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)

USERS_READ, USERS_MANAGE = "okta.users.read", "okta.users.manage"
GROUPS_READ, LOGS_READ = "okta.groups.read", "okta.logs.read"

ORG = web.AppKey("org", Org)
RATE_LIMITS = web.AppKey("rate_limits", RateLimits)  # org.okta_rate_limits when the app was made
LIMITER = web.AppKey("limiter", Limiter)
TOKENS = web.AppKey("tokens", TokenStore)

# Stand-in actor for System Log entries about requests whose caller is unknown.
_ANONYMOUS = Actor("unknown", "unknown", "Unknown caller", "SystemPrincipal")


@dataclass(frozen=True)
class RouteMeta:
    bucket: str
    scope: str | None  # None: no API authentication (the token endpoint authenticates the client itself)


def _rate_headers(decision: Decision) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(decision.limit),
        "X-Rate-Limit-Remaining": str(decision.remaining),
        "X-Rate-Limit-Reset": str(decision.reset),
    }


def _from_http_exception(exc: web.HTTPException) -> OktaError:
    if exc.status == 404:
        return OktaError(404, "E0000008")
    if exc.status == 405:
        return OktaError(404, "E0000022")
    return OktaError(exc.status, "E0000009", exc.reason)


def create_app(org: Org, knobs: Knobs) -> web.Application:
    tokens = TokenStore()
    limiter = Limiter(lambda: org.okta_rate_limits)
    users = UsersApi(org)
    factors = FactorsApi(users)
    groups = GroupsApi(users)
    logs = LogsApi(org)
    meta: dict[str, RouteMeta] = {}

    def route_meta(request: web.Request) -> RouteMeta | None:
        route = request.match_info.route
        return meta.get(route.name or "") if route is not None else None

    def log_system_event(request: web.Request, event_type: str, message: str, debug: dict[str, object]) -> None:
        actor = describe_caller(request, org, tokens) or _ANONYMOUS
        org.system_log.append(
            okta_log_event(
                EventSpec(
                    event_type=event_type,
                    published=org.now(),
                    actor=actor,
                    client=audit.client_info(request),
                    display_message=message,
                    severity="WARN",
                    outcome="DENY",
                    transaction_id=request.get(audit.REQUEST_ID_KEY) or None,
                    debug_data={"requestUri": request.path, **debug},
                )
            )
        )

    @web.middleware
    async def envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = new_id(length=27)
        request[audit.REQUEST_ID_KEY] = request_id
        try:
            response = await handler(request)
        except OktaError as exc:
            response = exc.response()
        except web.HTTPException as exc:
            response = _from_http_exception(exc).response()
        except Exception:
            log.exception("fake Okta handler failed")
            response = OktaError(500, "E0000009").response()
        response.headers["X-Okta-Request-Id"] = request_id
        return response

    @web.middleware
    async def concurrency(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not limiter.enter():
            if limiter.should_log_concurrency_violation():
                log_system_event(
                    request,
                    "core.concurrency.org.limit.violation",
                    "Too many requests in flight",
                    {"concurrencyLimit": limiter.limits.concurrency},
                )
            raise OktaError(
                429,
                "E0000047",
                headers={
                    "X-Rate-Limit-Limit": "0",
                    "X-Rate-Limit-Remaining": "0",
                    "X-Rate-Limit-Reset": str(limiter.concurrency_reset()),
                },
            )
        try:
            return await handler(request)
        finally:
            limiter.leave()

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = route_meta(request)
        bucket = info.bucket if info is not None else "api_other"
        decision = limiter.take(bucket)
        headers = _rate_headers(decision)
        if not decision.allowed:
            if decision.first_violation:
                b = limiter.limits.bucket(bucket)
                log_system_event(
                    request,
                    "system.operation.rate_limit.violation",
                    "Rate limit violation",
                    {"threshold": b.limit, "timeSpan": b.window_s, "timeUnit": "SECONDS", "bucket": bucket},
                )
            raise OktaError(429, "E0000047", headers=headers)
        try:
            response = await handler(request)
        except OktaError as exc:
            exc.headers.update(headers)
            raise
        except web.HTTPException as exc:
            error = _from_http_exception(exc)
            error.headers.update(headers)
            raise error from exc
        response.headers.update(headers)
        return response

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = route_meta(request)
        if info is not None and info.scope is not None:
            principal: Principal = identify(request, org, tokens)
            require_scope(request, principal, info.scope)
            request[audit.PRINCIPAL_KEY] = principal
        return await handler(request)

    # knobs_middleware is typed as a plain callable; aiohttp's Middleware protocol is structural.
    middlewares: list[Any] = [envelope, concurrency, rate_limit, knobs_middleware(knobs, server_error), authenticate]
    app = web.Application(middlewares=middlewares)
    app[ORG] = org
    app[RATE_LIMITS] = org.okta_rate_limits
    app[LIMITER] = limiter
    app[TOKENS] = tokens

    def add(method: str, path: str, handler: Handler, name: str, bucket: str, scope: str | None) -> None:
        app.router.add_route(method, path, handler, name=name)
        meta[name] = RouteMeta(bucket, scope)

    add("POST", "/oauth2/v1/token", make_token_handler(org, tokens, NonceBook()), "okta.oauth.token", "oauth2", None)
    add("GET", "/api/v1/users", users.list_users, "okta.users.list", "users_list", USERS_READ)
    add("GET", "/api/v1/users/{id}", users.get_user, "okta.users.get", "users_get", USERS_READ)
    for op in LIFECYCLE:
        add(
            "POST",
            f"/api/v1/users/{{id}}/lifecycle/{op}",
            users.lifecycle_handler(op),
            f"okta.users.lifecycle.{op}",
            "users_write",
            USERS_MANAGE,
        )
    add(
        "DELETE",
        "/api/v1/users/{id}/sessions",
        users.clear_sessions,
        "okta.users.sessions.clear",
        "api_other",
        USERS_MANAGE,
    )
    add("GET", "/api/v1/users/{id}/factors", factors.list_factors, "okta.factors.list", "api_other", USERS_READ)
    add(
        "DELETE",
        "/api/v1/users/{id}/factors/{factorId}",
        factors.delete_factor,
        "okta.factors.delete",
        "api_other",
        USERS_MANAGE,
    )
    add("GET", "/api/v1/groups", groups.list_groups, "okta.groups.list", "groups_list", GROUPS_READ)
    add("GET", "/api/v1/groups/{id}", groups.get_group, "okta.groups.get", "groups_get", GROUPS_READ)
    add("GET", "/api/v1/groups/{id}/users", groups.list_members, "okta.groups.members", "groups_list", GROUPS_READ)
    add("GET", "/api/v1/logs", logs.list_events, "okta.logs", "logs", LOGS_READ)
    return app
