"""The playbook's domain objects: what the audit finds and what containment plans. Pure data, no I/O.

Findings are produced by the audit (playbook/detect.py) and consumed by planning (playbook/plan.py);
their JSON form is the documented output of `holdfast audit --format json`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from config.policy import ActorKind, Reason, Tier


class Corroboration(StrEnum):
    """Does Google Workspace (an independent source) agree with Okta about password resets?"""

    CONFIRMED = "confirmed"  # Okta reset and a reset mail in Gmail
    OKTA_ONLY = "okta_only"  # Okta reset, no mail: the mail may have been suppressed or deleted
    GOOGLE_ONLY = "google_only"  # a reset mail with no Okta event: Okta's log may be incomplete
    NOT_APPLICABLE = "not_applicable"  # no password reset involved
    UNAVAILABLE = "unavailable"  # Google could not be read: the audit completed without it


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FactorFinding(_Frozen):
    """A factor currently enrolled on the account that should not be there."""

    factor_id: str
    factor_type: str
    credential_id: str | None = None
    # "unknown_hardware_key" (not in the approved registry), "enrolled_since_cutoff" (created at or after the
    # cutoff), "updated_since_cutoff" (older factor changed at or after the cutoff, e.g. a new phone number)
    problem: str
    created: str | None = None  # the factor's `created` / `lastUpdated` as Okta reports them
    last_updated: str | None = None


class AccessPicture(_Frozen):
    """How the account was used since the cutoff (sign-ins, MFA), for the responders' review."""

    ips: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    mfa_methods: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()
    new_user_agents: tuple[str, ...] = ()  # not seen for this account before the cutoff
    sign_ins: int = 0
    failed_sign_ins: int = 0


class Finding(_Frozen):
    """One account to act on, with why, who did it, how sure we are, and the evidence."""

    user_id: str
    login: str
    status: str | None = None  # the account's Okta status when audited
    risk: Tier
    reasons: tuple[Reason, ...]  # sorted
    actor_kinds: tuple[ActorKind, ...] = ()  # sorted
    actors: tuple[str, ...] = ()  # alternateIds of who acted, sorted
    corroboration: Corroboration = Corroboration.NOT_APPLICABLE
    factor_findings: tuple[FactorFinding, ...] = ()
    evidence: tuple[str, ...] = ()  # event uuids, sorted
    failed_attempts: int = 0  # watched events whose outcome was not SUCCESS
    failed_evidence: tuple[str, ...] = ()  # uuids of those failed attempts (a subset of evidence), sorted
    seed: bool = False
    access: AccessPicture = Field(default_factory=AccessPicture)


class AuditResult(_Frozen):
    """Everything one audit produced: the findings (sorted by login) and what could not be resolved."""

    cutoff: str
    until: str
    source: str  # "store" or "okta"
    findings: tuple[Finding, ...]
    unknown_seeds: tuple[str, ...] = ()
    corroboration_available: bool = True
    notes: tuple[str, ...] = ()


class Action(StrEnum):
    """Containment steps, in the order they run (see playbook/plan.py for why this order)."""

    SUSPEND = "suspend"
    RESET_PASSWORD_NOW = "reset_password_now"  # accounts that cannot be suspended (LOCKED_OUT, RECOVERY ...)
    REVOKE_SESSIONS = "revoke_sessions"
    RESET_FACTORS = "reset_factors"  # accounts that cannot be suspended; illegal while SUSPENDED
    UNENROLL_FACTOR = "unenroll_factor"  # one per suspicious factor: "unenroll_factor:<factor id>"
    RESET_FACTORS_AT_RELEASE = "reset_factors_at_release"  # illegal while SUSPENDED: done when released
    RESET_PASSWORD_AT_RELEASE = "reset_password_at_release"  # illegal while SUSPENDED: done when released

    @property
    def deferred(self) -> bool:
        return self in (Action.RESET_FACTORS_AT_RELEASE, Action.RESET_PASSWORD_AT_RELEASE)


class PlannedAction(_Frozen):
    action: Action
    factor_id: str | None = None
    oauth_tokens: bool = False  # REVOKE_SESSIONS: also revoke the account's OAuth tokens

    @property
    def key(self) -> str:
        """The ledger's action key: unique per account and incident."""
        return f"{self.action.value}:{self.factor_id}" if self.factor_id else self.action.value


class AccountPlan(_Frozen):
    user_id: str
    login: str
    risk: Tier
    status: str | None
    seed: bool = False
    actions: tuple[PlannedAction, ...]


class ManualCase(_Frozen):
    """An account holdfast will not touch; a human decides."""

    user_id: str
    login: str
    risk: Tier
    why: str  # "protected account", "protected group Break Glass Admins", "outside the org's domains"


class Plan(_Frozen):
    """What containment will do. Its hash is recorded with the incident when it is executed."""

    incident_id: str
    accounts: tuple[AccountPlan, ...]  # seeds first, then by tier, then login
    manual: tuple[ManualCase, ...] = ()
    skipped: tuple[ManualCase, ...] = ()  # nothing to do (e.g. DEPROVISIONED: cannot sign in)
    cap: int = 0  # the blast-radius cap in force for this plan
    over_cap: bool = False

    def counts_by_tier(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for account in self.accounts:
            counts[account.risk.value] = counts.get(account.risk.value, 0) + 1
        return counts
