"""Alembic environment for the hub's store; run through mash.store.migrate (or `mash db upgrade`)."""

from alembic import context
from sqlalchemy import pool

from mash.store import new_engine

from mash.store.schema import metadata

config = context.config


def run_migrations_online() -> None:
    connectable = new_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
