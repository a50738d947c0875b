"""Shared helpers for the fake Okta tests: a real okta SDK client that trusts the sandbox CA, and org builders.

Not a test module by content: pytest collects it and finds no tests. The SDK gets the CA through a custom
`httpClient` class (its aiohttp session carries an SSL context built from the sandbox CA); TLS checks stay on.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
from okta.client import Client
from okta.http_client import HTTPClient

from sandbox.org import Factor, Group, Org, User, UserStatus, okta_id
from sandbox.server import OKTA_SERVICE_APP_CLIENT_ID, SandboxServer

BASE_TIME = datetime(2022, 1, 20, 12, 0, tzinfo=UTC)


def http_client_class(ca_path: Path) -> type[HTTPClient]:
    """An okta SDK HTTP client class whose aiohttp session trusts only the sandbox CA."""
    context = ssl.create_default_context(cafile=str(ca_path))

    class SandboxHTTPClient(HTTPClient):  # type: ignore[misc]
        def set_session(self, session: aiohttp.ClientSession) -> None:
            """Keep our TLS-configured session instead of the SDK's default one."""

        async def send_request(self, request: dict[str, Any]) -> Any:
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=200))
            return await super().send_request(request)

        async def close(self) -> None:
            if self._session is not None:
                await self._session.close()

    return SandboxHTTPClient


def sdk_client(
    sandbox: SandboxServer,
    *,
    token: str | None = None,
    private_key: str | None = None,
    client_id: str = OKTA_SERVICE_APP_CLIENT_ID,
    scopes: Iterable[str] = ("okta.users.read", "okta.users.manage", "okta.logs.read", "okta.groups.read"),
    dpop: bool = False,
    max_retries: int = 0,
) -> Client:
    config: dict[str, Any] = {
        "orgUrl": sandbox.endpoints.okta_url,
        "httpClient": http_client_class(sandbox.endpoints.ca_path),
        "rateLimit": {"maxRetries": max_retries},
        "cache": {"enabled": False},
    }
    if private_key is not None:
        config.update(
            authorizationMode="PrivateKey",
            clientId=client_id,
            scopes=list(scopes),
            privateKey=private_key,
            dpopEnabled=dpop,
        )
    else:
        config.update(authorizationMode="SSWS", token=token or sandbox.org.credentials.okta_api_token)
    return Client(config)


async def close(client: Client) -> None:
    http = client.get_request_executor()._http_client
    await http.close()


def next_after(response: Any) -> str | None:
    """The `after` cursor of the rel="next" Link header of an SDK ApiResponse (or aiohttp response)."""
    for link in _links(response):
        for part in link.split(","):
            if 'rel="next"' in part:
                url = part.split(";")[0].strip().strip("<>")
                return parse_qs(urlparse(url).query)["after"][0]
    return None


def error_message(result: tuple[Any, ...]) -> str:
    """The error of an SDK call, whichever tuple shape it came back in ("Okta HTTP 400 E0000001 ...")."""
    error = result[-1]
    if isinstance(error, dict):
        return str(error["message"])
    return str(getattr(error, "message", error))


def _links(response: Any) -> list[str]:
    # ApiResponse.headers is a plain dict (pydantic copies the CIMultiDict): of Okta's two Link headers only
    # the last survives, which is why Okta's order (self, then next) matters.
    headers = response.headers
    if hasattr(headers, "getall"):
        return list(headers.getall("Link", []))
    return [headers["Link"]] if "Link" in headers else []


def link_rels(response: Any) -> set[str]:
    rels: set[str] = set()
    for link in _links(response):
        for part in link.split(","):
            if "rel=" in part:
                rels.add(part.split("rel=")[1].strip().strip('"'))
    return rels


def add_person(
    org: Org,
    local: str,
    *,
    status: UserStatus = UserStatus.ACTIVE,
    department: str = "Engineering",
    first: str | None = None,
    last: str = "Tester",
    created: datetime | None = None,
) -> User:
    created_at = created or BASE_TIME - timedelta(days=400)
    user = User(
        id=okta_id("00u"),
        login=f"{local}@{org.domain}",
        email=f"{local}@{org.domain}",
        first_name=first or local.split(".")[0].capitalize(),
        last_name=last,
        status=status,
        created=created_at,
        department=department,
        title="Engineer",
        activated=created_at if status is not UserStatus.STAGED else None,
        status_changed=created_at,
        last_updated=created_at,
        password_changed=created_at if status is not UserStatus.STAGED else None,
        sessions=2,
        oauth_tokens=1,
    )
    return org.add_user(user)


def add_webauthn(org: Org, user: User, name: str = "YubiKey 5 NFC") -> Factor:
    return org.add_factor(
        Factor(
            id=okta_id("fwf"),
            user_id=user.id,
            factor_type="webauthn",
            provider="FIDO",
            status="ACTIVE",
            created=BASE_TIME,
            last_updated=BASE_TIME,
            profile={
                "credentialId": f"l3Br0n-7H3g047NqESqJynFtIgf3Ix9Of-{user.id}",
                "authenticatorName": name,
            },
        )
    )


def add_group(org: Org, name: str, members: Iterable[User]) -> Group:
    return org.add_group(Group(id=okta_id("00g"), name=name, members={u.id for u in members}, created=BASE_TIME))
