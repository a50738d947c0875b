"""The response policy: what counts as a credential change, how risky it is, what to do, and whom never to touch.

Loaded from TOML (config/policy.toml is the commented default) into strict pydantic models: an unknown key or
a wrong type is refused at start-up with one line naming the key.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.errors import ConfigError
from config.settings import describe_validation_error

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.toml")


class Reason(StrEnum):
    """Why an account is in the findings. Event-derived reasons come from `watched`; the rest from checks."""

    PASSWORD_RESET = "password_reset"
    PASSWORD_UPDATE = "password_update"
    MFA_FACTOR_UPDATE = "mfa_factor_update"
    MFA_FACTOR_DEACTIVATE = "mfa_factor_deactivate"
    MFA_FACTOR_RESET_ALL = "mfa_factor_reset_all"
    MFA_BYPASS_ATTEMPT = "mfa_bypass_attempt"
    IMPERSONATION = "impersonation"
    FACTOR_ENROLLED = "factor_enrolled"
    UNKNOWN_HARDWARE_KEY = "unknown_hardware_key"
    GOOGLE_ONLY_RESET = "google_only_reset"
    SEED = "seed"


class ActorKind(StrEnum):
    """Who performed a credential change."""

    SELF = "self"
    ADMIN = "admin"
    OKTA_SUPPORT = "okta_support"
    IMPERSONATION = "impersonation"
    SYSTEM = "system"


class Tier(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


TIER_ORDER: tuple[Tier, ...] = (Tier.CRITICAL, Tier.HIGH, Tier.MEDIUM, Tier.LOW)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WatchedEvent(_Strict):
    reason: Reason
    meaning: str = Field(min_length=1)


class TierRule(_Strict):
    """An account is in this tier if any of its reasons or actor kinds is listed (highest tier wins)."""

    reasons: frozenset[Reason] = frozenset()
    actor_kinds: frozenset[ActorKind] = frozenset()

    def matches(self, reasons: set[Reason], actor_kinds: set[ActorKind]) -> bool:
        return bool(self.reasons & reasons) or bool(self.actor_kinds & actor_kinds)


class Risk(_Strict):
    critical: TierRule
    high: TierRule
    medium: TierRule
    low: TierRule

    def tier_for(self, reasons: set[Reason], actor_kinds: set[ActorKind]) -> Tier:
        for tier in TIER_ORDER:
            if getattr(self, tier.value).matches(reasons, actor_kinds):
                return tier
        return Tier.LOW


class Protected(_Strict):
    """Never suspended: listed for manual handling instead (break-glass admins, responders, holdfast itself)."""

    accounts: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @field_validator("accounts")
    @classmethod
    def _lower(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(v.lower() for v in value)


class Verification(_Strict):
    group: str = Field(min_length=1)
    two_person: bool = False
    methods: frozenset[str] = frozenset({"video-call", "in-person"})


class Caps(_Strict):
    """Blast-radius caps: refuse a plan larger than either, unless the operator confirms the exact count."""

    max_accounts: int = Field(ge=1)
    max_fraction_of_active: float = Field(gt=0, le=1)


FactorAction = Literal["none", "unenroll_suspicious", "reset_all"]


class Containment(_Strict):
    suspend: bool = True
    revoke_sessions: bool = True
    revoke_oauth_tokens: bool = False
    reset_password: bool = True
    factors: FactorAction = "unenroll_suspicious"


class ContainmentByTier(_Strict):
    critical: Containment
    high: Containment
    medium: Containment
    low: Containment

    def for_tier(self, tier: Tier) -> Containment:
        result: Containment = getattr(self, tier.value)
        return result


class HardwareKeys(_Strict):
    """Approved FIDO credentials; a webauthn factor whose credentialId is not listed is a finding."""

    registry: Path
    # Relative registry paths are resolved against the policy file's folder.


class Alerts(_Strict):
    execute: bool = True  # an alert-triggered run contains without waiting for a human
    contain_seeds_first: bool = True


class Retention(_Strict):
    days: int = Field(ge=395)  # at least 13 months: investigations outlive Okta's 90 days


class Templates(_Strict):
    person_notice: str = Field(min_length=1)
    person_released: str = Field(min_length=1)
    it_summary: str = Field(min_length=1)
    booking_url: str = Field(min_length=1)


class Policy(_Strict):
    watched: dict[str, WatchedEvent]
    risk: Risk
    protected: Protected
    verification: Verification
    caps: Caps
    containment: ContainmentByTier
    hardware_keys: HardwareKeys
    alerts: Alerts = Alerts()
    retention: Retention
    templates: Templates

    @model_validator(mode="after")
    def _watched_not_empty(self) -> Policy:
        if not self.watched:
            raise ValueError("watched must list at least one event type")
        return self

    def reason_for(self, event_type: str) -> Reason | None:
        watched = self.watched.get(event_type)
        return watched.reason if watched else None


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file; relative paths inside it are resolved against its folder."""
    path = path or DEFAULT_POLICY_FILE
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"policy file {path} does not exist: fix HOLDFAST_POLICY_FILE") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"policy {path}: not valid TOML ({err})") from None
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, source=f"policy {path.name}")) from None
    registry = policy.hardware_keys.registry
    if not registry.is_absolute():
        registry = (path.parent / registry).resolve()
        policy = policy.model_copy(update={"hardware_keys": HardwareKeys(registry=registry)})
    return policy
