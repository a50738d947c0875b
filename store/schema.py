"""Tables of the evidence store and the ledger (SQLAlchemy Core; Alembic owns their creation).

Timestamps from providers are kept as Okta formats them (UTC, milliseconds, 'Z'): fixed-width strings that
sort the same on SQLite and PostgreSQL, so one code path and one index serve both.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per provider record, exactly as received (raw) plus columns for queries, hash-chained per source.
evidence_events = Table(
    "evidence_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),  # "okta", "google:login", "google:gmail", ...
    Column("seq", BigInteger, nullable=False),  # 1, 2, 3 ... within the source: gaps reveal deletion
    Column("uuid", String(128), nullable=False),
    Column("published", String(32), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("actor_id", String(128)),
    Column("actor_alternate_id", String(320)),
    Column("actor_type", String(64)),
    Column("target_ids", Text, nullable=False, default=""),  # space-separated ids of User targets
    Column("target_logins", Text, nullable=False, default=""),  # space-separated alternateIds
    Column("outcome", String(32)),
    Column("client_ip", String(64)),
    Column("country", String(128)),
    Column("city", String(128)),
    Column("user_agent", Text),
    Column("transaction_id", String(128)),
    Column("ingested_at", String(32), nullable=False),
    Column("flags", String(256), nullable=False, default=""),  # malformed, uuid_conflict, oversize ...
    Column("raw", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("source", "seq", name="uq_evidence_source_seq"),
    Index("ix_evidence_type_published", "event_type", "published"),
    # De-duplication: a repeated event has the same published time; new events land at the index's end.
    Index("ix_evidence_source_published_uuid", "source", "published", "uuid"),
    Index("ix_evidence_published", "published"),
)

# Where each source's polling resumes: Okta's opaque `after` cursor or a time watermark.
ingest_cursors = Table(
    "ingest_cursors",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("cursor", Text),
    Column("watermark", String(32)),
    Column("updated_at", String(32), nullable=False),
)

# One row per ingest run and source: what was fetched, stored, skipped, flagged, and how it ended.
ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("pages", Integer, nullable=False, default=0),
    Column("fetched", Integer, nullable=False, default=0),
    Column("stored", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("flagged", Integer, nullable=False, default=0),
    Column("failed_pages", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False),  # running, ok, partial, failed
    Column("error", Text),
)

# What the retention job removed, so the chain can still be verified from its new first record.
evidence_retention = Table(
    "evidence_retention",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("ran_at", String(32), nullable=False),
    Column("cutoff", String(32), nullable=False),
    Column("removed", BigInteger, nullable=False),
    Column("last_removed_seq", BigInteger, nullable=False),
    Column("last_removed_hash", String(64), nullable=False),
)

# Who each record is about: its actor and User targets, ids as sent and logins lower-cased, one row per
# (account, record). Filled by store.evidence.append in the same transaction; serves the access picture
# (every event of a set of accounts since a cutoff) without scanning the store. Keyed by (source, seq),
# which append knows before the insert; WITHOUT ROWID on SQLite: the key is the table, one B-tree per row.
evidence_accounts = Table(
    "evidence_accounts",
    metadata,
    Column("account", String(320), primary_key=True),
    Column("published", String(32), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    sqlite_with_rowid=False,
)

# ---------------------------------------------------------------------------------------------------------
# The ledger: the source of truth for everything holdfast does. Prefect orchestrates; it is not the audit log.

# One row per incident: how it started, its cutoff and seeds, and where it stands.
incidents = Table(
    "incidents",
    metadata,
    Column("id", String(64), primary_key=True),  # INC-YYYYMMDD-HHMMSS-xxxx
    Column("created_at", String(32), nullable=False),
    Column("trigger", String(16), nullable=False),  # alert, manual, reaudit
    Column("source", Text),  # who raised it: SIEM rule, responder, public report
    Column("cutoff", String(32), nullable=False),
    Column("seeds", Text, nullable=False, default="[]"),  # JSON list of accounts named in the alert
    Column("status", String(16), nullable=False),  # planned, executing, contained, closed
    Column("plan_hash", String(64)),  # sha256 of the approved plan: what --execute ran
    Column("detail", Text, nullable=False, default="{}"),
)

# What the audit found, one row per account and incident (the plan is derived from these and the policy).
findings = Table(
    "findings",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("incident_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("login", String(320), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("body", Text, nullable=False),  # the finding as JSON (reasons, actors, corroboration, evidence)
    Column("recorded_at", String(32), nullable=False),
    UniqueConstraint("incident_id", "user_id", name="uq_findings_incident_user"),
)

# Write-ahead log of side effects: intent before the call, outcome after, keyed by (incident, account, action).
actions = Table(
    "actions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("incident_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("login", String(320), nullable=False),
    Column("action", String(64), nullable=False),  # suspend, revoke_sessions, reset_factors, unenroll:<id> ...
    Column("state", String(16), nullable=False),  # intent, done, already_done, failed, skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("intent_at", String(32), nullable=False),
    Column("started_at", String(32)),
    Column("finished_at", String(32)),
    Column("okta_request_id", String(128)),
    Column("error_code", String(32)),
    Column("error", Text),
    UniqueConstraint("incident_id", "user_id", "action", name="uq_actions_incident_user_action"),
    Index("ix_actions_incident_state", "incident_id", "state"),
)

# An account stays held (suspended) until IT verifies the person; holds outlive processes and restarts.
holds = Table(
    "holds",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("incident_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("login", String(320), nullable=False),
    Column("state", String(16), nullable=False),  # held, verified, released
    Column("created_at", String(32), nullable=False),
    Column("verified_at", String(32)),
    Column("released_at", String(32)),
    Column("relocks", Integer, nullable=False, default=0),
    UniqueConstraint("incident_id", "user_id", name="uq_holds_incident_user"),
    Index("ix_holds_state", "state"),
)

# Slack messages to send, exactly once per (incident, recipient, kind): a Slack outage delays, never loses.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("incident_id", String(64), nullable=False),
    Column("recipient", String(320), nullable=False),  # a person's email or a channel id
    Column("kind", String(64), nullable=False),  # notice, released, it_summary, it_status:<n> ...
    Column("payload", Text, nullable=False),  # JSON: text and Block Kit blocks
    Column("state", String(16), nullable=False),  # pending, sending, sent, undeliverable
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", String(32), nullable=False),
    Column("sent_at", String(32)),
    Column("slack_channel", String(64)),
    Column("slack_ts", String(64)),
    Column("last_error", Text),
    # When a drainer claimed the row (revision 0004): "sending" with a fresh claim is in flight; with none or a
    # stale one it is in doubt, and Slack's history is checked for it before it is posted again.
    Column("claimed_at", String(32)),
    UniqueConstraint("incident_id", "recipient", "kind", name="uq_outbox_incident_recipient_kind"),
    Index("ix_outbox_state", "state"),
)

# Identity verifications, accepted and refused: who vouched for whom, how, under which ticket.
verifications = Table(
    "verifications",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("incident_id", String(64)),
    Column("account", String(320), nullable=False),
    Column("verifier", String(320), nullable=False),
    Column("method", String(32), nullable=False),
    Column("ticket", String(128), nullable=False),
    Column("note", Text),
    Column("channel", String(16), nullable=False),  # cli, prefect-ui
    Column("outcome", String(16), nullable=False),  # accepted, refused
    Column("reason", Text),
    Column("recorded_at", String(32), nullable=False),
)

# The incident's story in order (alert received, audit finished, first suspension ...): the timeline's source.
incident_events = Table(
    "incident_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("incident_id", String(64), nullable=False),
    Column("at", String(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
    Index("ix_incident_events_incident_at", "incident_id", "at"),
)
