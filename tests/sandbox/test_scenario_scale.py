"""Containment scale: a 100,000-person org (users, factors, groups, Slack; no history) builds in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.org import UserStatus
from sandbox.scenario import APPROVED_KEYS_FILE, GROUP_EVERYONE, ScenarioSpec, build_org, read_registry


@pytest.mark.slow
def test_a_100k_person_org_without_logs_builds_with_its_accounts_to_contain(tmp_path: Path) -> None:
    org, truth = build_org(ScenarioSpec(seed=5, people=100_000, log_events=False), tmp_path)
    try:
        assert len(org.users) == 100_000 and truth.okta_events == 0 and org.system_log.count() == 0
        everyone = org.group_by_name(GROUP_EVERYONE)
        assert everyone is not None and len(everyone.members) == 100_000
        assert len(org.slack_users) > 95_000
        # About 5% changed a credential since the cutoff (Cloudflare: 144 of ~3,000): thousands to contain.
        assert 3_000 < len(truth.accounts) < 8_000
        assert all(org.users[a.user_id].login == a.login for a in truth.accounts)
        active = sum(1 for u in org.users.values() if u.status is UserStatus.ACTIVE)
        assert active > 0.94 * len(org.users)
        assert len(read_registry(tmp_path / APPROVED_KEYS_FILE).keys) > 25_000
    finally:
        org.close()
