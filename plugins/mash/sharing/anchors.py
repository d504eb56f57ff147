"""The disclosure audit's anchors: after each publication and each notice build, the audit's head (how many entries
it holds and the newest entry's hash) is appended to a file outside the store, ``MASH_HOME/audit/anchors.jsonl``.

Someone able to write to the store can delete the audit's newest entries and move a publication's recorded head
back, or rewrite the whole chain and re-hash it; the store alone cannot tell. The anchor file, on other storage and
only ever appended to (opened ``O_APPEND``, mode 0600), can: :func:`mash.sharing.audit.verify` checks the chain
against it. One JSON line per anchor, counts and hashes only (no personal data)::

    {"at": "2026-11-03T01:52:10.123456+00:00", "kind": "publication", "run_id": "night-2026-11-02",
     "entries": 8231, "head_hash": "…", "publication_id": 12}

``entries`` is the newest entry's id (entries are numbered from 1 without gaps). A build that leaves the head where
the newest anchor has it (a rerun with no new data) appends nothing. Copy the lines elsewhere too (the officers'
nightly summary carries the newest): an anchor file deleted with the store's tail is reported, not trusted.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from mash.errors import Refused

KINDS = ("publication", "notices")


@dataclass(frozen=True)
class Anchor:
    at: str
    kind: str                       # publication or notices
    run_id: str
    entries: int                    # the head's entry id: how many entries the audit held
    head_hash: str
    publication_id: int | None = None     # the publication this anchor was written for (kind publication)

    def describe(self) -> str:
        return f"the {'notices build' if self.kind == 'notices' else 'publication'} of run {self.run_id}"


def read(path: Path) -> list[Anchor]:
    """Every anchor in the file, in the order written; none if there is no file. A line that is not an anchor is
    refused, naming the line: an edited anchor file is not to be trusted."""
    if not path.is_file():
        return []
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            fields = json.loads(line)
            anchor = Anchor(**fields)
            if anchor.kind not in KINDS or not isinstance(anchor.entries, int) or len(anchor.head_hash) != 64:
                raise ValueError(anchor.kind)
        except (ValueError, TypeError):
            raise Refused(f"{path}: line {number} is not an anchor") from None
        found.append(anchor)
    return found


def record(path: Path, kind: str, run_id: str, head: tuple[int, str], publication_id: int | None = None
           ) -> Anchor | None:
    """Append the audit's ``head`` (entry id, hash), just committed by a ``kind`` build of ``run_id``; nothing if
    the newest anchor already holds it and no new publication was written. Returns the anchor written."""
    anchors = read(path)
    entries, head_hash = head
    if anchors and (anchors[-1].entries, anchors[-1].head_hash) == (entries, head_hash) and publication_id is None:
        return None
    anchor = Anchor(datetime.now(timezone.utc).isoformat(), kind, run_id, entries, head_hash, publication_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = (json.dumps(asdict(anchor)) + "\n").encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line)          # one write of one short line: appended whole, never interleaved
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return anchor


def newest(anchors: list[Anchor]) -> Anchor | None:
    """The anchor holding the most entries (builds may finish writing their anchors out of order)."""
    return max(anchors, key=lambda a: a.entries, default=None)
