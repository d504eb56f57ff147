-- The hub's own roles (applied by `mash db roles` after the recipients' roles, idempotent), run by the store's
-- owner or a superuser. Nobody else reaches the store: PUBLIC loses every default right, including CONNECT and
-- TEMPORARY on the database. The officers (mash_officers, also a recipient) read the disclosure audit (through
-- officer_disclosure_audit, migration 0011), the publications, public-interest decisions, the batch ledger and the
-- review queue (by record reference, never a record id: a school's is a UPN).
DO $$ BEGIN EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()); END $$;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
GRANT SELECT ON officer_disclosure_audit, publication, publication_entry, public_interest_decision, batch, batch_file,
                quarantine, officer_review_queue TO mash_officers;
-- mash_hub: the nightly run's role (its login is a member). It reads and writes the data but owns nothing, creates
-- nothing (migrations are the owner's), has no temporary objects, only appends to the disclosure audit and the
-- officers' public-interest and match decisions (their triggers, migrations 0009 and 0011, refuse UPDATE, DELETE and
-- TRUNCATE from anyone), and only reads the schema version. TRUNCATE on the audit is granted because PostgreSQL
-- before 17 lets a role take the EXCLUSIVE lock that serialises the audit's writers (mash.sharing.audit.append) only
-- with UPDATE, DELETE or TRUNCATE.
DO $$ BEGIN CREATE ROLE mash_hub NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM mash_hub', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO mash_hub', current_database());
END $$;
REVOKE ALL ON SCHEMA public FROM mash_hub;
GRANT USAGE ON SCHEMA public TO mash_hub;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM mash_hub;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO mash_hub;
REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM mash_hub;
REVOKE UPDATE, DELETE ON disclosure_audit, public_interest_decision, link_decision FROM mash_hub;
GRANT TRUNCATE ON disclosure_audit TO mash_hub;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM mash_hub;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO mash_hub;
-- The recipients' views read one function each (migration 0011); the hub exports the views (mash.sharing.export).
DO $$
DECLARE serving regprocedure;
BEGIN
    FOR serving IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = 'public' AND p.proname LIKE '%\_shared\_%\_rows' LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO mash_hub', serving);
    END LOOP;
END $$;
-- Tables a later migration creates (as the owner of the schema version) are the hub's to write at once, and
-- functions are nobody's to call; rerun `mash db roles` after each migration all the same, for the exceptions above.
DO $$
DECLARE
    owner name := (SELECT tableowner FROM pg_tables
                   WHERE schemaname = current_schema() AND tablename = 'alembic_version');
BEGIN
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                   'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO mash_hub', owner);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                   'GRANT USAGE, SELECT ON SEQUENCES TO mash_hub', owner);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC', owner);
END $$;
