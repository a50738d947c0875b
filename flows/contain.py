"""Containment: carry out an approved plan against Okta, exactly once, as fast as Okta's rate limits allow.

Phases run in order over all accounts (seeds first): every account is suspended before any slower step
begins. Within a phase, calls run concurrently up to the configured budget; the rate limiter (fed by
Okta's X-Rate-Limit-* headers) keeps each bucket under its limit. Every call is written ahead in the
ledger (intent, attempt, outcome with Okta's request id), so a rerun after a crash does only what is not
done, and an account already in the wanted state is recognised as such.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from okta.client import Client
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from config.errors import ProviderError
from config.settings import OktaSettings
from flows.progress import progress
from playbook.models import AccountPlan, Action, Plan, PlannedAction
from store import ledger
from store.db import transaction
from store.ledger import FINISHED, ActionState
from tasks.okta.calls import RetryPolicy
from tasks.okta.clients import okta_client
from tasks.okta.enrolment import unenroll_factor
from tasks.okta.lifecycle import CallResult, reset_factors, reset_password, suspend
from tasks.okta.ratelimit import RateLimiter
from tasks.okta.sessions import revoke_sessions

# The order of phases (see playbook/plan.py for why). Deferred actions wait for the release. Sessions and
# factors share a phase: both come after every suspension, and a phase barrier costs a full latency tail.
PHASES: tuple[tuple[Action, ...], ...] = (
    (Action.SUSPEND, Action.RESET_PASSWORD_NOW),
    (Action.REVOKE_SESSIONS, Action.RESET_FACTORS, Action.UNENROLL_FACTOR),
)
BATCH = 250  # accounts per Prefect task run: task runs cost milliseconds, Okta calls cost more


@dataclass
class ContainSummary:
    incident_id: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # action -> state -> n
    failed: list[dict[str, str]] = field(default_factory=list)
    contained: list[tuple[str, str]] = field(default_factory=list)  # (user_id, login) suspended or reset
    elapsed_s: float = 0.0
    waited_s: float = 0.0  # time spent waiting for rate-limit buckets to reset

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "counts": self.counts,
            "failed": self.failed,
            "contained": len(self.contained),
            "elapsed_s": round(self.elapsed_s, 3),
            "waited_s": round(self.waited_s, 3),
        }


@dataclass(frozen=True)
class _Job:
    account: AccountPlan
    step: PlannedAction


async def _perform(client: Client, limiter: RateLimiter, job: _Job, policy: RetryPolicy) -> CallResult:
    """One Okta call for one planned step. The reset link of RESET_PASSWORD_NOW is dropped unseen."""
    user_id, step = job.account.user_id, job.step
    if step.action is Action.SUSPEND:
        return await suspend(client, limiter, user_id, policy)
    if step.action is Action.RESET_PASSWORD_NOW:
        result, _link = await reset_password(client, limiter, user_id, policy)
        return result
    if step.action is Action.REVOKE_SESSIONS:
        return await revoke_sessions(client, limiter, user_id, oauth_tokens=step.oauth_tokens, policy=policy)
    if step.action is Action.RESET_FACTORS:
        return await reset_factors(client, limiter, user_id, policy)
    if step.action is Action.UNENROLL_FACTOR:
        assert step.factor_id is not None
        return await unenroll_factor(client, limiter, user_id, step.factor_id, policy)
    raise ValueError(f"{step.action} is not a containment step")  # deferred steps never reach here


class _Outcomes:
    """Outcomes are written in small batches (every FLUSH_S): one transaction per call would make the
    ledger, not Okta, the bottleneck. A crash loses at most the last FLUSH_S of outcomes; their calls are
    repeated by the rerun and recognised as already done (suspend, unenrol) or harmless (revoke)."""

    FLUSH_S = 0.05

    def __init__(self, engine: Engine, incident_id: str) -> None:
        self.engine, self.incident_id = engine, incident_id
        self.pending: list[tuple[str, str, ActionState, datetime, str | None, str | None, str | None]] = []

    def add(
        self, job: _Job, state: ActionState, at: datetime, request_id: str | None, code: str | None, error: str | None
    ) -> None:
        self.pending.append((job.account.user_id, job.step.key, state, at, request_id, code, error))

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        with transaction(self.engine, write=True) as conn:
            for user_id, key, state, at, request_id, code, error in batch:
                ledger.record_outcome(
                    conn, self.incident_id, user_id, key, state, at, request_id=request_id, error_code=code, error=error
                )

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.FLUSH_S)
            self.flush()


async def _run_job(
    client: Client,
    limiter: RateLimiter,
    job: _Job,
    policy: RetryPolicy,
    clock: Callable[[], datetime],
    gate: asyncio.Semaphore,
    outcomes: _Outcomes,
) -> tuple[ActionState, str | None]:
    async with gate:
        try:
            result = await _perform(client, limiter, job, policy)
        except ProviderError as err:
            outcomes.add(job, ActionState.FAILED, clock(), err.request_id, err.code, str(err))
            return ActionState.FAILED, str(err)
        state = ActionState.DONE if result.outcome == "done" else ActionState.ALREADY_DONE
        outcomes.add(job, state, clock(), result.request_id, None, None)
        return state, None


@task(name="contain-batch", cache_policy=NO_CACHE)
async def contain_batch(
    engine: Engine,
    client: Client,
    limiter: RateLimiter,
    jobs: list[_Job],
    incident_id: str,
    policy: RetryPolicy,
    clock: Callable[[], datetime],
    gate: asyncio.Semaphore,
    outcomes: _Outcomes,
    phase_name: str,
) -> list[tuple[_Job, ActionState, str | None]]:
    """One Prefect task run per batch of accounts; the ledger records each call (attempt, then outcome)."""
    with transaction(engine, write=True) as conn:
        ledger.mark_started(conn, incident_id, [(j.account.user_id, j.step.key) for j in jobs], clock())

    async def one(job: _Job) -> tuple[_Job, ActionState, str | None]:
        state, error = await _run_job(client, limiter, job, policy, clock, gate, outcomes)
        progress().advance(phase_name, 1)
        return job, state, error

    return list(await asyncio.gather(*(one(job) for job in jobs)))


def _pending_jobs(plan: Plan, phase: Sequence[Action], done: dict[tuple[str, str], ledger.ActionRow]) -> list[_Job]:
    jobs = []
    for account in plan.accounts:
        for step in account.actions:
            row = done.get((account.user_id, step.key))
            if step.action in phase and (row is None or row.state not in FINISHED):
                jobs.append(_Job(account, step))
    return jobs


async def run_containment(
    settings: OktaSettings,
    engine: Engine,
    plan: Plan,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ContainSummary:
    """Execute `plan` (already approved): intents first, then the phases, then holds for what was contained."""
    started = asyncio.get_running_loop().time()
    summary = ContainSummary(plan.incident_id)
    incident = plan.incident_id
    # 1. RECORD every intent up front; deferred steps are recorded as such (the release performs them).
    wanted = [(a.user_id, a.login, s.key) for a in plan.accounts for s in a.actions]
    with transaction(engine, write=True) as conn:
        rows = ledger.record_intents(conn, incident, wanted, clock())
        for account in plan.accounts:
            for step in account.actions:
                row = rows[(account.user_id, step.key)]
                if step.action.deferred and row.state is ActionState.INTENT:
                    ledger.record_outcome(conn, incident, account.user_id, step.key, ActionState.DEFERRED, clock())
        ledger.set_incident_status(conn, incident, "executing")
        ledger.record_event(conn, incident, clock(), "containment.started", {"accounts": len(plan.accounts)})
    limiter = RateLimiter()
    policy = RetryPolicy(attempts=settings.retries + 1)
    gate = asyncio.Semaphore(settings.max_concurrency)
    bar = progress()
    # 2. APPLY, phase by phase.
    async with okta_client(settings) as client:
        for phase in PHASES:
            with transaction(engine) as conn:
                jobs = _pending_jobs(plan, phase, ledger.actions_of(conn, incident))
            if not jobs:
                continue
            name = "/".join(a.value for a in phase)
            bar.start(name, f"{name}", len(jobs))
            batches = [jobs[i : i + BATCH] for i in range(0, len(jobs), BATCH)]
            outcomes = _Outcomes(engine, incident)
            flusher = asyncio.create_task(outcomes.flush_periodically())
            try:
                results = await asyncio.gather(
                    *(
                        contain_batch(engine, client, limiter, b, incident, policy, clock, gate, outcomes, name)
                        for b in batches
                    )
                )
            finally:
                flusher.cancel()
                outcomes.flush()
            bar.finish(name)
            for job, state, error in (r for batch in results for r in batch):
                if state is ActionState.FAILED:
                    summary.failed.append({"login": job.account.login, "action": job.step.key, "error": error or ""})
            if phase[0] is Action.SUSPEND:
                with transaction(engine, write=True) as conn:
                    _record_suspensions(conn, incident, clock)
    # 3. RECORD holds for every account whose first step is done, and the counts.
    with transaction(engine, write=True) as conn:
        final = ledger.actions_of(conn, incident)
        for account in plan.accounts:
            first = final.get((account.user_id, account.actions[0].key))
            if first is not None and first.state in (ActionState.DONE, ActionState.ALREADY_DONE):
                summary.contained.append((account.user_id, account.login))
        ledger.create_holds(conn, incident, summary.contained, clock())
        for (action, outcome), n in ledger.action_counts(conn, incident).items():
            per_state = summary.counts.setdefault(action.split(":")[0], {})
            per_state[outcome] = per_state.get(outcome, 0) + n
        status = "contained" if not summary.failed else "partially_contained"
        ledger.set_incident_status(conn, incident, status)
        ledger.record_event(
            conn, incident, clock(), "containment.finished",
            {"contained": len(summary.contained), "failed": len(summary.failed)},
        )  # fmt: skip
    summary.elapsed_s = asyncio.get_running_loop().time() - started
    summary.waited_s = limiter.waited_s
    return summary


def _record_suspensions(conn: Any, incident: str, clock: Callable[[], datetime]) -> None:
    """The timeline wants the first and last suspension: derive them from the ledger's finished times."""
    rows = [
        r for r in ledger.actions_of(conn, incident, Action.SUSPEND.value).values()
        if r.state in (ActionState.DONE, ActionState.ALREADY_DONE) and r.finished_at
    ]  # fmt: skip
    if rows:
        times = sorted(r.finished_at for r in rows if r.finished_at)
        ledger.record_event(
            conn, incident, clock(), "containment.suspended",
            {"accounts": len(rows), "first": times[0], "last": times[-1]},
        )  # fmt: skip
