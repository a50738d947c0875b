"""Test support for the operations flows (alert, reaudit, timeline) and the scale-out test.

A small January-2022 scenario org, its System Log loaded into the evidence store exactly as the ingest flow
stores it (okta_record + append: the ingest flow itself is tested in test_ingest.py), and a policy an
operator would write for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from playbook.when import okta_time
from sandbox.org import Org, UserStatus
from sandbox.scenario import GroundTruth, build_org, load_spec
from store.db import transaction
from store.evidence import append
from store.records import okta_record

POLICY = Path(__file__).parents[2] / "config" / "policy.toml"


def ops_policy(folder: Path, registry: Path) -> Path:
    """The default policy with the scenario's key registry, and two test-only changes: a blast-radius cap of
    half the org (a 150-person org's 10% is below the scenario's compromise), and factors left alone at
    containment (the plan's factor steps are the containment tests' subject, not these)."""
    text = POLICY.read_text()
    text = text.replace('registry = "approved-keys.json"', f'registry = "{registry}"')
    text = text.replace("max_fraction_of_active = 0.10", "max_fraction_of_active = 0.5")
    text = text.replace('factors = "unenroll_suspicious"', 'factors = "none"').replace(
        'factors = "reset_all"', 'factors = "none"'
    )
    path = folder / "policy.toml"
    path.write_text(text)
    return path


def scenario_org(folder: Path, *, people: int = 150, days: int = 10, seed: int = 7) -> tuple[Org, GroundTruth]:
    return build_org(load_spec(None, seed=seed, people=people, days=days), folder / "org")


def load_evidence(engine: Engine, org: Org) -> int:
    """The org's whole System Log into the evidence store, as the ingest flow stores it."""
    events = org.system_log.scan(limit=10_000_000)
    stamp = okta_time(datetime.now(UTC))
    records = [okta_record(json.loads(e.body), raw=e.body, ingested_at=stamp) for e in events]
    with transaction(engine, write=True) as conn:
        return append(conn, "okta", records, ingested_at=stamp).stored


def bystanders(org: Org, truth: GroundTruth, count: int) -> list[str]:
    """ACTIVE people the scenario leaves alone (not found, protected, a decoy or a verifier): their ids."""
    busy = {a.user_id for a in truth.accounts} | {p.user_id for p in truth.protected}
    busy |= {d.user_id for d in truth.decoys}
    logins = {*truth.verifiers, *truth.seed_accounts}
    free = [
        u.id
        for u in sorted(org.users.values(), key=lambda u: u.login)
        if u.status is UserStatus.ACTIVE and u.id not in busy and u.login not in logins and "svc" not in u.login
    ]
    assert len(free) >= count, f"only {len(free)} bystanders"
    return free[:count]
