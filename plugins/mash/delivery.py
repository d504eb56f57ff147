"""The agency side of the landing protocol, for the demo and tests: copy a drop in, data files first, manifest last."""

from __future__ import annotations

import shutil
from pathlib import Path

from mash.home import Home
from mash.landing import MANIFEST_SUFFIX


def deliver(night_dir: Path, home: Home, without: tuple[str, ...] = ()) -> dict[str, int]:
    """Deliver every agency folder under ``night_dir`` (but those ``without``: agencies that do not drop tonight)
    into the landing zone; return files delivered per agency."""
    delivered = {}
    for agency_dir in sorted(p for p in night_dir.iterdir() if p.is_dir() and p.name not in without):
        target = home.agency_landing(agency_dir.name)
        target.mkdir(parents=True, exist_ok=True)
        files = sorted(agency_dir.iterdir(), key=lambda p: p.name.endswith(MANIFEST_SUFFIX))
        for path in files:
            tmp = target / f".{path.name}.part"
            shutil.copyfile(path, tmp)
            tmp.replace(target / path.name)
        delivered[agency_dir.name] = len(files)
    return delivered
