"""The store's schema: migrations match the contracts, and migrate is idempotent on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mash.contracts import contracts
from mash.store import migrate, new_engine
from mash.store.schema import metadata


def _drift(url: str) -> list:
    with new_engine(url).connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_the_contracts_and_rerun_cleanly(backend, home, request):
    url = home.db_url() if backend == "sqlite" else request.getfixturevalue("pg_url")
    migrate(url)
    for form in ("postgresql://", "postgres://"):           # the forms Airflow connections write; a no-op
        migrate(url.replace("postgresql+psycopg://", form))
    assert _drift(url) == [], "mash/store/sql/migrations is behind the contracts: write a new Alembic revision"
    tables = set(inspect(new_engine(url)).get_table_names())
    for agency, contract in contracts().items():
        for spec in contract.files:
            assert contract.table_name(spec.name) in tables
