"""The hub as a regular package: a wheel built from this checkout, installed into a fresh virtual environment, runs a
night from a directory that is not the checkout (its migrations, suites, views and configuration are package data).

The fresh environment takes the hub's dependencies from the test environment (a path entry, so the checkout's own
editable install is not seen) and installs only the wheel itself: what is tested is the wheel, not a download.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of what the package is made of, so no build folder is left in (or reused from) the
    checkout."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "plugins", source / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
                    str(source)], check=True, stdout=subprocess.DEVNULL)
    return next(out.glob("mash-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "hub-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-deps", str(wheel)], check=True, stdout=subprocess.DEVNULL)
    return venv / "bin"


def test_the_wheel_carries_every_file_the_hub_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in [*(REPO / "plugins").rglob("*.yaml"), *(REPO / "plugins").rglob("*.json"),
                    *(REPO / "plugins").rglob("*.sql"), *(REPO / "plugins").rglob("*.j2"),
                    *(REPO / "plugins" / "mash" / "store" / "sql" / "migrations").rglob("*.py")]:
        assert shipped.relative_to(REPO / "plugins").as_posix() in names


def test_an_installed_wheel_runs_a_night_from_any_directory(installed, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MASH_CONFIG_DIR", "MASH_DB_URL")}
    env["MASH_HOME"] = str(tmp_path / "home")

    def mash(*args: str) -> str:
        done = subprocess.run([str(installed / "mash"), *args], cwd=work, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"mash {args[0]} failed:\n{done.stderr[-3000:]}"
        return done.stdout

    where = subprocess.run([str(installed / "python"), "-c", "import mash; print(mash.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert str(REPO) not in where and str(installed.parent) in where

    mash("synth", "--children", "150", "--seed", "11", "--nights", "1", "--out", str(work / "synth"),
         "--start", date(2026, 11, 2).isoformat())
    mash("deliver", str(work / "synth" / "night-01"))
    mash("ingest", "--strict")
    verdicts = [json.loads(line) for line in mash("validate", "--strict").splitlines()]
    assert verdicts and all(v["verdict"] in ("passed", "warnings") for v in verdicts)
    mash("match")
    mash("publish")
    batches = json.loads(mash("status", "--json"))
    assert batches and all(b["state"] == "loaded" for b in batches)
    assert "intact" in mash("audit", "verify")
