"""System Log entries for changes made through the fake Okta: one LogEvent per successful change.

Fields follow the LogEvent object (https://developer.okta.com/docs/reference/api/system-log/#logevent-object):
the actor is the API token's admin or the OAuth service app; the client is the request's peer address and
User-Agent; `transaction.id` and `debugContext.debugData.requestId` are the response's X-Okta-Request-Id (how
Okta correlates a request with its events); API-token actions carry `transaction.detail.requestApiTokenId`
("Correlating events based on API Token").
"""

from __future__ import annotations

from aiohttp import web

from sandbox.okta.auth import Principal
from sandbox.org import Org, User
from sandbox.records import JSON, ClientInfo, EventSpec, Target, okta_log_event

PRINCIPAL_KEY = web.RequestKey("holdfast.okta.principal", Principal)
REQUEST_ID_KEY = web.RequestKey("holdfast.okta.request_id", str)


def user_target(user: User) -> Target:
    return Target(user.id, user.login, f"{user.first_name} {user.last_name}".strip(), "User")


def client_info(request: web.Request) -> ClientInfo:
    """The caller as Okta's `client` object shows API traffic: peer IP and raw User-Agent, no geography."""
    user_agent = request.headers.get("User-Agent", "")
    return ClientInfo(
        ip=request.remote,
        user_agent=user_agent,
        os="Unknown",
        browser="UNKNOWN",
        device="Unknown",
        zone="null",
    )


def record(
    request: web.Request,
    org: Org,
    event_type: str,
    *,
    display_message: str,
    targets: tuple[Target, ...] = (),
    outcome: str = "SUCCESS",
    reason: str | None = None,
    severity: str = "INFO",
    debug: JSON | None = None,
    principal: Principal | None = None,
) -> JSON:
    """Append one LogEvent describing this request's effect to `org.system_log`; returns it."""
    who = principal or request.get(PRINCIPAL_KEY)
    if who is None:
        raise RuntimeError("audit.record called before the request was authenticated")
    request_id = request.get(REQUEST_ID_KEY, "")
    detail: JSON = {}
    if who.api_token_id is not None:
        detail["requestApiTokenId"] = who.api_token_id
    debug_data: JSON = {"requestUri": request.path, "url": request.path_qs, **(debug or {})}
    spec = EventSpec(
        event_type=event_type,
        published=org.now(),
        actor=who.actor,
        targets=targets,
        client=client_info(request),
        outcome=outcome,
        reason=reason,
        display_message=display_message,
        severity=severity,
        transaction_id=request_id or None,
        transaction_type="WEB",
        credential_type="OAUTH2" if who.kind == "service_app" else None,
        debug_data=debug_data,
        transaction_detail=detail,
    )
    event = okta_log_event(spec)
    org.system_log.append(event)
    return event
