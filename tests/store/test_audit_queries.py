"""The audit's own store reads, on SQLite and PostgreSQL: data span, typed ranges, Google coverage, sign-ins."""

from __future__ import annotations

from sqlalchemy import Engine

from store.db import transaction
from store.evidence import append
from store.ingest_state import RunCounts, finish_run, start_run
from store.queries import access_rows, events_of_types, evidence_span, google_coverage, reset_mail_candidates
from store.records import google_record, okta_record

STAMP = "2022-01-22T00:00:00.000Z"
CUTOFF = "2021-12-01T00:00:00.000Z"
SIGN_IN, MFA = "user.session.start", "user.authentication.auth_via_mfa"


def user(n: int) -> dict[str, object]:
    return {"id": f"00u{n:017d}", "type": "User", "alternateId": f"person{n}@example.com", "displayName": f"P {n}"}


def event(
    n: int, event_type: str, published: str, actor: int, *, target: int | None = None, factor: str = ""
) -> dict[str, object]:
    return {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "published": published,
        "eventType": event_type,
        "actor": user(actor),
        "target": [user(target)] if target is not None else [],
        "client": {
            "ipAddress": f"198.51.100.{n}",
            "userAgent": {"rawUserAgent": f"agent-{actor}-{n % 2}"},
            "geographicalContext": {"country": "Portugal"},
        },
        "outcome": {"result": "SUCCESS"},
        "authenticationContext": {"credentialType": "OTP"},
        "debugContext": {"debugData": {"factor": factor} if factor else {}},
    }


def mail(n: int, subject: str, published: str) -> dict[str, object]:
    return {
        "id": {"time": published, "uniqueQualifier": str(n), "applicationName": "gmail"},
        "actor": {"email": "person1@example.com", "profileId": "1"},
        "events": [
            {
                "name": "delivery",
                "parameters": [
                    {"name": "message_info", "messageValue": {"parameter": [{"name": "subject", "value": subject}]}}
                ],
            }
        ],
    }


def store(engine: Engine, source: str, bodies: list[dict[str, object]]) -> None:
    build = okta_record if source == "okta" else google_record
    with transaction(engine, write=True) as conn:
        append(conn, source, [build(b, ingested_at=STAMP) for b in bodies], ingested_at=STAMP)


def test_the_span_of_a_source_is_its_oldest_and_newest_event(engine: Engine) -> None:
    with transaction(engine) as conn:
        assert evidence_span(conn, "okta") == (None, None)
    store(
        engine,
        "okta",
        [event(2, SIGN_IN, "2021-11-05T08:00:00.000Z", 1), event(1, SIGN_IN, "2021-10-01T08:00:00.000Z", 1)],
    )
    with transaction(engine) as conn:
        assert evidence_span(conn, "okta") == ("2021-10-01T08:00:00.000Z", "2021-11-05T08:00:00.000Z")


def test_typed_ranges_keep_to_their_types_window_sources_and_raw_pattern(engine: Engine) -> None:
    store(
        engine,
        "okta",
        [
            event(1, "user.account.reset_password", "2021-11-30T23:59:59.999Z", 9, target=1),
            event(2, "user.account.reset_password", CUTOFF, 9, target=1),
            event(3, SIGN_IN, "2021-12-02T08:00:00.000Z", 1),
        ],
    )
    store(
        engine,
        "google:gmail",
        [
            mail(4, "Your PASSWORD has been reset", "2021-12-03T08:00:00.000Z"),
            mail(5, "Lunch", "2021-12-03T09:00:00.000Z"),
        ],
    )
    with transaction(engine) as conn:
        rows = events_of_types(conn, event_types=["user.account.reset_password"], since=CUTOFF, until="2022-01-01")
        assert [r.uuid for r in rows] == ["00000000-0000-4000-8000-000000000002"]
        mails = reset_mail_candidates(conn, since=CUTOFF, until="2022-01-01T00:00:00.000Z")
        assert [r.uuid for r in mails] == ["2021-12-03T08:00:00.000Z/4"]


def test_google_coverage_is_the_latest_run_that_ended_ok(engine: Engine) -> None:
    with transaction(engine, write=True) as conn:
        ok = start_run(conn, "google:gmail", "2022-01-20T10:00:00.000Z")
        finish_run(conn, ok, RunCounts(), "ok", "2022-01-20T10:01:00.000Z", None)
        failed = start_run(conn, "google:gmail", "2022-01-21T10:00:00.000Z")
        finish_run(conn, failed, RunCounts(), "failed", "2022-01-21T10:01:00.000Z", "boom")
    with transaction(engine) as conn:
        coverage = google_coverage(conn, ["google:gmail", "google:user_accounts"])
    assert coverage == {"google:gmail": "2022-01-20T10:00:00.000Z", "google:user_accounts": None}


def test_sign_ins_come_from_the_baseline_and_mfa_methods_only_since_the_cutoff(engine: Engine) -> None:
    store(
        engine,
        "okta",
        [
            event(1, SIGN_IN, "2021-11-25T08:00:00.000Z", 1),
            event(2, MFA, "2021-11-25T08:00:05.000Z", 1, factor="push"),  # baseline MFA: not needed
            event(3, SIGN_IN, "2021-12-02T08:00:00.000Z", 1),
            event(4, MFA, "2021-12-02T08:00:05.000Z", 1, factor="fido_webauthn"),
            event(5, MFA, "2021-12-02T08:00:09.000Z", 1),  # no factor: the credential type
            event(6, SIGN_IN, "2021-12-02T08:00:00.000Z", 2),  # someone else
            event(7, "user.account.reset_password", "2021-12-03T08:00:00.000Z", 3, target=1),  # about, not by
        ],
    )
    with transaction(engine) as conn:
        rows = access_rows(
            conn,
            user_ids=[user(1)["id"]],
            sign_in_type=SIGN_IN,
            mfa_type=MFA,  # type: ignore[list-item]
            since="2021-11-17T00:00:00.000Z",
            cutoff=CUTOFF,
            until="2022-01-01T00:00:00.000Z",
        )
    got = sorted((e.published, e.event_type, e.mfa_method, e.user_agent) for _, e in rows)
    assert got == [
        ("2021-11-25T08:00:00.000Z", SIGN_IN, None, "agent-1-1"),
        ("2021-12-02T08:00:00.000Z", SIGN_IN, None, "agent-1-1"),
        ("2021-12-02T08:00:05.000Z", MFA, "fido_webauthn", "agent-1-0"),
        ("2021-12-02T08:00:09.000Z", MFA, "OTP", "agent-1-1"),
    ]
