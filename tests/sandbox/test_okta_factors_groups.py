"""Factors and Groups of the fake Okta through the real okta SDK."""

from __future__ import annotations

import asyncio
from typing import Any

from okta.models import (
    UserFactorEmail,
    UserFactorPush,
    UserFactorSMS,
    UserFactorTokenSoftwareTOTP,
    UserFactorWebAuthn,
)

from sandbox.org import Factor, Org, User, UserStatus, okta_id
from sandbox.server import SandboxServer
from tests.sandbox.test_okta_helpers import (
    BASE_TIME,
    add_group,
    add_person,
    add_webauthn,
    close,
    error_message,
    next_after,
    sdk_client,
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _factor(org: Org, user: User, factor_type: str, provider: str, profile: dict[str, str]) -> Factor:
    return org.add_factor(
        Factor(okta_id("ufs"), user.id, factor_type, provider, "ACTIVE", BASE_TIME, BASE_TIME, profile)
    )


def test_factors_deserialize_as_the_sdks_typed_subclasses(org: Org, sandbox: SandboxServer) -> None:
    user = add_person(org, "many.factors")
    key = add_webauthn(org, user, "YubiKey 5C")
    _factor(org, user, "token:software:totp", "GOOGLE", {"credentialId": user.login})
    _factor(
        org, user, "push", "OKTA", {"credentialId": user.login, "deviceType": "SmartPhone_IPhone", "name": "iPhone"}
    )
    _factor(org, user, "sms", "OKTA", {"phoneNumber": "+1-555-415-1337"})
    _factor(org, user, "email", "OKTA", {"email": user.email})

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox)
        result = await client.list_factors(user.id)
        await close(client)
        return tuple(result)

    factors, _, err = run(scenario())
    assert err is None
    by_type = {type(f): f for f in factors}
    assert set(by_type) == {
        UserFactorWebAuthn,
        UserFactorTokenSoftwareTOTP,
        UserFactorPush,
        UserFactorSMS,
        UserFactorEmail,
    }
    webauthn = by_type[UserFactorWebAuthn]
    assert webauthn.id == key.id
    assert webauthn.profile.authenticator_name == "YubiKey 5C"
    assert webauthn.profile.credential_id == key.profile["credentialId"]
    assert webauthn.provider == "FIDO"
    assert by_type[UserFactorSMS].profile.phone_number == "+15554151337"


def test_unenrolling_a_factor_removes_it_and_logs_the_deactivation(org: Org, sandbox: SandboxServer) -> None:
    user = add_person(org, "drop.key")
    rogue = add_webauthn(org, user, "Unknown key")
    approved = add_webauthn(org, user, "Approved key")

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox)
        first = await client.unenroll_factor(user.id, rogue.id)
        again = await client.unenroll_factor(user.id, rogue.id)
        await close(client)
        return first, again

    first, again = run(scenario())
    assert first[-1] is None
    assert first[-2].status_code == 204
    assert error_message(again).startswith("Okta HTTP 404 E0000007")
    assert [f.id for f in org.factors[user.id]] == [approved.id]
    events = [e.as_dict() for e in org.system_log.scan(limit=100)]
    (event,) = [e for e in events if e["eventType"] == "user.mfa.factor.deactivate"]
    assert event["target"][0]["id"] == user.id
    assert event["outcome"]["reason"] == "User reset FIDO_WEBAUTHN factor"
    assert event["debugContext"]["debugData"]["factorId"] == rogue.id


def test_factors_of_a_deactivated_user_cannot_be_unenrolled(org: Org, sandbox: SandboxServer) -> None:
    user = add_person(org, "gone.user", status=UserStatus.DEPROVISIONED)
    key = add_webauthn(org, user)

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox)
        result = await client.unenroll_factor(user.id, key.id)
        await close(client)
        return tuple(result)

    assert error_message(run(scenario())).startswith("Okta HTTP 403 E0000038")
    assert org.factors[user.id] == [key]


def test_groups_are_listed_searched_and_fetched(org: Org, sandbox: SandboxServer) -> None:
    admins = add_group(org, "IT Admins", [])
    add_group(org, "Break Glass", [])
    add_group(org, "Engineering", [])

    async def scenario() -> dict[str, Any]:
        client = sdk_client(sandbox)
        out: dict[str, Any] = {}
        out["all"], _, _ = await client.list_groups()
        out["q"], _, _ = await client.list_groups(q="it ")
        out["search"], _, _ = await client.list_groups(search='profile.name sw "break"')
        out["one"], _, _ = await client.get_group(admins.id)
        out["missing"] = await client.get_group("00gnothere")
        await close(client)
        return out

    out = run(scenario())
    assert {g.profile.actual_instance.name for g in out["all"]} == {"IT Admins", "Break Glass", "Engineering"}
    assert [g.id for g in out["q"]] == [admins.id]
    assert [g.profile.actual_instance.name for g in out["search"]] == ["Break Glass"]
    assert out["one"].id == admins.id
    assert error_message(out["missing"]).startswith("Okta HTTP 404 E0000007")


def test_group_members_page_without_loss_or_duplicates(org: Org, sandbox: SandboxServer) -> None:
    members = [add_person(org, f"member{i:02d}.team") for i in range(45)]
    add_person(org, "not.a.member")
    group = add_group(org, "Responders", members)

    async def scenario() -> list[str]:
        client = sdk_client(sandbox)
        seen: list[str] = []
        after: str | None = None
        while True:
            users, resp, err = await client.list_group_users(group.id, after=after, limit=20)
            assert err is None
            seen.extend(u.id for u in users)
            after = next_after(resp)
            if after is None:
                break
        await close(client)
        return seen

    seen = run(scenario())
    assert len(seen) == len(set(seen)) == 45
    assert set(seen) == {m.id for m in members}
