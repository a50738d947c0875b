"""Settings -> an okta SDK `Client` that speaks HTTPS with the configured CA, the documented auth header,
one pooled connection set sized to our concurrency budget, and no secrets in the SDK's logs.

Built once at the edge (flow start) and passed to tasks. The SDK's own retries are turned off: retries are
decided in one place (tasks/okta/calls.py) by error type, honouring X-Rate-Limit-Reset.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from okta.client import Client
from okta.http_client import HTTPClient

from config.settings import OktaSettings
from tasks.okta.calls import share_budget

OKTA_LOGGER = "okta-sdk-python"
_SECRET_PATTERNS = (
    re.compile(r"(SSWS|Bearer|DPoP)\s*[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"('Authorization':\s*')[^']*'"),
    re.compile(r"(client_assertion=)[^&\s']+"),
)


class RedactSecrets(logging.Filter):
    """Strips tokens from every record of the okta SDK's logger (it logs whole requests at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for pattern in _SECRET_PATTERNS:
            message = pattern.sub(lambda m: m.group(1) + " [redacted]", message)
        record.msg, record.args = message, None
        return True


def _quiet_sdk_logger() -> None:
    logger = logging.getLogger(OKTA_LOGGER)
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())
    logger.setLevel(logging.WARNING)


def ssl_context(settings: OktaSettings) -> ssl.SSLContext:
    """System trust store, plus the configured CA bundle (corporate proxy, sandbox). Never unverified."""
    context = ssl.create_default_context()
    if settings.ca_bundle is not None:
        context.load_verify_locations(cafile=str(settings.ca_bundle))
    return context


def _http_client_class(settings: OktaSettings) -> type[HTTPClient]:
    """The SDK instantiates the class it is given, so the settings are bound into a subclass."""
    context = ssl_context(settings)
    limit = settings.max_concurrency

    class HoldfastHTTPClient(HTTPClient):
        def __init__(self, http_config: dict[str, Any]) -> None:
            super().__init__(http_config)
            self._own_session: aiohttp.ClientSession | None = None

        def set_session(self, session: aiohttp.ClientSession) -> None:
            """Keep our own TLS-configured session; the SDK's context manager would replace it."""

        async def send_request(self, request: dict[str, Any]) -> Any:
            if self._own_session is None or self._own_session.closed:
                connector = aiohttp.TCPConnector(ssl=context, limit=limit, limit_per_host=limit)
                self._own_session = aiohttp.ClientSession(connector=connector)
            self._session = self._own_session
            headers = request.get("headers") or {}
            auth = headers.get("Authorization", "")
            # The generated API methods send "SSWS<token>"; Okta documents "SSWS <token>".
            if auth.startswith("SSWS") and not auth.startswith("SSWS "):
                headers["Authorization"] = "SSWS " + auth[4:]
            request["headers"] = headers
            return await super().send_request(request)

        async def close(self) -> None:
            if self._own_session is not None:
                await self._own_session.close()

    return HoldfastHTTPClient


def client_config(settings: OktaSettings) -> dict[str, Any]:
    """The SDK's configuration dict for these settings (secrets only inside the SDK's own config)."""
    config: dict[str, Any] = {
        "orgUrl": settings.org_url,
        "requestTimeout": settings.request_timeout_s,
        "rateLimit": {"maxRetries": 0},
        "cache": {"enabled": False},
        "logging": {"enabled": False},
        "httpClient": _http_client_class(settings),
    }
    if settings.api_token is not None:
        config["authorizationMode"] = "SSWS"
        config["token"] = settings.api_token.get_secret_value()
    else:
        assert settings.client_id is not None and settings.private_key_file is not None
        config["authorizationMode"] = "PrivateKey"
        config["clientId"] = settings.client_id
        config["scopes"] = list(settings.scopes)
        config["privateKey"] = settings.private_key_file.read_text()
        if settings.dpop:
            config["dpopEnabled"] = True
    return config


@asynccontextmanager
async def okta_client(settings: OktaSettings) -> AsyncIterator[Client]:
    """An SDK client for the duration of a flow; closes its connection pool on exit."""
    _quiet_sdk_logger()
    client = Client(client_config(settings))
    share_budget(client, settings.shared_rate_limits)
    try:
        yield client
    finally:
        http = client.get_request_executor()._http_client
        if hasattr(http, "close"):
            await http.close()
