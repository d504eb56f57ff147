"""
### mash_nightly: the hub's nightly run

Every night each agency (health, police, schools, children's social care) and the consent register drop an
extract into `MASH_HOME/landing/<agency>/`, finished by a manifest. This DAG:

1. **prepare_store**: migrates the hub's store to the newest schema (idempotent);
2. **wait_for_drop** (mapped, one sensor per agency): waits for the agency's manifest for the night, looking every
   few minutes and giving its worker slot back in between (reschedule mode), until the agency's cut-off
   (`mash/config/night.yaml`). An agency that has not dropped by then is late: the night goes on with its last good
   extract and the agency gets a late-extract notice;
3. **ingest** (mapped, one task per agency, shown by agency name): verifies each complete drop against its
   manifest, archives every file by SHA-256, and loads every row or quarantines it with its row number and a reason.
   A bad drop is rejected with a reason naming the file and column; the other agencies carry on;
4. **validate** (mapped, one task per agency): checks each newly loaded batch against the agency's Great
   Expectations suites (`mash/quality/expectations/`, GX called directly). A failed critical expectation rejects that agency's
   batch (its last good batch stays current; the reason names the file, expectation and column); failed warnings
   are recorded. Every check's result is stored per batch, and the Data Docs under `MASH_HOME/quality/` are rebuilt;
5. **drops_on_time** (after validation): fails, visibly, when an agency's drop for the night is late, so that such
   a night is not green in the UI; the night still runs on to publication with that agency's last good extract
   (and the agency gets its late-extract notice); the officers get the failure alert;
6. **night_summary** (once the notices are built): logs the night's counts per agency and state, and the
   disclosure audit's newest anchor (its number of entries and head hash, also in
   `MASH_HOME/audit/anchors.jsonl`: see docs/sharing.md), which the officers copy into their records (it does not
   run when an agency's ingest failed: that task's alert and the failed run say so);
7. **match_children** (runs even when an agency's ingest failed, on that agency's last good data): links every agency's current person records into children (blocking, Fellegi-Sunter
   scoring, clustering under officers' decisions), keeps each child's hub id stable from night to night with the
   lineage of merges and splits, and queues uncertain pairs for officers (`mash review`). With
   MASH_MATCH_PARTITIONS=N (N > 1, set where the DAG is parsed) it is the group `match_children_in_partitions`:
   `plan` (features and blocking), `compare` mapped over N partitions of the candidate pairs (on any Celery
   worker) and `combine` (scoring, clustering, storing), with the same result. A night whose matching would merge,
   split, move or end more children than `held_night` in the link settings allows is **held**: nothing is stored,
   the officers are alerted, and **matching_held** sends the run to **approve_matching**, a human-in-the-loop task
   shown under *Required Actions*: an officer approves (then **apply_matching** stores the held result and the night
   goes on to publish) or rejects (the children and publication in force stay; publishing is skipped). Either
   answer is recorded in the store as `mash match approve|reject` records it. A night not held goes straight on
   (**not_held**);
8. **publish_shared_view**: applies the sharing policy (`mash/config/sharing_policy.yaml`: consent, significant harm,
   officers' public-interest decisions; default deny) to every child known to two or more agencies, audits every
   decision to disclose or not in the hash-chained disclosure audit, and publishes each recipient's view and
   multi-agency chronology atomically (`<recipient>_shared_children`, `_involvement`, `_chronology`);
9. **extract_notices** (after validation, whatever its outcome): tells each agency's data contact of a rejected drop
   (by ingest or by a critical expectation), quarantined rows (row number, column and reason, never content) or a
   late extract;
10. **build_notices**: feedback to referrers (acknowledgement and outcome) and notifications (Operation Encompass,
   A&E attendances, school moves, overdue visits), each under its notice rule of the sharing policy and audited,
   rendered into `MASH_HOME/outbox/<agency>/`; the publication and each notice build append the audit's head to
   the anchor file;
11. **send_notices**: sends every queued notice by SMTP (the connection `mash_smtp`, else MASH_SMTP_URL) exactly
   once per idempotency key; a failed send is recorded and retried with backoff, and fails the task so that
   Airflow retries it too.

A task that fails after its retries (`retries` in `mash/config/night.yaml`) alerts the officers (`alerts.to`) by
email, once, and so does a night not finished within `deadline.finished_within_minutes` of being queued (an Airflow deadline alert);
**night_failed** then marks the run failed, though the tasks after the failed one ran on, and removes the night's
matching work (personal data) if a failed matching run left any.
Tasks log counts and batch ids only (and the audit's head hash), and XCom carries batch ids and counts only: no
personal data. The same work runs without the scheduler as `mash ingest`, `mash validate`, `mash status`,
`mash match`, `mash publish` and `mash notices build|send`; `mash drops` shows which agencies' drops for a night have
arrived.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import (AsyncCallback, Connection, DeadlineAlert, DeadlineReference, Param, PokeReturnValue, dag,
                         get_current_context, task, task_group)
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from mash.arrivals import load_night_settings
from mash.contracts import agencies
from mash.home import match_partitions

log = logging.getLogger(__name__)
DB_CONNECTION_ID = "mash_db"
SMTP_CONNECTION_ID = "mash_smtp"
TIMEZONE = "Europe/London"
NIGHT = load_night_settings()   # mash/config/night.yaml: cut-offs, how often to look, the deadline, officers' address
MATCH_PARTITIONS = match_partitions()   # MASH_MATCH_PARTITIONS where the DAG is parsed; > 1 maps the comparisons


def _home_and_url():
    """The hub's home and store URL: the Airflow connection `mash_db` if defined, else MASH_DB_URL or SQLite."""
    from mash.home import Home

    home = Home.from_env().ensure()
    try:
        return home, Connection.get(DB_CONNECTION_ID).get_uri()
    except AirflowNotFoundException:
        return home, home.db_url()


@contextmanager
def _store_as_is():
    """The hub's home and an engine on its store, not migrated (a sensor's look every few minutes, the failure
    callback, which must work whatever failed), disposed of afterwards."""
    from mash.store import new_engine

    home, url = _home_and_url()
    engine = new_engine(url)
    try:
        yield home, engine
    finally:
        engine.dispose()


def _store():
    """The hub's home and store engine, migrated to the newest schema."""
    from mash.store import migrate

    home, url = _home_and_url()
    return home, migrate(url)


def _smtp_url() -> str | None:
    """The Airflow connection `mash_smtp` if defined, else MASH_SMTP_URL (None: notices wait in the outbox)."""
    from mash.notices.sending import smtp_url

    try:
        return Connection.get(SMTP_CONNECTION_ID).get_uri()
    except AirflowNotFoundException:
        return smtp_url()


def _as_of(context=None):
    """The night the run is for, in the hub's time zone (a manual run may have no logical date)."""
    context = context or get_current_context()
    when = context.get("logical_date") or context["dag_run"].run_after
    return pendulum.instance(when).in_timezone(TIMEZONE).date()


def _night(context=None) -> str:
    """The run's label in the store: the night it is for, so that a rerun is the same night."""
    context = context or get_current_context()
    return f"night-{context['ds']}" if context.get("ds") else context["run_id"]


def _alert_officers(context) -> None:
    """The failure callback: one alert to the officers for a task that failed after its last retry (a retry is not
    alerted). Ids, counts and the error's type only: never the error's message."""
    from mash.alerts import send_alert, task_failed

    ti = context["ti"]
    error = context.get("exception")
    index = getattr(ti, "rendered_map_index", None) or (str(ti.map_index) if ti.map_index >= 0 else None)
    with _store_as_is() as (home, engine):
        alert = task_failed(ti.dag_id, ti.run_id, ti.task_id, index, ti.try_number,
                            type(error).__name__ if error else "unknown", _as_of(context), engine)
        send_alert(alert, home, _smtp_url(), NIGHT)


class HeldNightApproval(ApprovalOperator):
    """The officers' answer on a held night (Required Actions): recorded in the store by the same service as `mash
    match approve|reject` (mash.link.held.decide_held_night), under the responding user's name and the reason they
    gave; then, as ApprovalOperator does, a rejection skips the tasks after it."""

    def execute_complete(self, context, event):
        from mash.link.held import decide_held_night

        answer = super().execute_complete(context, event)
        user = answer["responded_by_user"] or {}
        with _store_as_is() as (_, engine):
            decide_held_night(engine, _night(context), answer["chosen_options"] == [self.APPROVE],
                              user.get("name") or user.get("id") or "", (answer["params_input"] or {}).get("reason", ""))
        return answer


def _held_night_alert(summary: dict) -> None:
    """Alert the officers to a night held by this run (a rerun of a held night does not alert again)."""
    from mash.alerts import night_held, send_alert
    from mash.link.held import held_nights

    if summary.get("newly_held"):
        with _store_as_is() as (home, engine):
            hold = next(h for h in held_nights(engine) if h["run_id"] == _night())
            reasons = [f"{key} {hold[key]}" for key in ("merged", "split", "records_moved", "ended")]
            send_alert(night_held(_night(), reasons), home, _smtp_url(), NIGHT)


@dag(
    dag_id="mash_nightly",
    schedule="30 1 * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    tags=["mash", "nightly", "ingest"],
    default_args={"retries": NIGHT.retries, "retry_delay": NIGHT.retry_delay,
                  "on_failure_callback": _alert_officers},
    deadline=DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=NIGHT.finished_within,
                           callback=AsyncCallback("mash.alerts.deadline_missed")) if NIGHT.finished_within else None,
    doc_md=__doc__,
)
def mash_nightly():
    @task
    def prepare_store() -> None:
        _store()

    @task.sensor(map_index_template="{{ agency }}", mode="reschedule",
                 poke_interval=NIGHT.check_every.total_seconds(), timeout=timedelta(hours=20).total_seconds())
    def wait_for_drop(agency: str) -> PokeReturnValue:
        from mash.arrivals import AWAITED, drop_state

        get_current_context()["agency"] = agency
        with _store_as_is() as (home, engine):
            state = drop_state(home, engine, agency, _as_of(), pendulum.now("UTC"), NIGHT)
        log.info("%s: drop %s", agency, state)
        return PokeReturnValue(is_done=state != AWAITED, xcom_value=state)

    @task(map_index_template="{{ agency }}", trigger_rule="all_done")    # a late or failed sensor stops no one
    def ingest(agency: str) -> list[str]:
        from mash.ingest import ingest_agency

        get_current_context()["agency"] = agency
        home, engine = _store()
        outcomes = ingest_agency(agency, home, engine)
        for o in outcomes:
            log.info("%s: %s %s (rows in %d, loaded %d, quarantined %d)", agency, o.batch_id, o.state, o.rows_in,
                     o.rows_loaded, o.rows_quarantined)
        return [o.batch_id for o in outcomes]

    @task(map_index_template="{{ agency }}", trigger_rule="all_done")
    def validate(agency: str) -> dict[str, int]:
        from mash.alerts import batch_held, send_alert
        from mash.quality import validate_agency

        get_current_context()["agency"] = agency
        home, engine = _store()
        verdicts = {"passed": 0, "warnings": 0, "rejected": 0}
        for outcome in validate_agency(agency, home, engine):
            verdicts[outcome.verdict] += 1
            if outcome.held:
                send_alert(batch_held(outcome.batch_id, agency, outcome.reason), home, _smtp_url(), NIGHT)
        return verdicts

    @task(trigger_rule="all_done", retries=0)     # the verdict on tonight's drops: retrying it would change nothing
    def drops_on_time() -> dict[str, int]:
        """Each agency's drop for the night, as the sensors judged it, looked up again now that ingestion is done (a
        sensor that failed leaves no verdict to read)."""
        from mash.arrivals import LATE, drop_states

        with _store_as_is() as (home, engine):
            states = drop_states(home, engine, _as_of(), pendulum.now("UTC"), NIGHT)
        late = sorted(agency for agency, state in states.items() if state == LATE)
        if late:
            raise AirflowFailException(f"late tonight: {', '.join(late)} (their last good extracts were used)")
        return dict(Counter(states.values()))        # agencies per state: counts only in XCom

    @task
    def night_summary(batch_ids: list[list[str]]) -> dict[str, int]:
        from mash.sharing.anchors import newest, read
        from mash.status import batches

        home, engine = _store()
        tonight = {b for ids in batch_ids[:] for b in ids}   # one slice request, not a probe per item
        by_state: dict[str, int] = {}
        for row in batches(engine):
            if row["batch_id"] in tonight:
                by_state[row["state"]] = by_state.get(row["state"], 0) + 1
                log.info("%s %s: %s, rows in %d, loaded %d, quarantined %d", row["agency"], row["batch_id"],
                         row["state"], row["rows_in"], row["rows_loaded"], row["rows_quarantined"])
        log.info("night summary: %s", by_state or "no drops waiting")
        anchor = newest(read(home.audit_anchors))
        if anchor:        # the officers keep this line: it anchors the disclosure audit outside the hub
            log.info("disclosure audit anchored: %d entries, head %s (%s, %s)", anchor.entries, anchor.head_hash,
                     anchor.describe(), anchor.at)
        return by_state

    @task(trigger_rule="all_done")
    def match_children() -> dict[str, int]:
        from mash.link.population import match_children as match

        from mash.link.partitions import remove

        home, engine = _store()
        remove(home.matching_work(_night()).parent)     # the work a killed partitioned run left (personal data)
        summary = match(engine, _night(), features=home.matching_features())
        log.info("matching: %s", summary.as_dict())
        _held_night_alert(summary.as_dict())
        return summary.as_dict()

    @task_group
    def match_children_in_partitions():
        """match_children spread over workers (MASH_MATCH_PARTITIONS > 1): features and blocking once, the
        candidate pairs' comparisons one mapped task per partition, then scoring, clustering and storing."""
        @task(trigger_rule="all_done")
        def plan() -> list[int]:
            from mash.link.population import plan_partitions

            home, engine = _store()
            return plan_partitions(engine, home.matching_work(_night()), MATCH_PARTITIONS,
                                   features=home.matching_features())

        @task
        def compare(partition: int) -> int:
            from mash.link.partitions import compare_partition

            home, _ = _store()
            return compare_partition(home.matching_work(_night()), partition)

        @task
        def combine() -> dict[str, int]:
            from mash.link.population import combine_partitions

            home, engine = _store()
            summary = combine_partitions(engine, _night(), home.matching_work(_night()), home.matching_features())
            log.info("matching: %s", summary.as_dict())
            _held_night_alert(summary.as_dict())
            return summary.as_dict()

        combined = combine()
        compare.expand(partition=plan()) >> combined
        return combined

    @task.branch
    def matching_held(summary: dict) -> str:
        """A held night waits for the officers' answer; any other goes on."""
        return "approve_matching" if summary.get("held") else "not_held"

    @task
    def not_held() -> None:
        """Tonight's matching was stored: publish it."""

    approve_matching = HeldNightApproval(
        task_id="approve_matching",
        subject="Matching run {{ dag_run.logical_date | ds }} held: approve or reject",
        body=("Tonight's matching would change more children than the link settings allow (an agency's records "
              "re-keyed by a system migration is the usual cause). Nothing has been stored or published. Approve to "
              "store and publish it; reject to keep the children and shared views in force. Counts: `mash match "
              "held`; see docs/operations.md, 'A held night'."),
        params={"reason": Param("", type="string", minLength=1, description="why (recorded with your name)")})

    @task
    def apply_matching() -> dict[str, int]:
        """Store the approved held night (matched again: the same result)."""
        from mash.link.population import apply_held_night

        home, engine = _store()
        summary = apply_held_night(engine, _night(), features=home.matching_features())
        log.info("matching applied after approval: %s", summary.as_dict())
        return summary.as_dict()

    @task(trigger_rule="none_failed_min_one_success")      # after not_held, or after apply_matching
    def publish_shared_view() -> dict[str, int]:
        from mash.sharing.publication import publish

        home, engine = _store()
        summary = publish(engine, _night(), _as_of(), anchors=home.audit_anchors)
        log.info("shared view: %s", summary.as_dict())
        return summary.as_dict()

    @task(trigger_rule="all_done")
    def extract_notices() -> dict:
        from mash.notices.outbox import build

        home, engine = _store()
        summary = build(engine, home, _night(), _as_of(), parts=("extracts",))
        log.info("extract notices: %s", summary.as_dict())
        return summary.as_dict()

    @task(trigger_rule="all_done")       # feedback and notifications do not need tonight's shared view
    def build_notices() -> dict:
        from mash.notices.outbox import build

        home, engine = _store()
        summary = build(engine, home, _night(), _as_of(), parts=("children",))
        log.info("notices: %s", summary.as_dict())
        return summary.as_dict()

    @task(trigger_rule="all_done")
    def send_notices() -> dict[str, int]:
        from mash.notices.sending import send

        _, engine = _store()
        summary = send(engine, _smtp_url())
        log.info("sending: %s", summary.as_dict())
        if summary.failed_attempts:
            raise RuntimeError(f"{summary.failed_attempts} notice(s) could not be sent; they stay queued for retry")
        return summary.as_dict()

    @task(trigger_rule="one_failed", retries=0, on_failure_callback=None)
    def night_failed() -> None:
        """Later tasks run on past a failed one (all_done), so Airflow would call the run a success: this task,
        downstream of every other, fails the run when any of them failed. The failed task has alerted already.
        The night's matching work (personal data) goes: a cleared matching task plans again."""
        from mash.home import Home
        from mash.link.partitions import remove

        remove(Home.from_env().matching_work(_night()))
        raise AirflowFailException("a task of tonight's run failed: the officers have its alert")

    prepared, waited = prepare_store(), wait_for_drop.expand(agency=agencies())
    ingested = ingest.expand(agency=agencies())
    validated = validate.expand(agency=agencies())
    prepared >> waited >> ingested >> validated
    summary = night_summary(ingested)
    validated >> summary
    validated >> drops_on_time()       # a leaf of its own: a late agency fails the run, not night_failed
    extracts, sending = extract_notices(), send_notices()
    validated >> extracts >> sending
    matched = match_children() if MATCH_PARTITIONS == 1 else match_children_in_partitions()
    held, passed, applied = matching_held(matched), not_held(), apply_matching()
    published = publish_shared_view()
    built = build_notices()
    group = matched.operator.task_group       # the partitions' group (its combine's summary), or the DAG's root
    validated >> (group if MATCH_PARTITIONS > 1 else matched)
    held >> [passed, approve_matching]
    approve_matching >> applied
    [passed, applied] >> published >> built >> sending
    built >> summary            # the summary carries tonight's audit anchor
    matching_tasks = list(group.children.values()) if MATCH_PARTITIONS > 1 else [matched]
    [prepared, waited, ingested, validated, summary, extracts, *matching_tasks, held, passed, approve_matching,
     applied, published, built, sending] >> night_failed()


mash_nightly()
