-- A recipient's group role (applied by `mash db roles` for each recipient of the sharing policy, idempotent):
-- it can read its own published views and nothing else. The views run with their owner's rights, so reading them
-- needs no right on the tables behind them. Login users are made members by the database administrator, e.g.
--   CREATE ROLE police_analyst LOGIN PASSWORD '...' IN ROLE mash_police;
DO $$ BEGIN CREATE ROLE mash_{recipient} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM mash_{recipient};
GRANT USAGE ON SCHEMA public TO mash_{recipient};
GRANT SELECT ON {recipient}_shared_children, {recipient}_shared_involvement, {recipient}_shared_chronology
    TO mash_{recipient};
