"""match_hold table (a held night: a mass relink waits for an officer's approval); record_link holds every pair
that counts as evidence

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('match_hold',
    sa.Column('run_id', sa.String(length=80), nullable=False),
    sa.Column('held_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('children_before', sa.BigInteger(), nullable=False),
    sa.Column('records_before', sa.BigInteger(), nullable=False),
    sa.Column('merged', sa.BigInteger(), nullable=False),
    sa.Column('split', sa.BigInteger(), nullable=False),
    sa.Column('records_moved', sa.BigInteger(), nullable=False),
    sa.Column('ended', sa.BigInteger(), nullable=False),
    sa.Column('full_relink', sa.Boolean(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('decided_by', sa.String(length=120), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_match_hold')),
    comment='matching runs that would have merged, split or moved more children than link settings allow '
            '(held_night): not applied or published until an officer approves'
    )
    with op.batch_alter_table('record_link', schema=None) as batch_op:
        batch_op.create_table_comment(
            "every scored pair that counts as evidence (mash.link.counts_as_evidence), links or not: weights before "
            "the extracts' evidence, which each run weighs afresh; an incremental run keeps those of unchanged records")


def downgrade() -> None:
    with op.batch_alter_table('record_link', schema=None) as batch_op:
        batch_op.drop_table_comment()
    op.drop_table('match_hold')
