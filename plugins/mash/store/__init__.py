"""The hub's store: an SQLAlchemy engine on SQLite (embedded default) or PostgreSQL, migrated with Alembic.

A database error's own message can quote a row's values (PostgreSQL's COPY context, a key's DETAIL); every error
from the store is reduced to its kind, table, column and constraint before anyone can log or show it.
"""

from __future__ import annotations

import os
import re
import sqlite3
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

    @event.listens_for(engine, "handle_error")
    def _strip_values(context):
        # in place, because SQLAlchemy raises its exception *from* the driver's: both would reach a traceback
        safe = describe_error(context.original_exception)
        context.original_exception.args = (safe,)
        if context.sqlalchemy_exception is not None:
            error = context.original_exception
            context.sqlalchemy_exception.args = (f"({type(error).__module__}.{type(error).__name__}) {safe}",)
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


class StoreError(RuntimeError):
    """A database error reduced to what is safe to log: its kind, table, column, constraint and row (a COPY line)."""


COPY_CONTEXT = re.compile(r"COPY (?P<table>\w+), line (?P<line>\d+)(?:, column (?P<column>\w+))?")
SQLITE_TARGET = re.compile(r"constraint failed: (?P<table>\w+)\.(?P<column>\w+)")
# The store's own refusals (the append-only triggers, migrations 0009 and 0011) name a table and an operation only.
REFUSAL = re.compile(r"\w+ is append-only: \w+ refused")


def describe_error(error: BaseException, table: str | None = None) -> str:
    """``error`` as its kind and where it happened, never the driver's message (which may quote values).

    PostgreSQL names the table, column and constraint in the error's diagnostics (a COPY also says which line);
    SQLite names ``table.column`` in a constraint failure. A refusal by the store's own triggers is kept whole."""
    diag = getattr(error, "diag", None)
    refusal = REFUSAL.fullmatch((diag.message_primary if diag is not None else None) or str(error))
    if refusal:
        return f"{type(error).__name__}: {refusal.group()}"
    found = {"table": table}
    if diag is not None:
        copy = COPY_CONTEXT.search(diag.context or "")
        found.update(copy.groupdict() if copy else {})
        found.update({key: value for key, value in (("table", diag.table_name), ("column", diag.column_name),
                                                    ("constraint", diag.constraint_name), ("sqlstate", diag.sqlstate))
                      if value})
    elif isinstance(error, sqlite3.Error):
        target = SQLITE_TARGET.search(str(error))
        found.update(target.groupdict() if target else {})
        found["sqlite_error"] = getattr(error, "sqlite_errorname", None)
    where = ", ".join(f"{key} {value}" for key, value in found.items() if value)
    return f"{type(error).__name__}" + (f" ({where})" if where else "")


def bulk_insert(conn: Connection, table: Table, columns: list[str], rows: Iterable[tuple]) -> None:
    """Insert many rows inside ``conn``'s transaction, through the driver: COPY on PostgreSQL, executemany on SQLite.

    Values must be what the drivers take as they are: None, str (dates as ISO text), int, float or bool. A failure
    raises :class:`StoreError` (kind, table, column, line), with the driver's error neither shown nor chained.
    """
    dbapi = conn.connection.driver_connection
    try:
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
            try:
                cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({placeholders})', rows)
            finally:
                cursor.close()
    except dbapi_errors(conn) as error:
        safe = describe_error(error, table.name)
    else:
        return
    raise StoreError(f"writing {table.name} failed: {safe}")      # outside the except: nothing chained


def dbapi_errors(conn: Connection) -> type[BaseException]:
    return conn.dialect.loaded_dbapi.Error


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def migrate(url: str) -> Engine:
    """Bring the store at ``url`` to the newest schema (idempotent) and return its engine."""
    command.upgrade(alembic_config(url), "head")
    return engine_for(url)
