"""notice and notice_night tables (feedback to referrers, notifications, extract notices)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 02:10:04.276158
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notice',
    sa.Column('notice_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('recipient', sa.String(length=40), nullable=False),
    sa.Column('child_id', sa.String(length=20), nullable=True),
    sa.Column('about', sa.String(length=120), nullable=False),
    sa.Column('rule_id', sa.String(length=60), nullable=True),
    sa.Column('audit_entry_id', sa.BigInteger(), nullable=True),
    sa.Column('run_id', sa.String(length=80), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('to_address', sa.Text(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('body_text', sa.Text(), nullable=True),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('outbox_path', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=80), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('notice_id', name=op.f('pk_notice')),
    sa.UniqueConstraint('idempotency_key', name='uq_notice_idempotency_key')
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_child_id'), ['child_id'], unique=False)
        batch_op.create_index('ix_notice_status', ['status', 'next_attempt_at'], unique=False)

    op.create_table('notice_night',
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('run_id', sa.String(length=80), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('as_of', name=op.f('pk_notice_night')),
    comment='each night notices were built; the first one bounds which referrals are fed back'
    )


def downgrade() -> None:
    op.drop_table('notice_night')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_status')
        batch_op.drop_index(batch_op.f('ix_notice_child_id'))

    op.drop_table('notice')
