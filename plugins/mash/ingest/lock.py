"""One ingest at a time per agency: a manual ``mash ingest`` during the nightly run, or two workers, never ingest
the same drop at once (the second would fail on the first's batch row).

The lock is a file lock (``fcntl.flock``) on ``MASH_HOME/locks/ingest-<agency>.lock``, and on PostgreSQL also a
session advisory lock, which holds across hosts sharing one store. Both are released by the operating system or the
server if the process dies, so a crash never leaves an agency locked.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from sqlalchemy import Engine, text

from mash.home import Home


def _advisory_key(agency: str) -> int:
    """A stable signed 64-bit key for the agency, as pg_try_advisory_lock takes it."""
    return int.from_bytes(hashlib.sha256(f"mash.ingest:{agency}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def agency_lock(agency: str, home: Home, engine: Engine) -> Iterator[bool]:
    """Hold the agency's ingest lock if no one else does: yield True if held, False if another process holds it
    (without waiting)."""
    with ExitStack() as stack:
        folder = home.root / "locks"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = stack.enter_context((folder / f"ingest-{agency}.lock").open("a"))
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
        if engine.dialect.name == "postgresql":
            conn = stack.enter_context(engine.connect())
            key = _advisory_key(agency)
            held = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            conn.commit()
            if not held:
                yield False
                return
            stack.callback(lambda: (conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key}),
                                    conn.commit()))
        yield True
