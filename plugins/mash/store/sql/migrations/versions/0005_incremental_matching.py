"""incremental matching: record fingerprints, link model

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 01:36:32.879196
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('link_model',
    sa.Column('run_id', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('model', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_link_model'))
    )
    with op.batch_alter_table('child_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=16), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('child_record', schema=None) as batch_op:
        batch_op.drop_column('fingerprint')

    op.drop_table('link_model')
