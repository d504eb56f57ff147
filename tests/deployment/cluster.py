"""The distributed deployment of docker-compose.yml, started without Docker as separate processes on this machine:
PostgreSQL (Airflow's metadata and the hub's store, made by the compose file's own docker/postgres-init.sh), Redis,
and Airflow 3 on the CeleryExecutor (api-server, scheduler, dag-processor, triggerer, one Celery worker), with the
same environment as the compose file's services. Every port is a free one on 127.0.0.1, picked at start; everything
started is stopped by its process id.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import yaml
from cryptography.fernet import Fernet

from tests.postgres import PostgresServer
from tests.smtp import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The worker and the triggerer serve their task logs to the API server on every interface (Airflow binds them to
# no chosen address); here every part shares one logs folder, so the API server reads them there instead.
AIRFLOW_PARTS = {"api-server": ["api-server"], "scheduler": ["scheduler"], "dag-processor": ["dag-processor"],
                 "triggerer": ["triggerer", "--skip-serve-logs"], "worker": ["celery", "worker", "--skip-serve-logs"]}
OFFICER = "officer"


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def wait_until(check: Callable[[], object], seconds: float, what: str, every: float = 1.0):
    """Poll ``check`` until it returns something true, for at most ``seconds``; its last value, or an error naming
    what never happened."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {seconds:.0f} s")
        time.sleep(every)


class Deployment:
    """Start with :meth:`start`, always :meth:`stop` (a ``finally``): it stops what was started, whatever failed."""

    def __init__(self, root: Path, smtp_url: str, config_dir: Path, partitions: int = 2):
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.smtp_url = smtp_url
        self.config_dir = config_dir
        self.partitions = partitions
        self.postgres: PostgresServer | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.passwords = {name: secrets.token_urlsafe(16) for name in ("postgres", "airflow", "mash", "mash_night", OFFICER)}
        self.api_port = free_port()
        self.health_port = free_port()                 # the scheduler's health check
        self.jwt_secret = secrets.token_urlsafe(32)
        self.fernet_key = Fernet.generate_key().decode()
        self._token: str | None = None

    # -- the services -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._start_postgres()
        self._start_redis()
        env = self.airflow_env()
        self._run("airflow-db-migrate", [str(BIN / "airflow"), "db", "migrate"], env)
        # airflow-init's second half: the hub's store migrated by its owner, the roles granted by the superuser
        self.mash("db", "upgrade", url=self.store_url("mash"))
        self.mash("db", "roles", url=self.store_url("postgres"))
        for name, args in AIRFLOW_PARTS.items():
            self._spawn(name, [str(BIN / "airflow"), *args], env)
        wait_until(self._api_answers, 180, "the API server answering")

    def _start_postgres(self) -> None:
        pgdir = self.root / "postgres"
        pgdir.mkdir()
        self.postgres = PostgresServer.start(pgdir, superuser="postgres", password=self.passwords["postgres"])
        port = str(self._pg_port())
        env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": port, "POSTGRES_USER": "postgres",
               "PGPASSWORD": self.passwords["postgres"],
               "AIRFLOW_DB_PASSWORD": self.passwords["airflow"], "MASH_DB_PASSWORD": self.passwords["mash"],
               "MASH_HUB_DB_PASSWORD": self.passwords["mash_night"],
               "PATH": f"{self.postgres.bindir}:{os.environ['PATH']}"}
        self._run("postgres-init", ["bash", str(REPO / "docker" / "postgres-init.sh")], env)

    def _start_redis(self) -> None:
        self.redis_port = free_port()
        redis_dir = self.root / "redis"
        redis_dir.mkdir()
        self._spawn("redis", [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port",
                              str(self.redis_port), "--dir", str(redis_dir), "--save", "", "--appendonly", "no"],
                    os.environ)
        import redis
        client = redis.Redis(host="127.0.0.1", port=self.redis_port)

        def pong():
            try:
                return client.ping()
            except redis.ConnectionError:
                return False
        wait_until(pong, 30, "Redis answering PING", every=0.2)

    def _pg_port(self) -> int:
        from sqlalchemy import make_url
        return make_url(self.postgres.admin_url).port

    def store_url(self, role: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{role}:{self.passwords[role]}@127.0.0.1:{self._pg_port()}/mash"

    def airflow_env(self) -> dict[str, str]:
        """docker-compose.yml's x-airflow-common environment, read from the file, with this machine's addresses
        and paths for the services' names and the image's folders; then what differs here, each with its reason."""
        secrets_ = {"AIRFLOW_DB_PASSWORD": self.passwords["airflow"], "MASH_DB_PASSWORD": self.passwords["mash"],
                    "MASH_HUB_DB_PASSWORD": self.passwords["mash_night"],
                    "AIRFLOW__CORE__FERNET_KEY": self.fernet_key, "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
                    "MASH_SMTP_URL": self.smtp_url}
        places = {"@postgres:5432/": f"@127.0.0.1:{self._pg_port()}/", "@postgres/": f"@127.0.0.1:{self._pg_port()}/",
                  "redis://redis:6379/": f"redis://127.0.0.1:{self.redis_port}/",
                  "http://airflow-apiserver:8080/": f"http://127.0.0.1:{self.api_port}/",
                  "/opt/mash/": f"{REPO}/", "/var/lib/mash": str(self.mash_home)}
        env = {}
        for name, value in compose()["x-airflow-common"]["environment"].items():
            value = re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", lambda m: _substituted(m, secrets_), str(value))
            for service, here in places.items():
                value = value.replace(service, here)
            env[name] = value
        home = self.root / "airflow"
        home.mkdir(exist_ok=True)
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps({OFFICER: self.passwords[OFFICER]}))
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MASH_"))},
            **env,
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "PYTHONPATH": str(REPO / "plugins"),       # this checkout's mash, as the image's installed one
            "AIRFLOW_HOME": str(home),
            "MASH_MATCH_PARTITIONS": str(self.partitions),
            # the API server on this host only, at a free port (the compose file publishes the container's 8080)
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.health_port),
            # Airflow's own simple logins instead of FAB's, which is in the official image but not installed here
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{OFFICER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "false",   # runs are triggered here, not at 01:30
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",        # a shared machine of 2 cores
            "MASH_CONFIG_DIR": str(self.config_dir),        # retries a second apart, not five minutes
        }

    @property
    def mash_home(self) -> Path:
        return self.root / "mash"

    def _run(self, name: str, args: list[str], env) -> None:
        with open(self.logs / f"{name}.log", "wb") as log:
            done = subprocess.run(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        if done.returncode:
            raise RuntimeError(f"{name} failed (exit {done.returncode}): see {self.logs / (name + '.log')}")

    def _spawn(self, name: str, args: list[str], env) -> None:
        log = open(self.logs / f"{name}.log", "wb")
        # a session of its own: stopping it by its id stops the children it forked (gunicorn, celery, supervisors)
        self.processes[name] = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                                                start_new_session=True)
        log.close()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        """Stop every process started here, by its id (and its process group), then PostgreSQL."""
        for proc in reversed(self.processes.values()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.processes.values()):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self.postgres is not None:
            self.postgres.stop()

    def dead(self) -> list[str]:
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    # -- the hub's CLI, as an officer runs it -------------------------------------------------------------------

    def mash(self, *args: str, url: str | None = None) -> str:
        env = {**self.airflow_env(), "MASH_DB_URL": url or self.store_url("mash_night")}
        done = subprocess.run([sys.executable, "-m", "mash.cli", *args], env=env, capture_output=True, text=True,
                              cwd=self.root)
        if done.returncode:
            raise RuntimeError(f"mash {' '.join(args)} failed (exit {done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    # -- Airflow's REST API (/api/v2, a JWT from /auth/token) ---------------------------------------------------

    def _api_answers(self) -> bool:
        if self.dead():
            raise RuntimeError(f"stopped: {self.dead()} (logs in {self.logs})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/api/v2/version", timeout=5):
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def api(self, method: str, path: str, body: dict | None = None, token: bool = True):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", method=method, headers=headers,
                                         data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def token(self) -> str:
        if self._token is None:
            self._token = self.api("POST", "/auth/token", {"username": OFFICER, "password": self.passwords[OFFICER]},
                                   token=False)["access_token"]
        return self._token

    def dag_parsed(self, dag_id: str) -> bool:
        if self.dead():
            raise RuntimeError(f"stopped: {self.dead()} (logs in {self.logs})")
        try:
            self.api("GET", f"/api/v2/dags/{dag_id}")
            return True
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise


def _substituted(reference: re.Match, values: dict[str, str]) -> str:
    """A ``${NAME}``, ``${NAME:?message}`` or ``${NAME:-default}`` of the compose file, as docker compose would
    resolve it from .env (``values``): a required one missing is an error here too."""
    name, operator, rest = reference.groups()
    if name in values:
        return values[name]
    if operator == ":-":
        return rest
    raise KeyError(f"{name} is required by docker-compose.yml: give the deployment test a value for it")
