"""Tonight's shared view: decide, for every child known to two or more agencies, what each recipient may see, audit
every decision, and publish the view atomically.

A recipient agency sees only the children it works with itself (need to know); the hub's officers see every child
in the view. For each recipient, child and data class the child's information holds, the policy decides (default
deny) and the decision is audited. The view's tables hold each child's information once; the per-recipient SQL
views in ``sql/views/`` show a recipient only the classes decided "disclose" for it, from the current publication.
The whole publication, with its audit entries, is written in one transaction that ends by making it current, so a
reader sees last night's complete view or tonight's, never half of one.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select, update

from mash.sharing import audit
from mash.sharing.chronology import chronology
from mash.sharing.consent import consent_scopes, latest_consents
from mash.sharing.involvement import agencies_by_child, identities, involvement
from mash.sharing.policy import DEFAULT_DENY, Decision, Facts, Policy, default_policy
from mash.sharing.public_interest import all_decisions, due_for_review, in_force
from mash.sharing.significant_harm import children_at_risk
from mash.sharing.tonight import Tonight
from mash.store import bulk_insert
from mash.store.schema import (disclosure_audit, publication, shared_chronology, shared_child, shared_decision,
                               shared_involvement)

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


def _row_texts(frame: pd.DataFrame) -> pd.Series:
    """Each row as one text, missing values empty: what a fingerprint is taken over."""
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    columns = [text[c] for c in text.columns]
    return columns[0].str.cat(columns[1:], sep="\x1f") if len(frame) else pd.Series(dtype=str)


def _fingerprints(view_children: pd.DataFrame, found_involvement: pd.DataFrame,
                  found_chronology: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(child, data class) -> SHA-256 of what the class holds for the child tonight; a class the child's
    information does not hold is absent."""
    parts: dict[tuple[str, str], list[str]] = {}

    def add(child_id: str, data_class: str, text: str) -> None:
        parts.setdefault((child_id, data_class), []).append(text)
    for row in view_children.itertuples(index=False):
        for data_class, columns in IDENTITY_CLASSES.items():
            values = [getattr(row, c) for c in columns]
            if any(v not in (None, "") for v in values):
                add(row.child_id, data_class, "\x1f".join(map(str, values)))
        if row.address_protected:
            add(row.child_id, "protected_address", "protected")
    for frame in (found_involvement.assign(data_class="involvement"), found_chronology):
        texts = _row_texts(frame.drop(columns=["child_id", "data_class"]))
        for child_id, data_class, text in zip(frame["child_id"], frame["data_class"], texts):
            add(child_id, data_class, text)
    return {key: hashlib.sha256("\x1e".join(sorted(texts)).encode()).hexdigest() for key, texts in parts.items()}


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
    found_involvement = involvement(tonight, children)
    found_chronology = chronology(tonight, policy, as_of, children)
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


def _audit_changes(conn: Connection, decisions: pd.DataFrame, run_id: str) -> tuple[list[int], int, tuple[int, str]]:
    """Audit entries for the decisions that differ from the current publication's; returns every decision's entry
    id (in the order of ``decisions``), the number of new entries and the new audit head."""
    previous = {}
    query = (select(shared_decision.c.recipient, shared_decision.c.child_id, shared_decision.c.data_class,
                    shared_decision.c.audit_entry_id, disclosure_audit.c.decision, disclosure_audit.c.rule_id,
                    disclosure_audit.c.basis, disclosure_audit.c.public_interest_id,
                    disclosure_audit.c.content_sha256)
             .join(publication, publication.c.publication_id == shared_decision.c.publication_id)
             .join(disclosure_audit, disclosure_audit.c.entry_id == shared_decision.c.audit_entry_id)
             .where(publication.c.is_current.is_(True)))
    for row in conn.execute(query):
        previous[(row.recipient, row.child_id, row.data_class)] = row
    entry_ids: list[int | None] = []
    new_entries = []
    for row in decisions.itertuples(index=False):
        outcome = "disclose" if row.disclose else "withhold"
        relied_on = None if pd.isna(row.public_interest_id) else int(row.public_interest_id)
        before = previous.pop((row.recipient, row.child_id, row.data_class), None)
        if before is not None and (before.decision, before.rule_id, before.basis, before.public_interest_id,
                                   before.content_sha256) == (outcome, row.rule_id, row.basis, relied_on,
                                                              row.content_sha256):
            entry_ids.append(before.audit_entry_id)
            continue
        entry_ids.append(None)
        new_entries.append(dict(recipient=row.recipient, child_id=row.child_id, data_class=row.data_class,
                                decision=outcome, rule_id=row.rule_id, basis=row.basis,
                                public_interest_id=relied_on, content_sha256=row.content_sha256))
    # Whatever was shown last night and is not in tonight's view stops being shown: that is recorded too.
    for (recipient, child_id, data_class), before in sorted(previous.items()):
        if before.decision == "disclose":
            new_entries.append(dict(recipient=recipient, child_id=child_id, data_class=data_class,
                                    decision="withhold", rule_id=DEFAULT_DENY, basis=NO_LONGER_SHOWN,
                                    public_interest_id=None, content_sha256=None))
    ids, new_head = audit.append(conn, new_entries, run_id)
    fresh = iter(ids)
    return [entry_id if entry_id is not None else next(fresh) for entry_id in entry_ids], len(ids), new_head


def _rows(frame: pd.DataFrame, columns: list[str], publication_id: int):
    """Rows for bulk_insert: the publication id first, dates as ISO text, missing values as None."""
    values = frame[columns].astype(object).where(frame[columns].notna(), None)
    for row in values.itertuples(index=False):
        yield (publication_id, *(v.isoformat() if isinstance(v, date) else v for v in row))


def view_fingerprint(view: View) -> str:
    """SHA-256 of everything the view would show anyone: its decisions (with each class's content fingerprint)
    and which agencies know each child."""
    decisions = view.decisions.sort_values(["recipient", "child_id", "data_class"])
    digest = hashlib.sha256()
    for frame in (decisions, view.children[["child_id", "agencies"]]):
        digest.update("\x1e".join(_row_texts(frame)).encode())
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
    bulk_insert(conn, shared_decision, ["publication_id", "recipient", "child_id", "data_class", "disclose",
                                        "audit_entry_id"],
                _rows(decided.assign(disclose=decided["disclose"].astype(bool)),
                      ["recipient", "child_id", "data_class", "disclose", "audit_entry_id"], publication_id))
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
    for table in (shared_decision, shared_chronology, shared_involvement, shared_child):
        for start in range(0, len(stale), 500):
            conn.execute(delete(table).where(table.c.publication_id.in_(stale[start:start + 500])))


def publish(engine: Engine, run_id: str, as_of: date, policy: Policy | None = None) -> PublishSummary:
    """Build tonight's view from the store and publish it (the nightly DAG's `publish_shared_view`)."""
    policy = policy or default_policy()
    view, due = build_view(engine, policy, as_of)
    with engine.begin() as conn:
        publication_id, audited = write_view(conn, view, run_id, as_of)
    disclosed = int(view.decisions["disclose"].sum())
    return PublishSummary(publication_id=publication_id, children=len(view.children),
                          chronology_entries=len(view.chronology), disclosures=disclosed,
                          withheld=len(view.decisions) - disclosed, audit_entries=audited,
                          decisions_due_for_review=due)
