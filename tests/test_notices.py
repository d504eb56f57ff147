"""Notices across three generated nights: every referral from an agency gets exactly one acknowledgement and one
outcome notice, in time; a rerun sends nothing twice; every notice stays within its notice rule of the sharing
policy and is audited; delivery to a real SMTP server (aiosmtpd) receives exactly the expected messages; an SMTP
outage leaves notices queued and retried, not lost."""

from __future__ import annotations

import csv
import dataclasses
from datetime import date, datetime, time, timedelta, timezone

import pytest
import yaml
from sqlalchemy import select, update

from mash.contracts import agencies
from mash.delivery import deliver
from mash.ingest import ingest_agency
from mash.link.population import match_children
from mash.notices.outbox import build, candidates
from mash.notices.referral import FEEDBACK_AGENCIES, ack_key, outcome_key, overdue, track, tracked_since
from mash.notices.sending import requeue, send
from mash.notices.settings import default_settings
from mash.sharing.audit import verify
from mash.home import config_path
from mash.sharing.policy import default_policy, load_policy
from mash.sharing.tonight import Tonight
from mash.store.schema import disclosure_audit, feed_tables, notice
from mash.synth import generate
from tests.drops import dump
from tests.smtp import SmtpServer, free_port

NIGHT = date(2026, 11, 2)
# A longer first-night lookback than the shipped 2 working days, so that a small town has referrals to feed back.
SETTINGS = dataclasses.replace(default_settings(), first_night_lookback_working_days=15)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(children=4000, seed=11, nights=3, out=out, start=NIGHT)
    return out


def _load(n: int, synth, home, engine) -> date:
    deliver(synth / f"night-{n:02d}", home)
    for agency in agencies():
        ingest_agency(agency, home, engine)
    match_children(engine, f"night-{n}")
    return NIGHT + timedelta(days=n - 1)


def _at(night: date) -> datetime:
    return datetime.combine(night, time(3, 0), tzinfo=timezone.utc)


def _notices(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {row["idempotency_key"]: dict(row) for row in conn.execute(select(notice)).mappings()}


def _free_text(synth) -> set[str]:
    found = set()
    for path in synth.rglob("*.csv"):
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            for row in csv.DictReader(handle):
                found |= {row[c] for c in ("reason", "summary", "nfa_reason") if len(row.get(c) or "") > 12}
    return found


def test_three_nights_every_referral_fed_back_once_in_time_and_reruns_send_nothing_twice(store, home, synth):
    feedback = {"acknowledgement": 0, "outcome": 0, "in the nights": 0}
    with SmtpServer() as smtp:
        for n in (1, 2, 3):
            night = _load(n, synth, home, store)
            build(store, home, f"night-{n}", night, settings=SETTINGS)
            send(store, smtp.url, SETTINGS, now=_at(night))
            received, before = len(smtp.inbox.messages), dump(store)
            build(store, home, f"night-{n}", night, settings=SETTINGS)          # the same night again
            assert send(store, smtp.url, SETTINGS, now=_at(night) + timedelta(hours=1)).sent == 0
            assert dump(store) == before and len(smtp.inbox.messages) == received

            built = _notices(store)
            with store.connect() as conn:
                since = tracked_since(conn, night, SETTINGS)
            for r in track(Tonight(store), night, SETTINGS, since).itertuples(index=False):
                ack, outcome = built.get(ack_key(r.referral_id)), built.get(outcome_key(r.referral_id))
                if r.referrer_agency not in FEEDBACK_AGENCIES or r.decision_date is None:
                    assert ack is None and outcome is None
                    continue
                assert ack["status"] == "sent" and ack["recipient"] == r.referrer_agency
                feedback["acknowledgement"] += ack["as_of"] == night
                assert (outcome is not None) == (r.outcome_date is not None)
                if outcome is not None:
                    assert outcome["status"] == "sent"
                    feedback["outcome"] += outcome["as_of"] == night
                # Decided while the hub was running: the referrer heard in time.
                if r.decision_date >= NIGHT - timedelta(days=1):
                    feedback["in the nights"] += ack["as_of"] == night
                    assert ack["as_of"] <= r.acknowledgement_due
                    assert outcome is None or outcome["as_of"] <= r.outcome_due
            # Everything sent: overdue are only referrals social care has not decided, or concluded, in time.
            waiting = {r.referral_id for r in track(Tonight(store), night, SETTINGS, since).itertuples(index=False)
                       if r.referrer_agency in FEEDBACK_AGENCIES
                       and (r.decision_date is None and r.acknowledgement_due < night
                            or r.outcome_date is None and r.outcome_due < night)}
            listed = overdue(store, night, SETTINGS)
            assert set(listed["referral_id"]) == waiting and set(listed["status"]) <= {"not built"}
        sent = {key: row for key, row in _notices(store).items() if row["status"] == "sent"}
        keys = smtp.inbox.keys()
        assert len(keys) == len(set(keys)) and set(keys) == set(sent), "every notice sent exactly once"
        for message, to in zip(smtp.inbox.messages, smtp.inbox.recipients):
            row = sent[message["X-MASH-Notice"]]
            assert to == [row["to_address"]] and message["Subject"] == row["subject"]
            plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
            assert plain.strip() == row["body_text"].strip()
            assert message.get_body(("html",)) is not None
    assert feedback["acknowledgement"] >= 5 and feedback["outcome"] >= 3 and feedback["in the nights"] >= 1, feedback
    with store.connect() as conn:
        assert verify(conn).intact


def test_no_notice_carries_a_field_its_recipient_may_not_see(engine, home, synth):
    policy = default_policy()
    night = _load(1, synth, home, engine)
    found = candidates(engine, night, NIGHT - timedelta(days=60), SETTINGS)
    about_children = [n for n in found if n.child_id]
    assert {n.kind for n in about_children} >= {"referral_acknowledgement", "referral_outcome", "encompass",
                                                "visit_overdue"}
    for n in about_children:
        rule = next(r for r in policy.notices if r.notice == n.kind)
        classes = n.classes(policy)
        assert classes <= rule.classes and n.recipient in rule.recipients, n.key
        assert not any(policy.never(c, n.recipient) for c in classes), n.key
    build(engine, home, "night-1", night, settings=dataclasses.replace(SETTINGS,
                                                                       first_night_lookback_working_days=40))
    built = [row for row in _notices(engine).values() if row["child_id"]]
    free_text = _free_text(synth)
    assert len(free_text) > 20
    with engine.connect() as conn:
        audit = {row.entry_id: row for row in conn.execute(select(disclosure_audit))}
    for row in built:
        assert not any(value in row["body_text"] or value in row["body_html"] for value in free_text)
        entry = audit[row["audit_entry_id"]]
        assert (entry.decision, entry.rule_id, entry.child_id, entry.recipient) == (
            "disclose", row["rule_id"], row["child_id"], row["recipient"])
        rule = next(r for r in policy.notices if r.id == row["rule_id"])
        assert set(entry.data_classes.split(";")) <= rule.classes


def test_a_notice_the_policy_does_not_allow_is_withheld_and_audited_never_sent(engine, home, synth, tmp_path,
                                                                              monkeypatch):
    raw = yaml.safe_load(config_path("sharing_policy.yaml").read_text(encoding="utf-8"))
    raw["notices"] = [r for r in raw["notices"] if r["notice"] != "encompass"]
    for rule in raw["notices"]:
        if rule["notice"] == "referral_acknowledgement":
            rule["classes"].remove("involvement")      # acknowledgements name the allocated worker when there is one
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    policy = load_policy(path)
    night = _load(1, synth, home, engine)
    summary = build(engine, home, "night-1", night, policy=policy, settings=SETTINGS)
    built = _notices(engine)
    withheld = [row for row in built.values() if row["status"] == "withheld"]
    assert any(row["kind"] == "encompass" for row in withheld) and summary.withheld == len(withheld)
    assert not any(row["kind"] == "encompass" and row["status"] != "withheld" for row in built.values())
    with engine.connect() as conn:
        audit = {row.entry_id: row for row in conn.execute(select(disclosure_audit))}
    for row in withheld:
        assert row["to_address"] is None and row["body_text"] is None and row["outbox_path"] is None
        assert audit[row["audit_entry_id"]].decision == "withhold"
        assert audit[row["audit_entry_id"]].rule_id == "default-deny"
    assert not list((home.outbox / "schools").glob("encompass*"))
    assert build(engine, home, "night-1", night, policy=policy, settings=SETTINGS).audit_entries == 0
    with SmtpServer() as smtp:
        send(engine, smtp.url, SETTINGS, now=_at(night))
        assert not any(key.startswith("encompass:") for key in smtp.inbox.keys())


def test_an_smtp_outage_leaves_notices_queued_and_retried_not_lost(store, home, synth):
    night = _load(1, synth, home, store)
    build(store, home, "night-1", night, settings=SETTINGS)
    queued = {k for k, row in _notices(store).items() if row["status"] == "queued"}
    assert len(queued) > 5
    port = free_port()                               # nothing listens there: the server is down
    down = send(store, f"smtp://127.0.0.1:{port}", SETTINGS, now=_at(night))
    assert down.sent == 0 and down.failed_attempts == len(queued)
    rows = _notices(store)
    assert all(rows[k]["status"] == "queued" and rows[k]["attempts"] == 1 and rows[k]["last_error"] ==
               "ConnectionRefusedError" for k in queued)
    unsent = overdue(store, night + timedelta(days=7), SETTINGS)
    acks = {k.split(":", 1)[1] for k in queued if k.startswith("referral-ack:")}
    assert acks and acks <= set(unsent.loc[unsent["status"] == "queued", "referral_id"])
    with SmtpServer(port) as smtp:
        early = send(store, smtp.url, SETTINGS, now=_at(night) + timedelta(minutes=1))    # backoff not yet over
        assert early.sent == 0 and early.waiting == len(queued) and smtp.inbox.messages == []
        later = send(store, smtp.url, SETTINGS, now=_at(night) + timedelta(minutes=SETTINGS.first_retry_minutes))
        assert later.sent == len(queued) and sorted(smtp.inbox.keys()) == sorted(queued)
        assert send(store, smtp.url, SETTINGS, now=_at(night) + timedelta(hours=2)).sent == 0
    rows = _notices(store)
    assert all(rows[k]["status"] == "sent" and rows[k]["attempts"] == 2 and rows[k]["last_error"] is None
               for k in queued)


def test_a_notice_that_keeps_failing_is_marked_failed_after_its_last_attempt(engine, home, synth):
    night = _load(1, synth, home, engine)
    build(engine, home, "night-1", night, settings=SETTINGS)
    settings = dataclasses.replace(SETTINGS, max_attempts=2, first_retry_minutes=0)
    url = f"smtp://127.0.0.1:{free_port()}"
    assert send(engine, url, settings, now=_at(night)).gave_up == 0
    assert send(engine, url, settings, now=_at(night)).gave_up > 0
    statuses = {row["status"] for row in _notices(engine).values() if row["status"] != "withheld"}
    assert statuses == {"failed"}
    with SmtpServer() as smtp:
        assert send(engine, smtp.url, settings, now=_at(night)).sent == 0 and not smtp.inbox.messages
        first = sorted(k for k, row in _notices(engine).items() if row["status"] == "failed")[0]
        assert requeue(engine, [first]) == 1
        assert send(engine, smtp.url, settings, now=_at(night)).sent == 1 and smtp.inbox.keys() == [first]
    assert _notices(engine)[first]["attempts"] == 3


def test_an_address_field_holding_several_addresses_never_widens_who_is_told(engine, home, synth):
    night = _load(1, synth, home, engine)
    referrals = feed_tables[("social_care", "referrals")]
    with engine.begin() as conn:                     # a referrer's email field with a second address slipped in
        conn.execute(update(referrals).values(referrer_email="named.person@nhs.example.uk, someone@gmail.example"))
    build(engine, home, "night-1", night, settings=SETTINGS)
    feedback = [row for key, row in _notices(engine).items() if key.startswith("referral-")
                and row["status"] == "queued"]
    assert feedback
    assert {row["to_address"] for row in feedback} <= {inbox["safeguarding"] for inbox in SETTINGS.inboxes.values()}


def test_a_notice_that_cannot_be_addressed_fails_alone_and_the_others_are_sent(engine, home, synth):
    night = _load(1, synth, home, engine)
    build(engine, home, "night-1", night, settings=SETTINGS)
    queued = sorted(k for k, row in _notices(engine).items() if row["status"] == "queued")
    with engine.begin() as conn:                     # a header no SMTP message may carry
        conn.execute(update(notice).where(notice.c.idempotency_key == queued[0])
                     .values(to_address="a@b.example\nBcc: x@y.example"))
    with SmtpServer() as smtp:
        result = send(engine, smtp.url, SETTINGS, now=_at(night))
        assert result.sent == len(queued) - 1 and result.gave_up == 1
        assert sorted(smtp.inbox.keys()) == queued[1:]
    assert _notices(engine)[queued[0]]["status"] == "failed"
