"""The disclosure audit attacked by someone who can write to the store: every way to cut or rewrite it unseen that
worked before the anchor file (delete the tail, delete the tail and move the publication's head back, forge and
re-hash the whole chain), an edited and a deleted entry, disclosure rows and a notice without an entry that covers
them. Each is caught by `mash audit verify` with a message naming ids and counts; an untouched store, and one after
a rerun with no new data, verifies clean. On SQLite and PostgreSQL, as the database owner, with any append-only
trigger set aside first (the attacker here is whoever owns the database)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, delete, func, insert, make_url, select, update

from mash.cli import main
from mash.home import Home
from mash.notices.outbox import build
from mash.notices.settings import default_settings
from mash.sharing import anchors
from mash.sharing.audit import GENESIS, append, entry_hash, verify
from mash.sharing.publication import publish
from mash.store import migrate
from mash.store.schema import disclosure_audit as audit, notice, publication, shared_disclosure
from tests.drops import dump
from tests.views import NIGHT, populate_town

# A longer first-night lookback than the shipped one, so that the small town has notices about children.
SETTINGS = dataclasses.replace(default_settings(), first_night_lookback_working_days=15)
TABLES = ("disclosure_audit", "publication", "shared_disclosure", "notice")


def _night(engine, home) -> None:
    publish(engine, "night-1", NIGHT, anchors=home.audit_anchors)
    build(engine, home, "night-1", NIGHT, settings=SETTINGS)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pristine(request, tmp_path_factory):
    """One night on each store, built once: a published view, then the night's notices, whose entries come after
    the publication's head. Each test tampers with a copy of it."""
    root = tmp_path_factory.mktemp(request.param)
    home = Home(root / "mash_home").ensure()
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    url = server.create_database("audit_anchor_pristine") if server else home.db_url()
    engine = migrate(url)
    populate_town(home, engine, root / "synth", children=1000)
    _night(engine, home)
    engine.dispose()
    return home, url, server


@pytest.fixture
def night(pristine, home, monkeypatch, request):
    """A copy of the pristine night's store and anchor file in this test's MASH_HOME."""
    source, url, server = pristine
    home.audit_anchors.write_bytes(source.audit_anchors.read_bytes())
    if server is None:
        for path in source.root.glob("mash.db*"):
            shutil.copyfile(path, home.root / path.name)
        return migrate(home.db_url())
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:50]
    admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}"')
    admin.dispose()
    copy = make_url(url).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("MASH_DB_URL", copy)
    return migrate(copy)


def _tamper(engine, *statements) -> None:
    """Run ``statements`` as the database owner, with any trigger on the audit tables out of the way."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            triggers = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                f"({', '.join(repr(t) for t in TABLES)})").scalars().all()
            for name in triggers:
                conn.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{name}"')
        else:
            for table in TABLES:
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for statement in statements:
            conn.execute(statement)


def _problems(engine, home) -> list[str]:
    with engine.connect() as conn:
        return verify(conn, anchors.read(home.audit_anchors)).problems


def _heads(engine) -> tuple[int, int]:
    """The current publication's recorded head and the newest entry's id."""
    with engine.connect() as conn:
        published = conn.execute(select(publication.c.audit_head_id).where(publication.c.is_current.is_(True)))
        return published.scalar_one(), conn.execute(select(func.max(audit.c.entry_id))).scalar_one()


def test_an_untouched_audit_verifies_and_a_rerun_keeps_it_so(night, home, capsys):
    published, newest = _heads(night)
    assert 10 < published < newest, "the town's notices should add entries after the publication's head"
    assert _problems(night, home) == []
    written = home.audit_anchors.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["kind"] for line in written] == ["publication", "notices"]
    assert json.loads(written[-1])["entries"] == newest
    assert home.audit_anchors.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(written[0])) == {"at", "kind", "run_id", "entries", "head_hash", "publication_id"}

    before = dump(night)
    _night(night, home)                             # the same night again: nothing new to audit or anchor
    assert dump(night) == before
    assert home.audit_anchors.read_text(encoding="utf-8").splitlines() == written
    assert _problems(night, home) == []
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"{newest} audit entries: chain intact" in out and f"anchored up to entry {newest}" in out


def test_deleting_the_entries_after_the_publication_s_head_is_caught_by_the_anchor(night, home, capsys):
    published, newest = _heads(night)
    # The notices those entries record go too, so that nothing left in the store points at the cut.
    _tamper(night, delete(audit).where(audit.c.entry_id > published), delete(notice).where(
        notice.c.audit_entry_id > published))
    with night.connect() as conn:
        assert verify(conn).intact, "the store alone cannot see a cut tail: this is what the anchor is for"
    problems = _problems(night, home)
    assert (f"the audit ends at entry {published} but the anchor of the notices build of run night-1 records "
            f"{newest} entries: entries {published + 1} to {newest} were deleted") in problems
    assert main(["audit", "verify"]) == 1
    assert f"TAMPERED: the audit ends at entry {published}" in capsys.readouterr().err


def test_deleting_the_tail_and_moving_the_publication_s_head_back_is_caught(night, home):
    published, newest = _heads(night)
    kept = published - 3
    with night.connect() as conn:
        kept_hash = conn.execute(select(audit.c.entry_hash).where(audit.c.entry_id == kept)).scalar_one()
        publication_id = conn.execute(select(publication.c.publication_id)
                                      .where(publication.c.is_current.is_(True))).scalar_one()
    _tamper(night, delete(audit).where(audit.c.entry_id > kept),
            update(publication).values(audit_head_id=kept, audit_head_hash=kept_hash))
    problems = _problems(night, home)
    assert f"entries {kept + 1} to {newest} were deleted" in " | ".join(problems)
    assert (f"publication {publication_id} (run night-1): records entry {kept} as its head, but its anchor "
            f"records entry {published}") in problems


def test_an_edited_entry_is_caught(night, home):
    _tamper(night, update(audit).where(audit.c.entry_id == 5).values(rule_id="O1-hub-officers"))
    assert "entry 5: its content does not match its hash (edited)" in _problems(night, home)


def test_a_deleted_middle_entry_is_caught(night, home):
    _tamper(night, delete(audit).where(audit.c.entry_id == 5))
    problems = _problems(night, home)
    assert "entries 5 to 5 are missing" in problems
    assert "entry 6: does not follow the entry before it" in problems


def test_a_forged_and_re_hashed_chain_is_caught_by_the_anchor(night, home):
    """Edit entry 5, then recompute every hash after it and the publications' recorded heads: the store is
    consistent again, and only the anchor outside it tells."""
    with night.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(audit).order_by(audit.c.entry_id)).mappings()]
        heads = conn.execute(select(publication.c.publication_id, publication.c.audit_head_id)).all()
    rows[4]["rule_id"] = "N1-never-forged"
    previous, statements = GENESIS, []
    for row in rows:
        row["prev_hash"], row["entry_hash"] = previous, entry_hash(previous, row)
        previous = row["entry_hash"]
        statements.append(update(audit).where(audit.c.entry_id == row["entry_id"])
                          .values(rule_id=row["rule_id"], prev_hash=row["prev_hash"], entry_hash=row["entry_hash"]))
    rehashed = {row["entry_id"]: row["entry_hash"] for row in rows}
    statements += [update(publication).where(publication.c.publication_id == pid)
                   .values(audit_head_hash=rehashed[head]) for pid, head in heads if head]
    _tamper(night, *statements)
    with night.connect() as conn:
        assert verify(conn).intact, "a re-hashed chain is consistent inside the store"
    newest = rows[-1]["entry_id"]
    problems = _problems(night, home)
    assert (f"entry {newest}: its hash differs from the anchor of the notices build of run night-1: the chain was "
            f"rewritten at or before it") in problems
    assert any("1 earlier anchor does not match either" in p for p in problems)


def test_disclosure_rows_inserted_without_an_entry_are_caught(night, home):
    with night.connect() as conn:
        current = conn.execute(select(publication.c.publication_id).where(publication.c.is_current.is_(True))) \
            .scalar_one()
        withheld = conn.execute(select(audit.c.entry_id).where(audit.c.decision == "withhold", audit.c.recipient ==
                                                                "police").limit(1)).scalar_one()
        shown = set(conn.execute(select(shared_disclosure.c.child_id).where(
            shared_disclosure.c.publication_id == current, shared_disclosure.c.recipient == "police")).scalars())
        children = [c for c in conn.execute(select(shared_disclosure.c.child_id).distinct().where(
            shared_disclosure.c.publication_id == current)).scalars() if c not in shown][:25]
    assert len(children) == 25
    rows = [dict(publication_id=current, recipient="police", child_id=child_id, data_class="sensitive_health",
                 audit_entry_id=withheld if n % 2 else 10**9) for n, child_id in enumerate(children)]
    _tamper(night, insert(shared_disclosure).values(rows))
    problems = _problems(night, home)
    assert (f"publication {current}: 25 disclosure rows are not covered by the audit entry they point at "
            f"(entries {withheld}, {10**9})") in problems


def test_a_notice_pointing_at_an_entry_that_does_not_cover_it_is_caught(night, home):
    with night.connect() as conn:
        sent, entry = conn.execute(select(notice.c.notice_id, notice.c.audit_entry_id)
                                   .where(notice.c.status == "queued", notice.c.child_id.is_not(None))
                                   .order_by(notice.c.notice_id).limit(1)).one()
        other = conn.execute(select(audit.c.entry_id).where(audit.c.entry_id < entry, audit.c.decision == "withhold")
                             .limit(1)).scalar_one()
        unaudited = conn.execute(select(notice.c.notice_id).where(notice.c.audit_entry_id.is_not(None),
                                                                  notice.c.notice_id != sent)
                                 .order_by(notice.c.notice_id).limit(1)).scalar_one()
    _tamper(night, update(notice).where(notice.c.notice_id == sent).values(audit_entry_id=other),
            update(notice).where(notice.c.notice_id == unaudited).values(audit_entry_id=None))
    problems = _problems(night, home)
    assert (f"2 notices about a child are not covered by an audit entry (notice {min(sent, unaudited)}: "
            f"audit entry {other if sent < unaudited else 'none'}") in " | ".join(problems)


def test_a_lost_or_edited_anchor_file_is_reported_not_trusted(night, home, capsys):
    lines = home.audit_anchors.read_text(encoding="utf-8").splitlines()
    home.audit_anchors.write_text(lines[0] + "\n{not json\n", encoding="utf-8")
    assert main(["audit", "verify"]) == 1
    assert f"{home.audit_anchors}: line 2 is not an anchor" in capsys.readouterr().err
    os.remove(home.audit_anchors)
    _, newest = _heads(night)
    assert _problems(night, home) == [f"no anchor outside the store for the audit's {newest} entries"]
    assert main(["audit", "verify", "--anchors", str(home.root / "elsewhere.jsonl")]) == 1


def test_an_entry_appended_after_the_anchor_under_an_anchored_run_is_reported(night, home):
    """Chained and hashed as the hub would, dated now: but night-1's builds anchored their entries when they
    committed them, so a later entry of night-1 was not written by a build."""
    entry = dict(recipient="police", child_id="MASH-0000001", data_classes="identity", decision="withhold",
                 rule_id="default-deny", basis="No longer in the shared view", public_interest_id=None,
                 content_sha256=None)
    with night.begin() as conn:
        (forged,), _ = append(conn, [entry], "night-1")
    assert _problems(night, home) == [f"entries {forged} of run night-1: appended after the newest anchor, but that "
                                      f"run was already anchored (not written by a build)"]


def test_a_back_dated_entry_is_reported(night, home):
    _, newest = _heads(night)
    with night.connect() as conn:
        last = conn.execute(select(audit).where(audit.c.entry_id == newest)).mappings().one()
    forged = {**dict(last), "entry_id": newest + 1, "recorded_at": last["recorded_at"] - timedelta(days=200),
              "prev_hash": last["entry_hash"]}
    forged["entry_hash"] = entry_hash(forged["prev_hash"], forged)
    with night.begin() as conn:
        conn.execute(audit.insert().values(**forged))
    assert f"entry {newest + 1}: recorded before the entry it follows (back-dated)" in _problems(night, home)
