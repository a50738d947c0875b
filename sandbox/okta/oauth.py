"""The org authorization server's token endpoint for OAuth 2.0 service apps ("OAuth for Okta").

POST /oauth2/v1/token with grant_type=client_credentials, client_assertion_type
urn:ietf:params:oauth:client-assertion-type:jwt-bearer and a client_assertion JWT signed by the key
registered for the app (https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/):
iss = sub = client_id, aud = {org}/oauth2/v1/token, exp at most one hour ahead, jti used once. Requested
scopes must all be in the app's grants. The token lives one hour.

DPoP (https://developer.okta.com/docs/guides/dpop/nonoktaresourceserver/main/, RFC 9449): when the request
carries a `DPoP` proof, the server first answers 400 `use_dpop_nonce` with a `DPoP-Nonce` header, the
client retries with that nonce, and the token issued is `token_type: "DPoP"`, bound to the proof's key.
Okta consumes the assertion's jti on every attempt, the nonce challenge included (the okta SDK relies on it).

Errors use the OAuth shape {"error", "error_description"}: 400 for the request, 401 invalid_client for
client authentication. Okta's wording is used where it is documented on support.okta.com.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web

from sandbox.okta.audit import REQUEST_ID_KEY, client_info
from sandbox.okta.auth import Principal, TokenStore, service_app_actor, verify_dpop_proof
from sandbox.org import Org
from sandbox.records import EventSpec, okta_log_event

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
NONCE_LIFETIME_S = 24 * 3600
ASSERTION_MAX_LIFETIME_S = 3600
CLOCK_SKEW_S = 60


@dataclass
class NonceBook:
    """DPoP nonces this server handed out, with their expiry."""

    nonces: dict[str, float] = field(default_factory=dict)

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(24)
        self.nonces[nonce] = time.time() + NONCE_LIFETIME_S
        return nonce

    def valid(self, nonce: object) -> bool:
        return isinstance(nonce, str) and self.nonces.get(nonce, 0.0) > time.time()


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": error, "error_description": description}),
        content_type="application/json",
        headers={"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})},
    )


def _verify_assertion(
    assertion: str, org: Org, token_url: str, store: TokenStore
) -> tuple[str, frozenset[str]] | web.Response:
    """(client_id, granted scopes) for a valid client assertion, else the OAuth error response."""
    try:
        unverified: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _oauth_error(401, "invalid_client", "The client_assertion token is invalid.")
    client_id = unverified.get("sub")
    app = org.credentials.okta_service_apps.get(str(client_id)) if client_id else None
    if app is None:
        return _oauth_error(401, "invalid_client", "Invalid value for 'client_id' parameter.")
    if unverified.get("iss") != client_id:
        return _oauth_error(401, "invalid_client", "The 'iss' and 'sub' claims of the client_assertion must match.")
    public_pem, granted = app
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key=public_pem,
            algorithms=ASSERTION_ALGORITHMS,
            options={"verify_aud": False, "verify_exp": False, "require": ["exp"]},
        )
    except jwt.PyJWTError:
        return _oauth_error(401, "invalid_client", "The client_assertion signature is invalid.")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if token_url not in audiences:
        return _oauth_error(
            401,
            "invalid_client",
            "The audience claim for client_assertion must be the endpoint invoking the client_assertion.",
        )
    now = time.time()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp < now - CLOCK_SKEW_S:
        return _oauth_error(401, "invalid_client", "The client_assertion token is expired.")
    if exp > now + ASSERTION_MAX_LIFETIME_S + CLOCK_SKEW_S:
        return _oauth_error(
            401, "invalid_client", "The client_assertion token has an expiration too far into the future."
        )
    jti = claims.get("jti")
    if jti is not None and not store.remember_jti(f"assertion:{client_id}:{jti}", float(exp)):
        return _oauth_error(401, "invalid_client", "The client_assertion token has already been used.")
    return str(client_id), granted


def make_token_handler(
    org: Org, store: TokenStore, nonces: NonceBook
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def token(request: web.Request) -> web.Response:
        """POST /oauth2/v1/token (client_credentials with private_key_jwt, optionally DPoP)."""
        form = await request.post()
        grant_type = str(form.get("grant_type", ""))
        if grant_type != "client_credentials":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server. "
                "Configured grant types: [client_credentials].",
            )
        if "client_secret" in form or "Authorization" in request.headers:
            return _oauth_error(
                400,
                "invalid_client",
                "Client Credentials requests to the Org Authorization Server must use the private_key_jwt "
                "token_endpoint_auth_method.",
            )
        if form.get("client_assertion_type") != JWT_BEARER or not form.get("client_assertion"):
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        token_url = f"https://{request.host}/oauth2/v1/token"
        verified = _verify_assertion(str(form["client_assertion"]), org, token_url, store)
        if isinstance(verified, web.Response):
            return verified
        client_id, granted = verified
        requested = frozenset(str(form.get("scope", "")).split())
        if not requested:
            return _oauth_error(
                400,
                "invalid_scope",
                "The authorization server resource does not have any configured default scopes, "
                "'scope' must be provided.",
            )
        if not requested <= granted:
            return _oauth_error(
                400, "invalid_scope", "One or more scopes are not configured for the authorization server resource."
            )
        jkt: str | None = None
        proof = request.headers.get("DPoP")
        if proof:
            try:
                jkt, claims = verify_dpop_proof(proof, request, store)
            except ValueError as exc:
                return _oauth_error(400, "invalid_dpop_proof", str(exc))
            if not nonces.valid(claims.get("nonce")):
                return _oauth_error(
                    400,
                    "use_dpop_nonce",
                    "Authorization server requires nonce in DPoP proof.",
                    headers={"DPoP-Nonce": nonces.issue()},
                )
        access_token = store.issue(client_id, requested, jkt)
        principal = Principal("service_app", service_app_actor(client_id), requested, client_id=client_id)
        org.system_log.append(
            okta_log_event(
                EventSpec(
                    event_type="app.oauth2.token.grant.access_token",
                    published=org.now(),
                    actor=principal.actor,
                    client=client_info(request),
                    display_message="OAuth2 access token is granted",
                    transaction_id=request.get(REQUEST_ID_KEY) or None,
                    credential_type="JWT",
                    debug_data={"requestUri": request.path, "grantedScopes": " ".join(sorted(requested))},
                )
            )
        )
        return web.Response(
            text=json.dumps(
                {
                    "token_type": "DPoP" if jkt else "Bearer",
                    "expires_in": 3600,
                    "access_token": access_token,
                    "scope": " ".join(sorted(requested)),
                }
            ),
            content_type="application/json",
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    return token
