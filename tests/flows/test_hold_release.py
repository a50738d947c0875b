"""Hold, verify and release against the sandbox through the real okta and slack SDKs: the whole path from
respond to release, the re-lock check, every authorisation refusal in both paths, and the holds listing."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from cli.holds_cmd import channel_lines, it_channel_messages
from config.errors import HoldfastError, InputError, PolicyViolation
from config.policy import Tier
from flows.hold import run_relock_check
from flows.release import (
    ReleaseResult,
    VerificationInput,
    handle_verification_input,
    release,
    run_release,
    verify_and_release,
)
from playbook.verify import VerificationRequest
from playbook.when import okta_time
from sandbox.knobs import Knobs
from sandbox.org import Org, UserStatus
from sandbox.server import SLACK_IT_CHANNEL, SandboxServer
from store import holds as holds_store
from store import ledger
from store import verifications as verifications_store
from store.db import transaction
from store.holds import HoldState
from store.ledger import ActionState
from store.schema import holds as holds_table
from tasks.slack.clients import slack_client
from tests.factories import add_people
from tests.flows.hold_fixtures import (
    World,
    age_factors,
    build_world,
    contain,
    give_slack,
    respond,
    support_reset_events,
)


def verify(world: World, account: str, by: str, **kwargs: str) -> tuple[list[str], ReleaseResult | None]:
    """The CLI path (what `holdfast verify` calls); returns the links handed over and the release result."""
    links: list[str] = []
    request = VerificationRequest(
        account=account, verifier=by, method=kwargs.get("method", "video-call"), ticket=kwargs.get("ticket", "IT-1"),
        note=kwargs.get("note"),
    )  # fmt: skip
    _, released = asyncio.run(
        verify_and_release(world.settings, world.policy, world.engine, request, hand_over=links.append)
    )
    return links, released


def verify_in_ui(world: World, account: str, by: str, **kwargs: str) -> dict[str, object]:
    """The Prefect UI path: the resumed run's handler with the form as a RunInput instance."""
    form = VerificationInput(
        verifier=by, method=kwargs.get("method", "video-call"), ticket=kwargs.get("ticket", "IT-1"),
        note=kwargs.get("note"),
    )  # fmt: skip
    return asyncio.run(handle_verification_input(world.settings, world.policy, world.engine, account, form))


def hold_states(world: World) -> dict[str, HoldState]:
    with transaction(world.engine) as conn:
        return {h.login: h.state for h in holds_store.list_holds(conn)}


def test_respond_notifies_holds_then_verification_releases_with_the_okta_state_checked_at_each_step(
    org: Org, sandbox: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 3)
    give_slack(org, ids)
    age_factors(org, ids)
    support_reset_events(org, ids, datetime.now(UTC) - timedelta(days=2))
    alice, bob, carol = (world.login(i) for i in ids)

    # respond: contained, notified, held
    result = respond(world, accounts=len(ids))
    assert result.executed and not result.containment.failed
    for uid in ids:
        assert org.users[uid].status is UserStatus.SUSPENDED and org.users[uid].sessions == 0
    for login in (alice, bob, carol):
        [notice] = world.dms(login)
        assert "suspended" in notice.text and world.policy.templates.booking_url in notice.text
    [summary] = world.it_messages()
    assert "3 accounts contained (critical 3)" in summary.text
    assert hold_states(world) == {alice: HoldState.HELD, bob: HoldState.HELD, carol: HoldState.HELD}

    # verified and released: unsuspend, reset factors, reset password (link handed over once)
    links, released = verify(world, alice, world.it_staff[0], ticket="IT-4242")
    assert len(links) == 1 and "/reset_password/" in links[0]
    user = org.users[ids[0]]
    assert user.status is UserStatus.RECOVERY  # the old password no longer works; the link sets a new one
    assert org.factors[ids[0]] == []  # every factor re-enrolled during the call
    assert released is not None
    assert released.steps == {
        "unsuspend": "done",
        "reset_factors_at_release": "done",
        "reset_password_at_release": "done",
    }
    assert hold_states(world)[alice] is HoldState.RELEASED
    assert org.users[ids[1]].status is UserStatus.SUSPENDED  # the others stay held
    assert [m.text for m in world.dms(alice)][1].startswith("Hi User, thanks for verifying")
    status_update = world.it_messages()[-1].text
    assert alice in status_update and world.it_staff[0] in status_update and "2 holds still open" in status_update
    assert world.settings.slack is not None  # the demo's view of the IT channel, read back through the API
    lines = channel_lines(it_channel_messages(slack_client(world.settings.slack), SLACK_IT_CHANNEL))
    assert len(lines) == 2 and "3 accounts contained" in lines[0] and "released" in lines[1]

    with transaction(world.engine) as conn:
        steps = ledger.actions_of(conn, result.incident_id)
        [accepted] = verifications_store.list_verifications(conn, alice)
        story = [e.kind for e in ledger.incident_story(conn, result.incident_id)]
    assert steps[(ids[0], "unsuspend")].state is ActionState.DONE
    assert steps[(ids[0], "reset_password_at_release")].state is ActionState.DONE
    assert steps[(ids[0], "reset_password_at_release")].okta_request_id
    assert (accepted.outcome, accepted.ticket, accepted.channel) == ("accepted", "IT-4242", "cli")
    assert "verification.accepted" in story and "hold.released" in story

    # the link is nowhere but in the hand-over: not in Slack, the ledger, or the logs
    token = links[0].rsplit("/", 1)[1]
    assert all(token not in m.text and token not in str(m.blocks) for m in org.slack_messages)
    database = Path(world.settings.store.url.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as db:
        dumped = "\n".join(db.iterdump())
    assert token not in dumped
    assert all(token not in record.getMessage() for record in caplog.records)

    # releasing twice is harmless: no Okta call, no new link
    events_before = org.system_log.count()
    again = asyncio.run(
        run_release(world.settings, world.policy, world.engine, ids[0], verification=None, hand_over=links.append)  # type: ignore[arg-type]
    )
    assert again.already_released and len(links) == 1 and org.system_log.count() == events_before
    with pytest.raises(InputError, match="is not held"):
        verify(world, alice, world.it_staff[1])


def test_a_held_account_unsuspended_outside_holdfast_is_suspended_again_and_it_is_alerted(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 3)
    contain(world, ids)
    org.users[ids[1]].status = UserStatus.ACTIVE  # someone clicked "unsuspend" in the admin console

    summary = asyncio.run(run_relock_check(world.settings, world.policy, world.engine))
    assert summary.checked == 3 and summary.relocked == [world.login(ids[1])]
    assert org.users[ids[1]].status is UserStatus.SUSPENDED
    [alert] = world.it_messages()
    assert world.login(ids[1]) in alert.text and "suspended it again" in alert.text and "ACTIVE" in alert.text
    with transaction(world.engine) as conn:
        [hold] = [h for h in holds_store.list_holds(conn) if h.user_id == ids[1]]
        row = ledger.actions_of(conn, hold.incident_id)[(ids[1], "relock:1")]
    assert hold.relocks == 1 and hold.state is HoldState.HELD and row.state is ActionState.DONE

    # nothing more while it stays suspended; a second unsuspend is a second re-lock and a second alert
    asyncio.run(run_relock_check(world.settings, world.policy, world.engine))
    assert len(world.it_messages()) == 1
    org.users[ids[1]].status = UserStatus.ACTIVE
    asyncio.run(run_relock_check(world.settings, world.policy, world.engine))
    assert org.users[ids[1]].status is UserStatus.SUSPENDED and len(world.it_messages()) == 2


def test_a_held_account_okta_cannot_suspend_is_reported_once_for_a_human(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 1)
    contain(world, ids)
    org.users[ids[0]].status = UserStatus.RECOVERY  # a password reset outside holdfast
    for _ in range(2):
        summary = asyncio.run(run_relock_check(world.settings, world.policy, world.engine))
    assert summary.blocked == [(world.login(ids[0]), "RECOVERY")]
    [alert] = world.it_messages()
    assert "cannot suspend an account in RECOVERY" in alert.text


REFUSALS = (
    # (case, error, message fragment)
    ("unknown account", InputError, "is not an Okta user and has no hold"),
    ("account not held", InputError, "is not held"),
    ("verifier is the account", PolicyViolation, "cannot verify their own account"),
    ("verifier not in the group", PolicyViolation, "is not a member of the 'IT Identity Verifiers' group"),
    ("verifier suspended", PolicyViolation, "is SUSPENDED in Okta"),
    ("verifier not an Okta user", PolicyViolation, "is not an Okta user"),
    ("verifier held", PolicyViolation, "is held in an incident"),
    ("method not allowed", InputError, "method 'phone' is not allowed"),
    ("ticket malformed", InputError, "--ticket must be a ticket id"),
)


@pytest.mark.parametrize("path", ["cli", "prefect-ui"])
def test_every_refusal_is_one_clear_error_recorded_in_the_ledger_and_releases_nothing(
    org: Org, sandbox: SandboxServer, tmp_path: Path, path: str
) -> None:
    world = build_world(org, sandbox, tmp_path)
    held, free, outsider, suspended_staff, held_staff = add_people(org, 5)
    contain(world, [held])
    org.groups[next(g for g in org.groups if org.groups[g].name == "IT Identity Verifiers")].members |= {
        suspended_staff,
        held_staff,
    }
    org.users[suspended_staff].status = UserStatus.SUSPENDED
    with transaction(world.engine, write=True) as conn:  # an ACTIVE verifier who is under suspicion
        ledger.create_holds(conn, "INC-TEST-0001", [(held_staff, world.login(held_staff))], datetime.now(UTC))
    account, staff = world.login(held), world.it_staff[0]
    cases = {
        "unknown account": ("nobody@example.com", staff, {}),
        "account not held": (world.login(free), staff, {}),
        "verifier is the account": (account, account, {}),
        "verifier not in the group": (account, world.login(outsider), {}),
        "verifier suspended": (account, world.login(suspended_staff), {}),
        "verifier not an Okta user": (account, "mallory@example.com", {}),
        "verifier held": (account, world.login(held_staff), {}),
        "method not allowed": (account, staff, {"method": "phone"}),
        "ticket malformed": (account, staff, {"ticket": "no spaces allowed"}),
    }
    attempt = verify if path == "cli" else verify_in_ui
    for case, error, fragment in REFUSALS:
        who, by, extra = cases[case]
        with pytest.raises(HoldfastError) as raised:
            attempt(world, who, by, **extra)
        assert type(raised.value) is error, case
        assert fragment in str(raised.value) and "\n" not in str(raised.value), case
    with transaction(world.engine) as conn:
        rows = verifications_store.list_verifications(conn)
    assert [r.outcome for r in rows] == ["refused"] * len(REFUSALS)
    assert {r.channel for r in rows} == {path}
    assert all(fragment in str(r.reason) for r, (_, _, fragment) in zip(rows, REFUSALS, strict=True))
    assert org.users[held].status is UserStatus.SUSPENDED
    assert hold_states(world)[account] is HoldState.HELD


def test_the_two_person_rule_needs_two_different_verifiers_before_the_release(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path, two_person=True)
    [uid] = add_people(org, 1)
    contain(world, [uid])
    account = world.login(uid)

    links, released = verify(world, account, world.it_staff[0])
    assert released is None and links == []
    assert org.users[uid].status is UserStatus.SUSPENDED and hold_states(world)[account] is HoldState.HELD
    with pytest.raises(PolicyViolation, match="needs a different second verifier"):
        verify_in_ui(world, account, world.it_staff[0], ticket="IT-2")
    result = verify_in_ui(world, account, world.it_staff[1], ticket="IT-2")
    assert result["released"] is True and isinstance(result["reset_link"], str)
    assert result["verifiers"] == sorted(s.lower() for s in world.it_staff[:2])
    assert org.users[uid].status is UserStatus.RECOVERY and hold_states(world)[account] is HoldState.RELEASED


def test_a_release_that_fails_half_way_suspends_the_account_again_and_a_retry_finishes_it(
    org: Org, knobs: Knobs, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path, HOLDFAST_OKTA__RETRIES="0")
    [uid] = add_people(org, 1)
    contain(world, [uid])
    account = world.login(uid)
    knobs.set("okta.users.lifecycle.reset_password", fault_rate=1.0, faults=("500",))
    with pytest.raises(HoldfastError, match="HTTP 500"):
        verify(world, account, world.it_staff[0])
    assert org.users[uid].status is UserStatus.SUSPENDED  # never left ACTIVE with the old password
    assert hold_states(world)[account] is HoldState.VERIFIED

    knobs.clear()
    links, _ = verify(world, account, world.it_staff[0])
    assert len(links) == 1 and org.users[uid].status is UserStatus.RECOVERY
    assert hold_states(world)[account] is HoldState.RELEASED
    with transaction(world.engine) as conn:
        rows = ledger.actions_of(conn, "INC-TEST-0001")
        accepted = verifications_store.list_verifications(conn, account, outcomes=["accepted"])
    assert rows[(uid, "release_rollback")].state is ActionState.DONE
    assert rows[(uid, "unsuspend")].attempts == 2 and rows[(uid, "unsuspend")].state is ActionState.DONE
    assert len(accepted) == 1  # the same verification, recorded once


def test_the_release_flow_leaves_an_already_released_account_alone_when_resumed(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path)
    [uid] = add_people(org, 1)
    contain(world, [uid], tier=Tier.LOW)
    links, _ = verify(world, world.login(uid), world.it_staff[0])
    assert links == []  # low tier: no password reset planned, so no link
    assert org.users[uid].status is UserStatus.ACTIVE
    result = asyncio.run(release(account=world.login(uid), config_file=str(world.config)))
    assert result == {"account": world.login(uid), "released": False, "already_released": True, "reset_link": None}
    with pytest.raises(InputError, match="is not held"):
        asyncio.run(release(account="nobody@example.com", config_file=str(world.config)))


def test_holds_are_listed_with_their_age_and_state_and_verify_prints_the_link_once(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    from cli.main import app  # cli.holds_cmd, imported above, registers its commands on it

    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 2)
    contain(world, ids)
    since = datetime.now(UTC) - timedelta(days=3, hours=2, minutes=1)  # held since three days and two hours ago
    with transaction(world.engine, write=True) as conn:
        conn.execute(update(holds_table).where(holds_table.c.user_id == ids[0]).values(created_at=okta_time(since)))
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    listed = runner.invoke(app, ["holds", "--config", str(world.config)], env=env)
    assert listed.exit_code == 0, listed.output
    line = next(text for text in listed.output.splitlines() if world.login(ids[0]) in text)
    assert "held" in line and "3d 2h" in line

    verified = runner.invoke(
        app,
        ["verify", world.login(ids[0]), "--by", world.it_staff[0], "--method", "video-call", "--ticket", "IT-9",
         "--config", str(world.config)],
        env=env,
    )  # fmt: skip
    assert verified.exit_code == 0, verified.output
    assert verified.output.count("/reset_password/") == 1 and "released" in verified.output
    refused = runner.invoke(
        app,
        ["verify", world.login(ids[1]), "--by", world.login(ids[1]), "--method", "video-call", "--ticket", "IT-9",
         "--config", str(world.config)],
        env=env,
    )  # fmt: skip
    assert refused.exit_code == PolicyViolation.exit_code
    listed = runner.invoke(app, ["holds", "--incident", "INC-TEST-0001", "--config", str(world.config)], env=env)
    assert "released 1" in listed.output and "held 1" in listed.output
    assert runner.invoke(app, ["holds", "--incident", "INC-NOPE", "--config", str(world.config)]).exit_code == 2
