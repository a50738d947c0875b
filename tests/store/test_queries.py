"""The audit's queries: credential changes since a cutoff, and every event of a set of accounts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, delete

from config.errors import InputError
from config.policy import load_policy
from store.db import transaction
from store.evidence import append
from store.queries import credential_events_query, credential_events_since, events_for_accounts
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
        rows = credential_events_since(conn, event_types=WATCHED, since="2021-12-01T00:00:00.000Z")
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
        window = credential_events_since(
            conn, event_types=WATCHED, since="2021-12-01", until="2021-12-20T12:00:00.000Z"
        )
        both = credential_events_since(
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
        credential_events_since(conn, event_types=WATCHED, since="last tuesday")


def test_every_event_of_the_accounts_since_the_cutoff_as_actor_or_target_by_id_or_login(history: Engine) -> None:
    with transaction(history) as conn:
        by_login = events_for_accounts(conn, logins_or_ids=["PERSON1@example.com"], since="2021-12-29T00:00:00Z")
        by_id = events_for_accounts(conn, logins_or_ids=[f"00u{1:017d}"], since="2021-12-29T00:00:00Z")
        both = events_for_accounts(
            conn, logins_or_ids=[f"00u{1:017d}", "person1@example.com"], since="2021-12-29T00:00:00Z"
        )
    assert [r.published for r in by_login] == [
        "2021-12-29T08:01:00.000Z",
        "2021-12-30T08:01:00.000Z",
    ]
    assert by_id == by_login == both  # each event once, however many of its names were asked for
    with transaction(history) as conn:
        target = events_for_accounts(conn, logins_or_ids=["person3@example.com"], since="2021-12-20T00:00:00Z")
        google = events_for_accounts(conn, logins_or_ids=["person2@example.com"], since="2021-12-10T00:00:00Z")
    assert "system.mfa.factor.deactivate" in [r.event_type for r in target]  # person3 only as a target
    assert ("google:user_accounts", "password_edit") in [(r.source, r.event_type) for r in google]


def test_the_access_picture_can_be_narrowed_to_sign_ins_and_a_source(history: Engine) -> None:
    with transaction(history) as conn:
        rows = events_for_accounts(
            conn,
            logins_or_ids=["person2@example.com"],
            since="2021-12-01T00:00:00Z",
            event_types=["user.session.start"],
            sources=["okta"],
        )
    assert len(rows) == 30
    assert {r.event_type for r in rows} == {"user.session.start"}
    assert all(json.loads(r.raw)["authenticationContext"]["credentialType"] == "PASSWORD" for r in rows)


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
    with transaction(history) as conn:
        rows = events_for_accounts(conn, logins_or_ids=[f"00u{9:017d}"], since="2021-11-01T00:00:00Z")
        person4 = events_for_accounts(conn, logins_or_ids=["person4@example.com"], since="2021-12-31T00:00:00Z")
    assert rows == []
    assert len(person4) == 6


def test_no_accounts_or_no_types_ask_for_nothing(history: Engine) -> None:
    with transaction(history) as conn:
        assert events_for_accounts(conn, logins_or_ids=[" "], since="2021-12-01") == []
        assert credential_events_since(conn, event_types=[], since="2021-12-01") == []


def test_the_audit_query_scans_the_type_and_time_index_not_the_whole_store(history: Engine) -> None:
    with transaction(history) as conn:
        if conn.dialect.name != "sqlite":
            pytest.skip("PostgreSQL plans from statistics; bench/audit_query.py times it over 10,000,000 events")
        query = credential_events_query(event_types=WATCHED, since="2021-12-01", sources=("okta", "google:login"))
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = [str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    assert plan[0] == "SEARCH evidence_events USING INDEX ix_evidence_type_published (event_type=? AND published>?)"
