"""The hub's store: an SQLAlchemy engine on SQLite (embedded default) or PostgreSQL, migrated with Alembic."""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event

from mash.home import PACKAGE

MIGRATIONS = PACKAGE / "store" / "sql" / "migrations"


def sqlalchemy_url(url: str) -> str:
    """A PostgreSQL URL as Airflow connections and ops tooling write it (postgres://, postgresql://) with the
    psycopg 3 driver the hub installs; any other URL unchanged."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def new_engine(url: str, **options) -> Engine:
    """The project's one engine factory: every URL form Airflow and operators write (``postgres://``,
    ``postgresql://``, ``postgresql+psycopg://``, SQLite), with the settings every connection to the store needs.
    Callers that look briefly (a sensor, an alert) dispose of it; :func:`engine_for` keeps one per URL."""
    # hide_parameters keeps row values (personal data) out of SQL error messages and so out of task logs.
    engine = create_engine(sqlalchemy_url(url), pool_pre_ping=True, hide_parameters=True, **options)
    if engine.dialect.name == "sqlite":
        _private_sqlite_file(engine.url.database)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    return engine


def _private_sqlite_file(database: str | None) -> None:
    """Create the SQLite store's file owner-only (0600) before SQLite does, whatever the umask: SQLite gives its
    -wal and -shm files the database file's mode. A file an older version left open is closed to others too."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.parent.is_dir():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))   # an empty file is a new SQLite database
        for written in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if written.exists():
                written.chmod(0o600)


@cache
def engine_for(url: str) -> Engine:
    """The process's engine on the store at ``url`` (one pool per URL)."""
    return new_engine(url)


def bulk_insert(conn: Connection, table: Table, columns: list[str], rows: Iterable[tuple]) -> None:
    """Insert many rows inside ``conn``'s transaction, through the driver: COPY on PostgreSQL, executemany on SQLite.

    Values must be what the drivers take as they are: None, str (dates as ISO text), int, float or bool.
    """
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        from psycopg import sql
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
        with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        names = ", ".join(f'"{name}"' for name in columns)
        placeholders = ", ".join("?" for _ in columns)
        cursor = dbapi.cursor()
        cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({placeholders})', rows)
        cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def migrate(url: str) -> Engine:
    """Bring the store at ``url`` to the newest schema (idempotent) and return its engine."""
    command.upgrade(alembic_config(url), "head")
    return engine_for(url)
