"""children: stable ids, lineage, links and the review queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:08:46.980797
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('child',
    sa.Column('child_id', sa.String(length=20), nullable=False),
    sa.Column('created_run', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_run', sa.String(length=80), nullable=True),
    sa.Column('retired_into', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['retired_into'], ['child.child_id'], name=op.f('fk_child_retired_into_child')),
    sa.PrimaryKeyConstraint('child_id', name=op.f('pk_child'))
    )
    op.create_table('link_review',
    sa.Column('record_id_l', sa.String(length=120), nullable=False),
    sa.Column('record_id_r', sa.String(length=120), nullable=False),
    sa.Column('match_probability', sa.Float(), nullable=False),
    sa.Column('match_weight', sa.Float(), nullable=False),
    sa.Column('weights', sa.Text(), nullable=False),
    sa.Column('first_seen_run', sa.String(length=80), nullable=False),
    sa.Column('last_seen_run', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=True),
    sa.Column('decided_by', sa.String(length=120), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('record_id_l', 'record_id_r', name=op.f('pk_link_review'))
    )
    with op.batch_alter_table('link_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_review_status'), ['status'], unique=False)

    op.create_table('record_link',
    sa.Column('record_id_l', sa.String(length=120), nullable=False),
    sa.Column('record_id_r', sa.String(length=120), nullable=False),
    sa.Column('match_probability', sa.Float(), nullable=False),
    sa.Column('match_weight', sa.Float(), nullable=False),
    sa.Column('weights', sa.Text(), nullable=False),
    sa.Column('run_id', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('record_id_l', 'record_id_r', name=op.f('pk_record_link'))
    )
    op.create_table('child_lineage',
    sa.Column('lineage_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=80), nullable=False),
    sa.Column('event', sa.String(length=10), nullable=False),
    sa.Column('child_id', sa.String(length=20), nullable=False),
    sa.Column('other_child_id', sa.String(length=20), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['child.child_id'], name=op.f('fk_child_lineage_child_id_child')),
    sa.ForeignKeyConstraint(['other_child_id'], ['child.child_id'], name=op.f('fk_child_lineage_other_child_id_child')),
    sa.PrimaryKeyConstraint('lineage_id', name=op.f('pk_child_lineage'))
    )
    with op.batch_alter_table('child_lineage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_child_lineage_child_id'), ['child_id'], unique=False)

    op.create_table('child_record',
    sa.Column('record_id', sa.String(length=120), nullable=False),
    sa.Column('child_id', sa.String(length=20), nullable=False),
    sa.Column('assigned_run', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['child.child_id'], name=op.f('fk_child_record_child_id_child')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_child_record'))
    )
    with op.batch_alter_table('child_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_child_record_child_id'), ['child_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('child_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_child_record_child_id'))

    op.drop_table('child_record')
    with op.batch_alter_table('child_lineage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_child_lineage_child_id'))

    op.drop_table('child_lineage')
    op.drop_table('record_link')
    with op.batch_alter_table('link_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_review_status'))

    op.drop_table('link_review')
    op.drop_table('child')
