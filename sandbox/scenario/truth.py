"""Ground truth: which accounts an audit of the generated org must find, which it must not, whom never to touch.

It is written from the generator's own bookkeeping (the `Ledger`, filled as changes are injected), never by
re-scanning the events, so it can catch an audit that reads the events wrongly. The file is byte-identical for
the same spec: keys in a fixed order, lists sorted.

Vocabulary (shared with config/policy.py and the audit):
- reasons: password_reset, password_update, mfa_factor_update, mfa_factor_deactivate, mfa_factor_reset_all,
  mfa_bypass_attempt, impersonation, factor_enrolled, unknown_hardware_key, google_only_reset, seed.
- actor_kinds: self, admin, okta_support, impersonation, system.
- tiers: critical (okta_support or impersonation involvement, impersonation, unknown_hardware_key,
  google_only_reset), high (mfa_factor_deactivate, mfa_factor_reset_all, mfa_bypass_attempt), medium (other
  password or factor changes), low (seed and nothing else). The highest applicable tier wins.
- corroboration (successful user.account.reset_password events since the cutoff against Okta's reset mail in
  Gmail): confirmed (every reset has its mail), okta_only (a reset has no mail), google_only (a reset mail with
  no Okta event), not_applicable (no password reset involved).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sandbox.org import iso


class Reason(StrEnum):
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


class Corroboration(StrEnum):
    CONFIRMED = "confirmed"
    OKTA_ONLY = "okta_only"
    GOOGLE_ONLY = "google_only"
    NOT_APPLICABLE = "not_applicable"


# Which event type gives which reason (the same table as the policy's `watched` section).
EVENT_REASONS: dict[str, Reason] = {
    "user.account.reset_password": Reason.PASSWORD_RESET,
    "user.account.update_password": Reason.PASSWORD_UPDATE,
    "user.mfa.factor.update": Reason.MFA_FACTOR_UPDATE,
    "user.mfa.factor.deactivate": Reason.MFA_FACTOR_DEACTIVATE,
    "system.mfa.factor.deactivate": Reason.MFA_FACTOR_DEACTIVATE,
    "user.mfa.factor.reset_all": Reason.MFA_FACTOR_RESET_ALL,
    "user.mfa.attempt_bypass": Reason.MFA_BYPASS_ATTEMPT,
    "user.session.impersonation.initiate": Reason.IMPERSONATION,
    "user.session.impersonation.grant": Reason.IMPERSONATION,
    "user.session.impersonation.extend": Reason.IMPERSONATION,
    "user.mfa.factor.activate": Reason.FACTOR_ENROLLED,
}

_CRITICAL_REASONS = {Reason.IMPERSONATION, Reason.UNKNOWN_HARDWARE_KEY, Reason.GOOGLE_ONLY_RESET}
_CRITICAL_ACTORS = {ActorKind.OKTA_SUPPORT, ActorKind.IMPERSONATION}
_HIGH_REASONS = {Reason.MFA_FACTOR_DEACTIVATE, Reason.MFA_FACTOR_RESET_ALL, Reason.MFA_BYPASS_ATTEMPT}
_MEDIUM_REASONS = {Reason.PASSWORD_RESET, Reason.PASSWORD_UPDATE, Reason.MFA_FACTOR_UPDATE, Reason.FACTOR_ENROLLED}


def tier_for(reasons: set[Reason], actor_kinds: set[ActorKind]) -> Tier:
    if reasons & _CRITICAL_REASONS or actor_kinds & _CRITICAL_ACTORS:
        return Tier.CRITICAL
    if reasons & _HIGH_REASONS:
        return Tier.HIGH
    if reasons & _MEDIUM_REASONS:
        return Tier.MEDIUM
    return Tier.LOW


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountTruth(_Frozen):
    """An account the audit must find."""

    user_id: str
    login: str
    reasons: list[Reason]
    tier: Tier
    actor_kinds: list[ActorKind]
    corroboration: Corroboration
    first_change: str | None  # earliest injected change since the cutoff (None: seed only / no change)
    evidence_in_log: bool  # False: nothing in the System Log names it (silent key swap, Google-only reset)


class ProtectedTruth(_Frozen):
    """Never to be suspended (may still be found: a responder's own password change is listed, not acted on)."""

    user_id: str
    login: str
    why: str  # "break_glass", "responder", "holdfast"


class DecoyTruth(_Frozen):
    """Looks relevant but must NOT be found: credential changes that all happened before the cutoff."""

    user_id: str
    login: str
    reasons: list[Reason]
    actor_kinds: list[ActorKind]
    last_change: str
    why: str  # "before_cutoff"


class GroundTruth(_Frozen):
    scenario: str
    seed: int
    domain: str
    start: str
    end: str
    cutoff: str
    people: int
    seed_accounts: list[str]
    accounts: list[AccountTruth]
    protected: list[ProtectedTruth]
    decoys: list[DecoyTruth]
    verifiers: list[str]  # ACTIVE members of "IT Identity Verifiers"
    slack_missing: list[str]  # logins of accounts to find that have no Slack account
    okta_events: int
    google_activities: int

    def account(self, login: str) -> AccountTruth | None:
        return next((a for a in self.accounts if a.login == login), None)

    def by_tier(self, tier: Tier) -> list[AccountTruth]:
        return [a for a in self.accounts if a.tier is tier]


def write_ground_truth(truth: GroundTruth, path: Path) -> None:
    """JSON with a fixed key order and sorted lists: the same spec gives the same bytes."""
    path.write_text(json.dumps(truth.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")


def read_ground_truth(path: Path) -> GroundTruth:
    return GroundTruth.model_validate_json(path.read_text())


@dataclass
class _Entry:
    login: str
    since: set[Reason] = field(default_factory=set)
    since_actors: set[ActorKind] = field(default_factory=set)
    first_since: datetime | None = None
    before: set[Reason] = field(default_factory=set)
    before_actors: set[ActorKind] = field(default_factory=set)
    last_before: datetime | None = None
    okta_resets: int = 0  # successful resets since the cutoff
    unmailed_resets: int = 0
    google_only: bool = False
    in_log: bool = False


class Ledger:
    """The generator's bookkeeping of every credential change it injects, split at the cutoff."""

    def __init__(self, cutoff: datetime) -> None:
        self.cutoff = cutoff
        self._entries: dict[str, _Entry] = {}
        self.seeds: dict[str, str] = {}  # user id -> login

    def _entry(self, user_id: str, login: str) -> _Entry:
        entry = self._entries.get(user_id)
        if entry is None:
            entry = self._entries[user_id] = _Entry(login)
        return entry

    def record(
        self,
        user_id: str,
        login: str,
        when: datetime,
        reason: Reason,
        actor: ActorKind | None,
        *,
        in_log: bool = True,
        reset_mailed: bool | None = None,
    ) -> None:
        """One change. `reset_mailed` is set for successful password resets: was the mail delivered?"""
        entry = self._entry(user_id, login)
        if when >= self.cutoff:
            entry.since.add(reason)
            if actor is not None:
                entry.since_actors.add(actor)
            entry.first_since = when if entry.first_since is None else min(entry.first_since, when)
            entry.in_log = entry.in_log or in_log
            if reason is Reason.GOOGLE_ONLY_RESET:
                entry.google_only = True
            if reset_mailed is not None:
                entry.okta_resets += 1
                entry.unmailed_resets += 0 if reset_mailed else 1
        else:
            entry.before.add(reason)
            if actor is not None:
                entry.before_actors.add(actor)
            entry.last_before = when if entry.last_before is None else max(entry.last_before, when)

    def seed(self, user_id: str, login: str) -> None:
        self.seeds[user_id] = login
        self._entry(user_id, login)

    def changed_since(self, user_id: str) -> bool:
        entry = self._entries.get(user_id)
        return entry is not None and bool(entry.since)

    def accounts(self) -> list[AccountTruth]:
        found = []
        for user_id, entry in self._entries.items():
            reasons = set(entry.since)
            if user_id in self.seeds:
                reasons.add(Reason.SEED)
            if not reasons:
                continue
            if entry.google_only:
                corroboration = Corroboration.GOOGLE_ONLY
            elif entry.okta_resets:
                corroboration = Corroboration.OKTA_ONLY if entry.unmailed_resets else Corroboration.CONFIRMED
            else:
                corroboration = Corroboration.NOT_APPLICABLE
            found.append(
                AccountTruth(
                    user_id=user_id,
                    login=entry.login,
                    reasons=sorted(reasons),
                    tier=tier_for(reasons, entry.since_actors),
                    actor_kinds=sorted(entry.since_actors),
                    corroboration=corroboration,
                    first_change=iso(entry.first_since) if entry.first_since else None,
                    evidence_in_log=entry.in_log,
                )
            )
        return sorted(found, key=lambda a: a.login)

    def decoys(self) -> list[DecoyTruth]:
        out = []
        for user_id, entry in self._entries.items():
            if entry.since or user_id in self.seeds or entry.last_before is None:
                continue
            out.append(
                DecoyTruth(
                    user_id=user_id,
                    login=entry.login,
                    reasons=sorted(entry.before),
                    actor_kinds=sorted(entry.before_actors),
                    last_change=iso(entry.last_before),
                    why="before_cutoff",
                )
            )
        return sorted(out, key=lambda d: d.login)
