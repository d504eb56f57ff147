"""sharing: public-interest decisions, publications, audit

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 01:59:41.092832
"""
from pathlib import Path

from alembic import op
import sqlalchemy as sa

# The recipients whose per-recipient views mash/store/sql/views/0004_shared_view.sql defines (the sharing policy's recipients).
RECIPIENTS = ("health", "police", "schools", "social_care", "officers")
VIEW_SQL = Path(__file__).resolve().parents[2] / "views" / "0004_shared_view.sql"
VIEWS = ("children", "involvement", "chronology")


def _view_statements(recipient: str) -> list[str]:
    text = "\n".join(line for line in VIEW_SQL.read_text(encoding="utf-8").splitlines()
                     if not line.startswith("--"))
    return [s.strip().replace("{recipient}", recipient) for s in text.split(";") if s.strip()]


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('disclosure_audit',
    sa.Column('entry_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('run_id', sa.String(length=80), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recipient', sa.String(length=40), nullable=False),
    sa.Column('child_id', sa.String(length=20), nullable=False),
    sa.Column('data_classes', sa.Text(), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('rule_id', sa.String(length=60), nullable=False),
    sa.Column('basis', sa.Text(), nullable=False),
    sa.Column('public_interest_id', sa.Integer(), nullable=True),
    sa.Column('content_sha256', sa.String(length=64), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_disclosure_audit')),
    comment='append-only, hash-chained: an entry whenever a decision or what it covers changes'
    )
    with op.batch_alter_table('disclosure_audit', schema=None) as batch_op:
        batch_op.create_index('ix_disclosure_audit_child', ['child_id', 'entry_id'], unique=False)
        batch_op.create_index('ix_disclosure_audit_recipient', ['recipient', 'entry_id'], unique=False)

    op.create_table('publication',
    sa.Column('publication_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=80), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('children', sa.Integer(), nullable=False),
    sa.Column('audit_head_id', sa.BigInteger(), nullable=True),
    sa.Column('audit_head_hash', sa.String(length=64), nullable=True),
    sa.Column('view_sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('publication_id', name=op.f('pk_publication'))
    )
    op.create_table('public_interest_decision',
    sa.Column('decision_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('child_id', sa.String(length=20), nullable=False),
    sa.Column('data_classes', sa.Text(), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('lawful_basis', sa.Text(), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=120), nullable=False),
    sa.Column('approved_by', sa.String(length=120), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('review_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['child.child_id'], name=op.f('fk_public_interest_decision_child_id_child')),
    sa.PrimaryKeyConstraint('decision_id', name=op.f('pk_public_interest_decision')),
    comment="an officer's recorded decision to share in the public interest without consent"
    )
    with op.batch_alter_table('public_interest_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_interest_decision_child_id'), ['child_id'], unique=False)

    op.create_table('publication_entry',
    sa.Column('publication_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['publication_id'], ['publication.publication_id'], name=op.f('fk_publication_entry_publication_id_publication')),
    sa.PrimaryKeyConstraint('publication_id', 'entry_id', name=op.f('pk_publication_entry')),
    comment='the audit entries in force for a publication: every decision it made, to disclose or not'
    )
    op.create_table('shared_child',
    sa.Column('publication_id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.String(length=20), nullable=False),
    sa.Column('agencies', sa.Text(), nullable=False),
    sa.Column('given_name', sa.Text(), nullable=True),
    sa.Column('family_name', sa.Text(), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('sex', sa.String(length=1), nullable=True),
    sa.Column('nhs_number', sa.String(length=20), nullable=True),
    sa.Column('upn', sa.String(length=20), nullable=True),
    sa.Column('postcode', sa.Text(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['publication_id'], ['publication.publication_id'], name=op.f('fk_shared_child_publication_id_publication')),
    sa.PrimaryKeyConstraint('publication_id', 'child_id', name=op.f('pk_shared_child')),
    comment="the child's consolidated identity; each recipient's view shows only the classes it may see"
    )
    op.create_table('shared_chronology',
    sa.Column('publication_id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.String(length=20), nullable=False),
    sa.Column('entry', sa.Integer(), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('agency', sa.String(length=40), nullable=False),
    sa.Column('data_class', sa.String(length=40), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['publication_id'], ['publication.publication_id'], name=op.f('fk_shared_chronology_publication_id_publication')),
    sa.PrimaryKeyConstraint('publication_id', 'child_id', 'entry', name=op.f('pk_shared_chronology'))
    )
    op.create_table('shared_disclosure',
    sa.Column('publication_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=40), nullable=False),
    sa.Column('child_id', sa.String(length=20), nullable=False),
    sa.Column('data_class', sa.String(length=40), nullable=False),
    sa.Column('audit_entry_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['publication_id'], ['publication.publication_id'], name=op.f('fk_shared_disclosure_publication_id_publication')),
    sa.PrimaryKeyConstraint('publication_id', 'recipient', 'child_id', 'data_class', name=op.f('pk_shared_disclosure')),
    comment='what each recipient may see tonight: a row per recipient, child and data class disclosed'
    )
    op.create_table('shared_involvement',
    sa.Column('publication_id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.String(length=20), nullable=False),
    sa.Column('agency', sa.String(length=40), nullable=False),
    sa.Column('organisation', sa.Text(), nullable=True),
    sa.Column('practitioner_name', sa.Text(), nullable=True),
    sa.Column('practitioner_role', sa.Text(), nullable=True),
    sa.Column('practitioner_email', sa.Text(), nullable=True),
    sa.Column('practitioner_phone', sa.Text(), nullable=True),
    sa.Column('last_contact', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['publication_id'], ['publication.publication_id'], name=op.f('fk_shared_involvement_publication_id_publication')),
    sa.PrimaryKeyConstraint('publication_id', 'child_id', 'agency', name=op.f('pk_shared_involvement'))
    )
    for recipient in RECIPIENTS:
        for statement in _view_statements(recipient):
            op.execute(statement)


def downgrade() -> None:
    for recipient in RECIPIENTS:
        for view in VIEWS:
            op.execute(f"DROP VIEW {recipient}_shared_{view}")
    op.drop_table('shared_involvement')
    op.drop_table('shared_disclosure')
    op.drop_table('shared_chronology')
    op.drop_table('shared_child')
    op.drop_table('publication_entry')
    with op.batch_alter_table('public_interest_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_interest_decision_child_id'))

    op.drop_table('public_interest_decision')
    op.drop_table('publication')
    with op.batch_alter_table('disclosure_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_disclosure_audit_recipient')
        batch_op.drop_index('ix_disclosure_audit_child')

    op.drop_table('disclosure_audit')
