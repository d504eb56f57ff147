"""The mash_nightly DAG with its matching in partitions (MASH_MATCH_PARTITIONS > 1): the mapped task group's wiring,
and two whole nights on PostgreSQL through dag.test() storing exactly what the single-process matching stores."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from mash.cli import main
from mash.delivery import deliver
from mash.home import Home
from mash.store import migrate
from mash.store.schema import child_record
from mash.synth import generate
from tests.test_link_partitions import matching_tables
from tests.test_nightly_dag import (DAG_ID, _assert_children_linked_and_stable, _assert_no_personal_data,
                                   _assert_views_published, _run_night, _xcom_values)

PARTITIONS = 3
GROUP = "match_children_in_partitions"


@pytest.fixture
def partitioned_dagbag(airflow_db, monkeypatch):
    """The DAGs as parsed where MASH_MATCH_PARTITIONS is set."""
    from airflow.dag_processing.dagbag import DagBag
    from tests.conftest import REPO
    monkeypatch.setenv("MASH_MATCH_PARTITIONS", str(PARTITIONS))
    return DagBag(dag_folder=REPO / "dags")


def test_matching_in_partitions_is_a_mapped_group_in_place_of_match_children(partitioned_dagbag):
    assert partitioned_dagbag.import_errors == {}
    dag = partitioned_dagbag.dags[DAG_ID]
    assert "match_children" not in dag.task_ids
    plan, compare, combine = (dag.get_task(f"{GROUP}.{name}") for name in ("plan", "compare", "combine"))
    assert plan.trigger_rule == "all_done"             # as match_children: on the last good data of a failed agency
    assert {"validate"} == plan.upstream_task_ids
    assert compare.op_kwargs_expand_input.value["partition"].operator is plan
    assert compare.upstream_task_ids == {plan.task_id} and combine.upstream_task_ids == {compare.task_id}
    assert dag.get_task("matching_held").upstream_task_ids == {combine.task_id}     # then publish, or the approval
    # a failure anywhere in the group fails the run, whatever trigger rule combine has
    assert dag.get_task("night_failed").upstream_task_ids >= {plan.task_id, compare.task_id, combine.task_id}


def test_two_nights_matched_in_partitions_on_postgresql_store_what_one_process_stores(
        partitioned_dagbag, home, monkeypatch, tmp_path, postgres_server, pg_url, caplog):
    monkeypatch.setenv("MASH_DB_URL", pg_url)
    synth_dir = tmp_path / "synth"
    generate(children=300, seed=7, nights=2, out=synth_dir, start=date(2026, 11, 2))
    partitioned = migrate(pg_url)
    one_home = Home(tmp_path / "one_process").ensure()
    one_url = postgres_server.create_database(f"{tmp_path.name}_one_process")
    one_process = migrate(one_url)

    night1 = None
    for night in (1, 2):
        run = _run_night(night, synth_dir, home, partitioned_dagbag)
        with monkeypatch.context() as env:        # the same drop, ingested, validated and matched without Airflow
            env.setenv("MASH_HOME", str(one_home.root))
            env.setenv("MASH_DB_URL", one_url)
            deliver(synth_dir / f"night-{night:02d}", one_home)
            assert main(["ingest", "--strict"]) == 0
            assert main(["validate", "--strict"]) == 0
            assert main(["match", "--run-id", f"night-2026-11-0{1 + night}"]) == 0
        tables = matching_tables(partitioned)
        assert tables == matching_tables(one_process)
        assert len(tables["record_link"]) > 100 and len(tables["child"]) > 100
        assert not home.matching_work(f"night-2026-11-0{1 + night}").exists(), "the work must be removed"
        with partitioned.connect() as conn:
            night1 = night1 or dict(conn.execute(select(child_record.c.record_id, child_record.c.child_id)).all())
    _assert_children_linked_and_stable(partitioned, synth_dir, night1)
    _assert_views_published(partitioned, "night-2026-11-03", home)
    xcoms = _xcom_values(run.run_id)
    numbers = list(range(PARTITIONS))
    assert xcoms.count(numbers) == 1                  # the partitions' numbers (the rest: batch ids and counts)
    _assert_no_personal_data(caplog.text, [x for x in xcoms if x != numbers], synth_dir)
