"""The fake Google token endpoint: the JWT-bearer grant google-auth's service-account credentials use."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlencode

import httplib2
import jwt
import pytest
from google.auth.exceptions import RefreshError

from sandbox.org import GOOGLE_DIRECTORY_USER_READONLY_SCOPE, GOOGLE_REPORTS_AUDIT_SCOPE, Org
from sandbox.server import GOOGLE_SERVICE_ACCOUNT, SandboxServer, _rsa_key_pair
from tests.sandbox.google_slack_helpers import add_person, admin_email, authorized_http, credentials

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def refresh(sandbox: SandboxServer, creds: object) -> None:
    http = authorized_http(sandbox, creds)
    creds.refresh(http._request)  # type: ignore[attr-defined]


def post_assertion(sandbox: SandboxServer, claims: dict[str, object], private_pem: str) -> tuple[int, dict[str, str]]:
    http = httplib2.Http(ca_certs=str(sandbox.endpoints.ca_path), timeout=10)
    assertion = jwt.encode(claims, private_pem, algorithm="RS256")
    response, content = http.request(
        sandbox.endpoints.google_url + "/token",
        "POST",
        body=urlencode({"grant_type": JWT_BEARER, "assertion": assertion}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return int(response.status), json.loads(content)


def key_file_private_key(sandbox: SandboxServer) -> str:
    return str(json.loads(sandbox.endpoints.google_key_path.read_text())["private_key"])


def claims_for(sandbox: SandboxServer, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": GOOGLE_SERVICE_ACCOUNT,
        "sub": admin_email(sandbox.org),
        "aud": sandbox.endpoints.google_url + "/token",
        "scope": GOOGLE_REPORTS_AUDIT_SCOPE,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_delegated_service_account_gets_a_bearer_token_remembered_with_its_scopes(
    sandbox: SandboxServer, org: Org
) -> None:
    creds = credentials(sandbox, subject=admin_email(org))
    refresh(sandbox, creds)
    assert creds.token.startswith("ya29.")
    assert creds.valid
    issued = org.credentials.google_access_tokens[creds.token]
    assert issued.subject == admin_email(org)
    assert issued.client_email == GOOGLE_SERVICE_ACCOUNT
    assert issued.scopes == frozenset({GOOGLE_REPORTS_AUDIT_SCOPE})
    assert 3500 < issued.expires_at - time.time() <= 3600


def test_impersonating_an_existing_user_of_the_domain_is_allowed(sandbox: SandboxServer, org: Org) -> None:
    add_person(org, "erin")
    creds = credentials(sandbox, subject="erin@example.com")
    refresh(sandbox, creds)
    assert org.credentials.google_access_tokens[creds.token].subject == "erin@example.com"


def test_a_subject_outside_the_domain_is_an_unauthorized_client(sandbox: SandboxServer) -> None:
    creds = credentials(sandbox, subject="admin@elsewhere.test")
    with pytest.raises(RefreshError) as caught:
        refresh(sandbox, creds)
    assert "unauthorized_client" in str(caught.value)


def test_an_unknown_subject_in_the_domain_is_an_invalid_grant(sandbox: SandboxServer) -> None:
    creds = credentials(sandbox, subject="ghost@example.com")
    with pytest.raises(RefreshError) as caught:
        refresh(sandbox, creds)
    assert "invalid_grant" in str(caught.value)
    assert "Invalid email or User ID" in str(caught.value)


def test_a_scope_not_delegated_to_the_client_is_refused(sandbox: SandboxServer, org: Org) -> None:
    creds = credentials(
        sandbox, subject=admin_email(org), scopes=["https://www.googleapis.com/auth/admin.directory.user"]
    )
    with pytest.raises(RefreshError) as caught:
        refresh(sandbox, creds)
    assert "unauthorized_client" in str(caught.value)
    allowed = credentials(sandbox, subject=admin_email(org), scopes=[GOOGLE_DIRECTORY_USER_READONLY_SCOPE])
    refresh(sandbox, allowed)
    assert allowed.valid


def test_an_assertion_signed_with_another_key_has_an_invalid_signature(sandbox: SandboxServer, tmp_path: Path) -> None:
    data = json.loads(sandbox.endpoints.google_key_path.read_text())
    data["private_key"] = _rsa_key_pair()[0]
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(forged), scopes=[GOOGLE_REPORTS_AUDIT_SCOPE]
    ).with_subject(admin_email(sandbox.org))
    with pytest.raises(RefreshError) as caught:
        refresh(sandbox, creds)
    assert "Invalid JWT Signature." in str(caught.value)


def test_an_unknown_service_account_is_refused(sandbox: SandboxServer) -> None:
    status, body = post_assertion(
        sandbox, claims_for(sandbox, iss="someone@else.iam.gserviceaccount.com"), key_file_private_key(sandbox)
    )
    assert status == 400
    assert body["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"exp": int(time.time()) - 4000, "iat": int(time.time()) - 7600}, "short-lived"),
        ({"iat": int(time.time()), "exp": int(time.time()) + 7200}, "short-lived"),
        ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7000}, "short-lived"),
        ({"aud": "https://login.example.com/token"}, "audience"),
        ({"scope": None}, "scope"),
    ],
)
def test_assertions_with_bad_claims_are_refused(sandbox: SandboxServer, change: dict[str, object], reason: str) -> None:
    status, body = post_assertion(sandbox, claims_for(sandbox, **change), key_file_private_key(sandbox))
    assert status == 400
    assert body["error"] in ("invalid_grant", "invalid_scope")
    assert reason in body["error_description"]


def test_only_the_jwt_bearer_grant_is_supported(sandbox: SandboxServer) -> None:
    http = httplib2.Http(ca_certs=str(sandbox.endpoints.ca_path), timeout=10)
    response, content = http.request(
        sandbox.endpoints.google_url + "/token",
        "POST",
        body=urlencode({"grant_type": "client_credentials"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 400
    assert json.loads(content)["error"] == "unsupported_grant_type"


def test_a_token_for_the_service_account_itself_cannot_read_reports(sandbox: SandboxServer, org: Org) -> None:
    creds = credentials(sandbox, subject=None)
    refresh(sandbox, creds)
    assert org.credentials.google_access_tokens[creds.token].subject is None
    http = httplib2.Http(ca_certs=str(sandbox.endpoints.ca_path), timeout=10)
    response, content = http.request(
        sandbox.endpoints.google_url + "/admin/reports/v1/activity/users/all/applications/login",
        "GET",
        headers={"Authorization": f"Bearer {creds.token}"},
    )
    assert response.status == 401
    assert "not authorized to read activity records" in json.loads(content)["error"]["message"]
