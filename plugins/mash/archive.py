"""The raw-file archive: every file an agency drops is kept unchanged, addressed by its SHA-256.

``MASH_HOME/archive/sha256/ab/abcdef…`` holds the bytes of the file whose digest is ``abcdef…``; the store's
``archived_file`` table records its size, first name and when it was first seen. Archiving the same bytes twice
keeps one copy.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mash.landing import CHUNK


def relative_path(sha256: str) -> Path:
    return Path("sha256") / sha256[:2] / sha256


def archive_file(source: Path, archive_root: Path) -> tuple[str, int, Path]:
    """Copy ``source`` into the archive; return its SHA-256, size and path relative to the archive root.

    The copy is written to a temporary name, flushed and renamed, so a crash never leaves a partial file under
    a digest name. Bytes already archived are not written again.
    """
    digest = hashlib.sha256()
    size = 0
    archive_root.mkdir(parents=True, exist_ok=True)
    tmp = archive_root / f".incoming-{os.getpid()}-{source.name}"
    with source.open("rb") as src, tmp.open("wb") as dst:
        while block := src.read(CHUNK):
            digest.update(block)
            dst.write(block)
            size += len(block)
        dst.flush()
        os.fsync(dst.fileno())
    sha = digest.hexdigest()
    rel = relative_path(sha)
    target = archive_root / rel
    if target.exists():
        tmp.unlink()
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        target.chmod(0o400)                 # never changed again; personal data: the owner only
    return sha, size, rel

