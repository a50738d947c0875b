"""Verify and release: IT records that it verified the person (authorised live against Okta at that moment),
then the held account is released. Two ways in, one code path:
- the CLI, `holdfast verify ACCOUNT --by IT_LOGIN --method video-call --ticket ID` (verify_and_release);
- the Prefect UI: the `release` flow, run from a deployment, suspends itself with
  `suspend_flow_run(wait_for_input=VerificationInput)`; the UI renders the form from the RunInput model and
  the resumed run (which starts again from the top, FACTS.md) hands the input to handle_verification_input.

Reads top to bottom:
  # 1. AUTHORISE: input, account held, verifier ACTIVE in the verifiers group, not held, not the account,
  #    two-person rule (playbook/verify.py); refusals are recorded, then raised as one line
  # 2. RECORD the accepted verification; the hold becomes `verified` once enough verifiers have vouched
  # 3. RELEASE, written ahead in the ledger: unsuspend, then (if planned) reset factors, then (if planned)
  #    reset the password with sendEmail=false, one call after another (Okta refuses resets on a SUSPENDED
  #    user: playbook/plan.py); a failure after the unsuspend suspends the account again
  # 4. NOTIFY: the person's DM and the IT channel's status update through the outbox, best-effort

The one-time reset link is a secret (the person's mailbox may be compromised, so it is never mailed). It is
handed to `hand_over` exactly once, before the ledger records the reset as done, and never logged, stored,
posted or put in an artifact: the CLI prints it once; the Prefect path returns it as the resumed run's
return value and the flow does not persist results (persist_result=False), so Prefect's API, database and
result storage never receive it (prefect.states.to_state_create drops unpersisted data). Consequence: in a
deployment the value lives only in the worker's memory; use the CLI when the link must be read off a screen.
A crash between the hand-over and the ledger write leaves the reset "started": the retry issues a new link
(invalidating the old one) and hands that over. Releasing twice is harmless: a released hold is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from okta.client import Client
from prefect import flow
from prefect.flow_runs import asuspend_flow_run
from prefect.input import RunInput
from pydantic import Field
from sqlalchemy import Engine

from config.errors import InputError, PolicyViolation, ProviderError
from config.policy import Policy, load_policy
from config.settings import Settings, load_settings
from flows.notify import DrainSummary, drain_best_effort, enqueue_released
from playbook.models import Action
from playbook.verify import (
    AccountFacts,
    Channel,
    Decision,
    Refusal,
    VerificationRequest,
    VerifierFacts,
    authorise,
    check_input,
)
from store import holds as holds_store
from store import ledger
from store import verifications as verifications_store
from store.db import make_engine, migrate, transaction
from store.holds import OPEN, Hold, HoldState
from store.ledger import ActionState
from tasks.okta.calls import RetryPolicy
from tasks.okta.clients import okta_client
from tasks.okta.directory import find_user, group_members
from tasks.okta.lifecycle import CallResult, reset_factors, reset_password, suspend, unsuspend, user_status
from tasks.okta.ratelimit import RateLimiter

UNSUSPEND = "unsuspend"
ROLLBACK = "release_rollback"  # re-suspend after a release that failed half-way
FINISHED = (ActionState.DONE, ActionState.ALREADY_DONE)

Clock = Callable[[], datetime]
HandOver = Callable[[str], None]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class VerifyOutcome:
    login: str
    user_id: str
    incidents: tuple[str, ...]
    verifier: str
    method: str
    ticket: str
    verifiers: tuple[str, ...]  # accepted so far, this one included
    complete: bool  # enough verifiers: released next


@dataclass
class ReleaseResult:
    login: str
    user_id: str
    incidents: list[str] = field(default_factory=list)
    already_released: bool = False
    steps: dict[str, str] = field(default_factory=dict)  # step -> done / already_done
    link_handed_over: bool = False
    notify: DrainSummary | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "user_id": self.user_id,
            "incidents": self.incidents,
            "already_released": self.already_released,
            "steps": self.steps,
            "link_handed_over": self.link_handed_over,
            "notify": self.notify.as_dict() if self.notify else None,
        }


# --- 1. AUTHORISE and 2. RECORD ------------------------------------------------------------------------------


def _refuse(
    engine: Engine, request: VerificationRequest, holds: Sequence[Hold], refusal: Refusal, now: datetime
) -> NoReturn:
    """Record the refusal (one row; the incident when it is unambiguous), then raise it as one line."""
    incidents = sorted({h.incident_id for h in holds})
    with transaction(engine, write=True) as conn:
        verifications_store.record(
            conn, incident_id=incidents[0] if len(incidents) == 1 else None,
            account=holds[0].login if holds else request.account, verifier=request.verifier,
            method=request.method, ticket=request.ticket, note=request.note, channel=request.channel.value,
            outcome="refused", reason=refusal.reason, now=now,
        )  # fmt: skip
        for incident in incidents:
            ledger.record_event(
                conn, incident, now, "verification.refused",
                {"account": holds[0].login, "verifier": request.verifier, "reason": refusal.reason},
            )  # fmt: skip
    raise refusal.error()


async def _okta_facts(
    settings: Settings, policy: Policy, request: VerificationRequest
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[dict[str, Any]] | None]:
    """(account user, verifier user, verifiers group members): read live, at the moment of recording."""
    async with okta_client(settings.require_okta()) as client:
        limiter = RateLimiter()
        account = await find_user(client, limiter, request.account)
        verifier = await find_user(client, limiter, request.verifier)
        members = await group_members(client, limiter, policy.verification.group)
    return account, verifier, members


async def record_verification(
    settings: Settings, policy: Policy, engine: Engine, request: VerificationRequest, *, clock: Clock = _now
) -> VerifyOutcome:
    """Authorise and record one verification; raises InputError / PolicyViolation (recorded) on refusal."""
    request = request.normalised()
    # 1. AUTHORISE: the input first, then the facts, live.
    refusal = check_input(request, policy.verification)
    if refusal is not None:
        with transaction(engine) as conn:
            known = holds_store.holds_of_account(conn, request.account, OPEN) if request.account else []
        _refuse(engine, request, known, refusal, clock())
    account_user, verifier_user, members = await _okta_facts(settings, policy, request)
    if members is None:
        group = policy.verification.group
        refusal = Refusal(
            "config", f"policy: verifiers group {group!r} does not exist in Okta: fix [verification] group"
        )
    account_id = str(account_user["id"]) if account_user else request.account
    account_login = str(account_user["profile"]["login"]) if account_user else None
    verifier_id = str(verifier_user["id"]) if verifier_user else None
    verifier_login = str(verifier_user["profile"]["login"]) if verifier_user else request.verifier
    with transaction(engine) as conn:
        every = holds_store.holds_of_account(conn, account_id)
        open_holds = [h for h in every if h.state in OPEN]
        verifier_held = bool(holds_store.holds_of_account(conn, verifier_id or request.verifier, OPEN))
        login = account_login or (every[0].login if every else request.account)
        previous: set[str] = set()
        repeat = False
        for hold in open_holds:
            previous |= verifications_store.accepted_verifiers(conn, hold.incident_id, hold.login)
            repeat = repeat or verifications_store.has_accepted(
                conn, incident_id=hold.incident_id, account=hold.login, verifier=verifier_login,
                method=request.method, ticket=request.ticket, channel=request.channel.value,
            )  # fmt: skip
    if refusal is not None:
        _refuse(engine, request, open_holds, refusal, clock())
    if repeat:  # the same verification again (a resumed run, a retried release): not a second person
        previous.discard(verifier_login.lower())
    decision: Decision = authorise(
        request,
        AccountFacts(known=account_user is not None or bool(every), user_id=account_id, login=login,
                     open_holds=len(open_holds)),
        VerifierFacts(
            exists=verifier_user is not None, user_id=verifier_id, login=verifier_login,
            status=str(verifier_user["status"]) if verifier_user else None,
            in_group=verifier_id is not None and any(str(m.get("id")) == verifier_id for m in members or []),
            held=verifier_held,
        ),
        policy.verification,
        previous_verifiers=frozenset(previous),
    )  # fmt: skip
    if decision.refusal is not None:
        _refuse(engine, request, open_holds, decision.refusal, clock())
    # 2. RECORD, per open hold (an account can be held by more than one incident).
    now = clock()
    with transaction(engine, write=True) as conn:
        current = [h for h in holds_store.holds_of_account(conn, account_id) if h.state in OPEN]
        if not current:  # released by someone else since the facts were read
            refusal = Refusal("input", f"verification: {login} is not held: nothing to verify or release")
        for hold in current:
            if not repeat:
                verifications_store.record(
                    conn, incident_id=hold.incident_id, account=hold.login, verifier=verifier_login,
                    method=request.method, ticket=request.ticket, note=request.note, channel=request.channel.value,
                    outcome="accepted", reason=None, now=now,
                )  # fmt: skip
            if decision.complete:
                holds_store.mark_verified(conn, hold.id, now)
            ledger.record_event(
                conn, hold.incident_id, now, "verification.accepted",
                {"account": hold.login, "verifier": verifier_login, "method": request.method,
                 "ticket": request.ticket, "channel": request.channel.value, "complete": decision.complete},
            )  # fmt: skip
        everyone = sorted(previous | {verifier_login.lower()})
    if refusal is not None:
        _refuse(engine, request, [], refusal, clock())
    return VerifyOutcome(
        login=login, user_id=account_id, incidents=tuple(sorted({h.incident_id for h in current})),
        verifier=verifier_login, method=request.method, ticket=request.ticket, verifiers=tuple(everyone),
        complete=decision.complete,
    )  # fmt: skip


# --- 3. RELEASE ----------------------------------------------------------------------------------------------


@dataclass
class _Steps:
    """The release's write-ahead rows, one per incident holding the account."""

    engine: Engine
    user_id: str
    login: str
    incidents: list[str]
    clock: Clock

    def rows(self, action: str) -> list[ledger.ActionRow]:
        with transaction(self.engine) as conn:
            found = [ledger.actions_of(conn, i, action).get((self.user_id, action)) for i in self.incidents]
        return [r for r in found if r is not None]

    def pending(self, action: str) -> bool:
        """Planned (deferred, or tried and not finished) in at least one incident."""
        return any(r.state not in FINISHED for r in self.rows(action))

    def intend(self, action: str) -> None:
        with transaction(self.engine, write=True) as conn:
            for incident in self.incidents:
                ledger.record_intents(conn, incident, [(self.user_id, self.login, action)], self.clock())
                ledger.mark_started(conn, incident, [(self.user_id, action)], self.clock())

    def outcome(
        self, action: str, state: ActionState, *, request_id: str | None = None, error: ProviderError | None = None
    ) -> None:
        with transaction(self.engine, write=True) as conn:
            for incident in self.incidents:
                if (self.user_id, action) not in ledger.actions_of(conn, incident, action):
                    continue
                ledger.record_outcome(
                    conn, incident, self.user_id, action, state, self.clock(), request_id=request_id,
                    error_code=error.code if error else None, error=str(error) if error else None,
                )  # fmt: skip


async def _unsuspend(client: Client, limiter: RateLimiter, steps: _Steps, policy: RetryPolicy) -> CallResult:
    try:
        return await unsuspend(client, limiter, steps.user_id, policy)
    except ProviderError:
        # A release interrupted after its password reset finds the account in RECOVERY: unsuspended already.
        status = await user_status(client, limiter, steps.user_id, policy)
        started = any(r.attempts for r in steps.rows(Action.RESET_PASSWORD_AT_RELEASE.value))
        if status in ("RECOVERY", "PASSWORD_EXPIRED") and started:
            return CallResult("already_done", None)
        raise


async def _rollback(
    client: Client, limiter: RateLimiter, steps: _Steps, policy: RetryPolicy, why: ProviderError
) -> None:
    """The release failed after the unsuspend: suspend again, so the account is never left open half-reset."""
    steps.intend(ROLLBACK)
    try:
        result = await suspend(client, limiter, steps.user_id, policy)
    except ProviderError as err:
        steps.outcome(ROLLBACK, ActionState.FAILED, error=err)
        return
    steps.outcome(ROLLBACK, ActionState.DONE if result.outcome == "done" else ActionState.ALREADY_DONE,
                  request_id=result.request_id)  # fmt: skip
    # The next attempt unsuspends again.
    steps.outcome(UNSUSPEND, ActionState.FAILED, error=ProviderError("holdfast", f"rolled back: {why}"))


async def run_release(
    settings: Settings,
    policy: Policy,
    engine: Engine,
    user_id: str,
    *,
    verification: VerifyOutcome,
    hand_over: HandOver,
    clock: Clock = _now,
) -> ReleaseResult:
    """Release every verified hold of the account. A released account is left alone (harmless twice)."""
    with transaction(engine) as conn:
        every = holds_store.holds_of_account(conn, user_id)
    verified = [h for h in every if h.state is HoldState.VERIFIED]
    login = every[0].login if every else user_id
    result = ReleaseResult(login=login, user_id=user_id, incidents=[h.incident_id for h in verified])
    if not verified:
        if any(h.state is HoldState.HELD for h in every):
            raise PolicyViolation(f"{login} is held and not verified yet: record the verification first")
        if every:
            result.already_released = True
            return result
        raise InputError(f"{user_id} is not held: nothing to release")
    steps = _Steps(engine, user_id, login, result.incidents, clock)
    retry = RetryPolicy(attempts=settings.require_okta().retries + 1)
    async with okta_client(settings.require_okta()) as client:
        limiter = RateLimiter()
        if any(r.state not in FINISHED for r in steps.rows(UNSUSPEND)) or not steps.rows(UNSUSPEND):
            steps.intend(UNSUSPEND)
            try:
                done = await _unsuspend(client, limiter, steps, retry)
            except ProviderError as err:
                steps.outcome(UNSUSPEND, ActionState.FAILED, error=err)
                raise
            steps.outcome(UNSUSPEND, ActionState(done.outcome), request_id=done.request_id)
            result.steps[UNSUSPEND] = done.outcome
        try:
            factors = Action.RESET_FACTORS_AT_RELEASE.value
            if steps.pending(factors):
                steps.intend(factors)
                done = await reset_factors(client, limiter, user_id, retry)
                steps.outcome(factors, ActionState.DONE, request_id=done.request_id)
                result.steps[factors] = done.outcome
            password = Action.RESET_PASSWORD_AT_RELEASE.value
            if steps.pending(password):
                steps.intend(password)
                done, link = await reset_password(client, limiter, user_id, retry)
                if link is None:
                    raise ProviderError("okta", "reset_password answered without a resetPasswordUrl")
                hand_over(link)  # the only place the link goes; the ledger records only that it was issued
                del link
                result.link_handed_over = True
                steps.outcome(password, ActionState.DONE, request_id=done.request_id)
                result.steps[password] = done.outcome
        except ProviderError as err:
            for action in (Action.RESET_FACTORS_AT_RELEASE.value, Action.RESET_PASSWORD_AT_RELEASE.value):
                if any(r.state is ActionState.INTENT and r.attempts for r in steps.rows(action)):
                    steps.outcome(action, ActionState.FAILED, error=err)
            await _rollback(client, limiter, steps, retry, err)
            raise
    # 4. RECORD the release and queue the messages.
    now = clock()
    it_channel = settings.slack.it_channel if settings.slack else None
    with transaction(engine, write=True) as conn:
        for hold in verified:
            holds_store.mark_released(conn, hold.id, now)
        for hold in verified:
            still_open = len(holds_store.list_holds(conn, hold.incident_id, OPEN))
            ledger.record_event(
                conn, hold.incident_id, now, "hold.released",
                {"account": hold.login, "verifiers": list(verification.verifiers), "steps": result.steps},
            )  # fmt: skip
            enqueue_released(
                conn, it_channel=it_channel, hold=hold, verifiers=verification.verifiers,
                method=verification.method, ticket=verification.ticket, open_holds=still_open, now=now,
            )  # fmt: skip
    for incident in result.incidents:
        result.notify = await drain_best_effort(settings, policy, engine, incident_id=incident, clock=clock)
    return result


async def verify_and_release(
    settings: Settings,
    policy: Policy,
    engine: Engine,
    request: VerificationRequest,
    *,
    hand_over: HandOver,
    clock: Clock = _now,
) -> tuple[VerifyOutcome, ReleaseResult | None]:
    """Record the verification; release when it completes the hold's verification (None: more needed)."""
    outcome = await record_verification(settings, policy, engine, request, clock=clock)
    if not outcome.complete:
        return outcome, None
    released = await run_release(
        settings, policy, engine, outcome.user_id, verification=outcome, hand_over=hand_over, clock=clock
    )
    return outcome, released


# --- the Prefect UI path -------------------------------------------------------------------------------------


class VerificationInput(RunInput):
    """The form the Prefect UI shows on the suspended `release` run (validated again by holdfast, recorded)."""

    verifier: str = Field(description="Your Okta login: you must be an ACTIVE member of the verifiers group")
    method: str = Field(default="video-call", description="How you verified the person: video-call or in-person")
    ticket: str = Field(description="The ticket that records this verification")
    note: str | None = Field(default=None, description="Optional: anything the next responder should know")


async def handle_verification_input(
    settings: Settings,
    policy: Policy,
    engine: Engine,
    account: str,
    run_input: VerificationInput,
    *,
    clock: Clock = _now,
) -> dict[str, Any]:
    """What the resumed run does with the form: the same checks and records as the CLI, channel prefect-ui.

    Returns the run's result; `reset_link` is the one-time link (never persisted: see the module docstring).
    """
    request = VerificationRequest(
        account=account, verifier=run_input.verifier, method=run_input.method, ticket=run_input.ticket,
        note=run_input.note, channel=Channel.PREFECT_UI,
    )  # fmt: skip
    links: list[str] = []
    outcome, released = await verify_and_release(settings, policy, engine, request, hand_over=links.append, clock=clock)
    return {
        "account": outcome.login,
        "verifiers": list(outcome.verifiers),
        "verified": outcome.complete,
        "released": released is not None and not released.already_released,
        "reset_link": links[0] if links else None,
    }


@flow(name="release", persist_result=False)
async def release(account: str, config_file: str | None = None) -> dict[str, Any]:
    """Deployment entry point: wait (suspended, no process) for the verification form, then verify and release.

    Idempotent on resume: the run starts again from the top, `suspend_flow_run` then returns the submitted
    input, and an account released meanwhile (from the CLI, or by this run before a retry) is left alone.
    """
    settings = load_settings(Path(config_file) if config_file else None)
    policy = load_policy(settings.policy_file)
    engine = make_engine(settings.store.url)
    migrate(engine)
    with transaction(engine) as conn:
        every = holds_store.holds_of_account(conn, account)
    if not every:
        request = VerificationRequest(account=account, verifier="-", method="-", ticket="-", channel=Channel.PREFECT_UI)
        _refuse(
            engine, request, [], Refusal("input", f"verification: {account} is not held: check the account"), _now()
        )
    if all(h.state is HoldState.RELEASED for h in every):
        return {"account": every[0].login, "released": False, "already_released": True, "reset_link": None}
    # asuspend_flow_run is suspend_flow_run's async form (the name Prefect dispatches to from async code).
    run_input = await asuspend_flow_run(wait_for_input=VerificationInput, key="verification")
    return await handle_verification_input(settings, policy, engine, account, run_input)
