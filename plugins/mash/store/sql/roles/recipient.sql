-- A recipient's group role (applied by `mash db roles` for each recipient of the sharing policy, idempotent): it
-- may connect and read its own three views, and nothing else: no base table, no other recipient's view, no
-- temporary object (a temporary function is the tool of a leaky-view attack), nothing it could create. The views
-- run with their owner's rights and are sealed (migrations 0009 and 0011), so reading them needs no right on the
-- tables behind them. Login users are made members by the database administrator, e.g.
--   CREATE ROLE police_analyst LOGIN PASSWORD '...' IN ROLE mash_police;
DO $$ BEGIN CREATE ROLE mash_{recipient} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM mash_{recipient}', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO mash_{recipient}', current_database());
END $$;
REVOKE ALL ON SCHEMA public FROM mash_{recipient};
GRANT USAGE ON SCHEMA public TO mash_{recipient};
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM mash_{recipient};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM mash_{recipient};
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM mash_{recipient};
GRANT SELECT ON {recipient}_shared_children, {recipient}_shared_involvement, {recipient}_shared_chronology
    TO mash_{recipient};
-- Each view reads a function that returns its rows (migration 0011: EXPLAIN shows no scan inside it); calling it
-- directly gives the same rows.
GRANT EXECUTE ON FUNCTION {recipient}_shared_children_rows(), {recipient}_shared_involvement_rows(),
    {recipient}_shared_chronology_rows() TO mash_{recipient};
