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
    Index("ix_evidence_source_uuid", "source", "uuid"),
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
