"""outbox claims: when a drainer took a message, so concurrent drains never post it twice

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A row in state "sending" with a fresh claimed_at is in flight in some drainer; with no claimed_at (or a
    # stale one) it is in doubt: the next drainer looks for it in Slack before posting it again.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
