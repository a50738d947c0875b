"""Respond: the whole playbook. Alert or responder -> (seeds contained first) -> audit -> plan -> contain.

Reads top to bottom:
  # 0. OPEN the incident in the ledger (or reopen it with --resume)
  # 1. SEEDS: accounts named in the alert are contained at once, before the audit finishes
  # 2. AUDIT: every account whose credentials changed since the cutoff
  # 3. PLAN: findings + policy -> actions; protected accounts and foreign domains go to manual handling
  # 4. APPLY: only with --execute (or an alert, as the policy says), within the blast-radius cap
  # 5. RECORD: holds, counts and the incident's story are in the ledger
  # 6. NOTIFY: a Slack notice per held account and the IT summary, through the outbox (best-effort)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import Engine

from config.errors import ConfigError, InputError, PolicyViolation
from config.policy import Policy, Reason, load_policy
from config.settings import Settings, load_settings
from flows.contain import ContainSummary, run_containment
from playbook.models import Finding, Plan
from playbook.plan import build_plan, plan_hash
from playbook.plan_view import plan_markdown
from playbook.when import okta_time, parse_when
from store import ledger
from store.db import make_engine, migrate, transaction
from tasks.okta.clients import okta_client
from tasks.okta.directory import count_active_users, find_user, group_members
from tasks.okta.ratelimit import RateLimiter


@dataclass(frozen=True)
class RespondRequest:
    cutoff: datetime | None = None  # required unless resuming
    seeds: tuple[str, ...] = ()
    execute: bool = False
    confirm_count: int | None = None
    resume: str | None = None
    trigger: str = "manual"  # manual, alert, reaudit
    source: str | None = None  # who raised the alert


@dataclass
class RespondResult:
    incident_id: str
    plan: Plan
    executed: bool = False
    seeds_contained: ContainSummary | None = None
    containment: ContainSummary | None = None
    unknown_seeds: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "executed": self.executed,
            "plan": self.plan.model_dump(mode="json"),
            "counts_by_tier": self.plan.counts_by_tier(),
            "seeds_contained": self.seeds_contained.as_dict() if self.seeds_contained else None,
            "containment": self.containment.as_dict() if self.containment else None,
            "unknown_seeds": list(self.unknown_seeds),
            "notes": self.notes,
        }


async def _protected_members(settings: Settings, policy: Policy, *, strict: bool) -> tuple[dict[str, str], list[str]]:
    """user id -> protected group, read live from Okta. A missing group fails closed when executing."""
    found: dict[str, str] = {}
    notes: list[str] = []
    async with okta_client(settings.require_okta()) as client:
        limiter = RateLimiter()
        for group in sorted(policy.protected.groups):
            members = await group_members(client, limiter, group)
            if members is None:
                message = f"protected group {group!r} does not exist in Okta: fix [protected] groups in the policy"
                if strict:
                    raise ConfigError(f"policy: {message}")
                notes.append(message)
                continue
            for member in members:
                found.setdefault(str(member["id"]), group)
    return found, notes


async def _cap_context(settings: Settings, policy: Policy, planned: int) -> int:
    """Active users, counted only as far as the cap needs (a 10,000-person org is 50 pages)."""
    enough = math.ceil(planned / policy.caps.max_fraction_of_active) + 1
    async with okta_client(settings.require_okta()) as client:
        count, _complete = await count_active_users(client, RateLimiter(), enough=enough)
    return count


async def _seed_findings(settings: Settings, policy: Policy, seeds: Sequence[str]) -> tuple[list[Finding], list[str]]:
    """The alert's accounts, looked up live: contained before the audit finishes."""
    findings: list[Finding] = []
    unknown: list[str] = []
    async with okta_client(settings.require_okta()) as client:
        limiter = RateLimiter()
        for seed in seeds:
            user = await find_user(client, limiter, seed)
            if user is None:
                unknown.append(seed)
                continue
            findings.append(
                Finding(
                    user_id=str(user["id"]),
                    login=str(user["profile"]["login"]),
                    status=str(user["status"]),
                    risk=policy.risk.tier_for({Reason.SEED}, set()),
                    reasons=(Reason.SEED,),
                    seed=True,
                )
            )
    return findings, unknown


def _record_findings(engine: Engine, incident_id: str, findings: Sequence[Finding], now: datetime) -> None:
    rows = [(f.user_id, f.login, f.risk.value, f.model_dump_json()) for f in findings]
    with transaction(engine, write=True) as conn:
        ledger.record_findings(conn, incident_id, rows, now)


def _findings_from_ledger(engine: Engine, incident_id: str) -> list[Finding]:
    with transaction(engine) as conn:
        return [Finding.model_validate_json(r.body) for r in ledger.incident_findings(conn, incident_id)]


async def _plan(
    settings: Settings, policy: Policy, incident_id: str, findings: Sequence[Finding], *, strict: bool
) -> tuple[Plan, list[str]]:
    protected, notes = await _protected_members(settings, policy, strict=strict)
    draft = build_plan(
        incident_id, findings, policy, protected_by_group=protected, org_domains=settings.org_domains, active_users=0
    )
    active = await _cap_context(settings, policy, len(draft.accounts)) if draft.accounts else 0
    plan = build_plan(
        incident_id, findings, policy, protected_by_group=protected, org_domains=settings.org_domains,
        active_users=active,
    )  # fmt: skip
    return plan, notes


def _check_cap(plan: Plan, confirm_count: int | None) -> None:
    if plan.over_cap and confirm_count != len(plan.accounts):
        raise PolicyViolation(
            f"plan contains {len(plan.accounts)} accounts, over the blast-radius cap of {plan.cap}: review the plan, "
            f"then rerun with --confirm-count {len(plan.accounts)}"
        )


async def run_respond(
    settings: Settings,
    policy: Policy,
    engine: Engine,
    request: RespondRequest,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RespondResult:
    from flows.audit import run_audit  # the audit flow module is heavier; import when responding

    if request.execute and not settings.org_domains:
        raise ConfigError("settings: org_domains (HOLDFAST_ORG_DOMAINS) must list the org's domains before executing")
    now = clock()
    # 0. OPEN
    if request.resume:
        with transaction(engine) as conn:
            incident = ledger.get_incident(conn, request.resume)
        incident_id, cutoff = incident.id, parse_when(incident.cutoff, now)
    else:
        if request.cutoff is None:
            raise InputError("--since is required (the cutoff: every credential change since then is audited)")
        if request.cutoff > now:
            raise InputError(f"--since {okta_time(request.cutoff)} is in the future: the cutoff must be in the past")
        incident_id, cutoff = ledger.new_incident_id(now), request.cutoff
        with transaction(engine, write=True) as conn:
            ledger.create_incident(
                conn, incident_id=incident_id, trigger=request.trigger, source=request.source,
                cutoff=okta_time(cutoff), seeds=request.seeds, now=now,
            )  # fmt: skip
    result = RespondResult(incident_id, Plan(incident_id=incident_id, accounts=()))

    # 1. SEEDS first, when executing: the published response suspended the visible account at once.
    if request.seeds and not request.resume:
        seed_findings, unknown = await _seed_findings(settings, policy, request.seeds)
        result.unknown_seeds = tuple(unknown)
        if request.execute and policy.alerts.contain_seeds_first and seed_findings:
            seed_plan, _ = await _plan(settings, policy, incident_id, seed_findings, strict=True)
            _check_cap(seed_plan, None)
            _record_findings(engine, incident_id, seed_findings, clock())
            result.seeds_contained = await run_containment(settings.require_okta(), engine, seed_plan, clock=clock)

    # 2. AUDIT (skipped on resume: the incident's recorded findings are the plan's basis)
    if request.resume:
        findings = _findings_from_ledger(engine, incident_id)
    else:
        audit = await run_audit(settings, policy, engine, cutoff=cutoff, seeds=request.seeds, clock=clock)
        result.notes.extend(audit.notes)
        findings = list(audit.findings)
        with transaction(engine, write=True) as conn:
            ledger.record_event(conn, incident_id, clock(), "audit.finished", {"accounts": len(findings)})
        # The audit's view of a seed replaces the provisional seed-only finding (same account key).
        _record_findings(engine, incident_id, findings, clock())

    # 3. PLAN
    result.plan, notes = await _plan(settings, policy, incident_id, findings, strict=request.execute)
    result.notes.extend(notes)
    if not request.execute:
        return result  # the dry run changes nothing in Okta

    # 4. APPLY within the cap
    _check_cap(result.plan, request.confirm_count)
    with transaction(engine, write=True) as conn:
        ledger.set_incident_status(conn, incident_id, "executing", plan_hash=plan_hash(result.plan))
    result.containment = await run_containment(settings.require_okta(), engine, result.plan, clock=clock)
    result.executed = True

    # 6. NOTIFY (issue 6, flows/notify.py): a notice per held account and the IT summary go to the outbox,
    # then one best-effort drain. Containment is already recorded: Slack down only delays the messages.
    from flows.notify import notify_contained

    result.notes.append((await notify_contained(settings, policy, engine, result.plan, clock=clock)).line())
    return result


@flow(name="respond")
async def respond(
    since: str | None = None,
    seeds: list[str] | None = None,
    execute: bool = False,
    confirm_count: int | None = None,
    resume: str | None = None,
    trigger: str = "manual",
    source: str | None = None,
    config_file: str | None = None,
) -> dict[str, Any]:
    """Deployment and CLI entry point: settings from the environment (or `config_file`)."""
    settings = load_settings(Path(config_file) if config_file else None)
    policy = load_policy(settings.policy_file)
    now = datetime.now(UTC)
    try:
        cutoff = parse_when(since, now) if since else None
    except ValueError as err:
        raise InputError(f"--since: {err}") from None
    engine = make_engine(settings.store.url)
    migrate(engine)
    request = RespondRequest(
        cutoff=cutoff, seeds=tuple(seeds or ()), execute=execute, confirm_count=confirm_count, resume=resume,
        trigger=trigger, source=source,
    )  # fmt: skip
    result = await run_respond(settings, policy, engine, request)
    await create_markdown_artifact(markdown=plan_markdown(result.plan), key="holdfast-plan")  # type: ignore[misc]
    return result.as_dict()
