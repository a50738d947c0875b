"""evidence de-duplication by (source, published, uuid): an index that grows at its end

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:30:00.000000

Okta's event uuids are random, so an index on (source, uuid) takes every new event at a random leaf: each
commit of a 1,000-event page rewrote hundreds of index pages, and the store ran at about 18,000 events/s.
A repeated event (page borders, overlapping runs) has the same `published`, so (source, published, uuid)
finds it just as surely, and new events land at the index's end.
"""

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evidence_events', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_source_published_uuid', ['source', 'published', 'uuid'], unique=False)
        batch_op.drop_index('ix_evidence_source_uuid')


def downgrade() -> None:
    with op.batch_alter_table('evidence_events', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_source_uuid', ['source', 'uuid'], unique=False)
        batch_op.drop_index('ix_evidence_source_published_uuid')
