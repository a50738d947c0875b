"""Hold: the re-lock check the scheduled re-audit runs. A held account stays SUSPENDED until IT verifies the
person; if it was unsuspended outside holdfast (an admin console click, a help-desk script, an attacker with
an admin session) it is suspended again at once and the IT channel is alerted.

Reads top to bottom:
  # 1. GET every account with a hold in state `held`, and its status in Okta, live
  # 2. APPLY: ACTIVE -> suspend again, written ahead in the ledger as `relock:<n>`; other statuses cannot be
  #    suspended (Okta allows suspend only from ACTIVE, playbook/plan.py): IT is alerted to decide by hand
  # 3. RECORD the re-lock count and the incident's story; the IT alert goes through the outbox (best-effort)
Holds in state `verified` are left alone: their release is under way (or failed and re-suspended itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from okta.client import Client
from prefect import flow
from sqlalchemy import Engine

from config.errors import ProviderError
from config.policy import Policy, load_policy
from config.settings import Settings, load_settings
from flows.notify import DrainSummary, drain_best_effort, enqueue_relock
from store import holds as holds_store
from store import ledger
from store.db import make_engine, migrate, transaction
from store.holds import Hold, HoldState
from store.ledger import ActionState
from tasks.okta.calls import RetryPolicy
from tasks.okta.clients import okta_client
from tasks.okta.directory import find_user
from tasks.okta.lifecycle import suspend
from tasks.okta.ratelimit import RateLimiter

Clock = Callable[[], datetime]
CANNOT_SIGN_IN = frozenset({"SUSPENDED", "DEPROVISIONED", "STAGED"})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RelockSummary:
    checked: int = 0
    relocked: list[str] = field(default_factory=list)  # logins suspended again
    blocked: list[tuple[str, str]] = field(default_factory=list)  # (login, status) Okta cannot suspend
    failed: list[dict[str, str]] = field(default_factory=list)
    notify: DrainSummary | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "relocked": self.relocked,
            "blocked": [list(b) for b in self.blocked],
            "failed": self.failed,
            "notify": self.notify.as_dict() if self.notify else None,
        }


async def _status(client: Client, limiter: RateLimiter, user_id: str, policy: RetryPolicy) -> str:
    user = await find_user(client, limiter, user_id, policy)
    return "DELETED" if user is None else str(user["status"])


def _record(engine: Engine, holds: list[Hold], action: str, state: ActionState, clock: Clock, **outcome: Any) -> None:
    with transaction(engine, write=True) as conn:
        for hold in holds:
            ledger.record_outcome(conn, hold.incident_id, hold.user_id, action, state, clock(), **outcome)


async def _relock_one(
    engine: Engine,
    client: Client,
    limiter: RateLimiter,
    holds: list[Hold],
    status: str,
    it_channel: str | None,
    retry: RetryPolicy,
    clock: Clock,
    summary: RelockSummary,
) -> None:
    first = holds[0]
    n = max(h.relocks for h in holds) + 1
    action = f"relock:{n}"
    if status != "ACTIVE":
        summary.blocked.append((first.login, status))
        if it_channel is not None:
            with transaction(engine, write=True) as conn:
                enqueue_relock(
                    conn, it_channel=it_channel, hold=first, found=status,
                    outcome=f"Okta cannot suspend an account in {status}: decide by hand", key=f"blocked-{status}",
                    relocks=n - 1, now=clock(),
                )  # fmt: skip
        return
    # 2. APPLY, written ahead.
    with transaction(engine, write=True) as conn:
        for hold in holds:
            ledger.record_intents(conn, hold.incident_id, [(hold.user_id, hold.login, action)], clock())
            ledger.mark_started(conn, hold.incident_id, [(hold.user_id, action)], clock())
    try:
        result = await suspend(client, limiter, first.user_id, retry)
    except ProviderError as err:
        _record(engine, holds, action, ActionState.FAILED, clock, request_id=err.request_id, error_code=err.code,
                error=str(err))  # fmt: skip
        summary.failed.append({"login": first.login, "error": str(err)})
        outcome = f"Suspending it again FAILED ({err}): suspend it by hand"
    else:
        state = ActionState.DONE if result.outcome == "done" else ActionState.ALREADY_DONE
        _record(engine, holds, action, state, clock, request_id=result.request_id)
        summary.relocked.append(first.login)
        outcome = "holdfast suspended it again"
    # 3. RECORD
    with transaction(engine, write=True) as conn:
        for hold in holds:
            holds_store.set_relocks(conn, hold.id, n)
            ledger.record_event(
                conn, hold.incident_id, clock(), "hold.relocked",
                {"account": hold.login, "found": status, "relocks": n, "outcome": outcome},
            )  # fmt: skip
        if it_channel is not None:
            enqueue_relock(
                conn, it_channel=it_channel, hold=first, found=status, outcome=outcome, key=str(n), relocks=n,
                now=clock(),
            )  # fmt: skip


async def run_relock_check(settings: Settings, policy: Policy, engine: Engine, *, clock: Clock = _now) -> RelockSummary:
    """Check every held account in Okta; suspend again what is no longer suspended; alert IT."""
    summary = RelockSummary()
    # 1. GET
    with transaction(engine) as conn:
        held = holds_store.list_holds(conn, states=[HoldState.HELD])
    by_user: dict[str, list[Hold]] = {}
    for hold in held:
        by_user.setdefault(hold.user_id, []).append(hold)
    summary.checked = len(by_user)
    if not by_user:
        return summary
    okta = settings.require_okta()
    retry = RetryPolicy(attempts=okta.retries + 1)
    it_channel = settings.slack.it_channel if settings.slack else None
    gate = asyncio.Semaphore(okta.max_concurrency)
    async with okta_client(okta) as client:
        limiter = RateLimiter()

        async def check(holds: list[Hold]) -> None:
            async with gate:
                try:
                    status = await _status(client, limiter, holds[0].user_id, retry)
                except ProviderError as err:
                    summary.failed.append({"login": holds[0].login, "error": str(err)})
                    return
                if status in CANNOT_SIGN_IN or status == "DELETED":
                    return
                await _relock_one(engine, client, limiter, holds, status, it_channel, retry, clock, summary)

        await asyncio.gather(*(check(h) for h in by_user.values()))
    if summary.relocked or summary.blocked or summary.failed:
        summary.notify = await drain_best_effort(settings, policy, engine, clock=clock)
    return summary


@flow(name="relock-check")
async def relock_check(config_file: str | None = None) -> dict[str, Any]:
    """Deployment entry point (the scheduled re-audit runs it): re-lock held accounts unsuspended outside holdfast."""
    settings = load_settings(Path(config_file) if config_file else None)
    policy = load_policy(settings.policy_file)
    engine = make_engine(settings.store.url)
    migrate(engine)
    return (await run_relock_check(settings, policy, engine)).as_dict()
