"""Shared fixtures: a sandbox org served over HTTPS on loopback, fresh for each test that asks."""

from __future__ import annotations

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
