"""Findings + policy -> the containment plan. Pure: no I/O, so the dry run and the execution agree.

Order of operations per account, chosen from Okta's lifecycle rules (the user's status limits what is legal:
https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserLifecycle/):
1. suspend (legal only from ACTIVE): a SUSPENDED user cannot sign in, so the attacker's password and factors
   stop working at once, before anything slower happens;
2. revoke sessions (and OAuth tokens): suspension stops new sign-ins, revocation ends the ones in progress;
3. factors: unenrol the suspicious ones (unknown keys, factors enrolled since the cutoff) now: unenrolling
   one factor is legal on a SUSPENDED user;
4. password reset and "reset all factors" are deferred to the release: Okta refuses both on a SUSPENDED
   user, and doing them first (RECOVERY) would make the suspension illegal and open a window. At release,
   unsuspend, reset factors and reset the password follow each other immediately; the one-time link is
   handed over during the verification call and the person re-enrols factors there.
Accounts that are not ACTIVE but can still be recovered (LOCKED_OUT, PASSWORD_EXPIRED, RECOVERY) cannot be
suspended: their password is reset at once instead (RECOVERY: the old password stops working).
DEPROVISIONED, STAGED and PROVISIONED accounts cannot sign in: nothing to contain.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

from config.policy import TIER_ORDER, Policy
from playbook.models import AccountPlan, Action, Finding, ManualCase, Plan, PlannedAction

SUSPENDABLE = frozenset({"ACTIVE", "SUSPENDED"})
RESET_NOW = frozenset({"LOCKED_OUT", "PASSWORD_EXPIRED", "RECOVERY"})


def blast_radius_cap(policy: Policy, active_users: int) -> int:
    """The smaller of the absolute cap and the share of active users (at least 1)."""
    share = math.floor(policy.caps.max_fraction_of_active * active_users)
    return max(1, min(policy.caps.max_accounts, share))


def _actions(finding: Finding, policy: Policy) -> tuple[PlannedAction, ...]:
    rules = policy.containment.for_tier(finding.risk)
    status = finding.status or ""
    if status not in SUSPENDABLE | RESET_NOW:
        return ()  # cannot sign in: nothing to contain
    steps: list[PlannedAction] = []
    if status in SUSPENDABLE and rules.suspend:
        steps.append(PlannedAction(action=Action.SUSPEND))
    elif status in RESET_NOW or (status == "ACTIVE" and rules.reset_password):
        steps.append(PlannedAction(action=Action.RESET_PASSWORD_NOW))
    if rules.revoke_sessions:
        steps.append(PlannedAction(action=Action.REVOKE_SESSIONS, oauth_tokens=rules.revoke_oauth_tokens))
    suspended = bool(steps) and steps[0].action is Action.SUSPEND
    if rules.factors == "reset_all" and not suspended:
        steps.append(PlannedAction(action=Action.RESET_FACTORS))
    elif rules.factors != "none":
        # One factor can carry several problems (unknown key and enrolled since the cutoff): unenrol it once.
        for factor_id in sorted({f.factor_id for f in finding.factor_findings}):
            steps.append(PlannedAction(action=Action.UNENROLL_FACTOR, factor_id=factor_id))
    if suspended and rules.factors == "reset_all":
        steps.append(PlannedAction(action=Action.RESET_FACTORS_AT_RELEASE))
    if suspended and rules.reset_password:
        steps.append(PlannedAction(action=Action.RESET_PASSWORD_AT_RELEASE))
    return tuple(steps)


def _order(finding: Finding) -> tuple[int, int, str]:
    return (0 if finding.seed else 1, TIER_ORDER.index(finding.risk), finding.login)


def build_plan(
    incident_id: str,
    findings: Sequence[Finding],
    policy: Policy,
    *,
    protected_by_group: Mapping[str, str],
    org_domains: Sequence[str],
    active_users: int,
) -> Plan:
    """`protected_by_group` maps user ids to the protected group they are in (resolved live from Okta)."""
    domains = {d.lower() for d in org_domains}
    accounts: list[AccountPlan] = []
    manual: list[ManualCase] = []
    skipped: list[ManualCase] = []
    for finding in sorted(findings, key=_order):
        login = finding.login.lower()
        why = None
        if login in policy.protected.accounts:
            why = "protected account"
        elif finding.user_id in protected_by_group:
            why = f"protected group {protected_by_group[finding.user_id]}"
        elif domains and login.rpartition("@")[2] not in domains:
            why = "outside the org's domains"
        if why is not None:
            manual.append(ManualCase(user_id=finding.user_id, login=finding.login, risk=finding.risk, why=why))
            continue
        steps = _actions(finding, policy)
        if not steps:
            skipped.append(
                ManualCase(
                    user_id=finding.user_id,
                    login=finding.login,
                    risk=finding.risk,
                    why=f"status {finding.status or 'unknown'}: cannot sign in, nothing to contain",
                )
            )
            continue
        accounts.append(
            AccountPlan(
                user_id=finding.user_id,
                login=finding.login,
                risk=finding.risk,
                status=finding.status,
                seed=finding.seed,
                actions=steps,
            )
        )
    cap = blast_radius_cap(policy, active_users)
    return Plan(
        incident_id=incident_id,
        accounts=tuple(accounts),
        manual=tuple(manual),
        skipped=tuple(skipped),
        cap=cap,
        over_cap=len(accounts) > cap,
    )


def plan_hash(plan: Plan) -> str:
    """A digest of what the plan does (accounts and actions), recorded when it is executed."""
    lines = [f"{a.user_id} {' '.join(s.key for s in a.actions)}" for a in plan.accounts]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
