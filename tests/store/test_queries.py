"""The audit's main query (events of some types in a window) and the access picture's guard against stale
index rows, on SQLite and PostgreSQL (tests/store/test_audit_queries.py covers the rest of store/queries.py)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, delete, event

from config.errors import InputError
from config.policy import load_policy
from store.db import transaction
from store.evidence import append
from store.queries import access_rows, events_of_types
from store.records import google_record, okta_record
from store.schema import evidence_events

STAMP = "2026-12-04T10:00:00.000Z"
WATCHED = sorted(load_policy().watched)


def user(n: int) -> dict[str, object]:
    return {"id": f"00u{n:017d}", "type": "User", "alternateId": f"Person{n}@Example.com", "displayName": f"P {n}"}


def okta_event(n: int, event_type: str, published: str, *, actor: int, target: int | None = None) -> str:
    body = {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "published": published,
        "eventType": event_type,
        "actor": user(actor),
        "target": [user(target)] if target is not None else [],
        "client": {"ipAddress": f"198.51.100.{n % 250}", "geographicalContext": {"country": "Portugal"}},
        "outcome": {"result": "SUCCESS", "reason": None},
        "authenticationContext": {"credentialType": "PASSWORD"},
    }
    return json.dumps(body, indent=1)  # stored exactly as received, whitespace included


def store(engine: Engine, source: str, raws: list[str]) -> None:
    build = okta_record if source == "okta" else google_record
    with transaction(engine, write=True) as conn:
        records = [build(json.loads(raw), raw=raw, ingested_at=STAMP) for raw in raws]
        append(conn, source, records, ingested_at=STAMP)


@pytest.fixture
def history(engine: Engine) -> Engine:
    """Sign-ins of five people over December, a few credential changes, one Google password change."""
    raws: list[str] = []
    n = 0
    for day in range(1, 31):
        for person in range(5):
            n += 1
            raws.append(okta_event(n, "user.session.start", f"2021-12-{day:02d}T08:0{person}:00.000Z", actor=person))
    changes = [
        ("user.account.reset_password", "2021-11-30T23:59:59.999Z", 9, 1),  # before the cutoff
        ("user.account.reset_password", "2021-12-01T00:00:00.000Z", 9, 1),  # exactly at the cutoff
        ("user.mfa.factor.update", "2021-12-10T12:00:00.000Z", 2, 2),
        ("system.mfa.factor.deactivate", "2021-12-20T12:00:00.000Z", 9, 3),
        ("user.session.impersonation.initiate", "2022-01-02T12:00:00.000Z", 9, None),
        ("group.user_membership.add", "2021-12-15T12:00:00.000Z", 9, 4),  # not a credential change
    ]
    for event_type, published, actor, target in changes:
        n += 1
        raws.append(okta_event(n, event_type, published, actor=actor, target=target))
    store(engine, "okta", raws)
    activity = {
        "kind": "admin#reports#activity",
        "id": {"time": "2021-12-10T12:00:05.000Z", "uniqueQualifier": "42", "applicationName": "user_accounts"},
        "actor": {"callerType": "USER", "email": "Person2@example.com", "profileId": "1099"},
        "events": [{"type": "password_change", "name": "password_edit"}],
    }
    store(engine, "google:user_accounts", [json.dumps(activity)])
    return engine


def test_credential_events_since_the_cutoff_are_returned_oldest_first_with_raw_as_received(history: Engine) -> None:
    with transaction(history) as conn:
        rows = events_of_types(conn, event_types=WATCHED, since="2021-12-01T00:00:00.000Z")
    assert [(r.event_type, r.published) for r in rows] == [
        ("user.account.reset_password", "2021-12-01T00:00:00.000Z"),
        ("user.mfa.factor.update", "2021-12-10T12:00:00.000Z"),
        ("system.mfa.factor.deactivate", "2021-12-20T12:00:00.000Z"),
        ("user.session.impersonation.initiate", "2022-01-02T12:00:00.000Z"),
    ]
    first = rows[0]
    assert (first.actor_id, first.target_ids) == (f"00u{9:017d}", f"00u{1:017d}")
    assert (first.target_logins, first.source, first.outcome, first.country) == (
        "person1@example.com",
        "okta",
        "SUCCESS",
        "Portugal",
    )
    assert first.raw.startswith("{\n") and json.loads(first.raw)["eventType"] == "user.account.reset_password"


def test_until_bounds_the_window_and_other_sources_are_included_only_when_asked(history: Engine) -> None:
    with transaction(history) as conn:
        window = events_of_types(conn, event_types=WATCHED, since="2021-12-01", until="2021-12-20T12:00:00.000Z")
        both = events_of_types(
            conn,
            event_types=[*WATCHED, "password_edit"],
            since="2021-12-01T00:00:00Z",
            sources=("okta", "google:user_accounts"),
        )
    assert [r.event_type for r in window] == ["user.account.reset_password", "user.mfa.factor.update"]
    assert [(r.source, r.event_type) for r in both][1:3] == [
        ("okta", "user.mfa.factor.update"),
        ("google:user_accounts", "password_edit"),
    ]


def test_an_unreadable_cutoff_is_refused_with_its_name(history: Engine) -> None:
    with transaction(history) as conn, pytest.raises(InputError, match="since: 'last tuesday'"):
        events_of_types(conn, event_types=WATCHED, since="last tuesday")


def test_index_rows_left_by_evidence_deleted_outside_retention_never_return_another_accounts_event(
    history: Engine,
) -> None:
    # Someone deletes the newest records; the next ingest reuses their seq numbers for other people's events.
    with transaction(history, write=True) as conn:
        conn.execute(delete(evidence_events).where(evidence_events.c.seq > 150))
    store(
        history,
        "okta",
        [okta_event(900 + n, "user.session.start", "2021-12-31T09:00:00.000Z", actor=4) for n in range(6)],
    )
    window = {"sign_in_type": "user.session.start", "mfa_type": "user.authentication.auth_via_mfa"}
    with transaction(history) as conn:
        since, until = "2021-12-31T00:00:00.000Z", "2022-01-31T00:00:00.000Z"
        rows = access_rows(conn, user_ids=[f"00u{9:017d}"], since=since, cutoff=since, until=until, **window)
        person4 = access_rows(conn, user_ids=[f"00u{4:017d}"], since=since, cutoff=since, until=until, **window)
    assert rows == []  # the reused seq numbers' index rows still name person 9
    assert [user_id for user_id, _ in person4] == [f"00u{4:017d}"] * 6


def test_no_accounts_or_no_types_ask_for_nothing(history: Engine) -> None:
    with transaction(history) as conn:
        window = {"since": "2021-12-01", "cutoff": "2021-12-01", "until": "2022-01-01"}
        assert access_rows(conn, user_ids=[], sign_in_type="user.session.start", mfa_type="x", **window) == []
        assert events_of_types(conn, event_types=[], since="2021-12-01") == []


def test_the_audit_query_scans_the_type_and_time_index_not_the_whole_store(history: Engine) -> None:
    if history.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans from statistics; bench/audit_query.py times it over 10,000,000 events")
    executed: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        executed.append((statement, parameters))

    event.listen(history, "before_cursor_execute", capture)
    try:
        with transaction(history) as conn:
            events_of_types(conn, event_types=WATCHED, since="2021-12-01", sources=("okta", "google:login"))
            statement, parameters = executed[-1]
            plan = [str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    finally:
        event.remove(history, "before_cursor_execute", capture)
    assert plan[0] == "SEARCH evidence_events USING INDEX ix_evidence_type_published (event_type=? AND published>?)"
