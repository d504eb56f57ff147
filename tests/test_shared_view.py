"""The shared view and chronology on a generated town: what each recipient sees is exactly what the policy allows,
every value shown is backed by an audit entry and a rule, consent and public-interest decisions take effect at the
next run, protected addresses and UPNs never leave, the audit detects tampering, and exports match the views."""

from __future__ import annotations

import csv
from datetime import timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select, text, update

from mash.contracts import sensitive_codes
from mash.home import Home
from mash.sharing.audit import verify
from mash.sharing.export import export_view
from mash.sharing.policy import default_policy
from mash.sharing.public_interest import DecisionError, listing, record_decision
from mash.sharing.publication import publish
from mash.store import migrate
from mash.store.schema import disclosure_audit, feed_tables
from tests.drops import dump
from tests.tamper import drop_audit_guard
from tests.views import NIGHT, RECIPIENTS, assert_every_value_is_audited_under_a_rule, populate_town, view

CONSENTS = feed_tables[("consent", "consents")]
SENSITIVE = set(sensitive_codes("health_event_type"))


@pytest.fixture
def town(store, home, tmp_path):
    populate_town(home, store, tmp_path / "synth")
    return store


def test_each_recipient_sees_what_the_policy_allows_and_every_value_is_audited(town, tmp_path):
    summary = publish(town, "night-1", NIGHT)
    assert summary.children > 50 and summary.disclosures > 0 and summary.withheld > 0
    assert assert_every_value_is_audited_under_a_rule(town) > 100
    for recipient in ("health", "police", "social_care", "officers"):
        assert view(town, recipient, "children")["upn"].isna().all(), f"a UPN reached {recipient}"
    assert view(town, "schools", "children")["upn"].notna().any()
    officers = view(town, "officers", "chronology")
    assert set(officers["data_class"]) <= {"social_care_status", "consent_record"}
    assert view(town, "officers", "children")["postcode"].isna().all()
    # A recipient agency sees only children it works with itself.
    with town.connect() as conn:
        known_by = dict(conn.execute(text("SELECT c.child_id, c.agencies FROM shared_child c JOIN publication p "
                                          "ON p.publication_id = c.publication_id AND p.is_current")).all())
    for recipient in ("health", "police", "schools", "social_care"):
        children = view(town, recipient, "children")
        assert children["child_id"].map(lambda c: recipient in known_by[c].split(";")).all()
        assert set(children["agencies"].dropna()) <= set(known_by.values())     # shown with involvement only
    assert verify(town.connect()).intact


def test_no_free_text_reaches_anyview(town, tmp_path):
    publish(town, "night-1", NIGHT)
    free_text = set()
    for path in (tmp_path / "synth" / "night-01").rglob("*.csv"):
        for column in ("reason", "summary", "nfa_reason"):
            with path.open(encoding="utf-8", errors="replace") as handle:
                free_text |= {row[column] for row in csv.DictReader(handle) if len(row.get(column) or "") > 12}
    assert len(free_text) > 20
    for recipient in RECIPIENTS:
        descriptions = " | ".join(view(town, recipient, "chronology")["description"])
        assert not any(value in descriptions for value in free_text)


def _sensitive_children(engine) -> set[str]:
    with engine.connect() as conn:
        return set(pd.read_sql(text("SELECT DISTINCT child_id FROM shared_chronology "
                                    "WHERE data_class = 'sensitive_health'"), conn)["child_id"])


def test_sensitive_health_services_stay_hidden_without_consent_or_significant_harm(town):
    publish(town, "night-1", NIGHT)
    assert _sensitive_children(town), "the generated town should have sensitive service contacts"
    for recipient in RECIPIENTS:
        chronology = view(town, recipient, "chronology")
        sensitive = chronology[chronology["data_class"] == "sensitive_health"]
        assert recipient in {"health", "social_care"} or sensitive.empty
        with town.connect() as conn:
            rules = {row.rule_id for row in conn.execute(
                select(disclosure_audit.c.rule_id).where(disclosure_audit.c.recipient == recipient,
                                                         disclosure_audit.c.data_classes.contains("sensitive_health"),
                                                         disclosure_audit.c.decision == "disclose"))}
        assert rules <= {"H3-significant-harm-sensitive-health", "C3-consent-sensitive-health"}
    # Consent that names sensitive health services opens them to health and social care, not to the others.
    with town.begin() as conn:
        conn.execute(update(CONSENTS).values(state="GIVEN", scope="ALL;SENSITIVE_HEALTH", withdrawn_date=None))
    publish(town, "night-2", NIGHT + timedelta(days=1))
    shown = {r: view(town, r, "chronology") for r in RECIPIENTS}
    assert (shown["health"]["data_class"] == "sensitive_health").any() or \
        (shown["social_care"]["data_class"] == "sensitive_health").any()
    for recipient in ("police", "schools", "officers"):
        assert not (shown[recipient]["data_class"] == "sensitive_health").any()


def test_no_involvement_names_a_sensitive_service_s_practitioner(town, tmp_path):
    with town.begin() as conn:
        conn.execute(update(CONSENTS).values(state="GIVEN", scope="ALL", withdrawn_date=None))
    publish(town, "night-1", NIGHT)
    events = pd.concat(pd.read_csv(path, dtype=str, keep_default_na=False)
                       for path in (tmp_path / "synth" / "night-01" / "health").glob("*-events.csv"))
    sensitive_only = set(events.loc[events["event_type"].isin(SENSITIVE), "practitioner_email"]) - set(
        events.loc[~events["event_type"].isin(SENSITIVE), "practitioner_email"])
    assert sensitive_only
    for recipient in RECIPIENTS:
        shown = set(view(town, recipient, "involvement")["practitioner_email"].dropna())
        assert not shown & sensitive_only, recipient


def test_protected_addresses_never_leave(town):
    children = feed_tables[("social_care", "children")]
    with town.begin() as conn:       # every child social care knows lives at a refuge, and all consent to sharing
        conn.execute(update(children).values(address_protected=True))
        conn.execute(update(CONSENTS).values(state="GIVEN", scope="ALL", withdrawn_date=None))
        mapping = pd.read_sql(text("SELECT record_id, child_id FROM child_record"), conn)
    child_ids = set(mapping.loc[mapping["record_id"].str.startswith("social_care:"), "child_id"])
    publish(town, "night-1", NIGHT)
    for recipient in RECIPIENTS:
        shown = view(town, recipient, "children")
        at_refuge = shown[shown["child_id"].isin(child_ids)]
        assert at_refuge["postcode"].isna().all() and at_refuge["address"].isna().all()
    with town.connect() as conn:
        raw = pd.read_sql(text("SELECT child_id, postcode, address FROM shared_child"), conn)
        withheld = conn.execute(select(disclosure_audit.c.child_id).where(
            disclosure_audit.c.rule_id == "N1-protected-address", disclosure_audit.c.decision == "withhold")).all()
    assert raw[raw["child_id"].isin(child_ids)][["postcode", "address"]].isna().all().all()  # not even stored
    assert withheld, "the decision not to share a protected address is audited"
    # Nor anything that points to where the child lives: their school, GP practice, clinic or hospital site.
    with town.connect() as conn:
        involved = pd.read_sql(text("SELECT * FROM shared_involvement"), conn)
        health = pd.read_sql(text("SELECT child_id, description FROM shared_chronology "
                                  "WHERE event = 'health contact'"), conn)
    local = involved[involved["child_id"].isin(child_ids) & involved["agency"].isin(["health", "schools"])]
    assert len(local) > 0
    assert local[["organisation", "practitioner_name", "practitioner_email", "practitioner_phone"]].isna().all().all()
    assert not health[health["child_id"].isin(child_ids)]["description"].str.contains(" at ").any()
    assert health[~health["child_id"].isin(child_ids)]["description"].str.contains(" at ").any()


def _consent_only_child(engine) -> str:
    """A child police and schools both see only because of consent."""
    with engine.connect() as conn:
        rows = pd.read_sql(text("SELECT child_id, recipient, rule_id FROM disclosure_audit "
                                "WHERE decision = 'disclose' AND data_classes LIKE '%identity%'"), conn)
    by_child = rows[rows["recipient"] != "officers"].groupby("child_id")["rule_id"].agg(set)
    return next(child for child, rules in by_child.items() if rules == {"C1-consent"})


def test_consent_withdrawn_between_two_nights_removes_the_data_on_the_second(town):
    with town.begin() as conn:                            # everyone consents, so some children are shared by consent
        conn.execute(update(CONSENTS).values(state="GIVEN", scope="EDUCATION; ALL", withdrawn_date=None))
    publish(town, "night-1", NIGHT)
    for recipient in RECIPIENTS:                      # with everyone consenting, every recipient sees someone
        assert len(view(town, recipient, "children")) > 0, recipient
    child_id = _consent_only_child(town)
    seen_by = [r for r in RECIPIENTS[:4] if child_id in set(view(town, r, "children")["child_id"])]
    assert seen_by
    records = pd.read_sql(text("SELECT record_id FROM child_record WHERE child_id = :c"), town.connect(),
                          params={"c": child_id})["record_id"]
    consent_ids = [r.split(":", 1)[1] for r in records if r.startswith("consent:")]
    with town.begin() as conn:
        conn.execute(update(CONSENTS).where(CONSENTS.c.consent_id.in_(consent_ids))
                     .values(withdrawn_date=NIGHT + timedelta(days=1)))
    publish(town, "night-2", NIGHT + timedelta(days=1))
    for recipient in seen_by:
        assert child_id not in set(view(town, recipient, "children")["child_id"])
        assert child_id not in set(view(town, recipient, "chronology")["child_id"])
    with town.connect() as conn:
        latest = conn.execute(select(disclosure_audit.c.decision, disclosure_audit.c.rule_id).where(
            disclosure_audit.c.child_id == child_id, disclosure_audit.c.recipient == seen_by[0],
            disclosure_audit.c.data_classes.contains("identity")).order_by(disclosure_audit.c.entry_id.desc())).first()
    assert tuple(latest) == ("withhold", "default-deny")
    assert verify(town.connect()).intact


def test_a_public_interest_decision_shares_until_its_review_date(town):
    publish(town, "night-1", NIGHT)
    with town.connect() as conn:
        denied = pd.read_sql(text("SELECT child_id FROM disclosure_audit WHERE recipient = 'police' "
                                  "AND data_classes LIKE '%identity%' AND decision = 'withhold'"), conn)["child_id"]
    child_id = denied.iloc[0]
    policy = default_policy()
    with town.begin() as conn:
        with pytest.raises(DecisionError, match="approved by someone other"):
            record_decision(conn, policy, child_id=child_id, data_classes=["identity"], recipients=["police"],
                            lawful_basis="Art 6(1)(e)", rationale="r", decided_by="Ann", approved_by="ann",
                            review_date=NIGHT + timedelta(days=7), today=NIGHT)
        with pytest.raises(DecisionError, match="never shared"):
            record_decision(conn, policy, child_id=child_id, data_classes=["education_identifier"],
                            recipients=["police"], lawful_basis="b", rationale="r", decided_by="Ann",
                            approved_by="Bob", review_date=NIGHT + timedelta(days=7), today=NIGHT)
        decision_id = record_decision(
            conn, policy, child_id=child_id, data_classes=["identity", "police_incidents"], recipients=["police"],
            lawful_basis="UK GDPR Art 6(1)(e); DPA 2018 Sch 1 para 18", rationale="risk of serious harm",
            decided_by="Ann Officer", approved_by="Bob Manager", review_date=NIGHT + timedelta(days=7), today=NIGHT)
    publish(town, "night-2", NIGHT + timedelta(days=1))
    assert child_id in set(view(town, "police", "children")["child_id"])
    with town.connect() as conn:
        relied = conn.execute(select(disclosure_audit.c.rule_id, disclosure_audit.c.public_interest_id).where(
            disclosure_audit.c.child_id == child_id, disclosure_audit.c.recipient == "police",
            disclosure_audit.c.data_classes.contains("identity")).order_by(disclosure_audit.c.entry_id.desc())).first()
    assert tuple(relied) == ("P1-public-interest", decision_id)
    after_review = NIGHT + timedelta(days=8)
    summary = publish(town, "night-9", after_review)
    assert child_id not in set(view(town, "police", "children")["child_id"])
    assert summary.decisions_due_for_review == 1
    with town.connect() as conn:
        assert [d["state"] for d in listing(conn, after_review)] == ["due for review"]


@pytest.mark.parametrize("tamper,expected", [
    ("edit", "entry 5: its content does not match its hash (edited)"),
    ("delete", "entries 5 to 5 are missing"),
    ("delete newest", "recorded as the head by a publication but missing (deleted)"),
])
def test_the_audit_chain_detects_an_edited_or_deleted_entry(town, tamper, expected):
    publish(town, "night-1", NIGHT)
    with town.connect() as conn:
        intact = verify(conn)
        last = conn.execute(select(disclosure_audit.c.entry_id).order_by(disclosure_audit.c.entry_id.desc())).scalar()
    assert intact.intact and intact.entries == last > 10
    with town.begin() as conn:
        drop_audit_guard(conn)
        if tamper == "edit":
            conn.execute(update(disclosure_audit).where(disclosure_audit.c.entry_id == 5).values(rule_id="O1-hub-officers-edited"))
        else:
            conn.execute(disclosure_audit.delete().where(
                disclosure_audit.c.entry_id == (5 if tamper == "delete" else last)))
    with town.connect() as conn:
        problems = verify(conn).problems
    assert expected in " | ".join(problems)


def test_a_rerun_of_the_same_night_changes_nothing_and_exports_match_the_views(town, tmp_path):
    publish(town, "night-1", NIGHT)
    before = dump(town)
    publish(town, "night-1", NIGHT)
    assert dump(town) == before
    summary = export_view(town, "schools", RECIPIENTS, tmp_path / "out")
    exported = pd.read_csv(tmp_path / "out" / "chronology.csv", dtype=str)
    assert len(exported) == len(view(town, "schools", "chronology")) == summary["rows"]["chronology"] > 0
    involvement = pd.read_csv(tmp_path / "out" / "involvement.csv", dtype=str)
    assert "open_episodes" in involvement.columns
    assert (tmp_path / "out" / "children.csv").stat().st_mode & 0o077 == 0


def test_a_store_where_no_child_is_known_to_two_agencies_publishes_an_empty_view(store):
    summary = publish(store, "night-1", NIGHT)
    assert (summary.children, summary.disclosures, summary.audit_entries) == (0, 0, 0)
    assert all(len(view(store, recipient, "children")) == 0 for recipient in RECIPIENTS)
    assert verify(store.connect()).intact


def test_readers_see_last_night_s_view_until_tonight_s_is_complete(town):
    from mash.sharing.policy import default_policy
    from mash.sharing.publication import build_view, write_view
    first = publish(town, "night-1", NIGHT).publication_id
    with town.begin() as conn:                      # something changes, so tonight's view differs
        conn.execute(update(CONSENTS).values(state="GIVEN", scope="ALL", withdrawn_date=None))
    tonight, _ = build_view(town, default_policy(), NIGHT + timedelta(days=1))

    def readers_see() -> set[int]:
        with town.connect() as reader:
            return {row[0] for name in ("children", "involvement", "chronology")
                    for row in reader.execute(text(f"SELECT DISTINCT publication_id FROM officers_shared_{name}"))}
    with town.begin() as writer:
        second, _ = write_view(writer, tonight, "night-2", NIGHT + timedelta(days=1))
        assert readers_see() == {first}, "a reader saw part of a publication still being written"
    assert second != first and readers_see() == {second}


@pytest.fixture(scope="module")
def shared_town(tmp_path_factory):
    root = tmp_path_factory.mktemp("property")
    home = Home(root / "home").ensure()
    engine = migrate(home.db_url())
    populate_town(home, engine, root / "synth", children=200, seed=5)
    with engine.connect() as conn:
        consent_ids = [row[0] for row in conn.execute(select(CONSENTS.c.consent_id))]
        children = [row[0] for row in conn.execute(text("SELECT child_id FROM child WHERE retired_into IS NULL"))]
    return engine, consent_ids, children


SCOPES = st.lists(st.sampled_from(["ALL", "HEALTH", "POLICE", "EDUCATION", "SOCIAL_CARE", "SENSITIVE_HEALTH"]),
                  min_size=1, max_size=3, unique=True)
STATES = st.sampled_from(["GIVEN", "REFUSED", "WITHDRAWN", "NOT_SOUGHT_UNSAFE", "NOT_SOUGHT_STATUTORY",
                          "NOT_RECORDED"])
CLASSES = ["identity", "address", "involvement", "police_incidents", "health_events", "sensitive_health",
           "school_attendance", "child_protection_plan", "social_care_status"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(consents=st.lists(st.tuples(STATES, SCOPES), min_size=1, max_size=40), night=st.integers(0, 60),
       decisions=st.lists(st.tuples(st.integers(0, 10**6), st.lists(st.sampled_from(CLASSES), min_size=1,
                                                                    unique=True),
                                    st.lists(st.sampled_from(["health", "police", "schools", "social_care"]),
                                             min_size=1, unique=True), st.integers(1, 30)), max_size=4))
def test_no_view_ever_holds_a_value_without_an_audit_entry_and_a_rule(shared_town, consents, night, decisions):
    engine, consent_ids, children = shared_town
    as_of = NIGHT + timedelta(days=night)
    with engine.begin() as conn:
        for consent_id, (state, scopes) in zip(consent_ids, consents):
            conn.execute(update(CONSENTS).where(CONSENTS.c.consent_id == consent_id)
                         .values(state=state, scope=";".join(scopes), withdrawn_date=None))
        for pick, classes, recipients, days in decisions:
            record_decision(conn, default_policy(), child_id=children[pick % len(children)], data_classes=classes,
                            recipients=recipients, lawful_basis="UK GDPR Art 6(1)(e)", rationale="property test",
                            decided_by="Ann", approved_by="Bob", review_date=as_of + timedelta(days=days),
                            today=as_of)
    publish(engine, f"night-{night}", as_of)
    assert_every_value_is_audited_under_a_rule(engine)
    assert verify(engine.connect()).intact
