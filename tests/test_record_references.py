"""Officers see record references, not identifiers: the review queue shows each record by a stable reference
(never a UPN, whatever the policy says of other ids), `mash review decide` takes the references back, and the
officers' database role reads the queue only by reference."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from sqlalchemy import select, text

from mash.cli import main
from mash.link.identity import assign_child_ids
from mash.link.review import constraints, references, sync_review_queue
from mash.home import config_path
from mash.sharing.policy import default_policy, load_policy
from mash.sharing.references import review_queue
from mash.store.schema import record_reference

UPN = "H801200001001"
RECORDS = [f"schools:{UPN}", "police:WY0000042", "health:RH0001", "social_care:LA77"]


def _night(engine, run: str, pairs: list[tuple[str, str, float]]) -> None:
    frame = pd.DataFrame([(l, r, 1.0, p, "review", 0.5, -0.25) for l, r, p in pairs],
                         columns=["record_id_l", "record_id_r", "match_weight", "match_probability", "decision",
                                  "w_given_name", "w_date_of_birth"])
    with engine.begin() as conn:
        sync_review_queue(conn, frame, run)


@pytest.fixture
def queued(engine):
    with engine.begin() as conn:
        assign_child_ids(conn, pd.DataFrame({"record_id": RECORDS, "person_id": RECORDS}), "n0")
    _night(engine, "n1", [(RECORDS[0], RECORDS[1], 0.55), (RECORDS[2], RECORDS[3], 0.7)])
    return engine


def test_references_are_stable_across_nights_and_new_records_take_the_next_numbers(queued):
    with queued.connect() as conn:
        first = dict(conn.execute(select(record_reference.c.record_id, record_reference.c.reference)).all())
    assert set(first) == set(RECORDS)
    assert all(UPN not in reference and "WY0000042" not in reference for reference in first.values())
    assert first[RECORDS[0]].startswith("schools-R") and first[RECORDS[1]].startswith("police-R")
    _night(queued, "n2", [(RECORDS[3], RECORDS[0], 0.6), (RECORDS[1], "health:RH0002", 0.5)])
    with queued.begin() as conn:
        again = references(conn, RECORDS + ["health:RH0002"])
    assert {r: again[r] for r in RECORDS} == first
    assert again["health:RH0002"] == f"health-R{len(RECORDS) + 1:06d}"


def test_the_review_list_never_shows_a_upn_and_shows_other_ids_as_the_policy_allows(queued, capsys):
    assert main(["review", "list"]) == 0
    listing = capsys.readouterr().out
    assert main(["review", "list", "--json"]) == 0
    as_json = capsys.readouterr().out
    for shown in (listing, as_json):
        assert UPN not in shown and "schools:" not in shown
        assert "(police id WY0000042)" in shown or '"local_id": "WY0000042"' in shown   # identity: O1 allows
    pairs = json.loads(as_json)
    assert {pair["left"]["agency"] for pair in pairs} | {pair["right"]["agency"] for pair in pairs} == {
        "schools", "police", "health", "social_care"}
    school = next(side for pair in pairs for side in (pair["left"], pair["right"]) if side["agency"] == "schools")
    assert school["local_id"] is None and school["reference"].startswith("schools-R")


def test_a_policy_that_withholds_identity_from_officers_shows_references_only(queued, tmp_path):
    raw = yaml.safe_load(config_path("sharing_policy.yaml").read_text(encoding="utf-8"))
    rule = next(r for r in raw["rules"] if r["id"] == "O1-hub-officers")
    rule["classes"] = [c for c in rule["classes"] if c != "identity"]
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    with queued.connect() as conn:
        pairs = review_queue(conn, load_policy(tmp_path / "policy.yaml"))
        default = review_queue(conn, default_policy())
    assert all(side["local_id"] is None for pair in pairs for side in (pair["left"], pair["right"]))
    assert any(side["local_id"] for pair in default for side in (pair["left"], pair["right"]))


def test_an_officer_decides_by_reference_and_the_decision_binds(queued, capsys):
    with queued.connect() as conn:
        shown = dict(conn.execute(select(record_reference.c.record_id, record_reference.c.reference)).all())
    school, police = shown[RECORDS[0]], shown[RECORDS[1]]
    assert main(["review", "decide", school, police, "--different", "--by", "A. Officer",
                 "--reason", "different dates of birth, confirmed with the school"]) == 0
    printed = capsys.readouterr().out
    assert school in printed and police in printed and UPN not in printed
    with queued.connect() as conn:
        assert constraints(conn)[1] == [tuple(sorted(RECORDS[:2]))]
    assert main(["review", "decide", "schools-R999999", police, "--same", "--by", "A. Officer", "--reason", "x"]) == 1
    assert main(["review", "decide", "H801200001999", police, "--same", "--by", "A. Officer", "--reason", "x"]) == 1
    assert "H801200001999" not in capsys.readouterr().err


def test_the_officers_view_of_the_queue_holds_references_only(queued):
    with queued.connect() as conn:
        rows = conn.execute(text("SELECT * FROM officer_review_queue")).mappings().all()
    assert len(rows) == 2 and not any("record_id" in column for column in rows[0])
    assert UPN not in json.dumps([dict(r) for r in rows], default=str)
