"""backbone: ingestion ledger and agency feed tables

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 23:22:33.354945
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('archived_file',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('archive_path', sa.Text(), nullable=False),
    sa.Column('first_name', sa.Text(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_archived_file'))
    )
    op.create_table('batch',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('agency', sa.String(length=40), nullable=False),
    sa.Column('drop_name', sa.String(length=200), nullable=False),
    sa.Column('extract_date', sa.Date(), nullable=True),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rows_in', sa.BigInteger(), nullable=False),
    sa.Column('rows_loaded', sa.BigInteger(), nullable=False),
    sa.Column('rows_quarantined', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_batch'))
    )
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_agency'), ['agency'], unique=False)

    op.create_table('batch_file',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('contract_file', sa.String(length=80), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('encoding', sa.String(length=20), nullable=True),
    sa.Column('rows_declared', sa.BigInteger(), nullable=True),
    sa.Column('rows_in', sa.BigInteger(), nullable=False),
    sa.Column('rows_loaded', sa.BigInteger(), nullable=False),
    sa.Column('rows_quarantined', sa.BigInteger(), nullable=False),
    sa.Column('rows_batch_id', sa.String(length=80), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_batch_file_batch_id_batch')),
    sa.ForeignKeyConstraint(['sha256'], ['archived_file.sha256'], name=op.f('fk_batch_file_sha256_archived_file')),
    sa.PrimaryKeyConstraint('batch_id', 'file_name', name=op.f('pk_batch_file'))
    )
    with op.batch_alter_table('batch_file', schema=None) as batch_op:
        batch_op.create_index('ix_batch_file_sha256', ['sha256'], unique=False)

    op.create_table('consent_consents',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('consent_id', sa.Text(), nullable=True),
    sa.Column('child_id', sa.Text(), nullable=True, comment='Local authority child identifier'),
    sa.Column('nhs_number', sa.Text(), nullable=True),
    sa.Column('given_name', sa.Text(), nullable=True),
    sa.Column('family_name', sa.Text(), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=40), nullable=True),
    sa.Column('scope', sa.Text(), nullable=True, comment='Semicolon-separated scopes, e.g. HEALTH;EDUCATION'),
    sa.Column('given_by', sa.String(length=40), nullable=True),
    sa.Column('recorded_date', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.Text(), nullable=True),
    sa.Column('withdrawn_date', sa.Date(), nullable=True),
    sa.Column('review_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_consent_consents_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_consent_consents'))
    )
    op.create_table('health_events',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=True),
    sa.Column('patient_id', sa.Text(), nullable=True),
    sa.Column('event_date', sa.Date(), nullable=True),
    sa.Column('event_type', sa.String(length=40), nullable=True, comment='Sensitive services (SH, CAMHS, SM, TOP) are flagged in the code list'),
    sa.Column('site', sa.Text(), nullable=True, comment='Hospital, clinic or team'),
    sa.Column('practitioner_name', sa.Text(), nullable=True, comment='Named professional'),
    sa.Column('practitioner_role', sa.Text(), nullable=True),
    sa.Column('practitioner_email', sa.Text(), nullable=True),
    sa.Column('practitioner_phone', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True, comment='Free-text presenting complaint or reason for contact'),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_health_events_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_health_events'))
    )
    op.create_table('health_persons',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('patient_id', sa.Text(), nullable=True, comment='Local patient identifier (trust PAS number)'),
    sa.Column('nhs_number', sa.Text(), nullable=True, comment='NHS number, 10 digits; empty where not traced'),
    sa.Column('given_name', sa.Text(), nullable=True, comment="Forename; 'Baby' or empty for unborn and newborn children"),
    sa.Column('family_name', sa.Text(), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True, comment='Date of birth, or expected date of delivery where unborn is Y'),
    sa.Column('unborn', sa.Boolean(), nullable=True, comment='Y where the child is not yet born'),
    sa.Column('gender', sa.String(length=40), nullable=True),
    sa.Column('postcode', sa.Text(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True, comment='Address lines separated by commas'),
    sa.Column('gp_practice_code', sa.Text(), nullable=True, comment='ODS code of the registered GP practice'),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_health_persons_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_health_persons'))
    )
    op.create_table('police_incidents',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('incident_id', sa.Text(), nullable=True),
    sa.Column('person_id', sa.Text(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True, comment='End of a missing episode'),
    sa.Column('incident_type', sa.String(length=40), nullable=True),
    sa.Column('child_role', sa.String(length=40), nullable=True),
    sa.Column('dash_risk', sa.String(length=40), nullable=True, comment='DASH risk level; domestic abuse only'),
    sa.Column('officer_name', sa.Text(), nullable=True),
    sa.Column('officer_email', sa.Text(), nullable=True),
    sa.Column('officer_phone', sa.Text(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True, comment='Free-text incident summary'),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_police_incidents_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_police_incidents'))
    )
    op.create_table('police_persons',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('person_id', sa.Text(), nullable=True, comment='Force person identifier'),
    sa.Column('nhs_number', sa.Text(), nullable=True, comment='Rarely recorded'),
    sa.Column('surname', sa.Text(), nullable=True),
    sa.Column('forenames', sa.Text(), nullable=True, comment='All forenames, space separated'),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('sex', sa.String(length=40), nullable=True),
    sa.Column('postcode', sa.Text(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_police_persons_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_police_persons'))
    )
    op.create_table('quarantine',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('contract_file', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('column_name', sa.String(length=80), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_quarantine_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'contract_file', 'row_number', 'column_name', name=op.f('pk_quarantine'))
    )
    op.create_table('schools_attendance',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('upn', sa.Text(), nullable=True),
    sa.Column('school_urn', sa.Text(), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('sessions_possible', sa.BigInteger(), nullable=True),
    sa.Column('sessions_authorised_absence', sa.BigInteger(), nullable=True),
    sa.Column('sessions_unauthorised_absence', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_schools_attendance_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_schools_attendance'))
    )
    op.create_table('schools_enrolments',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('upn', sa.Text(), nullable=True),
    sa.Column('school_urn', sa.Text(), nullable=True, comment='Unique reference number of the school'),
    sa.Column('school_name', sa.Text(), nullable=True),
    sa.Column('entry_date', sa.Date(), nullable=True),
    sa.Column('leaving_date', sa.Date(), nullable=True),
    sa.Column('enrolment_status', sa.String(length=40), nullable=True),
    sa.Column('dsl_name', sa.Text(), nullable=True, comment='Designated safeguarding lead'),
    sa.Column('dsl_email', sa.Text(), nullable=True),
    sa.Column('dsl_phone', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_schools_enrolments_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_schools_enrolments'))
    )
    op.create_table('schools_exclusions',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('exclusion_id', sa.Text(), nullable=True),
    sa.Column('upn', sa.Text(), nullable=True),
    sa.Column('school_urn', sa.Text(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('category', sa.String(length=40), nullable=True),
    sa.Column('sessions', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_schools_exclusions_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_schools_exclusions'))
    )
    op.create_table('schools_pupils',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('upn', sa.Text(), nullable=True, comment='Unique pupil number (13 characters)'),
    sa.Column('former_upn', sa.Text(), nullable=True),
    sa.Column('legal_given_name', sa.Text(), nullable=True),
    sa.Column('preferred_name', sa.Text(), nullable=True),
    sa.Column('middle_names', sa.Text(), nullable=True),
    sa.Column('legal_family_name', sa.Text(), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('sex', sa.String(length=40), nullable=True),
    sa.Column('ethnicity', sa.String(length=40), nullable=True),
    sa.Column('postcode', sa.Text(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_schools_pupils_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_schools_pupils'))
    )
    op.create_table('social_care_assessments',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('assessment_id', sa.Text(), nullable=True),
    sa.Column('referral_id', sa.Text(), nullable=True),
    sa.Column('child_id', sa.Text(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('authorised_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_social_care_assessments_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_social_care_assessments'))
    )
    op.create_table('social_care_children',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('child_id', sa.Text(), nullable=True, comment='Local authority child identifier'),
    sa.Column('nhs_number', sa.Text(), nullable=True),
    sa.Column('upn', sa.Text(), nullable=True),
    sa.Column('given_name', sa.Text(), nullable=True),
    sa.Column('middle_names', sa.Text(), nullable=True),
    sa.Column('family_name', sa.Text(), nullable=True),
    sa.Column('former_family_name', sa.Text(), nullable=True, comment='Previous surname where it has changed'),
    sa.Column('date_of_birth', sa.Date(), nullable=True, comment='Empty for an unborn child'),
    sa.Column('expected_date_of_birth', sa.Date(), nullable=True, comment='Unborn children only'),
    sa.Column('gender', sa.String(length=40), nullable=True),
    sa.Column('ethnicity', sa.String(length=40), nullable=True),
    sa.Column('postcode', sa.Text(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('address_protected', sa.Boolean(), nullable=True, comment='Y for a refuge, confidential placement or adoptive address: never shared'),
    sa.Column('allocated_worker', sa.Text(), nullable=True),
    sa.Column('worker_email', sa.Text(), nullable=True),
    sa.Column('worker_phone', sa.Text(), nullable=True),
    sa.Column('team_manager_email', sa.Text(), nullable=True),
    sa.Column('last_seen_date', sa.Date(), nullable=True, comment='Date the child was last seen by a social worker'),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_social_care_children_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_social_care_children'))
    )
    op.create_table('social_care_conferences',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('conference_id', sa.Text(), nullable=True),
    sa.Column('child_id', sa.Text(), nullable=True),
    sa.Column('s47_id', sa.Text(), nullable=True),
    sa.Column('conference_type', sa.String(length=40), nullable=True),
    sa.Column('conference_date', sa.Date(), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_social_care_conferences_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_social_care_conferences'))
    )
    op.create_table('social_care_looked_after',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('episode_id', sa.Text(), nullable=True),
    sa.Column('child_id', sa.Text(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('legal_status', sa.String(length=40), nullable=True),
    sa.Column('placement_type', sa.String(length=40), nullable=True),
    sa.Column('placement_postcode', sa.Text(), nullable=True, comment='Protected: never shared'),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_social_care_looked_after_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_social_care_looked_after'))
    )
    op.create_table('social_care_plans',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('plan_id', sa.Text(), nullable=True),
    sa.Column('child_id', sa.Text(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('initial_category', sa.String(length=40), nullable=True),
    sa.Column('latest_category', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_social_care_plans_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_social_care_plans'))
    )
    op.create_table('social_care_referrals',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('referral_id', sa.Text(), nullable=True),
    sa.Column('child_id', sa.Text(), nullable=True),
    sa.Column('referral_date', sa.Date(), nullable=True),
    sa.Column('referral_source', sa.String(length=40), nullable=True),
    sa.Column('referrer_agency', sa.String(length=40), nullable=True),
    sa.Column('referrer_name', sa.Text(), nullable=True),
    sa.Column('referrer_email', sa.Text(), nullable=True),
    sa.Column('referrer_phone', sa.Text(), nullable=True),
    sa.Column('decision_date', sa.Date(), nullable=True),
    sa.Column('decision', sa.String(length=40), nullable=True),
    sa.Column('nfa_reason', sa.Text(), nullable=True, comment='Why no further action was taken'),
    sa.Column('primary_need', sa.String(length=40), nullable=True),
    sa.Column('closure_date', sa.Date(), nullable=True),
    sa.Column('closure_reason', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_social_care_referrals_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_social_care_referrals'))
    )
    op.create_table('social_care_s47_enquiries',
    sa.Column('batch_id', sa.String(length=80), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('s47_id', sa.Text(), nullable=True),
    sa.Column('referral_id', sa.Text(), nullable=True),
    sa.Column('child_id', sa.Text(), nullable=True),
    sa.Column('strategy_discussion_date', sa.Date(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.Column('outcome_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.batch_id'], name=op.f('fk_social_care_s47_enquiries_batch_id_batch')),
    sa.PrimaryKeyConstraint('batch_id', 'row_number', name=op.f('pk_social_care_s47_enquiries'))
    )


def downgrade() -> None:
    op.drop_table('social_care_s47_enquiries')
    op.drop_table('social_care_referrals')
    op.drop_table('social_care_plans')
    op.drop_table('social_care_looked_after')
    op.drop_table('social_care_conferences')
    op.drop_table('social_care_children')
    op.drop_table('social_care_assessments')
    op.drop_table('schools_pupils')
    op.drop_table('schools_exclusions')
    op.drop_table('schools_enrolments')
    op.drop_table('schools_attendance')
    op.drop_table('quarantine')
    op.drop_table('police_persons')
    op.drop_table('police_incidents')
    op.drop_table('health_persons')
    op.drop_table('health_events')
    op.drop_table('consent_consents')
    with op.batch_alter_table('batch_file', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_file_sha256')

    op.drop_table('batch_file')
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_agency'))

    op.drop_table('batch')
    op.drop_table('archived_file')
