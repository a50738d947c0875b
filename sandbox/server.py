"""Serve the sandbox org: fake Okta, Google Workspace and Slack, each on its own loopback HTTPS port.

The three aiohttp apps share one event loop in a background thread, so a pytest fixture, the demo and
`holdfast sandbox serve` all use the same code. `SandboxServer.env()` gives the HOLDFAST_* settings that
point holdfast at it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.knobs import Knobs
from sandbox.org import Org
from sandbox.tls import SandboxTLS

AppFactory = Callable[[Org, Knobs], web.Application]

GOOGLE_SERVICE_ACCOUNT = "holdfast-reader@holdfast-sandbox.iam.gserviceaccount.com"
GOOGLE_DELEGATED_ADMIN_LOCAL = "admin"
OKTA_SERVICE_APP_CLIENT_ID = "0oaholdfastsandbox1"
OKTA_SERVICE_APP_SCOPES = frozenset(
    {
        "okta.users.read",
        "okta.users.manage",
        "okta.groups.read",
        "okta.logs.read",
        "okta.factors.read",
        "okta.factors.manage",
        "okta.sessions.manage",
    }
)
SLACK_IT_CHANNEL = "C0ITSECOPS"


@dataclass(frozen=True)
class SandboxEndpoints:
    okta_url: str
    google_url: str
    slack_url: str
    ca_path: Path
    google_key_path: Path
    okta_private_key_path: Path


def _rsa_key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


class SandboxServer:
    """Start with `with SandboxServer(org) as sandbox:`; `sandbox.endpoints` then says where everything is."""

    def __init__(
        self,
        org: Org,
        knobs: Knobs | None = None,
        *,
        host: str = "127.0.0.1",
        okta_port: int = 0,
        google_port: int = 0,
        slack_port: int = 0,
    ) -> None:
        self.org = org
        self.knobs = knobs or Knobs()
        self.host = host
        self._ports = (okta_port, google_port, slack_port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []
        self._endpoints: SandboxEndpoints | None = None
        self._tls = SandboxTLS.create(org.workdir / "tls")

    @property
    def endpoints(self) -> SandboxEndpoints:
        if self._endpoints is None:
            raise RuntimeError("sandbox not started: call start() or use it as a context manager")
        return self._endpoints

    def start(self) -> SandboxEndpoints:
        from sandbox.google.app import create_app as google_app
        from sandbox.okta.app import create_app as okta_app
        from sandbox.slack.app import create_app as slack_app

        ready = threading.Event()
        failure: list[BaseException] = []
        ports: list[int] = []

        async def serve() -> None:
            for factory, port in zip((okta_app, google_app, slack_app), self._ports, strict=True):
                runner = web.AppRunner(factory(self.org, self.knobs), access_log=None)
                await runner.setup()
                site = web.TCPSite(runner, self.host, port, ssl_context=self._tls.server_context)
                await site.start()
                server = site._server
                assert server is not None and isinstance(server, asyncio.base_events.Server)
                ports.append(server.sockets[0].getsockname()[1])
                self._runners.append(runner)

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:  # reported to the starting thread, which re-raises it
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="holdfast-sandbox", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if failure:
            raise failure[0]
        base = f"https://{self.host}"
        okta_url, google_url, slack_url = (f"{base}:{p}" for p in ports)
        self._endpoints = SandboxEndpoints(
            okta_url=okta_url,
            google_url=google_url,
            slack_url=f"{slack_url}/api/",
            ca_path=self._tls.ca_path,
            google_key_path=self._write_google_key(google_url),
            okta_private_key_path=self._write_okta_key(),
        )
        return self._endpoints

    def _write_google_key(self, google_url: str) -> Path:
        """A service-account key file like the one Google issues, whose token_uri is the fake's."""
        private_pem, public_pem = _rsa_key_pair()
        self.org.credentials.google_service_accounts[GOOGLE_SERVICE_ACCOUNT] = public_pem
        path = self.org.workdir / "google-service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "holdfast-sandbox",
                    "private_key_id": "sandbox",
                    "private_key": private_pem,
                    "client_email": GOOGLE_SERVICE_ACCOUNT,
                    "client_id": "100000000000000000001",
                    "token_uri": f"{google_url}/token",
                },
                indent=2,
            )
        )
        path.chmod(0o600)
        return path

    def _write_okta_key(self) -> Path:
        """The private key of an Okta OAuth 2.0 service app registered in the fake (private_key_jwt)."""
        private_pem, public_pem = _rsa_key_pair()
        self.org.credentials.okta_service_apps[OKTA_SERVICE_APP_CLIENT_ID] = (
            public_pem,
            OKTA_SERVICE_APP_SCOPES,
        )
        path = self.org.workdir / "okta-service-app.pem"
        path.write_text(private_pem)
        path.chmod(0o600)
        return path

    async def _shutdown(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop = None
        self._thread = None

    def call(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the servers' loop (for tests that change state between requests)."""
        if self._loop is None:
            raise RuntimeError("sandbox not started")
        self._loop.call_soon_threadsafe(fn)

    def env(self) -> dict[str, str]:
        """HOLDFAST_* settings pointing holdfast at this sandbox (API-token auth for Okta)."""
        ep = self.endpoints
        return {
            "HOLDFAST_OKTA__ORG_URL": ep.okta_url,
            "HOLDFAST_OKTA__API_TOKEN": self.org.credentials.okta_api_token,
            "HOLDFAST_OKTA__CA_BUNDLE": str(ep.ca_path),
            "HOLDFAST_GOOGLE__SERVICE_ACCOUNT_FILE": str(ep.google_key_path),
            "HOLDFAST_GOOGLE__DELEGATED_ADMIN": f"{GOOGLE_DELEGATED_ADMIN_LOCAL}@{self.org.domain}",
            "HOLDFAST_GOOGLE__CUSTOMER_ID": self.org.google_customer_id,
            "HOLDFAST_GOOGLE__API_ENDPOINT": ep.google_url,
            "HOLDFAST_GOOGLE__CA_BUNDLE": str(ep.ca_path),
            "HOLDFAST_SLACK__BOT_TOKEN": self.org.credentials.slack_bot_token,
            "HOLDFAST_SLACK__IT_CHANNEL": SLACK_IT_CHANNEL,
            "HOLDFAST_SLACK__BASE_URL": ep.slack_url,
            "HOLDFAST_SLACK__CA_BUNDLE": str(ep.ca_path),
            "HOLDFAST_ORG_DOMAINS": json.dumps([self.org.domain]),
        }

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
