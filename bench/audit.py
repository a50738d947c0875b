"""The audit over 90 days of a sandbox org, from the evidence store: correct (against ground truth) and fast.

Cases: the January-2022 scenario at 2,000 and 10,000 people x 90 days (seed 2022, fixed end so the cache holds).
Each case is built once and cached under /tmp/holdfast-bench/: the org is generated, its System Log and Reports
are appended to a SQLite evidence store exactly as ingest appends them (okta_record / google_record / append,
without the HTTP paging), and the Okta state the audit reads (users, factors, groups) is pickled beside it.
The sandbox then serves that state over HTTPS from a child process (Okta is another machine: its serving cost
must not share this process's interpreter) and `flows.audit.audit_with_stats` runs through the real SDK.

Printed per case (the fake Okta's rate limits lifted for the first two, so they measure holdfast; bound 5 s;
the note carries precision / recall against the ground truth and the phase times):
- `audit N people (store; factors of findings)`: evidence, detection, corroboration, the accounts found looked
  up in Okta with their factors, access picture.
- `audit N people (store; + every key owner)`: the default audit, which also reads the factors of every owner
  of an approved key (the user list, then one call per owner: a silent key swap leaves no log event). At
  10,000 people that is ~3,400 calls after a 50-page user list: HTTP-bound here, rate-limit-bound at Okta.
- `factor reads N people at Okta's limits`: the default audit with Okta's published limits on (factors count
  in "most other API actions": 1,200 a minute). Bound: the fixed windows that budget needs for those calls,
  plus 5 s. Ratio <= 1 means the audit goes as fast as the rate limit allows.
Run: `.venv/bin/python -m bench audit` (first build: ~2 min for 2,000 people, ~15-20 min for 10,000).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Result
from config.policy import HardwareKeys, Policy, load_policy
from config.settings import load_settings
from flows.audit import AuditStats, FactorScope, audit_with_stats
from playbook.models import AuditResult
from playbook.when import okta_time
from sandbox.okta.ratelimit import BUCKETS, Bucket, RateLimits
from sandbox.org import Org
from sandbox.scenario import GroundTruth, ScenarioSpec, build_org, read_ground_truth, write_ground_truth
from sandbox.server import SandboxServer
from store.db import make_engine, migrate, transaction
from store.evidence import append
from store.ingest_state import RunCounts, finish_run, start_run
from store.records import google_record, okta_record
from tasks.google.reports import APPLICATIONS

CACHE = Path(os.environ.get("HOLDFAST_BENCH_CACHE", "/tmp/holdfast-bench"))
TAG = "a1"  # bump when the scenario generator or the store schema changes: cached cases are rebuilt
END = datetime(2026, 12, 1, tzinfo=UTC)
SEED = 2022
BOUND_S = 5.0
CASES = (2_000, 10_000)
BATCH = 20_000


def _say(message: str) -> None:
    print(f"  audit: {message}", flush=True)


@dataclass
class Case:
    folder: Path
    truth: GroundTruth

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.folder / 'store.sqlite'}"


def _load_store(org: Org, url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    stamp = okta_time(END + timedelta(minutes=5))
    after: tuple[str, int] | None = None
    loaded = 0
    while page := org.system_log.scan(after=after, limit=BATCH):
        with transaction(engine, write=True) as conn:
            records = [okta_record(e.as_dict(), raw=e.body, ingested_at=stamp) for e in page]
            append(conn, "okta", records, ingested_at=stamp)
        after = (page[-1].published, page[-1].seq)
        loaded += len(page)
        if loaded % 500_000 < BATCH:
            _say(f"{loaded:,} Okta events stored")
    for application in APPLICATIONS:
        activities = []
        before: tuple[str, int] | None = None
        while page := org.reports.scan(application, before=before, limit=BATCH):
            activities.extend(page)
            before = (page[-1].time, page[-1].seq)
        activities.sort(key=lambda a: (a.time, a.seq))
        with transaction(engine, write=True) as conn:
            run = start_run(conn, f"google:{application}", stamp)
            for first in range(0, len(activities), BATCH):
                chunk = activities[first : first + BATCH]
                records = [google_record(a.as_dict(), raw=a.body, ingested_at=stamp) for a in chunk]
                append(conn, f"google:{application}", records, ingested_at=stamp)
            finish_run(conn, run, RunCounts(), "ok", stamp, None)
    engine.dispose()


def build(people: int) -> Case:
    folder = CACHE / f"audit-{people}p-90d-s{SEED}-{TAG}"
    if (folder / "done").exists():
        return Case(folder, read_ground_truth(folder / "ground-truth.json"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="holdfast-bench-org-", dir=CACHE) as tmp:
        spec = ScenarioSpec(seed=SEED, people=people, days=90, end=END)
        org, truth = build_org(spec, Path(tmp))
        _say(f"{people:,} people generated in {time.perf_counter() - started:,.0f} s ({truth.okta_events:,} events)")
        case = Case(folder, truth)
        _load_store(org, case.store_url)
        state = {"users": list(org.users.values()), "factors": org.factors, "groups": list(org.groups.values())}
        (folder / "org.pickle").write_bytes(pickle.dumps(state))
        shutil.copy(Path(tmp) / "approved-keys.json", folder / "approved-keys.json")
        write_ground_truth(truth, folder / "ground-truth.json")
        org.close()
    (folder / "done").write_text(okta_time(datetime.now(UTC)))
    _say(f"{people:,} people cached in {folder} after {time.perf_counter() - started:,.0f} s")
    return case


def _org(case: Case, workdir: Path) -> Org:
    """The cached Okta state (users, factors, groups) in a fresh org; its logs stay empty."""
    state = pickle.loads((case.folder / "org.pickle").read_bytes())  # our own cache file
    org = Org.empty(workdir, case.truth.domain)
    for user in state["users"]:
        org.add_user(user)
    org.factors = state["factors"]
    for group in state["groups"]:
        org.add_group(group)
    return org


def _score(result: AuditResult, truth: GroundTruth) -> tuple[float, float, int]:
    """Precision and recall of accounts, and how many found accounts differ in reasons, tier, actors or
    corroboration from the ground truth."""
    got = {
        f.login: ([r.value for r in f.reasons], f.risk.value, [k.value for k in f.actor_kinds], f.corroboration.value)
        for f in result.findings
    }
    want = {
        a.login: ([r.value for r in a.reasons], a.tier.value, [k.value for k in a.actor_kinds], a.corroboration.value)
        for a in truth.accounts
    }
    hits = set(got) & set(want)
    precision = len(hits) / len(got) if got else 1.0
    recall = len(hits) / len(want) if want else 1.0
    return precision, recall, sum(1 for login in hits if got[login] != want[login])


def _lifted() -> RateLimits:
    """Buckets too large to matter. (`enabled=False` would stop enforcing but still count down the
    X-Rate-Limit-Remaining header, which holdfast's limiter obeys.)"""
    limits = RateLimits(concurrency=1_000_000)
    for name in BUCKETS:
        setattr(limits, name, Bucket(1_000_000_000))
    return limits


def serve(folder: Path, limits: str) -> None:
    """Child process: serve the cached org until stdin closes; the first stdout line is its HOLDFAST_* env."""
    case = Case(folder, read_ground_truth(folder / "ground-truth.json"))
    with tempfile.TemporaryDirectory(prefix="holdfast-bench-serve-") as tmp:
        org = _org(case, Path(tmp) / "org")
        org.okta_rate_limits = RateLimits() if limits == "okta" else _lifted()
        with SandboxServer(org) as server:
            print(json.dumps(server.env()), flush=True)
            sys.stdin.read()
        org.close()


def _audit(case: Case, policy: Policy, limits: str, scope: FactorScope) -> tuple[AuditResult, AuditStats]:
    """One audit against the cached org served by a child process (as Okta would be: another machine)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.audit", "--serve", str(case.folder), limits],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        env = {k: v for k, v in json.loads(child.stdout.readline()).items() if not k.startswith("HOLDFAST_GOOGLE__")}
        env["HOLDFAST_STORE__URL"] = case.store_url
        settings = load_settings(environ=env)
        engine = make_engine(case.store_url)
        cutoff = datetime.fromisoformat(case.truth.cutoff.replace("Z", "+00:00"))
        try:
            return asyncio.run(
                audit_with_stats(
                    settings,
                    policy,
                    engine,
                    cutoff=cutoff,
                    seeds=case.truth.seed_accounts,
                    clock=lambda: END + timedelta(minutes=10),
                    factor_scope=scope,
                )
            )
        finally:
            engine.dispose()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=60)


def _line(name: str, result: AuditResult, stats: AuditStats, truth: GroundTruth) -> Result:
    precision, recall, differing = _score(result, truth)
    return Result(
        name,
        stats.total_s,
        BOUND_S,
        "s",
        note=(
            f"{len(result.findings)} accounts, precision {precision:.3f} recall {recall:.3f}, {differing} differing; "
            f"evidence {stats.evidence_s:.2f}s ({stats.credential_events} events), detect {stats.detect_s:.2f}s, "
            f"users {stats.directory_s:.2f}s ({stats.users_listed} listed), factors {stats.factors_s:.2f}s "
            f"({stats.factor_accounts} accounts, {stats.factor_rate:,.0f}/s), access {stats.access_s:.2f}s"
        ),
    )


def run() -> list[Result]:
    results: list[Result] = []
    for people in CASES:
        case = build(people)
        policy = load_policy()
        policy = policy.model_copy(update={"hardware_keys": HardwareKeys(registry=case.folder / "approved-keys.json")})
        _audit(case, policy, "off", "findings")  # warm: page cache, imports, TLS
        found, stats = _audit(case, policy, "off", "findings")
        results.append(
            _line(f"audit {people:,} people x 90 days (store; factors of findings)", found, stats, case.truth)
        )
        full, stats = _audit(case, policy, "off", "keys")
        results.append(_line(f"audit {people:,} people x 90 days (store; + every key owner)", full, stats, case.truth))
        limited, real = _audit(case, policy, "okta", "keys")
        per_window = RateLimits().api_other.limit
        windows = math.ceil(real.factor_accounts / per_window)
        bound = (windows - 1) * RateLimits().api_other.window_s + BOUND_S
        same = limited.model_dump(exclude={"until"}) == full.model_dump(exclude={"until"})
        results.append(
            Result(
                f"factor reads {people:,} people at Okta's limits",
                real.factors_s,
                bound,
                "s",
                note=(
                    f"{real.factor_accounts} accounts in {real.factors_s:.1f}s, {windows} window(s) of "
                    f"{per_window}/min; whole audit {real.total_s:.1f}s; same findings as unlimited: {same}"
                ),
            )
        )
    return results


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), sys.argv[3])
    else:
        for result in run():
            print(result.line())
