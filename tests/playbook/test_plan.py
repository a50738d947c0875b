"""Planning: lifecycle-aware order, protection, domains, caps. Pure: no sandbox, no Prefect."""

from __future__ import annotations

import pytest

from config.policy import Reason, Tier, load_policy
from playbook.models import Action, FactorFinding, Finding
from playbook.plan import blast_radius_cap, build_plan


def finding(login: str, *, status: str = "ACTIVE", tier: Tier = Tier.CRITICAL, **extra: object) -> Finding:
    return Finding(
        user_id=f"00u{login[:5]}", login=login, status=status, risk=tier, reasons=(Reason.PASSWORD_RESET,), **extra
    )  # type: ignore[arg-type]


def test_an_active_account_is_suspended_first_and_resets_wait_for_the_release() -> None:
    plan = build_plan(
        "INC",
        [finding("jane@acme.com")],
        load_policy(),
        protected_by_group={},
        org_domains=["acme.com"],
        active_users=1000,
    )
    actions = [s.action for s in plan.accounts[0].actions]
    assert actions[0] is Action.SUSPEND
    assert actions[-2:] == [Action.RESET_FACTORS_AT_RELEASE, Action.RESET_PASSWORD_AT_RELEASE]
    assert Action.RESET_FACTORS not in actions  # illegal while SUSPENDED


@pytest.mark.parametrize("status", ["LOCKED_OUT", "PASSWORD_EXPIRED", "RECOVERY"])
def test_accounts_that_cannot_be_suspended_get_an_immediate_reset(status: str) -> None:
    plan = build_plan(
        "INC",
        [finding("jo@acme.com", status=status)],
        load_policy(),
        protected_by_group={},
        org_domains=["acme.com"],
        active_users=1000,
    )
    actions = [s.action for s in plan.accounts[0].actions]
    assert actions[0] is Action.RESET_PASSWORD_NOW
    assert Action.SUSPEND not in actions and Action.RESET_FACTORS in actions


def test_deprovisioned_accounts_have_nothing_to_contain() -> None:
    plan = build_plan(
        "INC",
        [finding("gone@acme.com", status="DEPROVISIONED")],
        load_policy(),
        protected_by_group={},
        org_domains=["acme.com"],
        active_users=1000,
    )
    assert not plan.accounts and plan.skipped[0].login == "gone@acme.com"


def test_protected_accounts_groups_and_foreign_domains_go_to_manual_handling() -> None:
    policy = load_policy()
    findings = [
        finding("svc-holdfast@example.com"),
        finding("admin@acme.com"),
        finding("eve@other.org"),
        finding("ok@acme.com"),
    ]
    plan = build_plan(
        "INC", findings, policy, protected_by_group={"00uadmin": "Break Glass Admins"},
        org_domains=["acme.com", "example.com"], active_users=1000,
    )  # fmt: skip
    assert [a.login for a in plan.accounts] == ["ok@acme.com"]
    assert {m.login: m.why for m in plan.manual} == {
        "svc-holdfast@example.com": "protected account",
        "admin@acme.com": "protected group Break Glass Admins",
        "eve@other.org": "outside the org's domains",
    }


def test_a_factor_flagged_twice_is_unenrolled_once() -> None:
    problems = (
        FactorFinding(factor_id="fwf1", factor_type="webauthn", problem="unknown_hardware_key"),
        FactorFinding(factor_id="fwf1", factor_type="webauthn", problem="enrolled_since_cutoff"),
    )
    plan = build_plan(
        "INC",
        [finding("k@acme.com", tier=Tier.HIGH, factor_findings=problems)],
        load_policy(),
        protected_by_group={},
        org_domains=["acme.com"],
        active_users=1000,
    )
    keys = [s.key for s in plan.accounts[0].actions]
    assert keys.count("unenroll_factor:fwf1") == 1


def test_seeds_come_first_then_tiers() -> None:
    findings = [
        finding("b@acme.com", tier=Tier.MEDIUM),
        finding("a@acme.com", tier=Tier.CRITICAL),
        finding("z@acme.com", tier=Tier.LOW, seed=True),
    ]
    plan = build_plan(
        "INC", findings, load_policy(), protected_by_group={}, org_domains=["acme.com"], active_users=1000
    )
    assert [a.login for a in plan.accounts] == ["z@acme.com", "a@acme.com", "b@acme.com"]


@pytest.mark.parametrize(("active", "cap"), [(100_000, 500), (2_000, 200), (5, 1)])
def test_the_cap_is_the_smaller_of_the_count_and_the_share_of_active_users(active: int, cap: int) -> None:
    assert blast_radius_cap(load_policy(), active) == cap


def test_a_plan_over_the_cap_is_marked() -> None:
    findings = [finding(f"u{i}@acme.com") for i in range(30)]
    findings = [f.model_copy(update={"user_id": f"00u{i:05d}"}) for i, f in enumerate(findings)]
    plan = build_plan("INC", findings, load_policy(), protected_by_group={}, org_domains=["acme.com"], active_users=200)
    assert plan.cap == 20 and plan.over_cap
