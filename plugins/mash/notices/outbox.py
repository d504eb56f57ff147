"""Building tonight's notices: every feedback notice, notification and extract notice that is due and not built
before, recorded once under its idempotency key, audited, rendered and written to ``MASH_HOME/outbox/<agency>/``;
the audit's head is then anchored in ``MASH_HOME/audit/anchors.jsonl``.

A notice about a child is allowed only by its notice rule in the sharing policy, checked against the data classes
of the fields it carries; allowed or not, the decision is written to the disclosure audit in the same transaction
that records the notice. A notice the policy does not allow is never rendered: its row (status ``withheld``) holds
no address and no content, only the rule and the audit entry, so a rerun neither builds nor audits it again.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from email.utils import getaddresses
from pathlib import Path

from sqlalchemy import Engine, insert, select

from mash.home import Home
from mash.notices.extract_notice import extract_notices
from mash.notices.feedback import feedback_notices
from mash.notices.notice import Notice
from mash.notices.notification import NOTIFICATIONS
from mash.notices.referral import tracked_since
from mash.notices.render import render
from mash.notices.settings import Settings, default_settings
from mash.sharing import audit
from mash.sharing.anchors import record as record_anchor
from mash.sharing.policy import Policy, default_policy
from mash.sharing.tonight import Tonight
from mash.store.schema import notice as notices, notice_night


@dataclass(frozen=True)
class BuildSummary:
    """Counts only: safe for logs and XCom."""
    built: dict[str, int] = field(default_factory=dict)      # kind -> notices built tonight
    withheld: int = 0
    already_built: int = 0
    audit_entries: int = 0

    def as_dict(self) -> dict[str, int]:
        flat = {key: value for key, value in asdict(self).items() if key != "built"}
        return {"built": sum(self.built.values()), **flat, **{f"built_{k}": n for k, n in sorted(self.built.items())}}


def file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


PARTS = ("children", "extracts")     # notices about children (feedback, notifications); extract notices


def candidates(engine: Engine, as_of: date, since: date, settings: Settings, parts=PARTS) -> list[Notice]:
    """Every notice due tonight, whether or not built before."""
    found = []
    if "children" in parts:
        tonight = Tonight(engine)
        found += feedback_notices(tonight, as_of, since, settings)
        for notification in NOTIFICATIONS:
            found += notification(tonight, as_of, since, settings)
    if "extracts" in parts:
        found += extract_notices(engine, as_of, since, settings)
    return found


def _write(outbox: Path, notice: Notice, text: str, html: str) -> str:
    folder = outbox / notice.recipient
    folder.mkdir(parents=True, exist_ok=True)
    name = file_name(notice.key)
    for suffix, body in ((".txt", text), (".html", html)):
        path = folder / f"{name}{suffix}"
        path.write_text(body, encoding="utf-8")
        os.chmod(path, 0o600)
    return f"{notice.recipient}/{name}"


def single_address(value: str | None, fallback: str) -> str:
    """``value`` if it is exactly one email address, else ``fallback`` (the agency's inbox): an address field that
    holds several addresses, a display name with a line break or anything else must not widen who receives a
    child's details."""
    if value and not any(c in value for c in "\r\n,;"):
        found = getaddresses([value])
        if len(found) == 1 and found[0][1].count("@") == 1 and found[0][1] == value.strip():
            return found[0][1]
    return fallback


def build(engine: Engine, home: Home, run_id: str, as_of: date, policy: Policy | None = None,
          settings: Settings | None = None, parts=PARTS) -> BuildSummary:
    """Build, audit and record tonight's new notices of ``parts`` (the nightly DAG's ``extract_notices`` after
    ingest, ``build_notices`` after the shared view); idempotent."""
    policy, settings = policy or default_policy(), settings or default_settings()
    with engine.connect() as conn:
        since = tracked_since(conn, as_of, settings)
    found = {n.key: n for n in candidates(engine, as_of, since, settings, parts)}
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":     # two builds at once would both find a key new
            conn.exec_driver_sql("LOCK TABLE notice IN SHARE ROW EXCLUSIVE MODE")
        known = set()
        keys = sorted(found)
        for start in range(0, len(keys), 500):
            known |= set(conn.execute(select(notices.c.idempotency_key)
                                      .where(notices.c.idempotency_key.in_(keys[start:start + 500]))).scalars())
        new = [found[key] for key in keys if key not in known]
        rows, entries, built = [], [], {}
        for n in new:
            row = {"idempotency_key": n.key, "kind": n.kind, "recipient": n.recipient, "child_id": n.child_id,
                   "about": n.about, "run_id": run_id, "as_of": as_of, "due_date": n.due_date, "created_at": now,
                   "attempts": 0, "status": "queued"}
            decision = classes = None
            if n.child_id is not None:
                classes = n.classes(policy)
                decision = policy.decide_notice(n.kind, n.recipient, classes)
                row["rule_id"] = decision.rule_id
            if decision is None or decision.disclose:
                subject, text, html = render(n, row.get("rule_id"))
                to = single_address(n.to_address, settings.inboxes[n.recipient]["safeguarding"])
                row.update(to_address=to, subject=subject, body_text=text, body_html=html,
                           outbox_path=_write(home.outbox, n, text, html))
                built[n.kind] = built.get(n.kind, 0) + 1
            else:
                row["status"] = "withheld"
            if decision is not None:
                entries.append(dict(recipient=n.recipient, child_id=n.child_id, data_classes=";".join(sorted(classes)),
                                    decision="disclose" if decision.disclose else "withhold",
                                    rule_id=decision.rule_id, basis=decision.basis, public_interest_id=None,
                                    content_sha256=hashlib.sha256(row["body_text"].encode()).hexdigest()
                                    if decision.disclose else None))
            rows.append(row)
        ids, _ = audit.append(conn, entries, run_id) if entries else ([], None)
        entry_of = iter(ids)
        for row in rows:
            if row["child_id"] is not None:
                row["audit_entry_id"] = next(entry_of)
        columns = [c.name for c in notices.columns if c.name != "notice_id"]
        if rows:
            conn.execute(insert(notices), [{c: row.get(c) for c in columns} for row in rows])
        if conn.execute(select(notice_night.c.as_of).where(notice_night.c.as_of == as_of)).first() is None:
            conn.execute(insert(notice_night).values(as_of=as_of, run_id=run_id, built_at=now))
        head = audit.head(conn)
    record_anchor(home.audit_anchors, "notices", run_id, head)   # after the commit (see mash.sharing.anchors)
    return BuildSummary(built=built, withheld=sum(r["status"] == "withheld" for r in rows),
                        already_built=len(known), audit_entries=len(ids))
