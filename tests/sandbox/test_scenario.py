"""The scenario generator: determinism, ground truth that agrees with what was stored, and scenario files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbox.org import Org, PersonKind, UserStatus, iso
from sandbox.scenario import (
    APPROVED_KEYS_FILE,
    GROUND_TRUTH_FILE,
    GROUP_BREAK_GLASS,
    GROUP_EVERYONE,
    GROUP_RESPONDERS,
    GROUP_VERIFIERS,
    IT_CHANNEL_ID,
    SUBJECT_ADMIN_RESET,
    SUBJECT_SELF_RESET,
    CompromiseSpec,
    GroundTruth,
    NoiseSpec,
    ScenarioError,
    ScenarioSpec,
    Tier,
    build_org,
    generate,
    load_spec,
    read_ground_truth,
    read_registry,
)
from sandbox.scenario.truth import EVENT_REASONS

SCENARIOS = Path(__file__).parents[1] / "data" / "scenarios"
END = datetime(2022, 1, 21, 3, 30, tzinfo=UTC)
SMALL = ScenarioSpec(seed=42, people=250, days=30, cutoff_days_before_end=20, end=END)


def stored_events(org: Org) -> Iterator[dict[str, object]]:
    after: tuple[str, int] | None = None
    while page := org.system_log.scan(after=after, limit=5000):
        for stored in page:
            yield stored.as_dict()
        after = (page[-1].published, page[-1].seq)


def stored_bodies(org: Org) -> list[str]:
    bodies = []
    after: tuple[str, int] | None = None
    while page := org.system_log.scan(after=after, limit=5000):
        bodies.extend(s.body for s in page)
        after = (page[-1].published, page[-1].seq)
    return bodies


def activities(org: Org, application: str) -> list[dict[str, object]]:
    return [a.as_dict() for a in org.reports.scan(application, limit=1_000_000)]


def target_ids(event: dict[str, object]) -> list[str]:
    targets = event["target"]
    assert isinstance(targets, list)
    return [str(t["id"]) for t in targets]


def get(obj: object, *path: str) -> object:
    for key in path:
        assert isinstance(obj, dict)
        obj = obj.get(key)
    return obj


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, GroundTruth]]:
    org, truth = build_org(SMALL, tmp_path_factory.mktemp("scenario"))
    yield org, truth
    org.close()


@pytest.fixture(scope="module")
def events(built: tuple[Org, GroundTruth]) -> list[dict[str, object]]:
    return list(stored_events(built[0]))


def test_the_same_spec_gives_byte_identical_truth_registry_users_and_event_streams(tmp_path: Path) -> None:
    spec = SMALL.model_copy(update={"people": 120, "days": 12, "cutoff_days_before_end": 8})
    first, truth_a = build_org(spec, tmp_path / "a")
    second, truth_b = build_org(spec, tmp_path / "b")
    try:
        for name in (GROUND_TRUTH_FILE, APPROVED_KEYS_FILE):
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert truth_a == truth_b
        assert stored_bodies(first) == stored_bodies(second)  # same uuids, request ids, times, everything
        for app in ("login", "gmail", "user_accounts", "admin"):
            assert [a.body for a in first.reports.scan(app, limit=100_000)] == [
                a.body for a in second.reports.scan(app, limit=100_000)
            ]
        assert first.users == second.users
        assert first.factors == second.factors
        assert first.slack_users == second.slack_users
        assert {g.name: g.members for g in first.groups.values()} == {g.name: g.members for g in second.groups.values()}
    finally:
        first.close()
        second.close()


_BUILD_AND_HASH = """
import hashlib, sys
from datetime import UTC, datetime
from pathlib import Path
from sandbox.scenario import ScenarioSpec, build_org
spec = ScenarioSpec(seed=4, people=100, days=8, cutoff_days_before_end=5, end=datetime(2022, 1, 21, tzinfo=UTC))
org, _ = build_org(spec, Path(sys.argv[1]))
digest = hashlib.sha256()
for app in ("login", "gmail", "user_accounts", "admin"):
    for activity in org.reports.scan(app, limit=100_000):
        digest.update(activity.body.encode())
after = None
while page := org.system_log.scan(after=after, limit=5000):
    for stored in page:
        digest.update(stored.body.encode())
    after = (page[-1].published, page[-1].seq)
print(digest.hexdigest())
"""


def test_the_same_spec_gives_the_same_bytes_in_processes_with_different_hash_seeds(tmp_path: Path) -> None:
    digests = []
    for n in (1, 2):
        env = {**os.environ, "PYTHONHASHSEED": str(n)}
        out = subprocess.run(
            [sys.executable, "-c", _BUILD_AND_HASH, str(tmp_path / str(n))],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.append(out.stdout.strip())
    assert digests[0] == digests[1]
    for name in (GROUND_TRUTH_FILE, APPROVED_KEYS_FILE):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def test_another_seed_gives_another_org(tmp_path: Path) -> None:
    spec = SMALL.model_copy(update={"people": 120, "days": 12, "cutoff_days_before_end": 8, "log_events": False})
    a, truth_a = build_org(spec, tmp_path / "a")
    b, truth_b = build_org(spec.model_copy(update={"seed": 43}), tmp_path / "b")
    a.close()
    b.close()
    assert set(a.users) != set(b.users)
    assert truth_a.seed_accounts != truth_b.seed_accounts


def test_the_ground_truth_does_not_depend_on_writing_the_logs(tmp_path: Path) -> None:
    busy = NoiseSpec(password_update=0.01, self_reset=0.01, admin_reset=0.01, factor_enrol=0.01)
    spec = SMALL.model_copy(update={"people": 150, "days": 14, "cutoff_days_before_end": 9, "noise": busy})
    with_logs, truth = build_org(spec, tmp_path / "a")
    without, truth_quiet = build_org(spec.model_copy(update={"log_events": False}), tmp_path / "b")
    with_logs.close()
    without.close()
    assert truth_quiet.okta_events == 0 and truth_quiet.google_activities == 0
    assert truth.okta_events > 0
    assert {k.value for a in truth.accounts for k in a.actor_kinds} >= {"self", "admin"}
    assert {a.corroboration.value for a in truth.accounts} >= {"confirmed", "okta_only"}
    assert truth_quiet.model_copy(update={"okta_events": 0, "google_activities": 0}) == truth.model_copy(
        update={"okta_events": 0, "google_activities": 0}
    )
    assert {u: [f.profile for f in fs] for u, fs in with_logs.factors.items()} == {
        u: [f.profile for f in fs] for u, fs in without.factors.items()
    }


def test_events_are_stored_in_time_order_inside_the_history(built: tuple[Org, GroundTruth], events: list) -> None:
    _, truth = built
    published = [str(e["published"]) for e in events]
    assert published == sorted(published)
    assert truth.start <= published[0] and published[-1] < truth.end
    assert len(events) == truth.okta_events
    assert len({e["uuid"] for e in events}) == len(events)
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", str(e["uuid"]))
        for e in events[:2000]
    )
    kinds = Counter(str(e["eventType"]) for e in events)
    for ordinary in (
        "user.session.start",
        "user.authentication.sso",
        "user.authentication.auth_via_mfa",
        "policy.evaluate_sign_on",
        "user.session.end",
        "user.account.update_password",
        "user.mfa.factor.activate",
        "user.account.reset_password",
    ):
        assert kinds[ordinary] > 0, ordinary
    failures = [
        e
        for e in events
        if e["eventType"] == "user.authentication.auth_via_mfa" and get(e, "outcome", "result") == "FAILURE"
    ]
    assert failures and all(get(e, "authenticationContext", "credentialType") for e in failures)


def test_okta_support_events_carry_the_public_support_fingerprint(events: list) -> None:
    support = [e for e in events if get(e, "actor", "alternateId") == "system@okta.com"]
    assert {str(e["eventType"]) for e in support} >= {
        "user.account.reset_password",
        "user.mfa.factor.update",
        "user.mfa.factor.reset_all",
        "system.mfa.factor.deactivate",
        "user.mfa.attempt_bypass",
        "user.mfa.factor.deactivate",
        "user.session.impersonation.initiate",
        "user.session.impersonation.grant",
        "user.session.impersonation.extend",
    }
    for e in support:
        assert get(e, "transaction", "id") == "unknown"
        assert get(e, "client", "userAgent") is None
        assert get(e, "client", "geographicalContext") is None
        assert get(e, "client", "ipAddress") is None
    assert {get(e, "outcome", "result") for e in support if e["eventType"] == "user.mfa.attempt_bypass"} == {
        "SUCCESS",
        "FAILURE",
    }


def test_the_accounts_to_find_are_exactly_those_the_stored_events_and_checks_name(
    built: tuple[Org, GroundTruth], events: list
) -> None:
    """Re-derive the credential changes since the cutoff from the System Log and compare with the truth."""
    org, truth = built
    from_log: dict[str, set[str]] = defaultdict(set)
    for e in events:
        reason = EVENT_REASONS.get(str(e["eventType"]))
        if reason is None or str(e["published"]) < truth.cutoff:
            continue
        for target in target_ids(e):
            if target in org.users:
                from_log[target].add(reason.value)
    not_in_log = {"unknown_hardware_key", "google_only_reset", "seed"}
    expected = {a.user_id: {r.value for r in a.reasons} - not_in_log for a in truth.accounts}
    assert {u: r for u, r in expected.items() if r} == dict(from_log)
    for account in truth.accounts:
        assert account.evidence_in_log == bool(expected[account.user_id]), account.login
        assert account.first_change is None or account.first_change >= truth.cutoff


def test_every_critical_account_with_log_evidence_has_its_support_or_impersonation_events(
    built: tuple[Org, GroundTruth], events: list
) -> None:
    _, truth = built
    support_targets = {
        t
        for e in events
        if get(e, "actor", "alternateId") == "system@okta.com" and str(e["published"]) >= truth.cutoff
        for t in target_ids(e)
    }
    sessions = {
        get(e, "authenticationContext", "externalSessionId")
        for e in events
        if e["eventType"] == "user.session.impersonation.initiate"
    }
    impersonated = {
        t
        for e in events
        if get(e, "authenticationContext", "externalSessionId") in sessions
        and e["eventType"] == "user.account.reset_password"
        for t in target_ids(e)
    }
    critical = truth.by_tier(Tier.CRITICAL)
    assert len(critical) >= 12
    for account in critical:
        kinds = {k.value for k in account.actor_kinds}
        if "okta_support" in kinds:
            assert account.user_id in support_targets, account.login
        if "impersonation" in kinds:
            assert account.user_id in impersonated, account.login
        if not account.evidence_in_log:
            assert {r.value for r in account.reasons} & {"unknown_hardware_key", "google_only_reset"}


def test_decoys_changed_credentials_only_before_the_cutoff(built: tuple[Org, GroundTruth], events: list) -> None:
    _, truth = built
    assert truth.decoys
    decoy_ids = {d.user_id for d in truth.decoys}
    assert not decoy_ids & {a.user_id for a in truth.accounts}
    changes: dict[str, list[str]] = defaultdict(list)
    for e in events:
        if str(e["eventType"]) in EVENT_REASONS:
            for target in target_ids(e):
                if target in decoy_ids:
                    changes[target].append(str(e["published"]))
    for decoy in truth.decoys:
        assert changes[decoy.user_id], decoy.login
        assert max(changes[decoy.user_id]) == decoy.last_change < truth.cutoff
    assert any("okta_support" in {k.value for k in d.actor_kinds} for d in truth.decoys)


def test_the_cutoff_boundary_is_inclusive(built: tuple[Org, GroundTruth]) -> None:
    _, truth = built
    assert any(a.first_change == truth.cutoff for a in truth.accounts)
    one_minute_before = iso(SMALL.cutoff - timedelta(minutes=1))
    assert truth.cutoff == iso(SMALL.cutoff)
    assert any(d.last_change == one_minute_before for d in truth.decoys)


def test_corroboration_agrees_with_the_gmail_reset_mails(built: tuple[Org, GroundTruth], events: list) -> None:
    org, truth = built
    mails: Counter[str] = Counter()
    for activity in activities(org, "gmail"):
        if str(get(activity, "id", "time")) < truth.cutoff:
            continue
        params = {p["name"]: p for p in activity["events"][0]["parameters"]}  # type: ignore[index]
        message = {p["name"]: p for p in params["message_info"]["messageValue"]["parameter"]}
        # The Reports API does not expose the sender; Okta's mails are told apart by subject and message id.
        assert message["subject"]["value"] in (SUBJECT_ADMIN_RESET, SUBJECT_SELF_RESET)
        assert message["rfc2822_message_id"]["value"].endswith("@okta.com>")
        mails[str(get(activity, "actor", "email"))] += 1
    resets: Counter[str] = Counter()
    for e in events:
        if e["eventType"] == "user.account.reset_password" and str(e["published"]) >= truth.cutoff:
            for target in target_ids(e):
                if get(e, "outcome", "result") == "SUCCESS":
                    resets[target] += 1
    by_kind = Counter(a.corroboration.value for a in truth.accounts)
    assert by_kind["confirmed"] and by_kind["okta_only"] and by_kind["google_only"] and by_kind["not_applicable"]
    for a in truth.accounts:
        n_resets, n_mails = resets[a.user_id], mails[a.login]
        if a.corroboration.value == "confirmed":
            assert n_resets and n_mails >= n_resets, a.login
        elif a.corroboration.value == "okta_only":
            assert n_resets > n_mails, a.login
        elif a.corroboration.value == "google_only":
            assert n_mails and not n_resets, a.login
        else:
            assert "password_reset" not in {r.value for r in a.reasons}


def test_tiers_follow_the_vocabulary(built: tuple[Org, GroundTruth]) -> None:
    _, truth = built
    for a in truth.accounts:
        reasons, kinds = {r.value for r in a.reasons}, {k.value for k in a.actor_kinds}
        if reasons & {"impersonation", "unknown_hardware_key", "google_only_reset"} or kinds & {
            "okta_support",
            "impersonation",
        }:
            assert a.tier.value == "critical"
        elif reasons & {"mfa_factor_deactivate", "mfa_factor_reset_all", "mfa_bypass_attempt"}:
            assert a.tier.value == "high"
        elif reasons - {"seed"}:
            assert a.tier.value == "medium"
        else:
            assert a.tier.value == "low"
        assert a.reasons == sorted(a.reasons) and a.actor_kinds == sorted(a.actor_kinds)
    medium = truth.by_tier(Tier.MEDIUM)
    assert {k.value for a in medium for k in a.actor_kinds} >= {"self", "admin"}


def test_the_seed_account_is_compromised_and_listed(built: tuple[Org, GroundTruth]) -> None:
    _, truth = built
    assert len(truth.seed_accounts) == 1
    seed = truth.account(truth.seed_accounts[0])
    assert seed is not None and "seed" in seed.reasons and seed.tier.value == "critical"


def test_hardware_keys_outside_the_registry_are_exactly_the_swapped_ones(built: tuple[Org, GroundTruth]) -> None:
    org, truth = built
    registry = read_registry(org.workdir / APPROVED_KEYS_FILE)
    raw = json.loads((org.workdir / APPROVED_KEYS_FILE).read_text())
    assert set(raw) == {"keys"} and set(raw["keys"][0]) == {"login", "credential_id", "enrolled"}
    assert raw["keys"] == sorted(raw["keys"], key=lambda k: (k["login"], k["credential_id"]))
    approved = registry.credential_ids()
    unknown = {
        org.users[uid].login
        for uid, factors in org.factors.items()
        for f in factors
        if f.factor_type == "webauthn" and f.profile["credentialId"] not in approved
    }
    expected = {a.login for a in truth.accounts if "unknown_hardware_key" in a.reasons}
    assert unknown == expected and len(expected) == 2
    with_keys = sum(1 for fs in org.factors.values() if any(f.factor_type == "webauthn" for f in fs))
    assert 0.2 < with_keys / len(org.users) < 0.5
    for factors in org.factors.values():
        for f in factors:
            if f.factor_type == "webauthn":
                assert re.fullmatch(r"[A-Za-z0-9_-]{86}", f.profile["credentialId"])
                assert f.profile["authenticatorName"]


def test_the_org_has_the_people_groups_and_slack_the_playbook_needs(built: tuple[Org, GroundTruth]) -> None:
    org, truth = built
    assert len(org.users) == SMALL.people == truth.people
    logins = [u.login for u in org.users.values()]
    assert len(set(logins)) == len(logins)
    assert all(re.fullmatch(r"00u[A-Za-z0-9]{17}", uid) for uid in org.users)
    prefixes = {"webauthn": "fwf", "token:software:totp": "ost", "push": "opf", "sms": "mbl", "email": "emf"}
    for factors in org.factors.values():
        for f in factors:
            assert f.id.startswith(prefixes[f.factor_type]) and len(f.id) == 20
    statuses = Counter(u.status for u in org.users.values())
    assert statuses[UserStatus.ACTIVE] > 0.9 * len(org.users)
    assert org.find_user(f"svc-holdfast@{SMALL.domain}").kind is PersonKind.SERVICE  # type: ignore[union-attr]
    for name in (GROUP_EVERYONE, GROUP_VERIFIERS, GROUP_RESPONDERS, GROUP_BREAK_GLASS):
        group = org.group_by_name(name)
        assert group is not None and group.id.startswith("00g") and group.members, name
    assert len(org.group_by_name(GROUP_EVERYONE).members) == len(org.users)  # type: ignore[union-attr]
    breakglass = org.group_by_name(GROUP_BREAK_GLASS)
    assert breakglass is not None
    assert {org.users[m].login for m in breakglass.members} == {f"breakglass{n}@{SMALL.domain}" for n in (1, 2)}
    verifiers = org.group_by_name(GROUP_VERIFIERS)
    assert verifiers is not None
    active = sorted(org.users[m].login for m in verifiers.members if org.users[m].status is UserStatus.ACTIVE)
    assert truth.verifiers == active and len(active) < len(verifiers.members)  # one suspended verifier
    assert org.slack_channels[IT_CHANNEL_ID] == "it-security"
    slack_emails = {s.email for s in org.slack_users.values()}
    humans = [u for u in org.users.values() if u.kind in (PersonKind.EMPLOYEE, PersonKind.IT)]
    assert len(slack_emails) > 0.95 * len(humans)
    assert truth.slack_missing and not set(truth.slack_missing) & slack_emails
    assert all(re.fullmatch(r"U[0-9A-Z]{10}", s) for s in org.slack_users)


def test_protected_accounts_are_listed_and_one_responder_is_found_but_protected(
    built: tuple[Org, GroundTruth],
) -> None:
    org, truth = built
    why = Counter(p.why for p in truth.protected)
    assert why == {"break_glass": 2, "responder": SMALL.responders, "holdfast": 1}
    responders = org.group_by_name(GROUP_RESPONDERS)
    assert responders is not None
    assert {p.user_id for p in truth.protected if p.why == "responder"} == responders.members
    found_protected = {a.login for a in truth.accounts} & {p.login for p in truth.protected}
    assert len(found_protected) == 1


def test_a_quiet_org_has_ordinary_changes_only(tmp_path: Path) -> None:
    spec = load_spec(SCENARIOS / "quiet-org.json", people=200, days=20)
    assert spec.compromise is None and spec.cutoff_days_before_end < 20
    org, truth = build_org(spec.model_copy(update={"end": END}), tmp_path)
    org.close()
    assert truth.accounts and not truth.seed_accounts
    assert {a.tier.value for a in truth.accounts} == {"medium"}
    assert read_ground_truth(tmp_path / GROUND_TRUTH_FILE) == truth


def test_the_sample_scenarios_load_and_the_january_case_names_two_seeds() -> None:
    files = sorted(SCENARIOS.glob("*.json"))
    assert len(files) >= 2
    for path in files:
        assert ScenarioSpec.model_validate_json(path.read_text()).people == 2000
    january = load_spec(SCENARIOS / "january-2022.json")
    assert january.compromise is not None and january.compromise.seed_accounts == 2
    assert january.seed != ScenarioSpec().seed


def test_an_unknown_key_in_a_scenario_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({"seed": 1, "compromise": {"support_resetz": 3}}))
    with pytest.raises(ScenarioError) as err:
        load_spec(path)
    assert "compromise.support_resetz: unknown key" in str(err.value)
    assert str(path) in str(err.value)
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        ScenarioSpec.model_validate_json('{"peeple": 5}')


def test_load_spec_overrides_only_the_values_given(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"seed": 5, "people": 300, "days": 60, "cutoff_days_before_end": 30}))
    assert load_spec(path).model_dump(include={"seed", "people", "days"}) == {"seed": 5, "people": 300, "days": 60}
    spec = load_spec(path, seed=9, people=None, days=None)
    assert (spec.seed, spec.people, spec.days) == (9, 300, 60)
    short = load_spec(None, days=20)
    assert short.days == 20 and short.cutoff_days_before_end < 20
    with pytest.raises(ScenarioError, match="does not exist"):
        load_spec(tmp_path / "missing.json")


def test_impossible_specs_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="cutoff_days_before_end"):
        ScenarioSpec(days=30, cutoff_days_before_end=40)
    with pytest.raises(ValueError, match="too few"):
        ScenarioSpec(people=50, compromise=CompromiseSpec(support_password_resets=30))
    with pytest.raises(ValueError, match="timezone"):
        ScenarioSpec(end=datetime(2022, 1, 21))
    with pytest.raises(ValueError, match="too few employees"):
        ScenarioSpec(people=60, responders=40)


def test_generating_into_an_org_that_already_has_people_is_refused(built: tuple[Org, GroundTruth]) -> None:
    org, _ = built
    with pytest.raises(ValueError, match="empty org"):
        generate(SMALL, org)


def test_an_alert_naming_an_untouched_account_gives_a_low_tier_seed(tmp_path: Path) -> None:
    compromise = CompromiseSpec(seed_accounts=2, untouched_seed_accounts=1)
    spec = SMALL.model_copy(update={"compromise": compromise, "log_events": False})
    org, truth = build_org(spec, tmp_path)
    org.close()
    assert len(truth.seed_accounts) == 3
    low = truth.by_tier(Tier.LOW)
    assert len(low) == 1 and [r.value for r in low[0].reasons] == ["seed"]
    assert low[0].corroboration.value == "not_applicable" and low[0].first_change is None


def test_the_truth_vocabulary_matches_the_policy() -> None:
    policy = pytest.importorskip("config.policy")
    from sandbox.scenario import ActorKind, Reason

    assert {r.value for r in Reason} == {r.value for r in policy.Reason}
    assert {k.value for k in ActorKind} == {k.value for k in policy.ActorKind}
    assert {t.value for t in Tier} == {t.value for t in policy.Tier}
    watched = policy.load_policy().watched
    assert {k: v.reason.value for k, v in watched.items() if k in EVENT_REASONS} == {
        k: v.value for k, v in EVENT_REASONS.items()
    }
