"""Kill the containment process (SIGKILL) at 20+ points and rerun: no action repeated, none missing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from prefect.settings import PREFECT_API_URL
from sqlalchemy import select

from config.policy import Tier
from config.settings import load_settings
from sandbox.knobs import Knobs
from sandbox.org import Org, UserStatus
from sandbox.server import SandboxServer
from store.db import make_engine, transaction
from store.schema import actions
from tests.factories import add_people, settings_file
from tests.flows.test_contain import log_counts, make_plan

KILL_POINTS = 22


def finished_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with transaction(engine) as conn:
            rows = conn.execute(select(actions.c.state)).all()
    except Exception:  # the worker may not have created the tables yet
        return 0
    finally:
        engine.dispose()
    return sum(1 for (state,) in rows if state not in ("intent",))


def test_containment_survives_sigkill_at_every_point(
    org: Org, knobs: Knobs, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ids = add_people(org, 40)
    knobs.set("okta", latency_ms=(40.0, 80.0))  # slow enough that kills land between outcomes
    config = settings_file(sandbox, tmp_path, HOLDFAST_OKTA__MAX_CONCURRENCY="4")
    url = load_settings(config, environ={}).store.url
    plan = make_plan(org, ids, "INC-CRASH-0001", Tier.CRITICAL)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.model_dump_json())
    total = sum(len(a.actions) for a in plan.accounts)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_LOGGING_LEVEL": "ERROR"}
    command = [sys.executable, "-m", "tests.flows.contain_worker", str(config), str(plan_file)]
    rng = random.Random(20220121)
    kills = 0
    for point in range(KILL_POINTS):
        before = finished_count(url)
        if before >= total:
            break
        target = before + rng.randint(1, 4) if point % 4 else before  # some kills land before any progress
        worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while worker.poll() is None and finished_count(url) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))  # land between the call and its recorded outcome, sometimes
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            kills += 1
        worker.wait()
    assert kills >= 15
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]

    assert finished_count(url) == total
    logged = log_counts(org)
    for uid in ids:
        assert org.users[uid].status is UserStatus.SUSPENDED
        assert org.users[uid].sessions == 0
        assert [f.factor_type for f in org.factors[uid]] == ["push"]
        # Suspensions and unenrolments are never repeated: a repeat is refused by Okta and recognised.
        assert logged[("user.lifecycle.suspend", uid)] == 1
        assert logged[("user.mfa.factor.deactivate", uid)] == 1
    engine = make_engine(url)
    with transaction(engine) as conn:
        states = Counter(state for (state,) in conn.execute(select(actions.c.state)))
    assert set(states) <= {"done", "already_done", "deferred"}
