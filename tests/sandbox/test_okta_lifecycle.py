"""User lifecycle through the real okta SDK: every legal transition, illegal ones with Okta's codes, resets,
session revocation, and the System Log entry each change leaves behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from okta.client import Client

from sandbox.okta.users import LIFECYCLE
from sandbox.org import Org, User, UserStatus
from sandbox.server import SandboxServer
from tests.sandbox.test_okta_helpers import add_person, add_webauthn, close, error_message, sdk_client

S = UserStatus
Call = Callable[[Client, str], Awaitable[tuple[Any, ...]]]

# One SDK call per lifecycle operation of the fake's table (no calls by string name).
CALLS: dict[str, Call] = {
    "activate": lambda c, uid: c.activate_user(uid, send_email=False),
    "reactivate": lambda c, uid: c.reactivate_user(uid, send_email=False),
    "deactivate": lambda c, uid: c.deactivate_user(uid),
    "suspend": lambda c, uid: c.suspend_user(uid),
    "unsuspend": lambda c, uid: c.unsuspend_user(uid),
    "unlock": lambda c, uid: c.unlock_user(uid),
    "reset_password": lambda c, uid: c.reset_password(uid, send_email=False),
    "expire_password": lambda c, uid: c.expire_password(uid),
    "expire_password_with_temp_password": lambda c, uid: c.expire_password_with_temp_password(uid),
    "reset_factors": lambda c, uid: c.reset_factors(uid),
}

LEGAL = sorted((op, status) for op, t in LIFECYCLE.items() for status in t.allowed_from)
ILLEGAL = [
    ("suspend", S.SUSPENDED, "Okta HTTP 400 E0000001"),
    ("suspend", S.RECOVERY, "Okta HTTP 400 E0000001"),
    ("suspend", S.DEPROVISIONED, "Okta HTTP 400 E0000001"),
    ("unsuspend", S.ACTIVE, "Okta HTTP 400 E0000001"),
    ("activate", S.ACTIVE, "Okta HTTP 403 E0000016"),
    ("activate", S.SUSPENDED, "Okta HTTP 403 E0000038"),
    ("reactivate", S.ACTIVE, "Okta HTTP 403 E0000038"),
    ("deactivate", S.DEPROVISIONED, "Okta HTTP 403 E0000038"),
    ("unlock", S.SUSPENDED, "Okta HTTP 403 E0000032"),
    ("reset_password", S.SUSPENDED, "Okta HTTP 403 E0000038"),
    ("reset_password", S.DEPROVISIONED, "Okta HTTP 403 E0000038"),
    ("expire_password", S.SUSPENDED, "Okta HTTP 403 E0000038"),
    ("reset_factors", S.SUSPENDED, "Okta HTTP 403 E0000038"),
]


def run(coro: Awaitable[Any]) -> Any:
    async def wrapped() -> Any:
        return await coro

    return asyncio.run(wrapped())


async def _call(sandbox: SandboxServer, op: str, user: User) -> tuple[Any, ...]:
    client = sdk_client(sandbox)
    try:
        return await CALLS[op](client, user.id)
    finally:
        await close(client)


def _events(org: Org, event_type: str) -> list[dict[str, Any]]:
    return [e.as_dict() for e in org.system_log.scan(limit=10_000) if e.as_dict()["eventType"] == event_type]


def test_the_sdk_has_a_call_for_every_operation_of_the_lifecycle_table() -> None:
    assert set(CALLS) == set(LIFECYCLE)


@pytest.mark.parametrize(("op", "status"), LEGAL)
def test_every_legal_transition_lands_in_the_documented_status_and_is_logged(
    org: Org, sandbox: SandboxServer, op: str, status: UserStatus
) -> None:
    user = add_person(org, f"{op}.{status.value.lower()}", status=status)
    add_webauthn(org, user)
    transition = LIFECYCLE[op]
    expected = transition.target(user)

    result = run(_call(sandbox, op, user))

    assert result[-1] is None, error_message(result)
    assert user.status is expected
    (event,) = _events(org, transition.event_type)
    assert event["target"][0]["id"] == user.id
    assert event["target"][0]["alternateId"] == user.login
    assert event["actor"]["type"] == "User"
    assert event["client"]["ipAddress"] == "127.0.0.1"
    assert event["transaction"]["detail"]["requestApiTokenId"] == org.credentials.okta_api_token_id
    assert event["outcome"]["result"] == "SUCCESS"


@pytest.mark.parametrize(("op", "status", "expected"), ILLEGAL)
def test_illegal_transitions_get_okta_error_codes_and_change_nothing(
    org: Org, sandbox: SandboxServer, op: str, status: UserStatus, expected: str
) -> None:
    user = add_person(org, f"no.{op}", status=status)
    before = org.system_log.count()

    result = run(_call(sandbox, op, user))

    assert error_message(result).startswith(expected)
    assert user.status is status
    assert org.system_log.count() == before


def test_activating_a_user_without_a_password_leaves_them_provisioned(org: Org, sandbox: SandboxServer) -> None:
    user = add_person(org, "no.password", status=S.STAGED)
    assert user.password_changed is None
    token, _, err = run(_call(sandbox, "activate", user))
    assert err is None
    assert token.activation_url.startswith(f"{sandbox.endpoints.okta_url}/welcome/")
    assert user.status is S.PROVISIONED


def test_lifecycle_on_an_unknown_user_is_404_e0000007(org: Org, sandbox: SandboxServer) -> None:
    ghost = add_person(org, "ghost.user")
    org.users.pop(ghost.id)
    result = run(_call(sandbox, "suspend", ghost))
    assert error_message(result).startswith("Okta HTTP 404 E0000007")


def test_reset_password_without_email_returns_a_one_time_link_and_leaves_recovery(
    org: Org, sandbox: SandboxServer
) -> None:
    user = add_person(org, "reset.me")

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox)
        result = await client.reset_password(user.id, send_email=False, revoke_sessions=True)
        await close(client)
        return tuple(result)

    token, _, err = run(scenario())
    assert err is None
    assert token.reset_password_url.startswith(f"{sandbox.endpoints.okta_url}/reset_password/drp")
    assert user.status is S.RECOVERY
    assert user.sessions == 0
    assert [e["eventType"] for e in _events(org, "user.account.reset_password")] == ["user.account.reset_password"]
    assert len(_events(org, "user.session.clear")) == 1


def test_suspended_users_must_be_unsuspended_before_a_password_reset(org: Org, sandbox: SandboxServer) -> None:
    user = add_person(org, "held.user")

    async def scenario() -> list[tuple[Any, ...]]:
        client = sdk_client(sandbox)
        steps = [
            await client.suspend_user(user.id),
            await client.reset_password(user.id, send_email=False),
            await client.unsuspend_user(user.id),
            await client.reset_password(user.id, send_email=False),
        ]
        await close(client)
        return steps

    suspend, refused, unsuspend, reset = run(scenario())
    assert suspend[-1] is None
    assert error_message(refused).startswith("Okta HTTP 403 E0000038")
    assert unsuspend[-1] is None
    assert reset[-1] is None
    assert user.status is S.RECOVERY


def test_expire_password_returns_the_user_in_password_expired(org: Org, sandbox: SandboxServer) -> None:
    user = add_person(org, "expire.me")
    returned, _, err = run(_call(sandbox, "expire_password", user))
    assert err is None
    assert returned.id == user.id
    assert returned.status.value == "PASSWORD_EXPIRED"
    assert len(_events(org, "user.account.expire_password")) == 1


def test_revoking_sessions_with_oauth_tokens_clears_both_and_is_logged(org: Org, sandbox: SandboxServer) -> None:
    keep_tokens = add_person(org, "sessions.only")
    all_gone = add_person(org, "sessions.and.tokens")

    async def scenario() -> list[tuple[Any, ...]]:
        client = sdk_client(sandbox)
        results = [
            await client.revoke_user_sessions(keep_tokens.id),
            await client.revoke_user_sessions(all_gone.id, oauth_tokens=True),
        ]
        await close(client)
        return results

    first, second = run(scenario())
    assert first == (None, first[1], None) and first[1].status_code == 204
    assert second[1].status_code == 204
    assert (keep_tokens.sessions, keep_tokens.oauth_tokens) == (0, 1)
    assert (all_gone.sessions, all_gone.oauth_tokens) == (0, 0)
    events = _events(org, "user.session.clear")
    assert {e["target"][0]["id"] for e in events} == {keep_tokens.id, all_gone.id}


def test_reset_factors_removes_every_enrollment(org: Org, sandbox: SandboxServer) -> None:
    user = add_person(org, "factor.reset")
    add_webauthn(org, user)
    add_webauthn(org, user, "Backup key")
    result = run(_call(sandbox, "reset_factors", user))
    assert result[-1] is None
    assert org.factors[user.id] == []
    assert user.status is S.ACTIVE
