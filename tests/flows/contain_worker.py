"""A containment run in its own process, for the crash test: `python -m tests.flows.contain_worker CONFIG PLAN`."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow

from config.settings import load_settings
from flows.contain import run_containment
from playbook.models import Plan
from store import ledger
from store.db import make_engine, migrate, transaction


def main(config: str, plan_file: str) -> None:
    settings = load_settings(Path(config), environ={})
    plan = Plan.model_validate_json(Path(plan_file).read_text())
    engine = make_engine(settings.store.url)
    migrate(engine)
    with transaction(engine, write=True) as conn:
        if not any(i.id == plan.incident_id for i in ledger.list_incidents(conn)):
            ledger.create_incident(
                conn, incident_id=plan.incident_id, trigger="manual", source="crash test",
                cutoff="2026-01-01T00:00:00.000Z", seeds=[], now=datetime.now(UTC),
            )  # fmt: skip

    @flow(name="crash-test-contain")
    async def contain() -> None:
        await run_containment(settings.require_okta(), engine, plan)

    asyncio.run(contain())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
