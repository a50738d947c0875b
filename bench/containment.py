"""Containment speed against Okta's rate limits, beside the loop a responder would write by hand.

Setup: the sandbox's fake Okta with 100-300 ms latency per call and Okta's documented limits (users_write
600 per window, api_other 1200 per window, 75 concurrent requests). Every account is critical: suspend,
revoke sessions and OAuth tokens, unenrol one unknown FIDO key (password and factor resets are deferred to
the release, see playbook/plan.py).

The bound: per phase, the larger of the rate-limit time (the first window's quota is available at once,
each further window costs a full window) and the concurrency time (calls x mean latency / 75), plus one
slowest-call latency: a phase ends only when its last call returns, and the phases are a barrier by design
(every account is suspended before any slower step begins). holdfast must stay within 1.1x of it, plus a
fixed start-up (client and ledger set-up, timed separately).
144 accounts (the published incident) run at Okta's real 60-second windows; 10,000 run with the windows
compressed 10x (6 s) so the benchmark takes minutes; the plain loop is timed on a sample and extrapolated.
Run: `python -m bench containment`.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow

from bench.common import Result
from config.policy import Reason, Tier, load_policy
from config.settings import OktaSettings, load_settings
from flows.contain import run_containment
from playbook.models import FactorFinding, Finding
from playbook.plan import build_plan
from sandbox.knobs import Knobs
from sandbox.okta.ratelimit import RateLimits
from sandbox.org import Factor, Org, User, UserStatus
from sandbox.server import SandboxServer
from store import ledger
from store.db import make_engine, migrate, transaction
from tasks.okta.clients import okta_client

LATENCY_MS = (100.0, 300.0)
CONCURRENCY = 75  # Okta's org-wide limit (Workforce Identity)
USERS_WRITE, API_OTHER = 600, 1200  # per window


@dataclass(frozen=True)
class Case:
    accounts: int
    window_s: float
    sequential_sample: int


def _people(org: Org, count: int) -> list[tuple[str, str]]:
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        uid = f"00u{n:06d}{uuid.uuid4().hex[:11]}"
        login = f"person{n}@{org.domain}"
        org.add_user(
            User(id=uid, login=login, email=login, first_name="P", last_name=str(n), status=UserStatus.ACTIVE,
                 created=now - timedelta(days=300), activated=now, password_changed=now, last_updated=now,
                 sessions=1, oauth_tokens=1)
        )  # fmt: skip
        key = f"fwf{uuid.uuid4().hex[:17]}"
        org.add_factor(
            Factor(id=key, user_id=uid, factor_type="webauthn", provider="FIDO", status="ACTIVE", created=now,
                   last_updated=now, profile={"credentialId": uuid.uuid4().hex, "authenticatorName": "YubiKey"})
        )  # fmt: skip
        out.append((uid, key))
    return out


def bound_seconds(accounts: int, window_s: float) -> float:
    mean_latency = sum(LATENCY_MS) / 2 / 1000

    def phase(calls: int, limit: int) -> float:
        rate = max(0, math.ceil(calls / limit) - 1) * window_s
        return max(rate, calls * mean_latency / CONCURRENCY) + LATENCY_MS[1] / 1000

    # Phase 1 (suspend) on users_write; phase 2 (sessions and factors) on api_other.
    return phase(accounts, USERS_WRITE) + phase(2 * accounts, API_OTHER)


def _settings(server: SandboxServer, folder: Path) -> OktaSettings:
    env = {k: v for k, v in server.env().items() if k.startswith("HOLDFAST_OKTA__")}
    env["HOLDFAST_OKTA__MAX_CONCURRENCY"] = str(CONCURRENCY)
    env["HOLDFAST_STORE__URL"] = f"sqlite:///{folder / 'bench.sqlite'}"
    return load_settings(environ=env).require_okta()


async def _sequential(settings: OktaSettings, people: list[tuple[str, str]]) -> float:
    """What a responder writes by hand: the same SDK calls, one account after another."""
    async with okta_client(settings) as client:
        started = time.perf_counter()
        for uid, key in people:
            await client.suspend_user(uid)
            await client.revoke_user_sessions(uid, oauth_tokens=True)
            await client.unenroll_factor(uid, key)
        return time.perf_counter() - started


def _holdfast(settings: OktaSettings, folder: Path, org: Org, people: list[tuple[str, str]]) -> tuple[float, float]:
    """(containment seconds, start-up seconds) for holdfast's engine on these accounts."""
    t0 = time.perf_counter()
    engine = make_engine(f"sqlite:///{folder / 'bench.sqlite'}")
    migrate(engine)
    policy = load_policy()
    findings = [
        Finding(
            user_id=uid, login=org.users[uid].login, status="ACTIVE", risk=Tier.CRITICAL,
            reasons=(Reason.PASSWORD_RESET,),
            factor_findings=(FactorFinding(factor_id=key, factor_type="webauthn", problem="unknown_hardware_key"),),
        )
        for uid, key in people
    ]  # fmt: skip
    plan = build_plan(
        "INC-BENCH", findings, policy, protected_by_group={}, org_domains=[org.domain], active_users=10**9
    )
    with transaction(engine, write=True) as conn:
        ledger.create_incident(
            conn, incident_id="INC-BENCH", trigger="manual", source="bench", cutoff="2026-01-01T00:00:00.000Z",
            seeds=[], now=datetime.now(UTC),
        )  # fmt: skip
    startup = time.perf_counter() - t0

    @flow(name="bench-contain")
    async def contain() -> float:
        summary = await run_containment(settings, engine, plan)
        assert not summary.failed, summary.failed[:3]
        return summary.elapsed_s

    elapsed = asyncio.run(contain())
    engine.dispose()
    return elapsed, startup


def _run_case(case: Case) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        org = Org.empty(folder / "org")
        org.okta_rate_limits = RateLimits.compressed(window_s=case.window_s)
        knobs = Knobs(seed=1)
        knobs.set("okta", latency_ms=LATENCY_MS)
        people = _people(org, case.accounts + case.sequential_sample)
        ours, sample = people[: case.accounts], people[case.accounts :]
        with SandboxServer(org, knobs) as server:
            settings = _settings(server, folder)
            elapsed, startup = _holdfast(settings, folder, org, ours)
            if case.accounts > USERS_WRITE:
                time.sleep(case.window_s)  # let the buckets holdfast emptied refill before the loop starts
            sequential = asyncio.run(_sequential(settings, sample)) * case.accounts / case.sequential_sample
        org.close()
    bound = bound_seconds(case.accounts, case.window_s)
    label = f"containment_{case.accounts}"
    note = (
        f"window {case.window_s:g} s, latency {LATENCY_MS[0]:g}-{LATENCY_MS[1]:g} ms, concurrency {CONCURRENCY}; "
        f"start-up {startup:.2f} s (excluded); sequential SDK loop {sequential:,.1f} s "
        f"({'measured' if case.sequential_sample == case.accounts else f'extrapolated from {case.sequential_sample}'}"
        f"), holdfast {sequential / elapsed:,.1f}x faster"
    )
    return [
        Result(label, elapsed, bound * 1.1, "s", note=note + f"; rate-limit bound {bound:.2f} s x 1.1"),
    ]


def run() -> list[Result]:
    results = _run_case(Case(accounts=144, window_s=60.0, sequential_sample=144))
    results += _run_case(Case(accounts=10_000, window_s=6.0, sequential_sample=200))
    for result in results:
        print(result.line(), flush=True)
    return results
