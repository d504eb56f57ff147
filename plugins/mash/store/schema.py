"""The store's tables: the ingestion ledger (batches, files, archive, quarantine) and one table per contract file.

Feed tables are derived from the contracts, so a contract change shows up as a difference between this metadata
and the migrations in sql/migrations, which a test checks.
"""

from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer, MetaData,
                        String, Table, Text, UniqueConstraint)

from mash.contracts import contracts

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
})

batch = Table(
    "batch", metadata,
    Column("batch_id", String(80), primary_key=True),
    Column("agency", String(40), nullable=False, index=True),
    Column("drop_name", String(200), nullable=False),
    Column("extract_date", Date),
    Column("manifest_sha256", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("rows_in", BigInteger, nullable=False, default=0),
    Column("rows_loaded", BigInteger, nullable=False, default=0),
    Column("rows_quarantined", BigInteger, nullable=False, default=0),
    Column("reason", Text, doc="why the drop was rejected or is waiting; names files, rows and columns only"),
    Column("note", Text, doc="anything else an officer should know, e.g. files reused from an earlier batch"),
)

archived_file = Table(
    "archived_file", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("archive_path", Text, nullable=False, doc="relative to MASH_HOME/archive"),
    Column("first_name", Text, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
)

batch_file = Table(
    "batch_file", metadata,
    Column("batch_id", String(80), ForeignKey("batch.batch_id"), primary_key=True),
    Column("file_name", String(255), primary_key=True),
    Column("contract_file", String(80), nullable=False),
    Column("sha256", String(64), ForeignKey("archived_file.sha256")),
    Column("encoding", String(20)),
    Column("rows_declared", BigInteger),
    Column("rows_in", BigInteger, nullable=False, default=0),
    Column("rows_loaded", BigInteger, nullable=False, default=0),
    Column("rows_quarantined", BigInteger, nullable=False, default=0),
    Column("rows_batch_id", String(80), doc="the batch whose rows hold this content (itself unless reused)"),
)

quarantine = Table(
    "quarantine", metadata,
    Column("batch_id", String(80), ForeignKey("batch.batch_id"), primary_key=True),
    Column("contract_file", String(80), primary_key=True),
    Column("row_number", BigInteger, primary_key=True, doc="as a spreadsheet counts: the header is row 1"),
    Column("column_name", String(80), primary_key=True, doc="'*' for a problem with the whole row"),
    Column("reason", String(40), nullable=False),
    Column("detail", Text, nullable=False, doc="never the value itself"),
)

# Children: the hub's stable identities. A child id is never reused; merges and splits are kept as lineage.
child = Table(
    "child", metadata,
    Column("child_id", String(20), primary_key=True, doc="MASH-0000001: issued once, never reused"),
    Column("created_run", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("retired_run", String(80), doc="set when the child was merged into another (retired_into), or ended: "
                                          "none of its records was present any more"),
    Column("retired_into", String(20), ForeignKey("child.child_id")),
)

child_record = Table(
    "child_record", metadata,
    Column("record_id", String(120), primary_key=True, doc="<agency>:<local id> of a person record"),
    Column("child_id", String(20), ForeignKey("child.child_id"), nullable=False, index=True),
    Column("assigned_run", String(80), nullable=False),
    Column("fingerprint", String(16), doc="hash of the record's person-schema values when last matched: tells an "
                                           "incremental run which records changed"),
)

child_lineage = Table(
    "child_lineage", metadata,
    Column("lineage_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(80), nullable=False),
    Column("event", String(10), nullable=False, doc="new, merge, split or ended"),
    Column("child_id", String(20), ForeignKey("child.child_id"), nullable=False, index=True),
    Column("other_child_id", String(20), ForeignKey("child.child_id"),
           doc="merge: the child merged into child_id; split: the child child_id was split from"),
    Column("at", DateTime(timezone=True), nullable=False),
)

record_link = Table(
    "record_link", metadata,
    Column("record_id_l", String(120), primary_key=True),
    Column("record_id_r", String(120), primary_key=True),
    Column("match_probability", Float, nullable=False),
    Column("match_weight", Float, nullable=False),
    Column("weights", Text, nullable=False, doc="JSON: the per-field weights that explain the link"),
    Column("run_id", String(80), nullable=False, doc="the run that scored the link (an incremental run keeps the "
                                                     "links between records that did not change)"),
    comment="every scored pair that counts as evidence (mash.link.counts_as_evidence), links or not: weights before "
            "the extracts' evidence, which each run weighs afresh; an incremental run keeps those of unchanged records",
)

match_hold = Table(
    "match_hold", metadata,
    Column("run_id", String(80), primary_key=True, doc="the matching run that was held"),
    Column("held_at", DateTime(timezone=True), nullable=False),
    Column("children_before", BigInteger, nullable=False, doc="children in force when it was held"),
    Column("records_before", BigInteger, nullable=False, doc="records matched to a child when it was held"),
    Column("merged", BigInteger, nullable=False),
    Column("split", BigInteger, nullable=False),
    Column("records_moved", BigInteger, nullable=False),
    Column("ended", BigInteger, nullable=False, doc="children in force none of whose records would be left"),
    Column("full_relink", Boolean, nullable=False, doc="the held run relinked everything (its approval does too)"),
    Column("digest", String(64), nullable=False, doc="SHA-256 of the held grouping of records into children: an "
                                                     "approval applies that grouping and no other"),
    Column("status", String(10), nullable=False, doc="held, approved, rejected, or applied (approved, then stored)"),
    Column("decided_by", String(120)),
    Column("reason", Text, doc="the officer's reason for approving or rejecting"),
    Column("decided_at", DateTime(timezone=True)),
    Column("applied_at", DateTime(timezone=True)),
    comment="matching runs that would have merged, split or moved more children than link settings allow "
            "(held_night): not applied or published until an officer approves",
)

link_model = Table(
    "link_model", metadata,
    Column("run_id", String(80), primary_key=True, doc="the full relink that estimated the model"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("records", BigInteger, nullable=False, doc="how many records the model was estimated on"),
    Column("model", Text, nullable=False, doc="JSON: every comparison level's m, u and weight, and the prior "
                                              "(no personal data); incremental runs score with the latest"),
)

link_review = Table(
    "link_review", metadata,
    Column("record_id_l", String(120), primary_key=True),
    Column("record_id_r", String(120), primary_key=True),
    Column("match_probability", Float, nullable=False),
    Column("match_weight", Float, nullable=False),
    Column("weights", Text, nullable=False, doc="JSON: the per-field weights that explain the score"),
    Column("first_seen_run", String(80), nullable=False),
    Column("last_seen_run", String(80), nullable=False),
    Column("status", String(10), nullable=False, index=True,
           doc="open: uncertain in the latest run; stale: no longer uncertain; decided: an officer has decided"),
    Column("decision", String(10), doc="same or different, once an officer has decided"),
    Column("decided_by", String(120)),
    Column("decided_at", DateTime(timezone=True)),
    Column("reason", Text, doc="the officer's note"),
)

record_reference = Table(
    "record_reference", metadata,
    Column("record_id", String(120), primary_key=True),
    Column("reference_no", Integer, nullable=False, unique=True, doc="assigned in order, never reused"),
    Column("reference", String(40), nullable=False, unique=True,
           doc="<agency>-R<number>: what officers see instead of the record id (which can be a UPN)"),
    comment="a stable, non-identifying reference for each person record an officer is shown",
)

link_decision = Table(
    "link_decision", metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("record_id_l", String(120), nullable=False, index=True),
    Column("record_id_r", String(120), nullable=False),
    Column("decision", String(10), nullable=False),
    Column("decided_by", String(120), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    comment="every officer's decision on a pair, append-only; link_review holds the one in force",
)

# Sharing: officers' public-interest decisions, the nightly publication of the shared view, and the audit.
public_interest_decision = Table(
    "public_interest_decision", metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("child_id", String(20), ForeignKey("child.child_id"), nullable=False, index=True),
    Column("data_classes", Text, nullable=False, doc="semicolon-separated data classes"),
    Column("recipients", Text, nullable=False, doc="semicolon-separated recipients"),
    Column("lawful_basis", Text, nullable=False),
    Column("rationale", Text, nullable=False),
    Column("decided_by", String(120), nullable=False),
    Column("approved_by", String(120), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("review_date", Date, nullable=False, doc="sharing under the decision stops after this date"),
    comment="an officer's recorded decision to share in the public interest without consent",
)

publication = Table(
    "publication", metadata,
    Column("publication_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(80), nullable=False),
    Column("as_of", Date, nullable=False, doc="the night the conditions were judged for"),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("is_current", Boolean, nullable=False, default=False, doc="exactly one publication is current"),
    Column("children", Integer, nullable=False),
    Column("audit_head_id", BigInteger, doc="the newest audit entry when published: anchors the audit chain"),
    Column("audit_head_hash", String(64)),
    Column("view_sha256", String(64), nullable=False, doc="fingerprint of the whole view: a rerun that would "
                                                          "publish the same view publishes nothing"),
)

shared_child = Table(
    "shared_child", metadata,
    Column("publication_id", Integer, ForeignKey("publication.publication_id"), primary_key=True),
    Column("child_id", String(20), primary_key=True),
    Column("agencies", Text, nullable=False, doc="semicolon-separated agencies that know the child"),
    Column("given_name", Text), Column("family_name", Text), Column("date_of_birth", Date), Column("sex", String(1)),
    Column("nhs_number", String(20)),
    Column("upn", String(20)),
    Column("postcode", Text), Column("address", Text),
    comment="the child's consolidated identity; each recipient's view shows only the classes it may see",
)

shared_involvement = Table(
    "shared_involvement", metadata,
    Column("publication_id", Integer, ForeignKey("publication.publication_id"), primary_key=True),
    Column("child_id", String(20), primary_key=True),
    Column("agency", String(40), primary_key=True),
    Column("organisation", Text, doc="school, hospital site or team"),
    Column("practitioner_name", Text), Column("practitioner_role", Text),
    Column("practitioner_email", Text), Column("practitioner_phone", Text),
    Column("last_contact", Date),
)

shared_chronology = Table(
    "shared_chronology", metadata,
    Column("publication_id", Integer, ForeignKey("publication.publication_id"), primary_key=True),
    Column("child_id", String(20), primary_key=True),
    Column("entry", Integer, primary_key=True, doc="order within the child's chronology"),
    Column("event_date", Date, nullable=False),
    Column("end_date", Date),
    Column("is_open", Boolean, nullable=False, doc="an episode still open tonight"),
    Column("agency", String(40), nullable=False),
    Column("data_class", String(40), nullable=False),
    Column("event", String(40), nullable=False),
    Column("description", Text, nullable=False, doc="coded values and their labels only, never free text"),
)

shared_disclosure = Table(
    "shared_disclosure", metadata,
    Column("publication_id", Integer, ForeignKey("publication.publication_id"), primary_key=True),
    Column("recipient", String(40), primary_key=True),
    Column("child_id", String(20), primary_key=True),
    Column("data_class", String(40), primary_key=True),
    Column("audit_entry_id", BigInteger, nullable=False, doc="the audit entry that records the disclosure"),
    comment="what each recipient may see tonight: a row per recipient, child and data class disclosed",
)

publication_entry = Table(
    "publication_entry", metadata,
    Column("publication_id", Integer, ForeignKey("publication.publication_id"), primary_key=True),
    Column("entry_id", BigInteger, primary_key=True),
    comment="the audit entries in force for a publication: every decision it made, to disclose or not",
)

disclosure_audit = Table(
    "disclosure_audit", metadata,
    Column("entry_id", BigInteger, primary_key=True, autoincrement=False),
    Column("run_id", String(80), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recipient", String(40), nullable=False),
    Column("child_id", String(20), nullable=False),
    Column("data_classes", Text, nullable=False, doc="semicolon-separated: the classes this decision covers"),
    Column("decision", String(10), nullable=False, doc="disclose or withhold"),
    Column("rule_id", String(60), nullable=False),
    Column("basis", Text, nullable=False),
    Column("public_interest_id", Integer, doc="the officer's decision relied on, if any"),
    Column("content_sha256", String(64), doc="fingerprint of what the classes hold for the child tonight"),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    comment="append-only, hash-chained: an entry whenever a decision or what it covers changes",
)
Index("ix_disclosure_audit_child", disclosure_audit.c.child_id, disclosure_audit.c.entry_id)
Index("ix_disclosure_audit_recipient", disclosure_audit.c.recipient, disclosure_audit.c.entry_id)

# Data quality: the verdict of each loaded batch's Great Expectations validation, and every check's result, so
# that trends can be drawn. Counts and expectation names only: never a value from an extract.
quality_validation = Table(
    "quality_validation", metadata,
    Column("batch_id", String(80), ForeignKey("batch.batch_id"), primary_key=True),
    Column("validated_at", DateTime(timezone=True), nullable=False),
    Column("verdict", String(10), nullable=False, doc="passed, warnings or rejected (a critical check failed)"),
    Column("checks", Integer, nullable=False),
    Column("critical_failed", Integer, nullable=False),
    Column("warnings_failed", Integer, nullable=False),
    comment="one row per validated batch; a rejected verdict also set the batch's state and reason",
)

quality_check = Table(
    "quality_check", metadata,
    Column("batch_id", String(80), ForeignKey("batch.batch_id"), primary_key=True),
    Column("contract_file", String(80), primary_key=True),
    Column("check_no", Integer, primary_key=True, doc="position of the expectation in its suite"),
    Column("expectation", String(100), nullable=False),
    Column("column_name", String(200), doc="the column or columns checked; empty for a check of the whole file"),
    Column("severity", String(10), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("element_count", BigInteger),
    Column("unexpected_count", BigInteger),
    Column("observed", Text, doc="the row count, for the volume check only; never a value from a row"),
)

# Notices (feedback to referrers, notifications, extract notices): one row per idempotency key, so a rerun or a
# retry never creates or sends a notice twice.
notice = Table(
    "notice", metadata,
    Column("notice_id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(200), nullable=False,
           doc="what the notice is about, e.g. referral-ack:<referral_id>, encompass:<incident_id>:<child_id>"),
    Column("kind", String(40), nullable=False),
    Column("recipient", String(40), nullable=False, doc="the agency (policy recipient) it goes to"),
    Column("child_id", String(20), index=True, doc="the child it is about, if any"),
    Column("about", String(120), nullable=False, doc="the agency's own id of what it is about (referral, batch)"),
    Column("rule_id", String(60), doc="the notice rule it was sent under, or the rule that withheld it"),
    Column("audit_entry_id", BigInteger, doc="its disclosure audit entry (notices about a child)"),
    Column("run_id", String(80), nullable=False),
    Column("as_of", Date, nullable=False, doc="the night it was built"),
    Column("due_date", Date, doc="the day it is due by, where a timescale applies"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("to_address", Text, doc="empty for a withheld notice"),
    Column("subject", Text),
    Column("body_text", Text),
    Column("body_html", Text),
    Column("outbox_path", Text, doc="relative to MASH_HOME/outbox"),
    Column("status", String(10), nullable=False, doc="queued, sent, failed (gave up) or withheld (never built)"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(80), doc="the error's type only, never a message"),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("idempotency_key", name="uq_notice_idempotency_key"),
)
Index("ix_notice_status", notice.c.status, notice.c.next_attempt_at)

notice_night = Table(
    "notice_night", metadata,
    Column("as_of", Date, primary_key=True),
    Column("run_id", String(80), nullable=False),
    Column("built_at", DateTime(timezone=True), nullable=False),
    comment="each night notices were built; the first one bounds which referrals are fed back",
)

SQL_TYPES = {
    "string": Text, "code": String(40), "codes": Text, "integer": BigInteger,
    "date": Date, "datetime": DateTime, "boolean": Boolean,
}


def _feed_table(name: str, columns) -> Table:
    return Table(
        name, metadata,
        Column("batch_id", String(80), ForeignKey("batch.batch_id"), primary_key=True),
        Column("row_number", BigInteger, primary_key=True),
        *(Column(col.name, SQL_TYPES[col.type], comment=col.description or None) for col in columns),
    )


feed_tables: dict[tuple[str, str], Table] = {
    (agency, spec.name): _feed_table(contract.table_name(spec.name), spec.columns)
    for agency, contract in contracts().items()
    for spec in contract.files
}

Index("ix_batch_file_sha256", batch_file.c.sha256)
