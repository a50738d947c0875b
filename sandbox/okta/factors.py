"""Factors API of the fake Okta: list a user's enrolled factors, unenroll one.

https://developer.okta.com/docs/reference/api/factors/ and
https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserFactor/:
- GET /api/v1/users/{userId}/factors: typed factor objects (`factorType` is the discriminator the okta SDK
  uses to build UserFactorWebAuthn, UserFactorTokenSoftwareTOTP, UserFactorPush, UserFactorSMS, ...).
- DELETE /api/v1/users/{userId}/factors/{factorId}: 204; "You can't unenroll a factor from a deactivated
  user." Logged as user.mfa.factor.deactivate.
"""

from __future__ import annotations

import json
import re

from aiohttp import web

from sandbox.okta import audit
from sandbox.okta.errors import OktaError, not_found
from sandbox.okta.users import UsersApi, base_url
from sandbox.org import Factor, UserStatus, iso

JSONDict = dict[str, object]

# Vendor shown in `vendorName` and the factor name the System Log uses in outcome reasons.
_VENDOR = {"FIDO": "FIDO", "OKTA": "OKTA", "GOOGLE": "GOOGLE", "RSA": "RSA", "SYMANTEC": "SYMANTEC", "YUBICO": "YUBICO"}
_LOG_NAME = {
    "webauthn": "FIDO_WEBAUTHN",
    "u2f": "FIDO_U2F",
    "push": "OKTA_VERIFY_PUSH",
    "sms": "SMS_FACTOR",
    "call": "CALL_FACTOR",
    "email": "EMAIL_FACTOR",
    "question": "QUESTION",
    "token:software:totp": "OTP",
    "token:hardware": "HARDWARE_OTP",
    "token": "TOKEN",
}


def _profile(factor: Factor) -> JSONDict:
    profile: JSONDict = dict(factor.profile)
    if factor.factor_type in ("sms", "call") and isinstance(profile.get("phoneNumber"), str):
        # The SDK validates E.164 (^\+[1-9]\d{1,14}$); Okta stores numbers in that form.
        digits = re.sub(r"[^\d]", "", str(profile["phoneNumber"]))
        profile["phoneNumber"] = "+" + digits
    return profile


def factor_json(factor: Factor, base: str) -> JSONDict:
    """A factor object as the Factors API returns it."""
    href = f"{base}/api/v1/users/{factor.user_id}/factors/{factor.id}"
    body: JSONDict = {
        "id": factor.id,
        "factorType": factor.factor_type,
        "provider": factor.provider,
        "vendorName": _VENDOR.get(factor.provider, factor.provider),
        "status": factor.status,
        "created": iso(factor.created),
        "lastUpdated": iso(factor.last_updated),
        "profile": _profile(factor),
        "_links": {
            "self": {"href": href, "hints": {"allow": ["GET", "DELETE"]}},
            "user": {"href": f"{base}/api/v1/users/{factor.user_id}", "hints": {"allow": ["GET"]}},
        },
    }
    return body


class FactorsApi:
    def __init__(self, users: UsersApi) -> None:
        self.users = users
        self.org = users.org

    async def list_factors(self, request: web.Request) -> web.Response:
        """GET /api/v1/users/{userId}/factors."""
        base = base_url(request)
        with self.org.lock:
            user = self.users.find(request.match_info["id"])
            body = [factor_json(f, base) for f in self.org.factors.get(user.id, [])]
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def delete_factor(self, request: web.Request) -> web.Response:
        """DELETE /api/v1/users/{userId}/factors/{factorId} (unenroll)."""
        factor_id = request.match_info["factorId"]
        with self.org.lock:
            user = self.users.find(request.match_info["id"])
            if user.status is UserStatus.DEPROVISIONED:
                raise OktaError(403, "E0000038")
            enrolled = self.org.factors.get(user.id, [])
            factor = next((f for f in enrolled if f.id == factor_id), None)
            if factor is None:
                raise not_found(factor_id, "UserFactor")
            enrolled.remove(factor)
            user.last_updated = self.org.now()
            target = audit.user_target(user)
        name = _LOG_NAME.get(factor.factor_type, factor.factor_type.upper())
        audit.record(
            request,
            self.org,
            "user.mfa.factor.deactivate",
            display_message="Reset factor for user",
            targets=(target,),
            reason=f"User reset {name} factor",
            debug={"factor": name, "factorId": factor.id, "factorType": factor.factor_type},
        )
        return web.Response(status=204)
