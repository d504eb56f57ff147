"""The hub's store: an SQLAlchemy engine on SQLite (embedded default) or PostgreSQL, migrated with Alembic."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

from mash.home import REPO_ROOT

MIGRATIONS = REPO_ROOT / "sql" / "migrations"


@cache
def engine_for(url: str) -> Engine:
    # hide_parameters keeps row values (personal data) out of SQL error messages and so out of task logs.
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> Engine:
    """Bring the store at ``url`` to the newest schema (idempotent) and return its engine."""
    command.upgrade(alembic_config(url), "head")
    return engine_for(url)
