"""Authentication of the fake Okta: API tokens (SSWS) and OAuth 2.0 service apps in the SDK's PrivateKey mode,
with and without DPoP; scopes; and injected faults surfacing as errors through the SDK."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.knobs import Knobs
from sandbox.org import Org, UserStatus
from sandbox.server import OKTA_SERVICE_APP_CLIENT_ID, SandboxServer
from tests.sandbox.test_okta_helpers import add_person, close, error_message, sdk_client


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _raw_get(sandbox: SandboxServer, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], Any]:
    context = ssl.create_default_context(cafile=str(sandbox.endpoints.ca_path))

    async def scenario() -> tuple[int, dict[str, Any], Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{sandbox.endpoints.okta_url}{path}", headers=headers, ssl=context) as resp,
        ):
            return resp.status, dict(resp.headers), await resp.json()

    result: tuple[int, dict[str, Any], Any] = run(scenario())
    return result


def _events(org: Org, event_type: str) -> list[dict[str, Any]]:
    return [e.as_dict() for e in org.system_log.scan(limit=1000) if e.as_dict()["eventType"] == event_type]


def test_api_tokens_are_accepted_with_or_without_the_space_after_ssws(org: Org, sandbox: SandboxServer) -> None:
    token = org.credentials.okta_api_token
    assert _raw_get(sandbox, "/api/v1/users", {"Authorization": f"SSWS {token}"})[0] == 200
    assert _raw_get(sandbox, "/api/v1/users", {"Authorization": f"SSWS{token}"})[0] == 200


def test_missing_or_wrong_tokens_get_401_e0000011(org: Org, sandbox: SandboxServer) -> None:
    for headers in ({}, {"Authorization": "SSWS 00wrong"}, {"Authorization": "Bearer not-issued"}):
        status, _, body = _raw_get(sandbox, "/api/v1/users", headers)
        assert status == 401
        assert (body["errorCode"], body["errorSummary"]) == ("E0000011", "Invalid token provided")

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox, token="00nottherighttoken")
        result = await client.list_users()
        await close(client)
        return tuple(result)

    assert error_message(run(scenario())).startswith("Okta HTTP 401 E0000011")


def test_the_sdks_private_key_mode_gets_a_bearer_token_and_acts_as_the_service_app(
    org: Org, sandbox: SandboxServer
) -> None:
    person = add_person(org, "oauth.target")
    key = sandbox.endpoints.okta_private_key_path.read_text()

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox, private_key=key)
        listed = await client.list_users()
        suspended = await client.suspend_user(person.id)
        token_type = client.get_request_executor()._oauth.get_current_token()[1]
        await close(client)
        return listed, suspended, token_type

    listed, suspended, token_type = run(scenario())
    assert listed[-1] is None and [u.id for u in listed[0]] == [person.id]
    assert suspended[-1] is None
    assert token_type == "Bearer"
    assert person.status is UserStatus.SUSPENDED
    (event,) = _events(org, "user.lifecycle.suspend")
    assert event["actor"]["type"] == "PublicClientApp"
    assert event["actor"]["id"] == OKTA_SERVICE_APP_CLIENT_ID
    assert event["authenticationContext"]["credentialType"] == "OAUTH2"
    assert len(_events(org, "app.oauth2.token.grant.access_token")) == 1


def test_the_sdks_dpop_mode_gets_a_key_bound_token_that_is_useless_as_a_bearer_token(
    org: Org, sandbox: SandboxServer
) -> None:
    add_person(org, "dpop.target")
    key = sandbox.endpoints.okta_private_key_path.read_text()

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox, private_key=key, dpop=True)
        listed = await client.list_users()
        again = await client.list_users()  # a second proof, with a fresh jti, for the same token
        token, token_type = client.get_request_executor()._oauth.get_current_token()
        await close(client)
        return listed, again, token, token_type

    listed, again, token, token_type = run(scenario())
    assert listed[-1] is None and again[-1] is None
    assert token_type == "DPoP"
    for scheme in ("Bearer", "DPoP"):  # without a proof the stolen token is refused either way
        status, headers, body = _raw_get(sandbox, "/api/v1/users", {"Authorization": f"{scheme} {token}"})
        assert status == 401
        assert body["errorCode"] == "E0000011"
        assert "invalid_dpop_proof" in headers["WWW-Authenticate"]


def test_a_client_assertion_signed_with_another_key_is_refused(org: Org, sandbox: SandboxServer) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = impostor.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox, private_key=pem)
        result = await client.list_users()
        await close(client)
        return tuple(result)

    result = run(scenario())
    assert result[0] is None
    error = result[-1]
    assert error.error_code == "invalid_client"
    assert error.error_summary == "The client_assertion signature is invalid."


def test_requesting_a_scope_the_app_was_not_granted_is_refused(org: Org, sandbox: SandboxServer) -> None:
    key = sandbox.endpoints.okta_private_key_path.read_text()

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox, private_key=key, scopes=["okta.users.read", "okta.apps.manage"])
        result = await client.list_users()
        await close(client)
        return tuple(result)

    assert run(scenario())[-1].error_code == "invalid_scope"


def test_a_token_without_the_endpoint_scope_gets_403_e0000006_and_the_www_authenticate_hint(
    org: Org, sandbox: SandboxServer
) -> None:
    person = add_person(org, "read.only")
    key = sandbox.endpoints.okta_private_key_path.read_text()

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox, private_key=key, scopes=["okta.users.read"])
        readable = await client.get_user(person.id)
        refused = await client.suspend_user(person.id)
        await close(client)
        return readable, refused

    readable, refused = run(scenario())
    assert readable[-1] is None
    assert error_message(refused).startswith(
        "Okta HTTP 403 E0000006 You do not have permission to perform the requested action"
    )
    challenge = refused[0].headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="okta.users.manage"' in challenge
    assert person.status is UserStatus.ACTIVE


def test_injected_server_errors_and_dropped_connections_surface_through_the_sdk(
    org: Org, knobs: Knobs, sandbox: SandboxServer
) -> None:
    person = add_person(org, "fault.target")

    async def call() -> tuple[Any, ...] | BaseException:
        client = sdk_client(sandbox)
        try:
            return tuple(await client.suspend_user(person.id))
        except Exception as exc:  # okta 3.4.6 raises on a cut connection instead of returning an error
            return exc
        finally:
            await close(client)

    knobs.set("okta.users.lifecycle.suspend", fault_rate=1.0, faults=("500",))
    failed = run(call())
    assert isinstance(failed, tuple)
    assert error_message(failed).startswith("Okta HTTP 500 E0000009 Internal Server Error")
    assert person.status is UserStatus.ACTIVE

    knobs.set("okta.users.lifecycle.suspend", faults=("drop",))
    dropped = run(call())
    # The generated method dereferences the missing response: AttributeError, not an (data, resp, err) tuple.
    assert isinstance(dropped, AttributeError)
    assert person.status is UserStatus.ACTIVE

    knobs.set("okta.users.lifecycle.suspend", faults=("drop_after",))
    lost_answer = run(call())
    assert isinstance(lost_answer, AttributeError)
    assert person.status is UserStatus.SUSPENDED  # it happened; the client just never heard
    assert knobs.injected == {
        "okta.users.lifecycle.suspend:500": 1,
        "okta.users.lifecycle.suspend:drop": 1,
        "okta.users.lifecycle.suspend:drop_after": 1,
    }
