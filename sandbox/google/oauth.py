"""The fake Google OAuth 2.0 token endpoint: the JWT-bearer grant service accounts use.

google.oauth2.service_account.Credentials signs a JWT with the key file's private key and posts it to the
key file's `token_uri` (https://developers.google.com/identity/protocols/oauth2/service-account#httprest,
RFC 7523 section 2.1). Checked here as Google does:
- `iss` is a known service account and the RS256 signature verifies with its public key;
- `aud` is Google's token URI https://oauth2.googleapis.com/token (what google-auth signs for, whatever the
  key file's token_uri says; this endpoint's own URL is accepted too);
- `iat`/`exp` are sane: issued no later than now, a lifetime of at most one hour, not expired ("Token must
  be a short-lived token (60 minutes) and in a reasonable timeframe");
- `scope` is present; with `sub` (domain-wide delegation, see
  https://developers.google.com/workspace/guides/create-credentials#optional_set_up_domain-wide_delegation_for_a_service_account)
  the subject must be an account of the org's domain and every scope must be among the scopes delegated to
  the client, otherwise `unauthorized_client`.
The answer is {"access_token", "expires_in": 3599, "token_type": "Bearer"}; the token is remembered with
its scopes, subject and expiry in `org.credentials.google_access_tokens`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from aiohttp import web

from sandbox.google.errors import oauth_error
from sandbox.org import GoogleAccessToken, Org

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
TOKEN_LIFETIME_SECONDS = 3600
MAX_ASSERTION_LIFETIME_SECONDS = 3600
CLOCK_SKEW_SECONDS = 300

_BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
_UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, "
    "or client not authorized for any of the scopes requested."
)


def workspace_account_exists(org: Org, email: str, super_admin: str) -> bool:
    """Whether `email` is an account of the org's Workspace: a sandbox user, or the super admin."""
    email = email.lower()
    if email == super_admin.lower() or email in {a.lower() for a in org.google_admins}:
        return True
    with org.lock:
        if org.user_by_login(email) is not None:
            return True
        return any(u.email.lower() == email for u in org.users.values())


def _claims(assertion: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return header, claims


def make_token_handler(org: Org, super_admin: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """POST /token."""

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        grant_type = str(form.get("grant_type", ""))
        if grant_type != JWT_BEARER:
            return oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = str(form.get("assertion", ""))
        if not assertion:
            return oauth_error("invalid_request", "Missing required parameter: assertion")
        parsed = _claims(assertion)
        if parsed is None:
            return oauth_error("invalid_grant", "Invalid JWT: Failed to parse the assertion.")
        header, claims = parsed
        if header.get("alg") != "RS256":
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        issuer = str(claims.get("iss", ""))
        public_pem = org.credentials.google_service_accounts.get(issuer)
        if public_pem is None:
            return oauth_error("invalid_grant", "Invalid grant: account not found")
        try:
            jwt.decode(
                assertion,
                public_pem,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "Invalid JWT Signature.")

        # google-auth always signs for Google's canonical token URI, whatever the key file's token_uri.
        audiences = {GOOGLE_TOKEN_URI, f"{request.scheme}://{request.host}{request.path}"}
        if claims.get("aud") not in audiences:
            return oauth_error(
                "invalid_grant",
                f"Invalid JWT: Failed audience check. The expected value was {GOOGLE_TOKEN_URI}.",
            )
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(iat, int | float)
            or not isinstance(exp, int | float)
            or iat > now + CLOCK_SKEW_SECONDS
            or exp <= now - CLOCK_SKEW_SECONDS
            or exp <= iat
            or exp - iat > MAX_ASSERTION_LIFETIME_SECONDS
        ):
            return oauth_error("invalid_grant", _BAD_TIMES)

        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            return oauth_error("invalid_scope", "Empty or missing scope not allowed.")

        subject = claims.get("sub")
        if subject is not None:
            subject = str(subject)
            domain = subject.rpartition("@")[2].lower()
            if domain != org.domain.lower():
                # Delegation is granted per Workspace: another domain's users are out of reach.
                return oauth_error("unauthorized_client", _UNAUTHORIZED_CLIENT, status=401)
            if not scopes <= org.credentials.google_delegated_scopes:
                return oauth_error("unauthorized_client", _UNAUTHORIZED_CLIENT, status=401)
            if not workspace_account_exists(org, subject, super_admin):
                return oauth_error("invalid_grant", "Invalid email or User ID")

        access_token = "ya29.sandbox-" + secrets.token_urlsafe(48)
        with org.lock:
            org.credentials.google_access_tokens[access_token] = GoogleAccessToken(
                client_email=issuer,
                subject=subject,
                scopes=scopes,
                expires_at=now + TOKEN_LIFETIME_SECONDS,
            )
        # Google answers 3599: the lifetime left by the time the answer is written.
        return web.json_response(
            {"access_token": access_token, "expires_in": TOKEN_LIFETIME_SECONDS - 1, "token_type": "Bearer"}
        )

    return token
