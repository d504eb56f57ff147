"""A real, throwaway PostgreSQL server for the tests, started from the Debian packages' binaries.

PostgreSQL refuses to run as root, so when the tests run as root the cluster is owned by the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa


def _bindir() -> Path:
    for candidate in [os.environ.get("PG_BINDIR", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package "
                       "'postgresql' (make test does this) or set MASH_TEST_PG_URL")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    admin_url: str
    datadir: Path | None = None
    bindir: Path | None = None

    @classmethod
    def existing(cls, url: str) -> "PostgresServer":
        return cls(url)

    @classmethod
    def start(cls, workdir: Path, superuser: str = "mash", password: str | None = None) -> "PostgresServer":
        """A new cluster; with ``password``, connections over TCP must give their role's password (SCRAM), the
        superuser's being ``password``; without, every connection is trusted."""
        bindir = _bindir()
        datadir = workdir / "data"
        port = _free_port()
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(workdir, "postgres")
        run = (lambda args: ["runuser", "-u", "postgres", "--", *args]) if as_root else (lambda args: args)
        auth = ["--auth=trust"]
        if password:
            pwfile = workdir / "superuser-password"
            pwfile.write_text(password + "\n")
            if as_root:
                shutil.chown(pwfile, "postgres")
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        subprocess.run(run([str(bindir / "initdb"), "-D", str(datadir), "-U", superuser, *auth,
                            "--encoding=UTF8", "--locale=C.UTF-8"]),
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(run([str(bindir / "pg_ctl"), "-D", str(datadir), "-w", "-l", str(workdir / "server.log"),
                            "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
                            # a test session opens a database per test, each with its process's pooled engine
                            "-c max_connections=300", "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        login = f"{superuser}:{password}" if password else superuser
        return cls(f"postgresql+psycopg://{login}@127.0.0.1:{port}/postgres", datadir, bindir)

    def create_database(self, name: str) -> str:
        dbname = re.sub(r"[^a-z0-9_]", "_", name.lower())[:50]
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
        engine.dispose()
        return str(sa.make_url(self.admin_url).set(database=dbname).render_as_string(hide_password=False))

    def stop(self) -> None:
        if self.datadir is None:
            return
        args = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "stop"]
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(args, check=False, stdout=subprocess.DEVNULL)
