"""A generated town for the sharing tests, reading its published shared views, and the check that every value a
recipient sees is backed by an audit entry and a policy rule."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import select, text

from mash.contracts import agencies
from mash.delivery import deliver
from mash.ingest import ingest_agency
from mash.link.population import match_children
from mash.sharing.policy import default_policy
from mash.synth import generate
from mash.store.schema import publication

RECIPIENTS = ["health", "police", "schools", "social_care", "officers"]
NIGHT = date(2026, 11, 2)


def populate_town(home, engine, out, children: int = 300, seed: int = 11) -> None:
    generate(children=children, seed=seed, nights=1, out=out, start=NIGHT)
    deliver(out / "night-01", home)
    for agency in agencies():
        ingest_agency(agency, home, engine)
    match_children(engine, "night-1")


def view(engine, recipient: str, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(f"SELECT * FROM {recipient}_shared_{name}"), conn)


def shown_classes(engine, recipient: str) -> set[tuple[str, str]]:
    """Every (child, data class) the recipient's views hold a value of."""
    shown = set()
    children = view(engine, recipient, "children")
    for row in children.itertuples():
        shown.add((row.child_id, "identity"))
        if pd.notna(row.postcode) or pd.notna(row.address):
            shown.add((row.child_id, "address"))
        if pd.notna(row.upn):
            shown.add((row.child_id, "education_identifier"))
    shown |= {(c, "involvement") for c in view(engine, recipient, "involvement")["child_id"]}
    chronology = view(engine, recipient, "chronology")
    shown |= set(zip(chronology["child_id"], chronology["data_class"]))
    return shown


def assert_every_value_is_audited_under_a_rule(engine) -> int:
    """No recipient's view holds a value without an audit entry recording its disclosure under a policy rule that
    allows that class to that recipient. Returns how many (recipient, child, class) were checked."""
    policy = default_policy()
    with engine.connect() as conn:
        current = conn.execute(select(publication.c.publication_id).where(publication.c.is_current.is_(True))).scalar()
        latest = pd.read_sql(text(
            "SELECT d.recipient, d.child_id, d.data_class, a.recipient AS entry_recipient, "
            "a.child_id AS entry_child, a.data_classes, a.decision, a.rule_id FROM disclosure_audit a "
            "JOIN shared_disclosure d ON d.audit_entry_id = a.entry_id "
            f"WHERE d.publication_id = {current}"), conn)
    audited = {(r.recipient, r.child_id, r.data_class): r for r in latest.itertuples()}
    checked = 0
    for recipient in RECIPIENTS:
        for child_id, data_class in shown_classes(engine, recipient):
            entry = audited.get((recipient, child_id, data_class))
            assert entry is not None, f"{recipient} sees {data_class} of {child_id} without an audit entry"
            assert (entry.entry_recipient, entry.entry_child, entry.decision) == (recipient, child_id, "disclose")
            assert data_class in entry.data_classes.split(";")
            rule = policy.rule(entry.rule_id)
            assert rule.when != "never" and recipient in rule.recipients and data_class in rule.classes
            checked += 1
    return checked
