#!/usr/bin/env bash
# First start of the PostgreSQL container: Airflow's metadata and the hub's store as separate databases, each
# owned by its own role (passwords from the env file); and the nightly run's login, mash_night, a member of mash_hub
# (it reads and writes the data, owns nothing and cannot rewrite the audit: docs/operations.md, "Database logins").
# The roles' rights come later, from `mash db roles`.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v airflow_password="$AIRFLOW_DB_PASSWORD" -v mash_password="$MASH_DB_PASSWORD" \
  -v night_password="$MASH_HUB_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE mash LOGIN PASSWORD :'mash_password';
CREATE DATABASE mash OWNER mash;
CREATE ROLE mash_hub NOLOGIN;
CREATE ROLE mash_night LOGIN PASSWORD :'night_password' IN ROLE mash_hub;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE ALL ON DATABASE mash FROM PUBLIC;
SQL
