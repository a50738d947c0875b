"""Current MFA factors against the approved hardware-key registry. Pure: factor JSON in, findings out.

Only approved FIDO keys should be on an account (Cloudflare, March 2022): an attacker who reset a password
would also have to replace the user's key, and that replacement is visible in the factor list even when
nothing was logged. The registry is a JSON file the policy points at (`[hardware_keys] registry`):

    {"keys": [{"login": "ana.silva@example.com", "credential_id": "<base64url>", "enrolled": "<time>"}, ...]}

A webauthn (or u2f) factor whose (login, profile.credentialId) pair is not listed is `unknown_hardware_key`,
so a key approved for one person and found on another account is unknown there too. Factor objects are as
GET /api/v1/users/{userId}/factors returns them (https://developer.okta.com/docs/reference/api/factors/).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from config.errors import ConfigError
from config.policy import Reason
from playbook.models import FactorFinding

HARDWARE_KEY_TYPES = frozenset({"webauthn", "u2f"})
ENROLLED_SINCE_CUTOFF = "enrolled_since_cutoff"
UPDATED_SINCE_CUTOFF = "updated_since_cutoff"


class ApprovedKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    login: str
    credential_id: str
    enrolled: str | None = None


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: tuple[ApprovedKey, ...]

    def approved(self) -> frozenset[tuple[str, str]]:
        return frozenset((k.login.lower(), k.credential_id) for k in self.keys)

    def owners(self) -> frozenset[str]:
        """Logins (lower case) that should hold at least one hardware key."""
        return frozenset(k.login.lower() for k in self.keys)


def parse_registry(text: str, *, name: str = "registry") -> Registry:
    """The registry file's text, validated; a malformed file is a ConfigError naming it."""
    try:
        return Registry.model_validate_json(text)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"hardware-key registry {name}: {where}: {first['msg']}") from None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def has_hardware_key(factors: Iterable[Mapping[str, Any]]) -> bool:
    return any(f.get("factorType") in HARDWARE_KEY_TYPES for f in factors)


def check_factors(
    login: str, factors: Iterable[Mapping[str, Any]], approved: frozenset[tuple[str, str]], *, cutoff: str
) -> tuple[FactorFinding, ...]:
    """Factor findings for one account: unknown hardware keys, and factors enrolled or changed since the
    cutoff (containment's "unenroll_suspicious" candidates). Sorted by factor id, then problem."""
    found: list[FactorFinding] = []
    for factor in factors:
        factor_id = str(factor.get("id") or "")
        factor_type = str(factor.get("factorType") or "")
        profile = factor.get("profile")
        credential = profile.get("credentialId") if isinstance(profile, Mapping) else None
        credential_id = credential if isinstance(credential, str) else None
        created = _text(factor.get("created"))
        updated = _text(factor.get("lastUpdated"))
        key = factor_type in HARDWARE_KEY_TYPES
        base = FactorFinding(
            factor_id=factor_id,
            factor_type=factor_type,
            credential_id=credential_id if key else None,
            problem="",
            created=created,
            last_updated=updated,
        )
        problems = []
        if key and (login.lower(), credential_id or "") not in approved:
            problems.append(Reason.UNKNOWN_HARDWARE_KEY.value)
        # Okta's timestamps are fixed-width UTC ('...T..:..:...mmmZ'): they compare as text.
        if created is not None and created >= cutoff:
            problems.append(ENROLLED_SINCE_CUTOFF)
        elif updated is not None and updated >= cutoff:
            problems.append(UPDATED_SINCE_CUTOFF)
        found.extend(base.model_copy(update={"problem": p}) for p in problems)
    return tuple(sorted(found, key=lambda f: (f.factor_id, f.problem)))
