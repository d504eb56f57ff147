"""
### mash_board_report: the safeguarding partnership board's monthly report

On the second day of each month this DAG writes the board's report on the month before: how good each agency's
data is (extracts on time, late and rejected; rows quarantined; NHS number and UPN completeness and validity;
duplicates; records matched to another agency; ethnicity not obtained; trends over six months) and the management
information the board asks for (children on child protection plans by category, gender, age band, ethnicity and
area; plan durations; section 47 enquiries per quarter; timeliness against mash/config/timescales.yaml in working days;
referrals with no recorded outcome; children on plans not seen). HTML and PDF (headless Chromium) go to
`MASH_HOME/reports/board/<YYYY-MM>/`.

The task logs and XCom carry the month and file names only. The same report runs without the scheduler as
`mash report board --month YYYY-MM --out DIR`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pendulum
from airflow.sdk import Connection, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowNotFoundException

log = logging.getLogger(__name__)
DB_CONNECTION_ID = "mash_db"


@dag(
    dag_id="mash_board_report",
    schedule="0 6 2 * *",
    start_date=pendulum.datetime(2026, 11, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    tags=["mash", "monthly", "report"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
)
def mash_board_report():
    @task
    def board_report() -> dict[str, str]:
        from mash.home import Home
        from mash.report import board_report as write_report
        from mash.store import migrate

        home = Home.from_env().ensure()
        try:
            url = Connection.get(DB_CONNECTION_ID).get_uri()
        except AirflowNotFoundException:
            url = home.db_url()
        context = get_current_context()     # a run triggered by hand may have no logical date: use its run_after
        run_day = pendulum.instance(context.get("logical_date") or context["dag_run"].run_after
                                    ).in_timezone("Europe/London")
        month = run_day.subtract(months=1).format("YYYY-MM")
        report = write_report(migrate(url), month, home.reports / "board" / month, today=run_day.date())
        log.info("board report for %s: %s, %s", month, report.html.name, report.pdf.name)
        return {"month": month, "html": report.html.name, "pdf": report.pdf.name}

    board_report()


mash_board_report()
