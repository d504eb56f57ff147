#!/usr/bin/env bash
# Create bench/.venv-splink (git-ignored) and install the Splink yardstick's pinned requirements into it.
# Idempotent: reuses an existing venv and only installs what is missing or at the wrong version.
# Never touches the project's own .venv: Splink is a yardstick, not a dependency of the hub.
#
#   bash bench/splink_yardstick/setup.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/.." && pwd)/.venv-splink"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" -c 'import splink, duckdb; print("splink", splink.__version__, "duckdb", duckdb.__version__)'
