"""Detection: stored evidence -> per-account credential changes, who made them, and whether Google agrees.

Pure functions over `Evidence` (the store's indexed columns plus the raw event); no I/O, no SDK, no Prefect.
The audit flow (flows/audit.py) reads the rows, these functions decide, playbook/report.py renders.

Who acted (`actor_kind`), checked in this order for each (event, affected account):
1. okta_support: the fingerprint public detections use for Okta's own support staff acting in a customer org:
   actor alternateId "system@okta.com", transaction id "unknown", no user agent, no geography (Panther's
   "Okta Support Reset Credential" rule, panther-labs/panther-analysis rules/okta_rules/okta_support_reset.py;
   Okta's January 2022 guidance and Cloudflare's write-up of 22 March 2022).
2. impersonation: the event ran inside an impersonation session, i.e. it carries the externalSessionId (or a
   transaction id other than "unknown") of a user.session.impersonation.initiate / .extend event. Okta names
   those five events the audit trail of support access ("Read Only Impersonation Access System Logs Audit
   Events", support.okta.com); actions taken inside the session are logged with the impersonated user as the
   actor, so the session id is what ties them to the impersonation. The impersonation.* events themselves
   are classified by rule 1 or 3-5.
3. system: no actor, a SystemPrincipal, or system@okta.com without the support fingerprint (Okta automation).
4. self: the actor is the affected account.
5. admin: anyone else (another User, or an API client acting for an administrator).

The affected account of an event is its User target (for impersonation: the impersonated user); an event with
no User target affects its actor when that is a User.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from config.policy import ActorKind, Policy, Reason
from playbook.models import AccessPicture, Corroboration, FactorFinding, Finding

OKTA_SUPPORT_ACTOR = "system@okta.com"
SUCCESS_OUTCOMES = frozenset({"SUCCESS", "ALLOW"})
RESET_EVENT = "user.account.reset_password"
PASSWORD_EVENTS = frozenset({RESET_EVENT, "user.account.update_password"})
IMPERSONATION_EVENTS = frozenset(
    {
        "user.session.impersonation.grant",
        "user.session.impersonation.initiate",
        "user.session.impersonation.extend",
        "user.session.impersonation.end",
        "user.session.impersonation.revoke",
    }
)
# Events that open or prolong the session whose id marks the actions taken inside it.
IMPERSONATION_SESSION_EVENTS = frozenset({"user.session.impersonation.initiate", "user.session.impersonation.extend"})
GMAIL_DELIVERY = "delivery"  # Gmail's only event name in the Reports API
GOOGLE_PASSWORD_EDIT = "password_edit"  # user_accounts: the password reached Google
# A reset mail arrives seconds after Okta's event; allow for clock skew and slow delivery.
MAIL_WINDOW = timedelta(hours=1)
MAIL_EARLY = timedelta(minutes=2)
# Okta's default templates: "Okta password reset requested", "Your password has been reset".
RESET_SUBJECT = re.compile(r"password.{0,40}reset|reset.{0,40}password", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Evidence:
    """One stored record as the audit reads it: the store's indexed columns plus the raw text."""

    source: str  # "okta", "google:gmail", "google:user_accounts", ...
    uuid: str
    published: str  # 'YYYY-MM-DDTHH:MM:SS.mmmZ'
    event_type: str
    actor_id: str | None = None
    actor_alternate_id: str | None = None
    actor_type: str | None = None
    target_ids: tuple[str, ...] = ()
    target_logins: tuple[str, ...] = ()  # lower case, aligned with target_ids
    outcome: str | None = None
    client_ip: str | None = None
    country: str | None = None
    user_agent: str | None = None
    transaction_id: str | None = None
    raw: str = ""

    @classmethod
    def from_row(cls, row: Any, source: str | None = None) -> Evidence:
        """From a store row (store.queries.COLUMNS) or a store.records.EvidenceRecord (which has no source)."""
        return cls(
            source=source or row.source,
            uuid=row.uuid,
            published=row.published,
            event_type=row.event_type,
            actor_id=row.actor_id,
            actor_alternate_id=row.actor_alternate_id,
            actor_type=row.actor_type,
            target_ids=tuple(row.target_ids.split()),
            target_logins=tuple(row.target_logins.split()),
            outcome=row.outcome,
            client_ip=row.client_ip,
            country=row.country,
            user_agent=row.user_agent,
            transaction_id=row.transaction_id,
            raw=row.raw,
        )

    @property
    def succeeded(self) -> bool:
        return self.outcome in SUCCESS_OUTCOMES


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _raw(event: Evidence) -> dict[str, Any]:
    try:
        body = json.loads(event.raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _get(body: Mapping[str, Any], *path: str) -> Any:
    value: Any = body
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def external_session_id(event: Evidence) -> str | None:
    """authenticationContext.externalSessionId, when it names a session."""
    value = _get(_raw(event), "authenticationContext", "externalSessionId")
    return value if isinstance(value, str) and value and value != "unknown" else None


# ---------------------------------------------------------------------------------------------- who acted


def is_okta_support(event: Evidence) -> bool:
    """The public fingerprint of Okta support acting in the org (see the module docstring, rule 1)."""
    return (
        (event.actor_alternate_id or "").lower() == OKTA_SUPPORT_ACTOR
        and event.transaction_id == "unknown"
        and not event.user_agent
        and not event.country
    )


@dataclass(frozen=True)
class ImpersonationMarkers:
    """Session and transaction ids of impersonation sessions: what ties later actions to them."""

    sessions: frozenset[str] = frozenset()
    transactions: frozenset[str] = frozenset()


def impersonation_markers(events: Iterable[Evidence]) -> ImpersonationMarkers:
    sessions: set[str] = set()
    transactions: set[str] = set()
    for event in events:
        if event.event_type not in IMPERSONATION_SESSION_EVENTS:
            continue
        session = external_session_id(event)
        if session:
            sessions.add(session)
        if event.transaction_id and event.transaction_id != "unknown":
            transactions.add(event.transaction_id)
    return ImpersonationMarkers(frozenset(sessions), frozenset(transactions))


def in_impersonation(event: Evidence, markers: ImpersonationMarkers) -> bool:
    if event.event_type in IMPERSONATION_EVENTS:
        return False
    if event.transaction_id and event.transaction_id in markers.transactions:
        return True
    return bool(markers.sessions) and external_session_id(event) in markers.sessions


def actor_kind(event: Evidence, target_id: str, markers: ImpersonationMarkers) -> ActorKind:
    """Who performed `event` on the account `target_id` (rules in the module docstring)."""
    if is_okta_support(event):
        return ActorKind.OKTA_SUPPORT
    if in_impersonation(event, markers):
        return ActorKind.IMPERSONATION
    if (
        not event.actor_id
        or event.actor_type == "SystemPrincipal"
        or (event.actor_alternate_id or "").lower() == OKTA_SUPPORT_ACTOR
    ):
        return ActorKind.SYSTEM
    if event.actor_id == target_id:
        return ActorKind.SELF
    return ActorKind.ADMIN


def affected_accounts(event: Evidence) -> list[tuple[str, str]]:
    """(user id, lower-case login) of each account the event changed."""
    if event.target_ids:
        if len(event.target_ids) == len(event.target_logins):
            return list(zip(event.target_ids, event.target_logins, strict=True))
        # Columns out of step (a malformed target): pair them from the raw event instead.
        pairs = []
        for target in _get(_raw(event), "target") or []:
            if isinstance(target, dict) and target.get("type") == "User":
                ident, login = target.get("id"), target.get("alternateId")
                if isinstance(ident, str) and isinstance(login, str):
                    pairs.append((ident, login.lower()))
        return pairs
    if event.actor_id and event.actor_type == "User" and not is_okta_support(event):
        return [(event.actor_id, (event.actor_alternate_id or "").lower())]
    return []


# ---------------------------------------------------------------------------------------------- changes


@dataclass
class AccountChanges:
    """What the watched events since the cutoff say about one account."""

    user_id: str
    login: str
    reasons: set[Reason] = field(default_factory=set)
    actor_kinds: set[ActorKind] = field(default_factory=set)
    actors: set[str] = field(default_factory=set)
    evidence: set[str] = field(default_factory=set)
    failed_evidence: set[str] = field(default_factory=set)
    resets: list[Evidence] = field(default_factory=list)  # successful password resets since the cutoff


def credential_changes(
    events: Iterable[Evidence], policy: Policy, *, cutoff: str, markers: ImpersonationMarkers
) -> dict[str, AccountChanges]:
    """Per user id: reasons, actor kinds, actors and evidence of the watched events published at or after
    `cutoff`. Failed attempts (outcome other than SUCCESS/ALLOW) count too, and are kept apart."""
    found: dict[str, AccountChanges] = {}
    for event in events:
        if event.source != "okta" or event.published < cutoff:
            continue
        reason = policy.reason_for(event.event_type)
        if reason is None:
            continue
        for user_id, login in affected_accounts(event):
            account = found.get(user_id)
            if account is None:
                account = found[user_id] = AccountChanges(user_id, login)
            account.reasons.add(reason)
            account.actor_kinds.add(actor_kind(event, user_id, markers))
            account.actors.add((event.actor_alternate_id or event.actor_id or "unknown").lower())
            account.evidence.add(event.uuid)
            if not event.succeeded:
                account.failed_evidence.add(event.uuid)
            elif event.event_type == RESET_EVENT:
                account.resets.append(event)
    return found


# ---------------------------------------------------------------------------------------------- Google


def gmail_subject(event: Evidence) -> str | None:
    """message_info.subject of a Gmail delivery activity (the Reports API does not expose the sender)."""
    for item in _raw(event).get("events") or []:
        for param in (item.get("parameters") or []) if isinstance(item, dict) else []:
            if not isinstance(param, dict) or param.get("name") != "message_info":
                continue
            for sub in _get(param, "messageValue", "parameter") or []:
                if isinstance(sub, dict) and sub.get("name") == "subject" and isinstance(sub.get("value"), str):
                    return str(sub["value"])
    return None


def is_reset_mail(event: Evidence) -> bool:
    if event.source != "google:gmail" or event.event_type != GMAIL_DELIVERY:
        return False
    subject = gmail_subject(event)
    return subject is not None and RESET_SUBJECT.search(subject) is not None


@dataclass(frozen=True)
class GoogleEvidence:
    """What Google Workspace says, and whether it could be read at all."""

    available: bool
    reset_mails: Sequence[Evidence] = ()  # Gmail deliveries of password-reset mail (is_reset_mail)
    password_edits: Sequence[Evidence] = ()  # user_accounts password_edit
    # Google was last read completely at this time: a reset after it cannot be checked yet.
    covered_until: str | None = None


@dataclass(frozen=True)
class AccountCorroboration:
    corroboration: Corroboration
    google_evidence: tuple[str, ...] = ()  # uuids of the Google records involved
    google_only: bool = False  # a reset seen only by Google: reason google_only_reset


def _login(event: Evidence) -> str:
    return (event.actor_alternate_id or "").lower()


def _explained(edit_at: datetime, password_times: Iterable[datetime]) -> bool:
    """A Google password_edit follows an Okta password event or reset mail by seconds to minutes."""
    return any(edit_at - MAIL_WINDOW <= t <= edit_at + MAIL_EARLY for t in password_times)


def corroborate(
    changes: Mapping[str, AccountChanges],
    okta_password_events: Iterable[Evidence],
    google: GoogleEvidence,
    *,
    cutoff: str,
) -> dict[str, AccountCorroboration]:
    """Per lower-case login: does Google agree with Okta about password resets since the cutoff?

    Each successful Okta reset needs its reset mail (recipient = the account, delivered within MAIL_WINDOW):
    confirmed when every reset has one, okta_only when one has none. A reset mail, or a password_edit in
    Google, with no Okta password event behind it is google_only (Okta's log may be incomplete). Okta
    events from before the cutoff (down to cutoff - MAIL_WINDOW) are read only to explain early Google
    records. Google unreadable: unavailable, for accounts with resets only.
    """
    resets_by_login: dict[str, list[Evidence]] = {}
    password_by_login: dict[str, list[datetime]] = {}
    for event in okta_password_events:
        if event.event_type not in PASSWORD_EVENTS or not event.succeeded:
            continue
        for _, login in affected_accounts(event):
            password_by_login.setdefault(login, []).append(parse_time(event.published))
            if event.event_type == RESET_EVENT:
                resets_by_login.setdefault(login, []).append(event)
    # Resets since the cutoff that the change scan found, even if the caller passed no password events.
    for account in changes.values():
        known = {e.uuid for e in resets_by_login.get(account.login, [])}
        for event in account.resets:
            if event.uuid not in known:
                resets_by_login.setdefault(account.login, []).append(event)
                password_by_login.setdefault(account.login, []).append(parse_time(event.published))

    result: dict[str, AccountCorroboration] = {}
    if not google.available:
        for login, resets in resets_by_login.items():
            if any(r.published >= cutoff for r in resets):
                result[login] = AccountCorroboration(Corroboration.UNAVAILABLE)
        return result

    mails_by_login: dict[str, list[Evidence]] = {}
    for mail in google.reset_mails:
        mails_by_login.setdefault(_login(mail), []).append(mail)
    edits_by_login: dict[str, list[Evidence]] = {}
    for edit in google.password_edits:
        if edit.published >= cutoff:
            edits_by_login.setdefault(_login(edit), []).append(edit)

    for login in sorted(set(resets_by_login) | set(mails_by_login) | set(edits_by_login)):
        resets = sorted(resets_by_login.get(login, []), key=lambda e: (e.published, e.uuid))
        mails = sorted(mails_by_login.get(login, []), key=lambda e: (e.published, e.uuid))
        matched: dict[str, Evidence] = {}  # reset uuid -> its mail
        used: set[str] = set()
        for reset in resets:
            at = parse_time(reset.published)
            for mail in mails:
                if mail.uuid in used:
                    continue
                if at - MAIL_EARLY <= parse_time(mail.published) <= at + MAIL_WINDOW:
                    matched[reset.uuid] = mail
                    used.add(mail.uuid)
                    break
        since = [r for r in resets if r.published >= cutoff]
        unmatched = [r for r in since if r.uuid not in matched]
        unchecked = [r for r in unmatched if google.covered_until is not None and r.published >= google.covered_until]
        lonely_mails = [m for m in mails if m.uuid not in used and m.published >= cutoff]
        explained = password_by_login.get(login, []) + [parse_time(m.published) for m in mails]
        lonely_edits = [e for e in edits_by_login.get(login, []) if not _explained(parse_time(e.published), explained)]
        involved = sorted(
            {matched[r.uuid].uuid for r in since if r.uuid in matched}
            | {m.uuid for m in lonely_mails}
            | {e.uuid for e in lonely_edits}
        )
        if lonely_mails or lonely_edits:
            result[login] = AccountCorroboration(Corroboration.GOOGLE_ONLY, tuple(involved), google_only=True)
        elif not since:
            continue
        elif len(unmatched) > len(unchecked):
            result[login] = AccountCorroboration(Corroboration.OKTA_ONLY, tuple(involved))
        elif unchecked:
            result[login] = AccountCorroboration(Corroboration.UNAVAILABLE, tuple(involved))
        else:
            result[login] = AccountCorroboration(Corroboration.CONFIRMED, tuple(involved))
    return result


# ---------------------------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class OktaAccount:
    """An account as Okta knows it now."""

    user_id: str
    login: str
    status: str | None = None


def build_findings(
    policy: Policy,
    *,
    changes: Mapping[str, AccountChanges],
    corroboration: Mapping[str, AccountCorroboration],
    seeds: Iterable[OktaAccount],
    accounts_by_login: Mapping[str, OktaAccount],
    statuses: Mapping[str, str],
    factor_findings: Mapping[str, Sequence[FactorFinding]],
    access: Mapping[str, AccessPicture],
) -> tuple[list[Finding], list[str]]:
    """One Finding per account (sorted by login), and notes about what could not be attributed.

    An account is found for a watched event since the cutoff, a Google-only reset, an unknown hardware key
    among its current factors, or because it is a seed. Tiers come from policy.risk.
    """
    notes: list[str] = []
    ids: dict[str, OktaAccount] = {}
    for change in changes.values():
        ids[change.user_id] = OktaAccount(change.user_id, change.login)
    seed_ids = set()
    for seed in seeds:
        ids.setdefault(seed.user_id, seed)
        seed_ids.add(seed.user_id)
    login_to_id = {a.login: a.user_id for a in ids.values()}
    for login, agreed in corroboration.items():
        if not agreed.google_only or login in login_to_id:
            continue
        known = accounts_by_login.get(login)
        if known is None:
            notes.append(f"Google-only password reset for {login}, which is not an Okta account: review by hand")
            continue
        ids[known.user_id] = known
        login_to_id[login] = known.user_id
    by_id = {a.user_id: a for a in accounts_by_login.values()}
    for user_id, problems in factor_findings.items():
        if user_id in ids or not any(f.problem == Reason.UNKNOWN_HARDWARE_KEY.value for f in problems):
            continue
        if user_id in by_id:
            ids[user_id] = by_id[user_id]

    findings = []
    for user_id, account in ids.items():
        found = changes.get(user_id)
        reasons: set[Reason] = set(found.reasons) if found else set()
        kinds: set[ActorKind] = set(found.actor_kinds) if found else set()
        verdict = corroboration.get(account.login)
        if verdict is not None and verdict.google_only:
            reasons.add(Reason.GOOGLE_ONLY_RESET)
        factors = tuple(sorted(factor_findings.get(user_id, ()), key=lambda f: (f.factor_id, f.problem)))
        if any(f.problem == Reason.UNKNOWN_HARDWARE_KEY.value for f in factors):
            reasons.add(Reason.UNKNOWN_HARDWARE_KEY)
        if user_id in seed_ids:
            reasons.add(Reason.SEED)
        evidence = set(found.evidence) if found else set()
        if verdict is not None:
            evidence |= set(verdict.google_evidence)
        findings.append(
            Finding(
                user_id=user_id,
                login=account.login,
                status=statuses.get(user_id, account.status),
                risk=policy.risk.tier_for(reasons, kinds),
                reasons=tuple(sorted(reasons)),
                actor_kinds=tuple(sorted(kinds)),
                actors=tuple(sorted(found.actors)) if found else (),
                corroboration=verdict.corroboration if verdict else Corroboration.NOT_APPLICABLE,
                factor_findings=factors,
                evidence=tuple(sorted(evidence)),
                failed_attempts=len(found.failed_evidence) if found else 0,
                failed_evidence=tuple(sorted(found.failed_evidence)) if found else (),
                seed=user_id in seed_ids,
                access=access.get(user_id, AccessPicture()),
            )
        )
    findings.sort(key=lambda f: (f.login, f.user_id))
    return findings, notes
