"""A held night: a mass relink (every agency's records re-keyed: another generated town under the same record ids,
as after an agency's system migration) is not applied or published; the officers are alerted; an officer's approval
(`mash match approve`) applies exactly the held grouping, a rejection leaves everything as it was. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from mash.cli import HELD_EXIT, main
from mash.link import LinkSettings
from mash.link.held import HoldError, decide_held_night, held_nights
from mash.store.schema import child_record, match_hold
from tests.drops import dump


def _towns(tmp_path):
    """Two towns of the generator, the second dropped the night after the first: the same record ids, other
    children."""
    for seed, start, name in ((8, "2026-11-02", "a"), (9, "2026-11-03", "b")):
        main(["synth", "--children", "300", "--seed", str(seed), "--nights", "1", "--start", start,
              "--out", str(tmp_path / name)])
    return tmp_path / "a" / "night-01", tmp_path / "b" / "night-01"


def _night(night_dir, run_id: str, capsys) -> tuple[int, dict]:
    main(["deliver", str(night_dir)])
    main(["ingest", "--strict"])
    capsys.readouterr()
    code = main(["match", "--run-id", run_id])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _matching_tables(engine) -> dict:
    tables = dump(engine)
    return {name: tables[name] for name in ("child", "child_record", "child_lineage", "record_link", "link_review")}


def test_a_mass_relink_is_held_and_applied_only_after_approval(store, home, tmp_path, capsys):
    first, second = _towns(tmp_path)
    code, night1 = _night(first, "night-1", capsys)
    assert code == 0 and not night1["held"] and night1["new_children"] == night1["children"]
    assert main(["publish", "--run-id", "night-1", "--as-of", "2026-11-02"]) == 0
    before = _matching_tables(store)

    code, night2 = _night(second, "night-2", capsys)
    assert code == HELD_EXIT and night2["held"] and night2["newly_held"]
    assert night2["children_ended"] > 0.9 * night1["children"]
    assert _matching_tables(store) == before                   # nothing applied
    alerts = list((home.outbox / "officers").glob("*.txt"))
    assert len(alerts) == 1 and "night-2" in alerts[0].read_text()
    capsys.readouterr()
    assert main(["publish", "--run-id", "night-2", "--as-of", "2026-11-03"]) == 1      # the publication in force stays
    assert "held" in capsys.readouterr().err

    # A rerun of the held night holds it again, with no second alert; the hold is listed.
    assert main(["match", "--run-id", "night-2"]) == HELD_EXIT
    assert len(list((home.outbox / "officers").glob("*.txt"))) == 1
    assert [h["run_id"] for h in held_nights(store)] == ["night-2"]
    assert _matching_tables(store) == before

    with pytest.raises(HoldError, match="name and a reason"):
        decide_held_night(store, "night-2", True, " ", "ok")
    with pytest.raises(HoldError, match="no such held"):
        decide_held_night(store, "night-3", True, "A. Officer", "ok")
    capsys.readouterr()
    assert main(["match", "approve", "night-2", "--by", "A. Officer", "--reason", "police system migration"]) == 0
    applied = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not applied["held"] and {key: applied[key] for key in ("merged", "split", "records_moved",
                                                                  "children_ended", "new_children")} == {
        key: night2[key] for key in ("merged", "split", "records_moved", "children_ended", "new_children")}
    with store.connect() as conn:
        hold = conn.execute(select(match_hold)).mappings().one()
        assigned = {row.assigned_run for row in conn.execute(select(child_record))}
    assert (hold["status"], hold["decided_by"], hold["reason"]) == ("applied", "A. Officer",
                                                                     "police system migration")
    assert hold["decided_at"] is not None and hold["applied_at"] is not None
    assert "night-2" in assigned and held_nights(store) == []
    assert main(["publish", "--run-id", "night-2", "--as-of", "2026-11-03"]) == 0
    # Approved and applied: the next run (no new data) changes nothing and is not held.
    capsys.readouterr()
    assert main(["match", "--run-id", "night-2-again"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (again["held"], again["merged"], again["split"], again["records_moved"], again["children_ended"],
            again["new_children"]) == (False, 0, 0, 0, 0, 0)


def test_a_rejected_night_leaves_the_children_in_force(store, home, tmp_path, capsys):
    first, second = _towns(tmp_path)
    assert _night(first, "night-1", capsys)[0] == 0
    before = _matching_tables(store)
    assert _night(second, "night-2", capsys)[0] == HELD_EXIT
    assert main(["match", "reject", "night-2", "--by", "A. Officer", "--reason", "wrong extract"]) == 0
    assert _matching_tables(store) == before
    with store.connect() as conn:
        assert conn.execute(select(match_hold.c.status)).scalar_one() == "rejected"
    capsys.readouterr()
    assert main(["match", "approve", "night-2", "--by", "B. Officer", "--reason", "changed my mind"]) == 1
    assert "already rejected by A. Officer" in capsys.readouterr().err
    assert main(["match", "--run-id", "night-2"]) == HELD_EXIT          # a rejected run stays unapplied
    assert _matching_tables(store) == before


@pytest.mark.parametrize("values, problem", [
    ({"hold_merged_share": 0}, "hold_merged_share"), ({"hold_moved_share": 1.5}, "hold_moved_share"),
    ({"hold_split_share": "a lot"}, "hold_split_share"), ({"hold_at_least": -1}, "hold_at_least"),
    ({"hold_at_least": 2.5}, "hold_at_least"), ({"hold_ended_share": 0}, "hold_ended_share")])
def test_held_night_thresholds_are_checked_at_load(tmp_path, values, problem):
    path = tmp_path / "settings.yaml"
    path.write_text(json.dumps({"held_night": values}))
    with pytest.raises(ValueError, match=problem):
        LinkSettings.load(path)
    assert LinkSettings.load().hold_at_least == 20


def test_the_nightly_dag_waits_for_an_officer_on_a_held_night(airflow_db):
    """The wiring: a held night goes to the human-in-the-loop approval (Required Actions) and only an approval
    leads to storing and publishing; a night not held goes straight to publishing."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from tests.conftest import REPO

    dag = DagBag(dag_folder=REPO / "dags").dags["mash_nightly"]
    approval = dag.get_task("approve_matching")
    assert isinstance(approval, ApprovalOperator) and approval.upstream_task_ids == {"matching_held"}
    assert dag.get_task("matching_held").upstream_task_ids == {"match_children"}
    assert approval.downstream_task_ids == {"apply_matching", "night_failed"}
    publish = dag.get_task("publish_shared_view")
    assert publish.upstream_task_ids == {"not_held", "apply_matching"}
    assert publish.trigger_rule == "none_failed_min_one_success"   # a rejection skips apply, so publish too


def test_an_approval_in_airflow_is_recorded_as_the_cli_records_it(home, airflow_db, tmp_path, capsys):
    """The approval task's callback (what Airflow calls with the officer's answer from Required Actions) records
    the decision through the same service as `mash match approve`; the night then applies as apply_matching does.
    (dag.test() cannot answer a human-in-the-loop task, so the callback is called here as Airflow would.)"""
    from datetime import datetime, timezone

    from airflow.dag_processing.dagbag import DagBag
    from mash.link.population import apply_held_night
    from mash.store import migrate
    from tests.conftest import REPO

    store = migrate(home.db_url())
    first, second = _towns(tmp_path)
    assert _night(first, "night-2026-11-02", capsys)[0] == 0
    assert _night(second, "night-2026-11-03", capsys)[0] == HELD_EXIT
    approval = DagBag(dag_folder=REPO / "dags").dags["mash_nightly"].get_task("approve_matching")
    answer = approval.execute_complete(
        context={"ds": "2026-11-03", "run_id": "scheduled__2026-11-03", "task": approval},
        event={"chosen_options": ["Approve"], "params_input": {"reason": "schools system migration"},
               "responded_at": datetime(2026, 11, 3, 9, tzinfo=timezone.utc),
               "responded_by_user": {"id": "7", "name": "A. Officer"}})
    assert answer["chosen_options"] == ["Approve"]
    with store.connect() as conn:
        hold = conn.execute(select(match_hold)).mappings().one()
    assert (hold["run_id"], hold["status"], hold["decided_by"], hold["reason"]) == (
        "night-2026-11-03", "approved", "A. Officer", "schools system migration")
    summary = apply_held_night(store, "night-2026-11-03")
    assert not summary.held and summary.children_ended == hold["ended"]
    # The same answer again (a retried task) is accepted; the CLI's contrary answer is refused.
    approval.execute_complete(
        context={"ds": "2026-11-03", "task": approval},
        event={"chosen_options": ["Approve"], "params_input": {"reason": "again"},
               "responded_at": datetime(2026, 11, 3, 9, 5, tzinfo=timezone.utc),
               "responded_by_user": {"id": "7", "name": "A. Officer"}})
    assert main(["match", "reject", "night-2026-11-03", "--by", "B. Officer", "--reason", "no"]) == 1
