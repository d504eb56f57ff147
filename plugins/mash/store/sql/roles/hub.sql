-- The hub's own roles (applied by `mash db roles` after the recipients' roles, idempotent). Nobody else reads the
-- store: PUBLIC loses every default right. The officers (mash_officers, also a recipient) read the disclosure audit,
-- the publications, public-interest decisions, the batch ledger and the review queue (by record reference, never a
-- record id: a school's is a UPN); mash_hub writes everything.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT SELECT ON disclosure_audit, publication, publication_entry, public_interest_decision, batch, batch_file,
                quarantine, officer_review_queue TO mash_officers;
DO $$ BEGIN CREATE ROLE mash_hub NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE, CREATE ON SCHEMA public TO mash_hub;
GRANT ALL ON ALL TABLES IN SCHEMA public TO mash_hub;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO mash_hub;
