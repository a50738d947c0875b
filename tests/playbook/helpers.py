"""Evidence for the pure detection tests: LogEvents and Google activities built the way the fakes serve them,
turned into store columns by the same transform ingest uses (store.records.okta_record / google_record)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from config.policy import Policy, load_policy
from playbook.detect import Evidence
from playbook.when import okta_time
from sandbox.records import Actor, ClientInfo, EventSpec, Target, gmail_delivery, google_activity, okta_log_event
from store.records import google_record, okta_record

CUTOFF_DT = datetime(2021, 12, 1, tzinfo=UTC)
CUTOFF = okta_time(CUTOFF_DT)
STAMP = "2022-01-22T00:00:00.000Z"
_n = itertools.count(1)

SUPPORT = Actor("00usupport0000000001", "system@okta.com", "Okta Support")
OFFICE = ClientInfo(
    ip="203.0.113.10",
    user_agent="Mozilla/5.0 (Macintosh)",
    os="Mac OS X",
    browser="SAFARI",
    city="Lisbon",
    state="Lisboa",
    country="Portugal",
    lat=38.7,
    lon=-9.1,
)


def policy() -> Policy:
    return load_policy()


def person(name: str) -> tuple[Actor, Target]:
    ident = f"00u{name:0>17}"[:20]
    login = f"{name}@example.com"
    return Actor(ident, login, name.title()), Target(ident, login, name.title())


def at(days: float = 10, **delta: float) -> datetime:
    return CUTOFF_DT + timedelta(days=days, **delta)


def okta(
    event_type: str,
    when: datetime,
    actor: Actor,
    *targets: Target,
    client: ClientInfo = OFFICE,
    outcome: str = "SUCCESS",
    session: str | None = None,
    transaction_id: str | None = None,
    debug: dict[str, object] | None = None,
) -> Evidence:
    body = okta_log_event(
        EventSpec(
            event_type=event_type,
            published=when,
            actor=actor,
            targets=targets,
            client=client,
            outcome=outcome,
            session_id=session,
            transaction_id=transaction_id or f"txn{next(_n):08d}",
            debug_data=debug or {},
            uuid=f"okta-{next(_n):06d}",
        )
    )
    return Evidence.from_row(okta_record(body, ingested_at=STAMP), "okta")


def support(event_type: str, when: datetime, target: Target, **kw: object) -> Evidence:
    """The Okta support fingerprint: system@okta.com, transaction "unknown", no client."""
    return okta(event_type, when, SUPPORT, target, client=ClientInfo(), transaction_id="unknown", **kw)  # type: ignore[arg-type]


def reset_mail(login: str, when: datetime, subject: str = "Your password has been reset") -> Evidence:
    body = gmail_delivery(
        time=when,
        recipient=login,
        recipient_profile_id="1" * 21,
        sender="noreply@okta.com",
        subject=subject,
        message_id=f"<{next(_n)}.JavaMail.okta@okta.com>",
        customer_id="C0abc",
        owner_domain="example.com",
        unique_qualifier=str(next(_n)),
    )
    return Evidence.from_row(google_record(body, ingested_at=STAMP), "google:gmail")


def password_edit(login: str, when: datetime) -> Evidence:
    body = google_activity(
        application="user_accounts",
        time=when,
        actor_email=login,
        actor_profile_id="2" * 21,
        customer_id="C0abc",
        events=[("password_change", "password_edit", {})],
        unique_qualifier=str(next(_n)),
        owner_domain="example.com",
    )
    return Evidence.from_row(google_record(body, ingested_at=STAMP), "google:user_accounts")
