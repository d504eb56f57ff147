"""The review queue: uncertain pairs are queued with their weights; officers' decisions become constraints."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from mash.link.review import ReviewError, constraints, decide, open_reviews, sync_review_queue
from mash.store.schema import link_decision, link_review


def _pairs(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["record_id_l", "record_id_r", "match_weight", "match_probability",
                                       "decision", "w_given_name", "w_date_of_birth"])


def _known(engine, *records: str) -> None:
    """Give the records hub child ids, as a night's matching would."""
    from mash.link.identity import assign_child_ids
    with engine.begin() as conn:
        assign_child_ids(conn, pd.DataFrame({"record_id": records, "person_id": records}), "n0")


def test_review_pairs_are_queued_once_with_their_weights_and_decisions_bind(engine):
    _known(engine, "police:9", "health:1", "health:5", "social_care:5")
    night1 = _pairs(("police:9", "health:1", 2.0, 0.8, "review", -1.5, 3.25),
                    ("health:2", "schools:2", 20.0, 0.99999, "link", 5.0, 9.0))
    with engine.begin() as conn:
        assert sync_review_queue(conn, night1, "n1") == 1
        sync_review_queue(conn, night1, "n1")                         # a rerun adds nothing
        [queued] = open_reviews(conn)
        assert conn.execute(select(func.count()).select_from(link_review)).scalar_one() == 1
    assert (queued["record_id_l"], queued["record_id_r"]) == ("health:1", "police:9")
    assert queued["weights"] == {"w_given_name": -1.5, "w_date_of_birth": 3.25}

    with engine.begin() as conn:
        decide(conn, "police:9", "health:1", "different", "A. Officer", "different fathers, checked with school")
        decide(conn, "health:5", "social_care:5", "same", "A. Officer", "confirmed by the allocated worker")
        assert open_reviews(conn) == []
        must, cannot = constraints(conn)
    assert must == [("health:5", "social_care:5")]
    assert cannot == [("health:1", "police:9")]


@pytest.mark.parametrize(("args", "message"), [
    (("a", "b", "maybe", "A. Officer", "why"), "decision must be one of"),
    (("health:1", "health:1", "same", "A. Officer", "why"), "a record is always the same child as itself"),
    (("a", "b", "same", " ", "why"), "a decision needs the officer's name and a reason"),
    (("health:1", "zz:unknown", "same", "A. Officer", "why"), "the second record is neither a record reference"),
    (("police-R000009", "health:1", "same", "A. Officer", "why"), "police-R000009: no record has this reference"),
])
def test_a_decision_without_what_it_needs_is_refused(engine, args, message):
    _known(engine, "health:1")
    with engine.begin() as conn, pytest.raises(ReviewError, match=message):
        decide(conn, *args)


def test_a_pair_no_longer_uncertain_leaves_the_open_queue(engine):
    with engine.begin() as conn:
        sync_review_queue(conn, _pairs(("a:1", "b:1", 1.0, 0.7, "review", 0.5, 0.5),
                                       ("a:2", "b:2", 1.0, 0.6, "review", 0.5, 0.5)), "n1")
        sync_review_queue(conn, _pairs(("a:2", "b:2", 1.5, 0.75, "review", 0.5, 1.0),
                                       ("a:1", "b:1", 30.0, 0.99999, "link", 9.0, 9.0)), "n2")
        queued = open_reviews(conn)
    assert [(q["record_id_l"], q["match_probability"], q["first_seen_run"], q["last_seen_run"]) for q in queued] == [
        ("a:2", 0.75, "n1", "n2")]


def test_a_changed_decision_keeps_the_earlier_one_in_the_history(engine):
    _known(engine, "health:1", "police:9")
    with engine.begin() as conn:
        decide(conn, "police:9", "health:1", "same", "A. Officer", "same school and GP")
        decide(conn, "health:1", "police:9", "different", "B. Manager", "different mothers on review")
        must, cannot = constraints(conn)
        history = conn.execute(select(link_decision.c.decision, link_decision.c.decided_by)
                               .order_by(link_decision.c.decision_id)).all()
    assert (must, cannot) == ([], [("health:1", "police:9")])
    assert [tuple(row) for row in history] == [("same", "A. Officer"), ("different", "B. Manager")]
