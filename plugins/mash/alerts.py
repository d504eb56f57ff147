"""Alerts to the information-sharing officers: a task of the nightly run that failed for good (after its retries), a
night not finished by its deadline (``mash/config/night.yaml``), a night whose matching was held for approval, or a
batch held back because it would gut its agency's data.

An alert carries ids and counts only: the run, the task and its agency, the try, the error's type (never its
message, which could quote a value from an extract), and the night's batches with their states and row counts. It
is written to ``MASH_HOME/outbox/officers/`` (so it is never lost) and sent to the officers' mailbox by SMTP
(MASH_SMTP_URL, or in Airflow the connection ``mash_smtp``); its Message-ID is derived from its key, so a repeat
is recognisably the same alert. Airflow calls these through the DAG's failure callback and its deadline alert.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import smtplib
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from mash.arrivals import LONDON, NightSettings, load_night_settings
from mash.contracts import agencies
from mash.errors import Refused
from mash.home import Home
from mash.notices.outbox import file_name
from mash.notices.sending import close, connect, smtp_url
from mash.notices.settings import default_settings
from mash.store import new_engine
from mash.store.schema import batch

log = logging.getLogger(__name__)
OFFICERS = "officers"


@dataclass(frozen=True)
class Alert:
    key: str                    # unique per event: the same failure alerted twice is recognisably one
    subject: str
    lines: tuple[str, ...]

    def text(self) -> str:
        return "\n".join((*self.lines, "", f"Alert key: {self.key}", "")) + "\n"


def night_lines(engine: Engine | None, night: date | None) -> tuple[str, ...]:
    """The night's drops per agency: batch ids, states and row counts (no content), or why they are unknown."""
    if engine is None or night is None:
        return ("The night's drops could not be listed (no store or no night date).",)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(batch.c.agency, batch.c.batch_id, batch.c.state, batch.c.rows_in,
                                       batch.c.rows_loaded, batch.c.rows_quarantined)
                                .where(batch.c.extract_date == night).order_by(batch.c.batch_id)).all()
    except SQLAlchemyError as exc:
        return (f"The night's drops could not be listed: the store did not answer ({type(exc).__name__}).",)
    lines = [f"Drops for {night}:"]
    for agency in agencies():
        mine = [r for r in rows if r.agency == agency]
        lines += [f"  {agency}: batch {r.batch_id} {r.state}, rows in {r.rows_in}, loaded {r.rows_loaded}, "
                  f"quarantined {r.rows_quarantined}" for r in mine] or [f"  {agency}: no drop"]
    return tuple(lines)


def task_failed(dag_id: str, run_id: str, task_id: str, map_index: str | None, try_number: int,
                error_type: str, night: date | None, engine: Engine | None) -> Alert:
    """A task failed after its last retry."""
    where = f"{task_id} [{map_index}]" if map_index else task_id
    return Alert(key=f"failed:{dag_id}:{run_id}:{task_id}:{map_index or '-'}:{try_number}",
                 subject=f"MASH alert: {where} failed in {dag_id}",
                 lines=(f"The task {where} of {dag_id}, run {run_id}, failed on try {try_number} and will not be "
                        "retried.", f"Error type: {error_type}",
                        "The rest of the night goes on where it does not depend on this task. See the task's log "
                        "in Airflow, and docs/operations.md, 'Reading the alerts'.", "", *night_lines(engine, night)))


def night_overdue(dag_id: str, run_id: str, deadline: str, night: date | None, engine: Engine | None) -> Alert:
    """The night was not finished by its deadline."""
    return Alert(key=f"overdue:{dag_id}:{run_id}", subject=f"MASH alert: {dag_id} not finished by {deadline}",
                 lines=(f"The run {run_id} of {dag_id} had not finished by its deadline, {deadline}.",
                        "Agencies awaited until their cut-off, a slow task or a stuck worker are the usual causes. "
                        "See the run in Airflow, and docs/operations.md, 'Reading the alerts'.", "",
                        *night_lines(engine, night)))


def night_held(run_id: str, reasons: list[str]) -> Alert:
    """Tonight's matching was held (:mod:`mash.link.held`): it would change more children than the settings allow."""
    return Alert(key=f"held:{run_id}", subject=f"MASH alert: matching run {run_id} held for an officer's approval",
                 lines=(f"The matching run {run_id} would change more children than the link settings allow "
                        f"({'; '.join(reasons)}). It has not been applied or published: the children and the "
                        "shared views in force stay.",
                        "An agency's system migration that re-keyed its records is the usual cause. Approve it (in "
                        "Airflow under Required Actions, or `mash match approve RUN --by NAME --reason TEXT`) or "
                        "reject it (`mash match reject ...`): see docs/operations.md, 'A held night'."))


def batch_held(batch_id: str, agency: str, reason: str) -> Alert:
    """A batch held back as gutting its agency's data (:mod:`mash.quality.hold_back`); the reason holds counts only."""
    return Alert(key=f"batch-held:{batch_id}", subject=f"MASH alert: {agency} batch {batch_id} held back",
                 lines=(f"The {agency} batch {batch_id} was not made current: {reason}.",
                        f"The shared views keep using {agency}'s last good batch; the agency has been sent the "
                        "reason. See docs/operations.md, 'A batch held back'."))


def send_alert(alert: Alert, home: Home, url: str | None, settings: NightSettings | None = None) -> bool:
    """Write the alert to the officers' outbox and send it; True if the SMTP server took it. A failed send is
    logged with the error's type only and the alert stays in the outbox."""
    settings = settings or load_night_settings()
    try:
        folder = home.outbox / OFFICERS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{file_name(alert.key)}.txt"
        path.touch(mode=0o600)
        path.write_text(alert.text(), encoding="utf-8")
    except OSError as exc:                      # a full disk must not stop the email as well
        log.warning("alert %s could not be written to the outbox (%s)", _short(alert.key), type(exc).__name__)
    if url is None:
        log.warning("alert %s written to the outbox; no SMTP server is configured", _short(alert.key))
        return False
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = default_settings().sender, settings.alerts_to, alert.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{file_name(alert.key)}@mash.alerts>"
    msg["X-MASH-Alert"] = alert.key
    msg.set_content(alert.text())
    client = None
    try:
        client = connect(url)
        client.send_message(msg)
    except (smtplib.SMTPException, OSError, Refused) as exc:      # Refused: an insecure MASH_SMTP_URL
        log.warning("alert %s could not be sent (%s); it is in the outbox", _short(alert.key), type(exc).__name__)
        return False
    finally:
        close(client)
    log.info("alert %s sent to the officers", _short(alert.key))
    return True


def _short(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


async def deadline_missed(context: dict | None = None, **_) -> bool:
    """Airflow's deadline alert calls this on its triggerer with a plain dict describing the run (the API's
    DAGRunResponse: the run id is ``dag_run_id``); the store and the SMTP server come from MASH_DB_URL and
    MASH_SMTP_URL there. The work is blocking (database, SMTP), so it runs in a thread, not on the triggerer's
    event loop."""
    return await asyncio.to_thread(_overdue, context or {})


def _overdue(context: dict) -> bool:
    run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    when = run.get("logical_date") or run.get("run_after")
    night = datetime.fromisoformat(str(when)).astimezone(LONDON).date() if when else None
    home = Home.from_env()
    engine = new_engine(home.db_url())
    try:
        alert = night_overdue(str(run.get("dag_id", "?")), str(run.get("dag_run_id") or run.get("run_id") or "?"),
                              str(deadline.get("deadline_time", "its deadline")), night, engine)
        return send_alert(alert, home.ensure(), smtp_url())
    finally:
        engine.dispose()
