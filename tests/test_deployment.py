"""The deployment files: docker-compose.yml is checked without a Docker engine (none runs here): the services a
council needs are there, everything they name exists, secrets come from the env file, and the image installs this
project with the Airflow version the project pins."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
import yaml

from tests.conftest import REPO

SERVICES = {"postgres", "redis", "mailcatcher", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "airflow-worker", "airflow-init"}
AIRFLOW_COMMANDS = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                    "airflow-worker": "celery worker"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def test_every_service_a_deployment_needs_is_defined_with_its_command(compose):
    services = compose["services"]
    assert SERVICES <= set(services)
    for name, command in AIRFLOW_COMMANDS.items():
        assert services[name]["command"] == command, name
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in services[name]
    init = " ".join(services["airflow-init"]["command"])
    assert "mash db upgrade" in init and "mash db roles" in init and "/entrypoint airflow version" in init
    assert services["airflow-init"]["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"


def test_everything_a_service_names_exists(compose):
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} mounts undeclared volume {source}"
    mash_home = {v.split(":")[1] for v in compose["services"]["airflow-worker"]["volumes"]}
    for place in ("landing", "archive", "outbox", "reports", "work", "audit"):
        assert f"/var/lib/mash/{place}" in mash_home


def test_airflow_and_the_hub_use_separate_databases_and_roles(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    airflow_db = re.match(r"postgresql\+psycopg://(\w+):.*@postgres/(\w+)$", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    hub_db = re.match(r"postgresql://(\w+):.*@postgres:5432/(\w+)$", env["AIRFLOW_CONN_MASH_DB"])
    assert airflow_db and hub_db
    assert airflow_db.groups() == ("airflow", "airflow") and hub_db.groups() == ("mash_night", "mash")
    init_sql = (REPO / "docker" / "postgres-init.sh").read_text(encoding="utf-8")
    assert "CREATE DATABASE airflow OWNER airflow" in init_sql and "CREATE DATABASE mash OWNER mash" in init_sql


def test_secrets_come_from_the_env_file_and_none_is_committed(compose):
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    example = {line.split("=", 1)[0] for line in (REPO / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used <= example, f"not in .env.example: {sorted(used - example)}"
    assert not re.search(r"^\s*\w*(PASSWORD|SECRET|FERNET_KEY)\w*:\s*(?!\$\{)[^\s{]+", text, re.M), "a literal secret"
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=REPO, capture_output=True, text=True).stdout
    assert tracked == "" and ".env" in (REPO / ".dockerignore").read_text().split()


def test_the_image_installs_this_project_with_the_pinned_airflow(compose):
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert compose["x-airflow-common"]["build"] == "."
    pinned = next(d for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
                  if d.startswith("apache-airflow=="))
    assert f"ARG AIRFLOW_VERSION={pinned.split('==')[1]}" in dockerfile
    for source in re.findall(r"^COPY --chown=\S+ (.+) /opt/mash/", dockerfile, re.M):
        for path in source.split():
            assert (REPO / path).exists(), path
    install = re.search(r"pip install .* (\S+)$", dockerfile, re.M)
    assert install and install.group(1) == '"/opt/mash[deploy]"'    # a regular install: package data, not a checkout


def test_every_secret_is_required_and_the_ui_listens_on_this_host_only(compose):
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    references = re.findall(r"(?<!\$)\$\{(\w+)(:?[-?])?([^}]*)\}", text)
    optional = {"AIRFLOW_UID", "MASH_UI_BIND", "MASH_SMTP_CA_FILE"}
    for name, operator, message in references:
        if name not in optional:
            assert operator == ":?" and name in message, f"{name} is not required (${{{name}:?...}})"
    assert {name for name, _, _ in references} >= {"POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "MASH_DB_PASSWORD",
                                                     "MASH_SMTP_URL", "AIRFLOW__CORE__FERNET_KEY",
                                                     "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD"}
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith(("127.0.0.1:", "${MASH_UI_BIND:-127.0.0.1}:")), port
    assert compose["services"]["airflow-apiserver"]["ports"] == ["${MASH_UI_BIND:-127.0.0.1}:8080:8080"]


def test_the_example_mail_relay_uses_tls():
    example = dict(line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert example["MASH_SMTP_URL"].startswith(("smtp+starttls://", "smtps://"))
