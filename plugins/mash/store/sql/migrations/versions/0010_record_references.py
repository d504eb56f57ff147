"""record_reference table, and the officers' review queue by reference (never a record id, which can be a UPN)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 00:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('record_reference',
    sa.Column('record_id', sa.String(length=120), nullable=False),
    sa.Column('reference_no', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('record_id'),
    sa.UniqueConstraint('reference'),
    sa.UniqueConstraint('reference_no'),
    comment='a stable, non-identifying reference for each person record an officer is shown'
    )
    op.execute("""
        CREATE VIEW officer_review_queue AS
        SELECT l.reference AS reference_l, r.reference AS reference_r, q.match_probability, q.match_weight,
               q.weights, q.status, q.decision, q.decided_by, q.decided_at, q.reason
        FROM link_review q
        JOIN record_reference l ON l.record_id = q.record_id_l
        JOIN record_reference r ON r.record_id = q.record_id_r
    """)


def downgrade() -> None:
    op.execute("DROP VIEW officer_review_queue")
    op.drop_table('record_reference')
