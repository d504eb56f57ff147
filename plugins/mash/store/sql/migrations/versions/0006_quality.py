"""data quality: per-batch validation verdicts and check results

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 01:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quality_validation',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('validated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verdict', sa.String(length=10), nullable=False),
    sa.Column('checks', sa.Integer(), nullable=False),
    sa.Column('critical_failed', sa.Integer(), nullable=False),
    sa.Column('warnings_failed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_quality_validation_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_quality_validation')),
    comment="one row per validated batch; a rejected verdict also set the batch's state and reason"
    )
    op.create_table('quality_check',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('contract_file', sa.String(length=80), nullable=False),
    sa.Column('check_no', sa.Integer(), nullable=False),
    sa.Column('expectation', sa.String(length=100), nullable=False),
    sa.Column('column_name', sa.String(length=200), nullable=True),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('element_count', sa.BigInteger(), nullable=True),
    sa.Column('unexpected_count', sa.BigInteger(), nullable=True),
    sa.Column('observed', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_quality_check_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'contract_file', 'check_no', name=op.f('pk_quality_check'))
    )


def downgrade() -> None:
    op.drop_table('quality_check')
    op.drop_table('quality_validation')
