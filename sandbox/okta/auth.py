"""Who is calling the fake Okta: an API token (SSWS) or an OAuth 2.0 service app's access token.

- API token: `Authorization: SSWS <token>` (https://developer.okta.com/docs/reference/api-overview/#authentication).
  The okta SDK's generated methods send `SSWS<token>` with no space; that is accepted too. An API token acts
  with the permissions of the admin who created it and carries no scopes.
- OAuth for Okta: `Authorization: Bearer <access token>` minted by /oauth2/v1/token for a service app, or
  `Authorization: DPoP <token>` plus a `DPoP` proof header for DPoP-bound tokens (RFC 9449;
  https://developer.okta.com/docs/guides/dpop/nonoktaresourceserver/main/). Each endpoint requires an Okta
  scope; `okta.<resource>.manage` also grants `okta.<resource>.read`
  (https://developer.okta.com/docs/guides/implement-oauth-for-okta/main/#scope-naming).

A missing or unknown token gets 401 E0000011 "Invalid token provided"; a valid token without the scope gets
403 E0000006 with Okta's `WWW-Authenticate: Bearer ... error="insufficient_scope"` header
(https://support.okta.com/help/s/article/insufficient-scope-error-when-making-a-request-to-an-oauth-or-management-endpoint).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web

from sandbox.okta.errors import OktaError
from sandbox.org import Org
from sandbox.records import Actor

# The admin an API token acts as when the org doesn't name one (credentials.okta_api_token_owner).
DEFAULT_TOKEN_ADMIN_ID = "00uholdfastapiadmin1"

ACCESS_TOKEN_LIFETIME_S = 3600  # "The lifetime for this token is fixed at one hour."
DPOP_PROOF_MAX_AGE_S = 300


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as the System Log shows it (`actor`)."""

    kind: str  # "api_token" or "service_app"
    actor: Actor
    scopes: frozenset[str] | None  # None for API tokens: admin permissions, no OAuth scopes
    api_token_id: str | None = None
    client_id: str | None = None


@dataclass
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    jkt: str | None  # JWK thumbprint the token is bound to (DPoP), else None (Bearer)


@dataclass
class TokenStore:
    """Access tokens minted by the fake's token endpoint, and replay caches for assertions and proofs."""

    tokens: dict[str, AccessToken] = field(default_factory=dict)
    used_jti: dict[str, float] = field(default_factory=dict)  # jti -> expiry (client assertions, DPoP proofs)

    def issue(self, client_id: str, scopes: frozenset[str], jkt: str | None) -> str:
        token = secrets.token_urlsafe(48)
        self.tokens[token] = AccessToken(client_id, scopes, time.time() + ACCESS_TOKEN_LIFETIME_S, jkt)
        return token

    def remember_jti(self, jti: str, expires_at: float) -> bool:
        """False when `jti` was already used (replay)."""
        now = time.time()
        if len(self.used_jti) > 10_000:
            for key in [k for k, exp in self.used_jti.items() if exp < now]:
                del self.used_jti[key]
        if jti in self.used_jti:
            return False
        self.used_jti[jti] = expires_at
        return True


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK (RSA or EC)."""
    if jwk.get("kty") == "RSA":
        members = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
    elif jwk.get("kty") == "EC":
        members = {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
    else:
        raise ValueError("unsupported key type")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def htu(request: web.Request) -> str:
    """The request URI without query and fragment, as a DPoP proof must name it (RFC 9449 section 4.2)."""
    return f"https://{request.host}{request.path}"


def verify_dpop_proof(
    proof: str, request: web.Request, store: TokenStore, *, access_token: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Check a DPoP proof JWT for this request; returns (jkt, claims). Raises ValueError with the reason."""
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError as exc:
        raise ValueError("The DPoP proof JWT is malformed.") from exc
    if header.get("typ") != "dpop+jwt":
        raise ValueError("The DPoP proof JWT header 'typ' must be 'dpop+jwt'.")
    jwk = header.get("jwk")
    alg = header.get("alg")
    if not isinstance(jwk, dict) or alg not in ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512"):
        raise ValueError("The DPoP proof JWT header must carry a public 'jwk' and a supported 'alg'.")
    if any(k in jwk for k in ("d", "p", "q", "dp", "dq", "qi")):
        raise ValueError("The DPoP proof JWT 'jwk' must not contain a private key.")
    try:
        key = jwt.PyJWK.from_dict(jwk, algorithm=alg)
        claims: dict[str, Any] = jwt.decode(
            proof, key=key.key, algorithms=[alg], options={"verify_aud": False, "require": ["iat", "jti"]}
        )
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise ValueError("The DPoP proof JWT signature is invalid.") from exc
    if claims.get("htm") != request.method:
        raise ValueError("The DPoP proof JWT 'htm' doesn't match the request method.")
    if claims.get("htu") != htu(request):
        raise ValueError("The DPoP proof JWT 'htu' doesn't match the request URI.")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or abs(time.time() - float(iat)) > DPOP_PROOF_MAX_AGE_S:
        raise ValueError("The DPoP proof JWT 'iat' is too old or in the future.")
    if access_token is not None:
        expected_ath = b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        if claims.get("ath") != expected_ath:
            raise ValueError("The DPoP proof JWT 'ath' doesn't match the access token.")
    if not store.remember_jti(f"dpop:{claims['jti']}", float(iat) + 2 * DPOP_PROOF_MAX_AGE_S):
        raise ValueError("The DPoP proof JWT has already been used.")
    return jwk_thumbprint(jwk), claims


def _token_admin_actor(org: Org) -> Actor:
    owner = org.credentials.okta_api_token_owner
    user = org.find_user(owner) if owner else None
    if user is not None:
        return Actor(user.id, user.login, f"{user.first_name} {user.last_name}".strip(), "User")
    return Actor(DEFAULT_TOKEN_ADMIN_ID, f"api-admin@{org.domain}", "holdfast API admin", "User")


def service_app_actor(client_id: str) -> Actor:
    # Okta shows an OAuth service app acting through the Okta APIs as a PublicClientApp actor.
    return Actor(client_id, client_id, f"Service app {client_id}", "PublicClientApp")


def _invalid_token(scheme: str, request: web.Request, description: str) -> OktaError:
    headers: dict[str, str] = {}
    if scheme in ("Bearer", "DPoP"):
        base = f"https://{request.host}"
        error = "invalid_dpop_proof" if "DPoP proof" in description else "invalid_token"
        headers["WWW-Authenticate"] = (
            f'{scheme} authorization_uri="{base}/oauth2/v1/authorize", realm="{base}", '
            f'error="{error}", error_description="{description}", resource="{request.path}"'
        )
    return OktaError(401, "E0000011", headers=headers)


def identify(request: web.Request, org: Org, store: TokenStore) -> Principal:
    """The principal behind the Authorization header; raises 401 E0000011 when there is none."""
    header = request.headers.get("Authorization", "").strip()
    if header.startswith("SSWS"):
        token = header[4:].strip()
        if token and secrets.compare_digest(token, org.credentials.okta_api_token):
            return Principal("api_token", _token_admin_actor(org), None, api_token_id=org.credentials.okta_api_token_id)
        raise _invalid_token("SSWS", request, "Invalid token provided")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme not in ("Bearer", "DPoP") or not token:
        raise _invalid_token("SSWS", request, "Invalid token provided")
    issued = store.tokens.get(token)
    if issued is None or issued.expires_at < time.time():
        raise _invalid_token(scheme, request, "The access token is invalid.")
    if issued.jkt is None and scheme == "DPoP":
        raise _invalid_token(scheme, request, "The access token isn't DPoP-bound.")
    if issued.jkt is not None:
        if scheme != "DPoP":
            raise _invalid_token("DPoP", request, "The DPoP proof JWT header is missing.")
        proof = request.headers.get("DPoP")
        if not proof:
            raise _invalid_token("DPoP", request, "The DPoP proof JWT header is missing.")
        try:
            jkt, _ = verify_dpop_proof(proof, request, store, access_token=token)
        except ValueError as exc:
            raise _invalid_token("DPoP", request, str(exc)) from exc
        if jkt != issued.jkt:
            raise _invalid_token("DPoP", request, "The DPoP proof JWT key doesn't match the access token.")
    return Principal("service_app", service_app_actor(issued.client_id), issued.scopes, client_id=issued.client_id)


def describe_caller(request: web.Request, org: Org, store: TokenStore) -> Actor | None:
    """The actor a request claims to be, without verifying it (for System Log entries about rejections)."""
    header = request.headers.get("Authorization", "").strip()
    if header.startswith("SSWS"):
        token = header[4:].strip()
        return _token_admin_actor(org) if secrets.compare_digest(token, org.credentials.okta_api_token) else None
    _, _, token = header.partition(" ")
    issued = store.tokens.get(token.strip())
    return service_app_actor(issued.client_id) if issued is not None else None


def require_scope(request: web.Request, principal: Principal, scope: str) -> None:
    """403 E0000006 unless the access token carries `scope` (or its `.manage` sibling for a `.read`)."""
    if principal.scopes is None:
        return
    granted = principal.scopes
    if scope in granted or (scope.endswith(".read") and scope[: -len("read")] + "manage" in granted):
        return
    base = f"https://{request.host}"
    scheme = "DPoP" if request.headers.get("Authorization", "").startswith("DPoP") else "Bearer"
    raise OktaError(
        403,
        "E0000006",
        headers={
            "WWW-Authenticate": (
                f'{scheme} authorization_uri="{base}/oauth2/v1/authorize", realm="{base}", scope="{scope}", '
                'error="insufficient_scope", '
                'error_description="The access token provided does not contain the required scopes.", '
                f'resource="{request.path}"'
            )
        },
    )
