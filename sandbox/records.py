"""Builders for the records the fakes serve: Okta LogEvent objects and Google Reports activities.

One place for the shapes, used by the fake Okta (events for changes made through its API) and by the
scenario generator (the org's history), so both produce exactly what the real APIs document:
- LogEvent: https://developer.okta.com/docs/reference/api/system-log/#logevent-object
- Activity: https://developers.google.com/admin-sdk/reports/reference/rest/v1/activities
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.org import iso

JSON = dict[str, Any]

# Okta's own support staff act in customer orgs through this actor. Public detection rules (Panther's
# "Okta Support Reset Credential", Okta's own January 2022 guidance) fingerprint it as alternateId
# system@okta.com with transaction id "unknown" and neither user agent nor geography.
OKTA_SUPPORT_ALTERNATE_ID = "system@okta.com"


@dataclass(frozen=True)
class Actor:
    id: str
    alternate_id: str
    display_name: str
    type: str = "User"  # "User", "SystemPrincipal", "PublicClientApp"

    def as_json(self) -> JSON:
        return {
            "id": self.id,
            "type": self.type,
            "alternateId": self.alternate_id,
            "displayName": self.display_name,
            "detailEntry": None,
        }


@dataclass(frozen=True)
class Target:
    id: str
    alternate_id: str
    display_name: str
    type: str = "User"  # "User", "AppInstance", "Factor"? Okta uses "User" for accounts
    detail_entry: JSON | None = None

    def as_json(self) -> JSON:
        return {
            "id": self.id,
            "type": self.type,
            "alternateId": self.alternate_id,
            "displayName": self.display_name,
            "detailEntry": self.detail_entry,
        }


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from. All None for Okta-internal actions (support, system jobs)."""

    ip: str | None = None
    user_agent: str | None = None
    os: str | None = None
    browser: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    device: str | None = "Computer"
    zone: str = "null"

    def as_json(self) -> JSON:
        geo: JSON | None = None
        if self.country is not None:
            geo = {
                "city": self.city,
                "state": self.state,
                "country": self.country,
                "postalCode": None,
                "geolocation": {"lat": self.lat, "lon": self.lon},
            }
        return {
            "userAgent": (
                {"rawUserAgent": self.user_agent, "os": self.os, "browser": self.browser}
                if self.user_agent is not None
                else None
            ),
            "zone": self.zone,
            "device": self.device if self.user_agent is not None else None,
            "id": None,
            "ipAddress": self.ip,
            "geographicalContext": geo,
        }


@dataclass(frozen=True)
class EventSpec:
    """What happened; `okta_log_event` turns it into the JSON Okta serves."""

    event_type: str
    published: datetime
    actor: Actor
    targets: tuple[Target, ...] = ()
    client: ClientInfo = field(default_factory=ClientInfo)
    outcome: str = "SUCCESS"  # SUCCESS, FAILURE, SKIPPED, ALLOW, DENY, CHALLENGE, UNKNOWN
    reason: str | None = None
    display_message: str = ""
    severity: str = "INFO"
    transaction_id: str | None = None  # None: a fresh request id; "unknown" for Okta-internal actions
    transaction_type: str = "WEB"
    session_id: str | None = None
    credential_type: str | None = None
    debug_data: JSON = field(default_factory=dict)
    uuid: str | None = None
    # e.g. {"requestApiTokenId": "00T..."} for actions made with an API token (System Log "Event correlation").
    transaction_detail: JSON = field(default_factory=dict)


def okta_log_event(spec: EventSpec, *, uuid: str | None = None) -> JSON:
    """A LogEvent object exactly as /api/v1/logs returns it."""
    transaction_id = spec.transaction_id or uuidlib.uuid4().hex[:24]
    debug = {"requestId": transaction_id, **spec.debug_data}
    return {
        "uuid": uuid or spec.uuid or str(uuidlib.uuid4()),
        "published": iso(spec.published),
        "eventType": spec.event_type,
        "version": "0",
        "severity": spec.severity,
        "legacyEventType": None,
        "displayMessage": spec.display_message,
        "actor": spec.actor.as_json(),
        "client": spec.client.as_json(),
        "device": None,
        "authenticationContext": {
            "authenticationProvider": None,
            "credentialProvider": None,
            "credentialType": spec.credential_type,
            "issuer": None,
            "interface": None,
            "authenticationStep": 0,
            "externalSessionId": spec.session_id,
        },
        "outcome": {"result": spec.outcome, "reason": spec.reason},
        "target": [t.as_json() for t in spec.targets],
        "transaction": {
            "type": spec.transaction_type,
            "id": transaction_id,
            "detail": dict(spec.transaction_detail),
        },
        "debugContext": {"debugData": debug},
        "securityContext": {
            "asNumber": None,
            "asOrg": None,
            "isp": None,
            "domain": None,
            "isProxy": None,
        },
        "request": {
            "ipChain": (
                [
                    {
                        "ip": spec.client.ip,
                        "geographicalContext": spec.client.as_json()["geographicalContext"],
                        "version": "V4",
                        "source": None,
                    }
                ]
                if spec.client.ip
                else []
            )
        },
    }


def _param(name: str, value: object) -> JSON:
    """A Reports API event parameter, typed the way Google types it.

    None gives a bare `{"name": ...}`: how the API returns a nested record it cannot represent (a
    NestedParameter holds no messageValue), e.g. Gmail's message_info.source.
    """
    if value is None:
        return {"name": name}
    if isinstance(value, bool):
        return {"name": name, "boolValue": value}
    if isinstance(value, int):
        return {"name": name, "intValue": str(value)}
    if isinstance(value, list):
        return {"name": name, "multiValue": [str(v) for v in value]}
    if isinstance(value, dict):
        return {"name": name, "messageValue": {"parameter": [_param(k, v) for k, v in value.items()]}}
    return {"name": name, "value": str(value)}


def google_activity(
    *,
    application: str,
    time: datetime,
    actor_email: str,
    actor_profile_id: str,
    customer_id: str,
    events: list[tuple[str, str, dict[str, object]]],
    ip_address: str | None = None,
    unique_qualifier: str,
    owner_domain: str,
    caller_type: str = "USER",
) -> JSON:
    """An activity resource of activities.list; `events` are (type, name, parameters) triples."""
    activity: JSON = {
        "kind": "admin#reports#activity",
        "id": {
            "time": iso(time),
            "uniqueQualifier": unique_qualifier,
            "applicationName": application,
            "customerId": customer_id,
        },
        "etag": f'"{unique_qualifier}"',
        "actor": {"callerType": caller_type, "email": actor_email, "profileId": actor_profile_id},
        "ownerDomain": owner_domain,
        "events": [
            {"type": etype, "name": name, "parameters": [_param(k, v) for k, v in params.items()]}
            for etype, name, params in events
        ],
    }
    if ip_address is not None:
        activity["ipAddress"] = ip_address
    return activity


def gmail_delivery(
    *,
    time: datetime,
    recipient: str,
    recipient_profile_id: str,
    sender: str,
    subject: str,
    message_id: str,
    customer_id: str,
    owner_domain: str,
    unique_qualifier: str,
) -> JSON:
    """A Gmail log event for a message received into `recipient`'s mailbox (applicationName=gmail).

    Shape per https://developers.google.com/workspace/admin/reports/v1/appendix/activity/gmail: event type
    `delivery_type`, name `delivery` (constant for Gmail), parameters `event_info` and `message_info` as
    messageValue; `event_info.mail_event_type` 2 = "Message received" (13 would be "Message moved to Trash").
    The nested fields follow the BigQuery Gmail log schema (support.google.com/a/answer/7230050) and a
    published Reports API record (elastic/integrations gmail_reports test data): records that a
    NestedParameter cannot hold (`source`, `destination`, `connection_info`, `message_set`) come back
    bare, so the sender's address is NOT in the Reports API answer. `sender` is kept for callers and
    deliberately left out; corroborate by recipient, subject and rfc2822_message_id.
    """
    del sender  # not exposed by the Reports API (see above)
    usec = int(time.timestamp() * 1_000_000)
    activity = google_activity(
        application="gmail",
        time=time,
        actor_email=recipient,
        actor_profile_id=recipient_profile_id,
        customer_id=customer_id,
        unique_qualifier=unique_qualifier,
        owner_domain=owner_domain,
        caller_type="USER",
        events=[
            (
                "delivery_type",
                "delivery",
                {
                    "event_info": {
                        "timestamp_usec": usec,
                        "elapsed_time_usec": 250_000,
                        "success": True,
                        "mail_event_type": 2,
                    },
                    "message_info": {
                        "action_type": 3,
                        "rfc2822_message_id": message_id,
                        "subject": subject,
                        "payload_size": 9_000 + len(subject),
                        "source": None,
                        "destination": None,
                        "flattened_destinations": f"gmail-ui::{recipient}",
                        "description": "",
                        "is_spam": False,
                        "is_policy_check_for_sender": False,
                        "num_message_attachments": 0,
                        "connection_info": None,
                        "message_set": None,
                    },
                },
            )
        ],
    )
    activity["resourceDetails"] = [{"id": message_id, "title": subject, "type": "EMAIL", "relation": "GMAIL_PRIMARY"}]
    activity["events"][0]["resourceIds"] = [message_id]
    return activity
