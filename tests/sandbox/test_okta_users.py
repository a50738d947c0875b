"""The fake Okta Users API through the real okta SDK: listing, pagination, filter, search, q, get."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp

from sandbox.org import Org, UserStatus
from sandbox.server import SandboxServer
from tests.sandbox.test_okta_helpers import add_person, close, error_message, link_rels, next_after, sdk_client


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_listing_users_pages_through_every_non_deprovisioned_user_once(org: Org, sandbox: SandboxServer) -> None:
    people = [add_person(org, f"person{i:03d}.staff") for i in range(230)]
    for gone in people[:7]:
        gone.status = UserStatus.DEPROVISIONED

    async def scenario() -> tuple[list[str], list[int], set[str]]:
        client = sdk_client(sandbox)
        seen: list[str] = []
        sizes: list[int] = []
        after: str | None = None
        rels: set[str] = set()
        while True:
            users, resp, err = await client.list_users(limit=100, after=after)
            assert err is None
            seen.extend(u.id for u in users)
            sizes.append(len(users))
            rels |= link_rels(resp)
            after = next_after(resp)
            if after is None:
                break
        await close(client)
        return seen, sizes, rels

    seen, sizes, rels = run(scenario())
    expected = {p.id for p in people[7:]}
    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == expected
    assert sizes == [100, 100, 23]
    assert "next" in rels


def test_link_headers_are_full_https_urls_with_self_before_next(org: Org, sandbox: SandboxServer) -> None:
    for i in range(3):
        add_person(org, f"linked{i}.user")
    context = ssl.create_default_context(cafile=str(sandbox.endpoints.ca_path))

    async def scenario() -> list[str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{sandbox.endpoints.okta_url}/api/v1/users?limit=2",
                headers={"Authorization": f"SSWS {org.credentials.okta_api_token}"},
                ssl=context,
            ) as resp,
        ):
            assert resp.status == 200
            return list(resp.headers.getall("Link"))

    links = run(scenario())
    assert links[0] == f'<{sandbox.endpoints.okta_url}/api/v1/users?limit=2>; rel="self"'
    assert links[1].startswith(f"<{sandbox.endpoints.okta_url}/api/v1/users?limit=2&after=00u")
    assert links[1].endswith('>; rel="next"')


def test_search_evaluates_scim_expressions_with_case_insensitive_values(org: Org, sandbox: SandboxServer) -> None:
    eng = add_person(org, "erin.eng", department="Engineering")
    add_person(org, "sam.sales", department="Sales")
    suspended = add_person(org, "ivy.eng", department="Engineering", status=UserStatus.SUSPENDED)
    deprovisioned = add_person(org, "old.eng", department="Engineering", status=UserStatus.DEPROVISIONED)

    async def search(expr: str) -> set[str]:
        client = sdk_client(sandbox)
        users, _, err = await client.list_users(search=expr)
        await close(client)
        assert err is None, err
        return {u.id for u in users}

    assert run(search('profile.department eq "engineering"')) == {eng.id, suspended.id, deprovisioned.id}
    assert run(search('profile.department eq "Engineering" and (status eq "SUSPENDED" or status eq "ACTIVE")')) == {
        eng.id,
        suspended.id,
    }
    assert run(search('profile.login sw "ERIN"')) == {eng.id}
    assert run(search('profile.email co "vy.en"')) == {suspended.id}
    assert run(search('profile.title pr and status eq "DEPROVISIONED"')) == {deprovisioned.id}
    assert run(search('(status lt "STAGED" or status gt "STAGED") and profile.department eq "sales"')) == {
        u.id for u in org.users.values() if u.department == "Sales"
    }


def test_search_refuses_unsupported_operators_with_e0000031(org: Org, sandbox: SandboxServer) -> None:
    add_person(org, "any.one")

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox)
        result = await client.list_users(search='profile.department co "eng"')
        await close(client)
        return result

    result = run(scenario())
    assert "E0000031" in error_message(result)


def test_filter_matches_status_and_last_updated_and_is_case_sensitive(org: Org, sandbox: SandboxServer) -> None:
    old = add_person(org, "old.timer")
    fresh = add_person(org, "fresh.face")
    fresh.last_updated = old.created.replace(year=old.created.year + 1)
    locked = add_person(org, "locked.out", status=UserStatus.LOCKED_OUT)

    async def scenario() -> dict[str, Any]:
        client = sdk_client(sandbox)
        out: dict[str, Any] = {}
        since = old.created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        out["updated"], _, _ = await client.list_users(filter=f'lastUpdated gt "{since}"')
        out["locked"], _, _ = await client.list_users(filter='status eq "LOCKED_OUT" or status eq "RECOVERY"')
        out["lower"], _, _ = await client.list_users(filter='status eq "locked_out"')
        out["bad_op"] = await client.list_users(filter='status sw "LOCK"')
        out["bad_date"] = await client.list_users(filter='lastUpdated gt "yesterday"')
        out["both"] = await client.list_users(filter='status eq "ACTIVE"', q="old")
        await close(client)
        return out

    out = run(scenario())
    assert {u.id for u in out["updated"]} == {fresh.id}
    assert {u.id for u in out["locked"]} == {locked.id}
    assert out["lower"] == []
    assert "E0000031" in error_message(out["bad_op"])
    assert "E0000030" in error_message(out["bad_date"])
    assert "E0000033" in error_message(out["both"])


def test_q_finds_users_by_name_prefix_and_omits_deprovisioned(org: Org, sandbox: SandboxServer) -> None:
    found = add_person(org, "quinn.first", first="Quinn")
    add_person(org, "quinn.gone", first="Quinn", status=UserStatus.DEPROVISIONED)
    add_person(org, "other.person", first="Other")
    for i in range(15):
        add_person(org, f"qa{i}.bulk", first=f"Qa{i}")

    async def scenario() -> tuple[list[Any], list[Any]]:
        client = sdk_client(sandbox)
        quinn, _, err = await client.list_users(q="quin")
        assert err is None
        many, resp, err = await client.list_users(q="q")
        assert next_after(resp) is None  # q doesn't paginate
        await close(client)
        return quinn, many

    quinn, many = run(scenario())
    assert [u.id for u in quinn] == [found.id]
    assert len(many) == 10  # q's default limit


def test_get_user_accepts_id_login_and_login_shortname_and_404s_unknown(org: Org, sandbox: SandboxServer) -> None:
    person = add_person(org, "gina.get")

    async def scenario() -> list[Any]:
        client = sdk_client(sandbox)
        results = [await client.get_user(key) for key in (person.id, person.login, "gina.get", "nobody")]
        await close(client)
        return results

    by_id, by_login, by_short, missing = run(scenario())
    for user, _, err in (by_id, by_login, by_short):
        assert err is None
        assert user.id == person.id
        assert user.profile.email == person.email
        assert user.credentials.provider.type.value == "OKTA"
        assert user.links.suspend is not None  # ACTIVE users can be suspended...
        assert user.links.unsuspend is None  # ...not unsuspended
    assert "E0000007" in error_message(missing)
    assert "Not found: Resource not found: nobody (User)" in error_message(missing)


def test_every_response_carries_request_id_date_and_rate_limit_headers(org: Org, sandbox: SandboxServer) -> None:
    context = ssl.create_default_context(cafile=str(sandbox.endpoints.ca_path))
    paths = ["/api/v1/users", "/api/v1/users/missing", "/api/v1/nothing-here", "/api/v1/logs"]

    async def scenario() -> list[tuple[int, Any, dict[str, Any]]]:
        out = []
        async with aiohttp.ClientSession() as session:
            for path in paths:
                async with session.get(
                    f"{sandbox.endpoints.okta_url}{path}",
                    headers={"Authorization": f"SSWS {org.credentials.okta_api_token}"},
                    ssl=context,
                ) as resp:
                    out.append((resp.status, resp.headers.copy(), await resp.json()))
        return out

    responses = run(scenario())
    assert [status for status, _, _ in responses] == [200, 404, 404, 200]
    for _, headers, _ in responses:
        assert headers["X-Okta-Request-Id"]
        assert headers["Date"].endswith("GMT")
        assert int(headers["X-Rate-Limit-Limit"]) > 0
        assert int(headers["X-Rate-Limit-Reset"]) > 0
    missing_body = responses[1][2]
    assert set(missing_body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
    assert missing_body["errorCode"] == missing_body["errorLink"] == "E0000007"
    assert responses[2][2]["errorCode"] == "E0000008"
