"""Tonight's shared view: decide, for every child known to two or more agencies, what each recipient may see, audit
every decision, and publish the view atomically.

A recipient agency sees only the children it works with itself (need to know); the hub's officers see every child
in the view. For each recipient, child and data class the child's information holds, the policy decides (default
deny) and the decision is audited. The view's tables hold each child's information once; ``shared_disclosure`` lists
what each recipient may see, and the per-recipient SQL views in ``mash/store/sql/views/`` show a recipient only that, from the
current publication. ``publication_entry`` lists every audit entry in force, to disclose or not.
The whole publication, with its audit entries, is written in one transaction that ends by making it current, so a
reader sees last night's complete view or tonight's, never half of one.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from mash.sharing import audit
from mash.sharing.anchors import record as record_anchor
from mash.sharing.chronology import chronology
from mash.sharing.consent import consent_scopes, latest_consents
from mash.sharing.involvement import agencies_by_child, identities, involvement
from mash.sharing.policy import DEFAULT_DENY, Decision, Facts, Policy, default_policy
from mash.sharing.public_interest import all_decisions, due_for_review, in_force
from mash.sharing.significant_harm import children_at_risk
from mash.sharing.tonight import Tonight
from mash.store import bulk_insert
from mash.store.schema import (disclosure_audit, publication, publication_entry, shared_chronology, shared_child,
                               shared_disclosure, shared_involvement)

IDENTITY_CLASSES = {"identity": ["given_name", "family_name", "date_of_birth", "sex", "nhs_number"],
                    "address": ["postcode", "address"], "education_identifier": ["upn"]}
NO_LONGER_SHOWN = "No longer in the shared view"


@dataclass(frozen=True)
class PublishSummary:
    """Counts only: safe for logs and XCom."""
    publication_id: int
    children: int
    chronology_entries: int
    disclosures: int
    withheld: int
    audit_entries: int
    decisions_due_for_review: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class View:
    """Tonight's view before it is written: the content, and a decision for every recipient, child and class."""
    children: pd.DataFrame          # involvement.IDENTITY_COLUMNS
    involvement: pd.DataFrame       # involvement.INVOLVEMENT_COLUMNS
    chronology: pd.DataFrame        # chronology.COLUMNS
    decisions: pd.DataFrame         # recipient, child_id, data_class, disclose, rule_id, basis, public_interest_id,
                                    # content_sha256


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's values (pandas' stable row hashing)."""
    return pd.util.hash_pandas_object(frame.astype(object), index=False).to_numpy()


def _fingerprints(view_children: pd.DataFrame, found_involvement: pd.DataFrame,
                  found_chronology: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(child, data class) -> a SHA-256 fingerprint of what the class holds for the child tonight, independent of
    row order; a class the child's information does not hold is absent."""
    parts = []
    for data_class, columns in IDENTITY_CLASSES.items():
        held = view_children[view_children[columns].notna().any(axis=1)]
        parts.append(pd.DataFrame({"child_id": held["child_id"], "data_class": data_class,
                                   "hash": _row_hashes(held[columns])}))
    protected = view_children[view_children["address_protected"].astype(bool)]
    parts.append(pd.DataFrame({"child_id": protected["child_id"], "data_class": "protected_address",
                               "hash": np.uint64(1)}))
    known = view_children[["child_id", "agencies"]]            # which agencies know the child is involvement too
    parts.append(pd.DataFrame({"child_id": known["child_id"], "data_class": "involvement",
                               "hash": _row_hashes(known[["agencies"]])}))
    for frame in (found_involvement.assign(data_class="involvement"), found_chronology):
        parts.append(pd.DataFrame({"child_id": frame["child_id"], "data_class": frame["data_class"],
                                   "hash": _row_hashes(frame.drop(columns=["child_id", "data_class"]))}))
    parts = [p for p in parts if len(p)]
    if not parts:                                  # nobody is known to two agencies (yet)
        return {}
    rows = pd.concat(parts, ignore_index=True)
    hashes = rows["hash"].to_numpy(dtype=np.uint64)
    rows["low"], rows["high"] = (hashes & 0xFFFFFFFF).astype(np.int64), (hashes >> 32).astype(np.int64)
    sums = rows.groupby(["child_id", "data_class"], sort=False).agg(low=("low", "sum"), high=("high", "sum"),
                                                                    rows=("low", "size"))
    return {key: hashlib.sha256(f"{n}:{low}:{high}".encode()).hexdigest()
            for key, low, high, n in zip(sums.index, sums["low"], sums["high"], sums["rows"])}


def decide_view(policy: Policy, agencies: dict[str, list[str]], facts: dict[str, Facts],
                fingerprints: dict[tuple[str, str], str], public_interest_ids: dict[tuple[str, str, str], int]
                ) -> pd.DataFrame:
    """A decision for every recipient that may know the child, every child and every class the child's information
    holds. ``public_interest_ids`` maps (child, class, recipient) to the decision relied on."""
    classes_of: dict[str, list[str]] = {}
    for child_id, data_class in fingerprints:
        classes_of.setdefault(child_id, []).append(data_class)
    agency_recipients = {agency: name for name, agency in policy.recipients.items() if agency}
    hub_recipients = [name for name, agency in policy.recipients.items() if agency is None]
    cache: dict[tuple[str, str, Facts], Decision] = {}
    rows = []
    for child_id, known_by in agencies.items():
        child_facts = facts.get(child_id, Facts())
        recipients = [agency_recipients[a] for a in known_by if a in agency_recipients] + hub_recipients
        for recipient in recipients:
            for data_class in sorted(classes_of.get(child_id, [])):
                key = (recipient, data_class, child_facts)
                decision = cache.get(key) or cache.setdefault(key, policy.decide(recipient, data_class, child_facts))
                relied_on = public_interest_ids.get((child_id, data_class, recipient)) \
                    if decision.disclose and policy.rule(decision.rule_id).when == "public_interest" else None
                rows.append((recipient, child_id, data_class, decision.disclose, decision.rule_id, decision.basis,
                             relied_on, fingerprints[(child_id, data_class)]))
    return pd.DataFrame(rows, columns=["recipient", "child_id", "data_class", "disclose", "rule_id", "basis",
                                       "public_interest_id", "content_sha256"])


def build_view(engine: Engine, policy: Policy, as_of: date) -> tuple[View, int]:
    """Tonight's view from the store; also returns the number of public-interest decisions due for review."""
    tonight = Tonight(engine)
    known = {c: a for c, a in agencies_by_child(tonight).items() if len(a) >= 2}
    children = set(known)
    view_children = identities(tonight, known)
    protected = set(view_children.loc[view_children["address_protected"].astype(bool), "child_id"])
    found_involvement = involvement(tonight, children, protected)
    found_chronology = chronology(tonight, policy, as_of, children, protected)
    scopes = consent_scopes(latest_consents(tonight), as_of)
    at_risk = children_at_risk(tonight, as_of)
    with engine.connect() as conn:
        found = all_decisions(conn)
    live = in_force(found, as_of)
    public_interest: dict[str, set[tuple[str, str]]] = {}
    relied_on: dict[tuple[str, str, str], int] = {}
    for decision in live:
        for data_class in decision.data_classes:
            for recipient in decision.recipients:
                public_interest.setdefault(decision.child_id, set()).add((data_class, recipient))
                relied_on[(decision.child_id, data_class, recipient)] = decision.decision_id
    facts = {child_id: Facts(consent_scopes=scopes.get(child_id, frozenset()), significant_harm=child_id in at_risk,
                             public_interest=frozenset(public_interest.get(child_id, ())))
             for child_id in children}
    fingerprints = _fingerprints(view_children, found_involvement, found_chronology)
    decisions = decide_view(policy, known, facts, fingerprints, relied_on)
    return View(view_children, found_involvement, found_chronology, decisions), len(due_for_review(found, as_of))


ENTRY_FIELDS = ["recipient", "child_id", "data_classes", "decision", "rule_id", "basis", "public_interest_id",
                "content_sha256"]


def _entries(decisions: pd.DataFrame) -> tuple[list[tuple], list[int]]:
    """Tonight's decisions as audit entries: one per recipient and child for each distinct decision (outcome, rule,
    basis, public-interest decision), naming its classes, with a fingerprint of their content. Returns the entries
    (tuples of :data:`ENTRY_FIELDS`) and, for each decision in order, the number of its entry."""
    order = decisions.sort_values(["recipient", "child_id", "disclose", "rule_id", "data_class"], kind="stable").index
    columns = {name: decisions[name].to_numpy(dtype=object)[order].tolist()
               for name in ["recipient", "child_id", "disclose", "rule_id", "basis", "public_interest_id",
                            "data_class", "content_sha256"]}
    entries: list[tuple] = []
    entry_of = [0] * len(decisions)
    group, classes, contents = None, [], []

    def close() -> None:
        if group is not None:
            recipient, child_id, disclose, rule_id, basis, relied_on = group
            entries.append((recipient, child_id, ";".join(classes), "disclose" if disclose else "withhold", rule_id,
                            basis, relied_on, hashlib.sha256("".join(contents).encode()).hexdigest()))
    for position, values in zip(order, zip(*columns.values())):
        recipient, child_id, disclose, rule_id, basis, relied_on, data_class, content = values
        relied_on = None if relied_on is None or relied_on != relied_on else int(relied_on)
        key = (recipient, child_id, bool(disclose), rule_id, basis, relied_on)
        if key != group:
            close()
            group, classes, contents = key, [], []
        classes.append(data_class)
        contents.append(content)
        entry_of[position] = len(entries)
    close()
    return entries, entry_of


def _audit_changes(conn: Connection, decisions: pd.DataFrame, run_id: str) -> tuple[list[int], int, tuple[int, str]]:
    """Audit entries for tonight's decisions that differ from those in force in the current publication; returns
    every decision's entry id (in the order of ``decisions``), the number of new entries and the new audit head."""
    fields = ENTRY_FIELDS
    in_force = (select(disclosure_audit.c.entry_id, *(disclosure_audit.c[f] for f in fields))
                .where(disclosure_audit.c.entry_id.in_(
                    select(publication_entry.c.entry_id)
                    .join(publication, publication.c.publication_id == publication_entry.c.publication_id)
                    .where(publication.c.is_current.is_(True)))))
    previous = {tuple(row[1:]): row[0] for row in conn.execute(in_force)}
    tonight, entry_of = _entries(decisions)
    reused = {signature: previous.pop(signature) for signature in tonight if signature in previous}
    new = [dict(zip(fields, signature)) for signature in tonight if signature not in reused]
    # Whatever was shown and is not in tonight's view at all stops being shown: that is recorded too.
    still = set(zip(decisions["recipient"], decisions["child_id"], decisions["data_class"]))
    for recipient, child_id, classes, decision, *_ in sorted(previous):
        gone = [c for c in classes.split(";") if (recipient, child_id, c) not in still]
        if decision == "disclose" and gone:
            new.append(dict(recipient=recipient, child_id=child_id, data_classes=";".join(gone), decision="withhold",
                            rule_id=DEFAULT_DENY, basis=NO_LONGER_SHOWN, public_interest_id=None,
                            content_sha256=None))
    ids, new_head = audit.append(conn, new, run_id)
    fresh = dict(zip((tuple(e[f] for f in fields) for e in new), ids))
    entry_ids = [reused.get(signature) or fresh[signature] for signature in tonight]
    return [entry_ids[n] for n in entry_of], len(ids), new_head


def _rows(frame: pd.DataFrame, columns: list[str], publication_id: int):
    """Rows for bulk_insert: the publication id first, then ``columns``; dates as ISO text, missing values None."""
    values = []
    for column in columns:
        cells = frame[column].to_numpy(dtype=object, copy=True)
        cells[pd.isna(cells)] = None
        dates = [isinstance(v, date) for v in cells[:1000]]
        values.append([v if v is None else v.isoformat() for v in cells] if any(dates) else cells.tolist())
    return zip(itertools.repeat(publication_id), *values)


def view_fingerprint(view: View) -> str:
    """SHA-256 of everything the view would show anyone: its decisions (with each class's content fingerprint)
    and which agencies know each child."""
    decisions = view.decisions.sort_values(["recipient", "child_id", "data_class"])
    digest = hashlib.sha256(_row_hashes(decisions).tobytes())
    digest.update(_row_hashes(view.children[["child_id", "agencies"]].sort_values("child_id")).tobytes())
    return digest.hexdigest()


def _unchanged(conn: Connection, fingerprint: str) -> int | None:
    """The current publication's id if it is this very view."""
    current = conn.execute(select(publication.c.publication_id, publication.c.view_sha256)
                           .where(publication.c.is_current.is_(True))).first()
    return current.publication_id if current is not None and current.view_sha256 == fingerprint else None


def write_view(conn: Connection, view: View, run_id: str, as_of: date) -> tuple[int, int]:
    """Write ``view`` as a new publication, audit its decisions, and make it current (inside ``conn``'s
    transaction, which the caller commits). A view identical to the current publication is not written again:
    a rerun changes nothing. Returns the current publication's id and the number of audit entries written."""
    fingerprint = view_fingerprint(view)
    unchanged = _unchanged(conn, fingerprint)
    if unchanged:
        return unchanged, 0
    now = datetime.now(timezone.utc)
    publication_id = conn.execute(insert(publication).values(
        run_id=run_id, as_of=as_of, published_at=now, is_current=False, children=len(view.children),
        view_sha256=fingerprint)).inserted_primary_key[0]
    entry_ids, audited, (head_id, head_hash) = _audit_changes(conn, view.decisions, run_id)
    child_columns = [c.name for c in shared_child.columns if c.name != "publication_id"]
    bulk_insert(conn, shared_child, ["publication_id", *child_columns], _rows(view.children, child_columns,
                                                                             publication_id))
    involvement_columns = [c.name for c in shared_involvement.columns if c.name != "publication_id"]
    bulk_insert(conn, shared_involvement, ["publication_id", *involvement_columns],
                _rows(view.involvement, involvement_columns, publication_id))
    entries = view.chronology.assign(entry=view.chronology.groupby("child_id").cumcount() + 1)
    chronology_columns = [c.name for c in shared_chronology.columns if c.name != "publication_id"]
    bulk_insert(conn, shared_chronology, ["publication_id", *chronology_columns],
                _rows(entries, chronology_columns, publication_id))
    decided = view.decisions.assign(audit_entry_id=entry_ids)
    disclosed = decided[decided["disclose"].astype(bool)]
    bulk_insert(conn, shared_disclosure, ["publication_id", "recipient", "child_id", "data_class", "audit_entry_id"],
                _rows(disclosed, ["recipient", "child_id", "data_class", "audit_entry_id"], publication_id))
    bulk_insert(conn, publication_entry, ["publication_id", "entry_id"],
                ((publication_id, entry_id) for entry_id in sorted(set(entry_ids))))
    conn.execute(update(publication).where(publication.c.publication_id == publication_id)
                 .values(audit_head_id=head_id or None, audit_head_hash=head_hash if head_id else None))
    conn.execute(update(publication).values(is_current=publication.c.publication_id == publication_id))
    _prune(conn, publication_id)
    return publication_id, audited


def _prune(conn: Connection, current_id: int) -> None:
    """Drop the content of publications before the previous one; their publication rows (and audit anchors) stay."""
    older = select(publication.c.publication_id).where(publication.c.publication_id < current_id) \
        .order_by(publication.c.publication_id.desc()).offset(1)
    stale = [row[0] for row in conn.execute(older)]
    for table in (shared_disclosure, publication_entry, shared_chronology, shared_involvement, shared_child):
        for start in range(0, len(stale), 500):
            conn.execute(delete(table).where(table.c.publication_id.in_(stale[start:start + 500])))


def publish(engine: Engine, run_id: str, as_of: date, policy: Policy | None = None,
            anchors: Path | None = None) -> PublishSummary:
    """Build tonight's view from the store and publish it (the nightly DAG's `publish_shared_view`); then append
    the audit's head to the file ``anchors`` (MASH_HOME/audit/anchors.jsonl: see :mod:`mash.sharing.anchors`)."""
    policy = policy or default_policy()
    view, due = build_view(engine, policy, as_of)
    with engine.begin() as conn:
        before = conn.execute(select(func.max(publication.c.publication_id))).scalar()
        publication_id, audited = write_view(conn, view, run_id, as_of)
        head = audit.head(conn)
    if anchors is not None:         # after the commit: an anchor never names a head the store does not hold
        record_anchor(anchors, "publication", run_id, head, publication_id if publication_id != before else None)
    disclosed = int(view.decisions["disclose"].sum())
    return PublishSummary(publication_id=publication_id, children=len(view.children),
                          chronology_entries=len(view.chronology), disclosures=disclosed,
                          withheld=len(view.decisions) - disclosed, audit_entries=audited,
                          decisions_due_for_review=due)
