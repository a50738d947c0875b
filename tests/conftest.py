"""Shared fixtures: a sandbox org served over HTTPS on loopback, fresh for each test that asks."""

from __future__ import annotations

import os
import uuid

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # loopback only, before Prefect is imported
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.knobs import Knobs
from sandbox.org import Org
from sandbox.server import SandboxServer


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    created = Org.empty(tmp_path / "org")
    yield created
    created.close()


@pytest.fixture
def knobs() -> Knobs:
    return Knobs(seed=7)


@pytest.fixture
def sandbox(org: Org, knobs: Knobs) -> Iterator[SandboxServer]:
    with SandboxServer(org, knobs) as server:
        yield server


PG_ADMIN_URL = os.environ.get("PG_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database on the real PostgreSQL server; dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"holdfast_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
