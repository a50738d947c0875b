"""The access picture of an account since the cutoff: where it signed in from, with what, and what is new.

What Cloudflare's responders looked at next for each suspect account (05:06 in their timeline): source IPs,
locations, MFA methods. Pure: sign-in events in, an AccessPicture out. Sign-ins are Okta's
user.session.start; MFA methods come from user.authentication.auth_via_mfa (debugContext.debugData.factor,
else authenticationContext.credentialType; https://developer.okta.com/docs/reference/api/event-types/).
A user agent is "new" when the account did not use it in the baseline window before the cutoff.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from playbook.models import AccessPicture

SIGN_IN = "user.session.start"
MFA = "user.authentication.auth_via_mfa"
ACCESS_EVENT_TYPES = (SIGN_IN, MFA)
_SUCCESS = frozenset({"SUCCESS", "ALLOW"})


@dataclass(frozen=True)
class AccessEvent:
    published: str
    event_type: str
    outcome: str | None
    client_ip: str | None
    country: str | None
    user_agent: str | None
    mfa_method: str | None = None


def mfa_method(raw: str) -> str | None:
    """The factor an MFA event used: debugData.factor (e.g. "fido_webauthn"), else the credential type."""
    try:
        body: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    debug = (body.get("debugContext") or {}).get("debugData") if isinstance(body.get("debugContext"), dict) else None
    if isinstance(debug, dict) and isinstance(debug.get("factor"), str) and debug["factor"]:
        return str(debug["factor"])
    context = body.get("authenticationContext")
    if isinstance(context, dict) and isinstance(context.get("credentialType"), str) and context["credentialType"]:
        return str(context["credentialType"])
    return None


def access_picture(events: Iterable[AccessEvent], *, cutoff: str) -> AccessPicture:
    """Sign-ins and MFA since `cutoff`; events before it only form the baseline of known user agents."""
    ips: set[str] = set()
    countries: set[str] = set()
    methods: set[str] = set()
    agents: set[str] = set()
    known_agents: set[str] = set()
    sign_ins = failed = 0
    for event in events:
        if event.published < cutoff:
            if event.user_agent:
                known_agents.add(event.user_agent)
            continue
        ok = event.outcome in _SUCCESS
        if event.event_type == SIGN_IN:
            sign_ins += ok
        if not ok and event.event_type in ACCESS_EVENT_TYPES:
            failed += 1
        if event.client_ip:
            ips.add(event.client_ip)
        if event.country:
            countries.add(event.country)
        if event.user_agent:
            agents.add(event.user_agent)
        if event.event_type == MFA and ok and event.mfa_method:
            methods.add(event.mfa_method)
    return AccessPicture(
        ips=tuple(sorted(ips)),
        countries=tuple(sorted(countries)),
        mfa_methods=tuple(sorted(methods)),
        user_agents=tuple(sorted(agents)),
        new_user_agents=tuple(sorted(agents - known_agents)),
        sign_ins=sign_ins,
        failed_sign_ins=failed,
    )
