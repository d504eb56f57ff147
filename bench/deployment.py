"""Benchmark: one generated night through the distributed deployment against the same night through `mash` commands.

What it measures
    One night of ``--children`` children (100,000 by default; ``mash synth``, not timed) is put through:
    1. the distributed deployment of ``make test-deployment`` (tests/deployment/cluster.py: PostgreSQL, Redis,
       Airflow 3 on the CeleryExecutor with one Celery worker, ``MASH_MATCH_PARTITIONS=--partitions``): the time
       from the start of the deployment to the run queued, and the run's wall time from its trigger through the
       REST API to its end (polled every second);
    2. right after, on the same PostgreSQL server, a fresh store and MASH_HOME: the same night through ``mash
       ingest``, ``validate``, ``match``, ``publish``, ``notices build`` and ``notices send``, one command after
       the other, each in one process (the matching in one process: no partitions).
    Both deliver notices to the same local SMTP server (tests/smtp.py).

Usage (from the repository root, with the `deploy` extra installed and Debian's postgresql and redis-server)
    .venv/bin/python bench/deployment.py                       # 100,000 children, 2 partitions
    .venv/bin/python bench/deployment.py --children 5000

Output: one markdown table row on stdout; progress on stderr. The deployment's logs stay in the printed folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.deployment.cluster import Deployment, wait_until  # noqa: E402
from tests.smtp import SmtpServer  # noqa: E402

DAG = "mash_nightly"
NIGHT = date(2026, 11, 2)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def distributed(deployment: Deployment, night_dir: Path, started: float) -> tuple[float, float, str]:
    deployment.start()
    wait_until(lambda: deployment.dag_parsed(DAG), 600, f"{DAG} parsed")
    deployment.api("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": False})
    deployment.mash("deliver", str(night_dir))
    triggered = time.monotonic()
    deployment.api("POST", f"/api/v2/dags/{DAG}/dagRuns",
                   {"dag_run_id": f"night-{NIGHT}", "logical_date": f"{NIGHT}T01:30:00Z"})
    queued = triggered - started

    def finished():
        if deployment.dead():
            raise RuntimeError(f"stopped: {deployment.dead()}")
        state = deployment.api("GET", f"/api/v2/dags/{DAG}/dagRuns/night-{NIGHT}")["state"]
        return state if state in ("success", "failed") else None
    state = wait_until(finished, 6 * 3600, "the night finished", every=1.0)
    return queued, time.monotonic() - triggered, state


def one_process(deployment: Deployment, night_dir: Path, root: Path) -> float:
    url = deployment.postgres.create_database("mash_one_process")
    env = {**deployment.airflow_env(), "MASH_DB_URL": url, "MASH_HOME": str(root / "one-process"),
           "MASH_MATCH_PARTITIONS": "1"}
    commands = [["db", "upgrade"], ["deliver", str(night_dir)]]
    timed = [["ingest"], ["validate"], ["match", "--run-id", f"night-{NIGHT}"],
             ["publish", "--as-of", str(NIGHT), "--run-id", f"night-{NIGHT}"],
             ["notices", "build", "--as-of", str(NIGHT), "--run-id", f"night-{NIGHT}"], ["notices", "send"]]
    for args in commands:
        subprocess.run([sys.executable, "-m", "mash.cli", *args], env=env, check=True, stdout=subprocess.DEVNULL)
    started = time.monotonic()
    for args in timed:
        say(f"mash {' '.join(args)}")
        subprocess.run([sys.executable, "-m", "mash.cli", *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mash-bench-deployment-"))
    os.chmod(root, 0o755)
    night_config = root / "night.yaml"
    shutil.copy(REPO_ROOT / "plugins" / "mash" / "config" / "night.yaml", night_config)
    load_before = os.getloadavg()[0]
    with SmtpServer() as smtp:
        deployment = Deployment(root, smtp.url, night_config, partitions=args.partitions)
        try:
            say(f"generating one night of {args.children} children")
            subprocess.run([sys.executable, "-m", "mash.cli", "synth", "--children", str(args.children), "--seed", "1",
                            "--start", str(NIGHT), "--out", str(root / "synth")], check=True,
                           env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "plugins")}, stdout=subprocess.DEVNULL)
            night_dir = root / "synth" / "night-01"
            say("the distributed deployment")
            queued, night, state = distributed(deployment, night_dir, time.monotonic())
            say(f"distributed night {state} in {night:.0f} s; now the same night through mash commands")
            alone = one_process(deployment, night_dir, root)
        finally:
            deployment.stop()
    load_after = os.getloadavg()[0]
    print("| date | children | partitions | start to run queued s | distributed night s (state) "
          "| mash commands s | load average (before, after) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    print(f"| {time.strftime('%Y-%m-%d %H:%M')} | {args.children:,} | {args.partitions} | {queued:.0f} "
          f"| {night:.0f} ({state}) | {alone:.0f} | {load_before:.1f}, {load_after:.1f} |")
    shutil.rmtree(root / "synth", ignore_errors=True)
    shutil.rmtree(deployment.mash_home, ignore_errors=True)
    shutil.rmtree(root / "one-process", ignore_errors=True)
    print(f"logs: {deployment.logs}", file=sys.stderr)


if __name__ == "__main__":
    main()
