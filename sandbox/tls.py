"""A throw-away certificate authority for the sandbox: the fakes speak HTTPS exactly as the vendors do.

holdfast is pointed at the CA file through its settings (`ca_bundle`), never by turning TLS checks off.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class SandboxTLS:
    ca_path: Path
    server_context: ssl.SSLContext

    @classmethod
    def create(cls, workdir: Path) -> SandboxTLS:
        """New CA and a server certificate for 127.0.0.1 / localhost; the CA PEM is written to workdir."""
        ca = trustme.CA(organization_name="holdfast sandbox")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        workdir.mkdir(parents=True, exist_ok=True)
        ca_path = workdir / "sandbox-ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        return cls(ca_path=ca_path, server_context=context)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))
