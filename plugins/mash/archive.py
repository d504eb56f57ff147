"""The raw-file archive: every file an agency drops is kept unchanged, addressed by its SHA-256.

``MASH_HOME/archive/sha256/ab/abcdef…`` holds the bytes of the file whose digest is ``abcdef…``; the store's
``archived_file`` table records its size, first name and when it was first seen. Archiving the same bytes twice
keeps one copy.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path

from mash.landing import StillBeingWritten, look_at


def relative_path(sha256: str) -> Path:
    return Path("sha256") / sha256[:2] / sha256


class ArchiveError(Exception):
    """The archive cannot take a file (disk full, no permission): the message says which file and what to do."""


@contextmanager
def _writing(source: Path, archive_root: Path):
    """Turn the archive's write errors into messages saying what to do (an error reading ``source`` is not one)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename) == source:
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ArchiveError(f"no space left on device while archiving {source.name}: free space under "
                               f"{archive_root} and run the ingest again") from exc
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ArchiveError(f"cannot write to {archive_root} (permission denied): give the hub's account "
                               f"write access to it and run the ingest again") from exc
        raise


def archive_file(source: Path, archive_root: Path, expected: str | None = None) -> tuple[str, int, Path]:
    """Copy ``source`` into the archive; return its SHA-256, size and path relative to the archive root.

    The copy is written to a temporary name, flushed and renamed, so a crash never leaves a partial file under
    a digest name. Bytes already archived are not written again. A link is never followed (NotRegular). With
    ``expected``, a file whose bytes are not those, or that changed while it was copied, is not archived:
    StillBeingWritten. A full disk or an archive the hub may not write to raises ArchiveError; the drop stays in
    landing for a rerun.
    """
    tmp = archive_root / f".incoming-{os.getpid()}-{source.name}"
    try:
        with _writing(source, archive_root):
            archive_root.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as dst:
                look = look_at(source, dst.write)
                dst.flush()
                os.fsync(dst.fileno())
        if expected is not None and (look.changed or look.sha256 != expected):
            raise StillBeingWritten(source.name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    rel = relative_path(look.sha256)
    target = archive_root / rel
    if target.exists():
        tmp.unlink()
    else:
        with _writing(source, archive_root):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            target.chmod(0o400)                 # never changed again; personal data: the owner only
    return look.sha256, look.size, rel
