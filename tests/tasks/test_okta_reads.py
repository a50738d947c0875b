"""Okta reads through the real okta SDK against the sandbox: users, factors, groups, and the rate limiter."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from okta.client import Client

from config.errors import ProviderError
from sandbox.okta.ratelimit import Bucket
from sandbox.org import Factor, Group, Org, User, UserStatus
from sandbox.server import SandboxServer
from tasks.okta.clients import okta_client
from tasks.okta.factors import list_factors
from tasks.okta.groups import find_group, list_group_members
from tasks.okta.ratelimit import RateLimiter
from tasks.okta.users import get_user, search_users
from tests.factories import sandbox_settings

T = TypeVar("T")
WHEN = datetime(2021, 6, 1, tzinfo=UTC)


def add_people(org: Org, count: int) -> list[User]:
    people = []
    for n in range(count):
        status = UserStatus.DEPROVISIONED if n == count - 1 else UserStatus.ACTIVE
        user = User(
            f"00uperson{n:011d}", f"person{n}@{org.domain}", f"person{n}@{org.domain}", "Person", f"{n}", status, WHEN
        )
        org.add_user(user)
        people.append(user)
    return people


def run(sandbox: SandboxServer, folder: Path, fn: Callable[[Client, RateLimiter], Awaitable[T]]) -> T:
    settings = sandbox_settings(sandbox, folder)

    async def go() -> T:
        async with okta_client(settings.require_okta()) as client:
            return await fn(client, RateLimiter())

    return asyncio.run(go())


def test_a_user_is_found_by_id_or_login_and_an_unknown_one_is_none(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ana = add_people(org, 2)[0]

    async def go(client: Client, limiter: RateLimiter) -> tuple[object, ...]:
        return (
            await get_user(client, limiter, ana.id),
            await get_user(client, limiter, ana.login.upper()),
            await get_user(client, limiter, "ghost@example.com"),
        )

    by_id, by_login, ghost = run(sandbox, tmp_path, go)
    assert by_id is not None and by_id["profile"]["login"] == ana.login  # type: ignore[index]
    assert by_login is not None and by_login["id"] == ana.id  # type: ignore[index]
    assert ghost is None


def test_the_user_list_follows_every_page_and_leaves_out_deprovisioned_people(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    people = add_people(org, 450)
    listed = run(sandbox, tmp_path, lambda c, lim: search_users(c, lim))
    assert sorted(u["id"] for u in listed) == sorted(p.id for p in people[:-1])
    found = run(sandbox, tmp_path, lambda c, lim: search_users(c, lim, 'profile.login eq "person7@example.com"'))
    assert [u["id"] for u in found] == [people[7].id]


def test_factors_come_back_with_the_webauthn_credential_id(org: Org, sandbox: SandboxServer, tmp_path: Path) -> None:
    ana = add_people(org, 2)[0]
    org.factors[ana.id] = [
        Factor("fwf1", ana.id, "webauthn", "FIDO", "ACTIVE", WHEN, WHEN, {"credentialId": "cred-1"}),
        Factor("mbl1", ana.id, "sms", "OKTA", "ACTIVE", WHEN, WHEN, {"phoneNumber": "+1 555 0100"}),
    ]
    factors = run(sandbox, tmp_path, lambda c, lim: list_factors(c, lim, ana.id))
    assert [(f["id"], f["factorType"]) for f in factors] == [("fwf1", "webauthn"), ("mbl1", "sms")]
    assert factors[0]["profile"]["credentialId"] == "cred-1"
    assert factors[1]["created"] == "2021-06-01T00:00:00.000Z"


def test_factors_of_an_unknown_user_raise_the_provider_error(org: Org, sandbox: SandboxServer, tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as caught:
        run(sandbox, tmp_path, lambda c, lim: list_factors(c, lim, "00unobody"))
    assert caught.value.status == 404


def test_a_group_is_found_by_its_exact_name_and_all_its_members_are_listed(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    people = add_people(org, 30)
    org.add_group(Group("00gverify", "IT Identity Verifiers", members={p.id for p in people[:12]}))
    org.add_group(Group("00gverify2", "IT Identity Verifiers (old)", members={people[20].id}))

    async def go(client: Client, limiter: RateLimiter) -> tuple[object, list[str]]:
        group = await find_group(client, limiter, "it identity verifiers")
        assert group is not None
        members = await list_group_members(client, limiter, str(group["id"]))
        return group["id"], sorted(m["id"] for m in members)

    group_id, members = run(sandbox, tmp_path, go)
    assert group_id == "00gverify"
    assert members == sorted(p.id for p in people[:12])
    assert run(sandbox, tmp_path, lambda c, lim: find_group(c, lim, "Nobody")) is None


def test_factor_reads_beyond_the_bucket_wait_for_its_reset_and_all_complete(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    people = add_people(org, 12)
    org.okta_rate_limits.api_other = Bucket(5, window_s=1.0)

    async def go(client: Client, limiter: RateLimiter) -> tuple[int, float]:
        await list_factors(client, limiter, people[0].id)  # learns the budget from the headers
        results = await asyncio.gather(*(list_factors(client, limiter, p.id) for p in people[1:11]))
        return len(results), limiter.waited_s

    done, waited = run(sandbox, tmp_path, go)
    assert done == 10 and waited > 0
