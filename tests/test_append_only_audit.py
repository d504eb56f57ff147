"""The disclosure audit is append-only in the database itself, on both stores: an UPDATE or DELETE is refused whoever
sends it, the owner included, and leaves every entry as it was; appending goes on. (TRUNCATE, PostgreSQL's, is tried
by the hub's login in test_recipient_roles. The officers' match decisions are kept the same way.)"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from mash.sharing import audit
from mash.store.schema import disclosure_audit, link_decision

ENTRY = dict(recipient="police", child_id="MASH-0000001", data_classes="identity", decision="withhold",
             rule_id="default-deny", basis="no rule allows it", public_interest_id=None, content_sha256=None)


def _state(store):
    with store.connect() as conn:
        return conn.execute(select(func.count(), func.max(disclosure_audit.c.entry_hash),
                                   func.min(disclosure_audit.c.basis))).one()


@pytest.mark.parametrize("statement", ["UPDATE disclosure_audit SET basis = 'rewritten'",
                                       "UPDATE disclosure_audit SET entry_id = entry_id + 100 WHERE entry_id = 2",
                                       "DELETE FROM disclosure_audit WHERE entry_id = 3",
                                       "DELETE FROM disclosure_audit"])
def test_the_owner_cannot_rewrite_or_cut_the_audit(store, statement):
    with store.begin() as conn:
        audit.append(conn, [ENTRY] * 3, "night-1")
    before = _state(store)
    with pytest.raises(DBAPIError) as refused:
        with store.begin() as conn:
            conn.exec_driver_sql(statement)
    assert "disclosure_audit is append-only" in str(refused.value.orig)
    assert _state(store) == before
    with store.begin() as conn:
        audit.append(conn, [ENTRY], "night-2")
    with store.connect() as conn:
        assert audit.verify(conn).intact and audit.verify(conn).entries == 4


REWRITES = ["UPDATE link_decision SET decision = 'same'", "DELETE FROM link_decision"]
SQLITE_REPLACE = ("REPLACE INTO link_decision VALUES (1, 'schools:a', 'health:b', 'same', 'someone', "
                  "'2026-12-01 00:00:00', 'rewritten')")


@pytest.mark.parametrize("statement", REWRITES)
def test_the_owner_cannot_rewrite_an_officers_match_decision(store, statement):
    """link_decision (and public_interest_decision, the same triggers) is kept like the audit: a later decision
    supersedes an earlier one, which stays."""
    _assert_decision_kept(store, statement)


def test_a_replace_cannot_rewrite_an_officers_match_decision_on_sqlite(engine):
    """On SQLite a REPLACE would delete the row without firing its DELETE trigger."""
    _assert_decision_kept(engine, SQLITE_REPLACE)


def _assert_decision_kept(store, statement: str) -> None:
    with store.begin() as conn:
        conn.execute(link_decision.insert().values(record_id_l="schools:a", record_id_r="health:b",
                                                   decision="different", decided_by="officer a",
                                                   decided_at=datetime(2026, 12, 1, tzinfo=timezone.utc),
                                                   reason="two children"))
    with pytest.raises(DBAPIError):
        with store.begin() as conn:
            conn.exec_driver_sql(statement)
    with store.connect() as conn:
        assert conn.execute(select(link_decision.c.decision, link_decision.c.reason)).all() == \
            [("different", "two children")]
