"""evidence_accounts: which accounts each evidence record is about (the access picture's index)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 21:00:00

Existing records are indexed in the upgrade, from their stored columns, the way store.evidence.append
indexes new ones.
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_BATCH = 10_000
_WIDTH = 320


def _keys(actor_id, actor_alternate_id, target_ids, target_logins):
    keys = {*(target_ids or "").split(" "), *(target_logins or "").split(" ")}
    if actor_id:
        keys.add(actor_id)
    if actor_alternate_id:
        keys.add(actor_alternate_id.lower())
    keys.discard("")
    return {k[:_WIDTH] for k in keys}


def upgrade() -> None:
    accounts = op.create_table(
        'evidence_accounts',
        sa.Column('account', sa.String(length=320), nullable=False),
        sa.Column('published', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('account', 'published', 'source', 'seq', name=op.f('pk_evidence_accounts')),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    events = sa.table(
        'evidence_events',
        sa.column('id', sa.BigInteger),
        sa.column('source', sa.String),
        sa.column('seq', sa.BigInteger),
        sa.column('published', sa.String),
        sa.column('actor_id', sa.String),
        sa.column('actor_alternate_id', sa.String),
        sa.column('target_ids', sa.Text),
        sa.column('target_logins', sa.Text),
    )
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(events).where(events.c.id > last_id).order_by(events.c.id).limit(_BATCH)
        ).all()
        if not rows:
            break
        values = [
            {"account": key, "published": r.published, "source": r.source, "seq": r.seq}
            for r in rows
            for key in _keys(r.actor_id, r.actor_alternate_id, r.target_ids, r.target_logins)
        ]
        if values:
            bind.execute(sa.insert(accounts), values)
        last_id = rows[-1].id


def downgrade() -> None:
    op.drop_table('evidence_accounts')
