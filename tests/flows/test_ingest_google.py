"""Google Workspace Reports ingest through the real googleapiclient (service account, httplib2, sandbox CA).

Each application the playbook corroborates against (login, user_accounts, admin, gmail) is its own source
and chain, `google:<application>`; the lookback re-reads recent activities and de-duplication absorbs them;
Gmail windows longer than Google's 30 days are split; a Google outage fails the Google sources only.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from config.settings import Settings, load_settings
from flows.ingest import ingest
from sandbox.knobs import Knobs
from sandbox.org import Org
from sandbox.records import google_activity
from sandbox.server import SandboxServer
from store.anchors import read_anchors
from store.db import make_engine, transaction
from store.schema import evidence_events
from store.verify import verify_all
from tests.factories import add_log_events, settings_file
from tests.sandbox.google_slack_helpers import delivery, login_activity

APPS = ("login", "user_accounts", "admin", "gmail")


def configure(server: SandboxServer, folder: Path, **extra: str) -> tuple[str, Settings]:
    path = settings_file(server, folder, google=True, **extra)
    return str(path), load_settings(path, environ={})


def run(config: str) -> dict[str, dict[str, Any]]:
    summary: dict[str, Any] = asyncio.run(ingest(config_file=config))
    return {s["source"]: s for s in summary["sources"]}


def stored(settings: Settings) -> dict[str, list[str]]:
    """uuids per source, in chain order."""
    engine = make_engine(settings.store.url)
    with transaction(engine) as conn:
        rows = conn.execute(select(evidence_events.c.source, evidence_events.c.uuid).order_by(evidence_events.c.id))
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.source, []).append(row.uuid)
    engine.dispose()
    return found


def chains_intact(settings: Settings) -> bool:
    engine = make_engine(settings.store.url)
    with transaction(engine) as conn:
        reports = verify_all(conn, read_anchors(settings.store.resolved_anchor_file()))
    engine.dispose()
    return bool(reports) and all(r.ok for r in reports)


def activity(org: Org, application: str, at: datetime, n: int, name: str) -> dict[str, Any]:
    return google_activity(
        application=application,
        time=at,
        actor_email=f"person{n}@{org.domain}",
        actor_profile_id=f"1{n:020d}",
        customer_id=org.google_customer_id,
        events=[("type", name, {"n": n})],
        ip_address="198.51.100.9",
        unique_qualifier=f"{application}-{n}",
        owner_domain=org.domain,
    )


def populate(org: Org, now: datetime) -> dict[str, set[str]]:
    """Activities of each application over the last 80 days; returns the uuid each should be stored as."""
    made: dict[str, list[dict[str, Any]]] = {
        "login": [login_activity(org, f"person{n}@{org.domain}", now - timedelta(days=n, hours=1)) for n in range(6)],
        "user_accounts": [activity(org, "user_accounts", now - timedelta(days=3 * n + 1), n, "password_edit")
                          for n in range(4)],
        "admin": [activity(org, "admin", now - timedelta(days=40 + n), n, "CHANGE_PASSWORD") for n in range(3)],
        # Gmail: across three 30-day windows (Google refuses a single window longer than 30 days).
        "gmail": [delivery(org, f"person{n}@{org.domain}", now - timedelta(days=d), "Reset your password")
                  for n, d in enumerate((80, 55, 31, 29, 2))],
    }  # fmt: skip
    for items in made.values():
        org.reports.append_many(items)
    return {app: {f"{a['id']['time']}/{a['id']['uniqueQualifier']}" for a in items} for app, items in made.items()}


def test_each_application_is_stored_under_its_own_source_and_chain(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    expected = populate(org, datetime.now(UTC))
    add_log_events(org, 10)
    config, settings = configure(sandbox, tmp_path)
    sources = run(config)
    assert {s: sources[f"google:{s}"]["status"] for s in APPS} == dict.fromkeys(APPS, "ok")
    found = stored(settings)
    for application in APPS:
        assert set(found[f"google:{application}"]) == expected[application], application
    assert len(found["okta"]) == 10
    assert chains_intact(settings)


def test_gmail_windows_longer_than_30_days_are_split_and_nothing_in_them_is_missed(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    expected = populate(org, datetime.now(UTC))
    config, settings = configure(sandbox, tmp_path)
    gmail = run(config)["google:gmail"]
    # A single 90-day request would have been refused with 400 ("... not be more than 30 days for Gmail").
    assert (gmail["status"], gmail["counts"]["stored"]) == ("ok", 5)
    assert set(stored(settings)["google:gmail"]) == expected["gmail"]


def test_the_lookback_rereads_recent_activities_and_stores_them_once(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    populate(org, now)
    config, settings = configure(sandbox, tmp_path)
    run(config)
    before = stored(settings)
    # A late-arriving activity inside the lookback, plus a brand-new one.
    late = login_activity(org, f"late@{org.domain}", now - timedelta(hours=3))
    fresh = login_activity(org, f"fresh@{org.domain}", datetime.now(UTC) - timedelta(seconds=1))
    org.reports.append_many([late, fresh])
    time.sleep(0.01)
    login = run(config)["google:login"]
    assert login["counts"]["stored"] == 2
    assert login["counts"]["duplicates"] >= 1  # the lookback re-read what was stored last time
    after = stored(settings)
    assert after["google:login"][: len(before["google:login"])] == before["google:login"]
    assert len(after["google:login"]) == len(set(after["google:login"])) == len(before["google:login"]) + 2
    for application in ("user_accounts", "admin", "gmail"):
        assert after[f"google:{application}"] == before[f"google:{application}"]
    assert chains_intact(settings)


def test_google_unavailable_fails_the_google_sources_only(
    org: Org, knobs: Knobs, sandbox: SandboxServer, tmp_path: Path
) -> None:
    populate(org, datetime.now(UTC))
    uuids = add_log_events(org, 1_200)
    knobs.set("google.", fault_rate=1.0, faults=("503",))
    config, settings = configure(sandbox, tmp_path)
    sources = run(config)
    assert sources["okta"]["status"] == "ok"
    assert sorted(stored(settings)["okta"]) == sorted(uuids)
    for application in APPS:
        google = sources[f"google:{application}"]
        assert google["status"] == "failed", application
        assert google["error"].startswith("google")
        assert google["counts"]["stored"] == 0
    engine = make_engine(settings.store.url)
    with transaction(engine) as conn:
        google_rows = conn.execute(
            select(func.count()).select_from(evidence_events).where(evidence_events.c.source.like("google:%"))
        ).scalar_one()
    assert google_rows == 0
    # Google back: the next run catches up from where it would have started.
    knobs.clear()
    assert all(s["status"] == "ok" for s in run(config).values())
    assert chains_intact(settings)
