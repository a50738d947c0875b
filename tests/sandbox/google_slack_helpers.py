"""Client builders and seed data for the fake Google Reports API and the fake Slack tests.

Clients are the real SDKs configured as holdfast configures them: a google-auth service account (with
domain-wide delegation) over httplib2 trusting the sandbox CA, and slack_sdk.WebClient with an SSL context
from the same CA. Nothing disables certificate checks.
"""

from __future__ import annotations

import itertools
import ssl
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import google_auth_httplib2
import httplib2
from google.oauth2 import service_account
from googleapiclient.discovery import build
from slack_sdk import WebClient

from sandbox.org import GOOGLE_REPORTS_AUDIT_SCOPE, Org, SlackUser, User, UserStatus
from sandbox.records import gmail_delivery, google_activity
from sandbox.server import SandboxServer

_seq = itertools.count(1)


def admin_email(org: Org) -> str:
    return f"admin@{org.domain}"


def credentials(
    sandbox: SandboxServer,
    *,
    subject: str | None = None,
    scopes: Sequence[str] = (GOOGLE_REPORTS_AUDIT_SCOPE,),
) -> Any:
    """Service-account credentials from the key file the sandbox wrote; impersonating `subject`."""
    creds = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(sandbox.endpoints.google_key_path), scopes=list(scopes)
    )
    return creds.with_subject(subject) if subject is not None else creds


def authorized_http(sandbox: SandboxServer, creds: Any) -> Any:
    """httplib2 trusting the sandbox CA, wrapped so requests (and token refreshes) carry the credentials."""
    http = httplib2.Http(ca_certs=str(sandbox.endpoints.ca_path), timeout=10)
    return google_auth_httplib2.AuthorizedHttp(creds, http=http)


def reports_service(
    sandbox: SandboxServer,
    *,
    subject: str | None = "",
    scopes: Sequence[str] = (GOOGLE_REPORTS_AUDIT_SCOPE,),
) -> Any:
    """googleapiclient's admin reports_v1 service against the fake; subject "" means the super admin."""
    who = admin_email(sandbox.org) if subject == "" else subject
    http = authorized_http(sandbox, credentials(sandbox, subject=who, scopes=scopes))
    return build(
        "admin",
        "reports_v1",
        http=http,
        static_discovery=True,
        client_options={"api_endpoint": sandbox.endpoints.google_url},
    )


def raw_get(sandbox: SandboxServer, path: str, *, token: str | None = None) -> tuple[int, bytes]:
    """A GET to the fake Google through plain httplib2 (for requests the client library refuses to send)."""
    http = httplib2.Http(ca_certs=str(sandbox.endpoints.ca_path), timeout=10)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response, content = http.request(sandbox.endpoints.google_url + path, "GET", headers=headers)
    return int(response.status), content


def add_person(org: Org, local: str) -> User:
    return org.add_user(
        User(
            id=f"00u{local:0<17}"[:20],
            login=f"{local}@{org.domain}",
            email=f"{local}@{org.domain}",
            first_name=local.title(),
            last_name="Example",
            status=UserStatus.ACTIVE,
            created=org.now() - timedelta(days=400),
        )
    )


def login_activity(
    org: Org, email: str, at: datetime, name: str = "login_success", ip: str = "198.51.100.7"
) -> dict[str, Any]:
    n = next(_seq)
    return google_activity(
        application="login",
        time=at,
        actor_email=email,
        actor_profile_id=f"1{n:020d}",
        customer_id=org.google_customer_id,
        events=[("login", name, {"login_type": "google_password", "is_suspicious": False})],
        ip_address=ip,
        unique_qualifier=f"-{n}",
        owner_domain=org.domain,
    )


def delivery(org: Org, recipient: str, at: datetime, subject: str) -> dict[str, Any]:
    n = next(_seq)
    return gmail_delivery(
        time=at,
        recipient=recipient,
        recipient_profile_id=f"1{n:020d}",
        sender="noreply@okta.com",
        subject=subject,
        message_id=f"<{n}.reset@okta.com>",
        customer_id=org.google_customer_id,
        owner_domain=org.domain,
        unique_qualifier=f"-{n}",
    )


def slack_client(sandbox: SandboxServer, token: str | None = "", **kwargs: Any) -> WebClient:
    """slack_sdk.WebClient for the fake; token "" means the org's bot token, None means no token."""
    context = ssl.create_default_context(cafile=str(sandbox.endpoints.ca_path))
    bot_token = sandbox.org.credentials.slack_bot_token if token == "" else token
    return WebClient(token=bot_token, base_url=sandbox.endpoints.slack_url, ssl=context, timeout=10, **kwargs)


def add_slack_person(org: Org, user_id: str, local: str, *, deleted: bool = False) -> SlackUser:
    return org.add_slack_user(
        SlackUser(
            id=user_id,
            email=f"{local}@{org.domain}",
            name=local,
            real_name=f"{local.title()} Example",
            deleted=deleted,
        )
    )
