"""link decisions: every officer decision kept

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:11:24.098999
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('link_decision',
    sa.Column('decision_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('record_id_l', sa.String(length=120), nullable=False),
    sa.Column('record_id_r', sa.String(length=120), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('decided_by', sa.String(length=120), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('decision_id', name=op.f('pk_link_decision')),
    comment="every officer's decision on a pair, append-only; link_review holds the one in force"
    )
    with op.batch_alter_table('link_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_decision_record_id_l'), ['record_id_l'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('link_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_decision_record_id_l'))

    op.drop_table('link_decision')
