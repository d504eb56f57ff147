"""Sending notices by SMTP, exactly once per notice: each queued notice that is due is sent and marked sent in its
own transaction; a failure records the attempt and the error's type (never a message or an address) and schedules
the next try with exponential backoff; after the last allowed attempt the notice is marked failed for an officer.

The SMTP server comes from MASH_SMTP_URL (``smtp://[user:password@]host[:port]``, ``smtp+starttls://`` or
``smtps://``), or in Airflow from the connection ``mash_smtp``. Without one, notices wait in the outbox (status
``queued``). TLS is verified (certificate and host name) against the system's trust store or the CA file in
MASH_SMTP_CA_FILE; a user and password are never sent over plain ``smtp://``. Every message carries a Message-ID derived from its idempotency key, so in the one case this cannot
rule out, the server accepting a message just before the store fails to record it, the repeat sent on the next run
is recognisably the same message.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine, select, update

from mash.errors import Refused
from mash.notices.outbox import file_name
from mash.notices.settings import Settings, default_settings
from mash.store.schema import notice

SMTP_ENV = "MASH_SMTP_URL"
CA_FILE_ENV = "MASH_SMTP_CA_FILE"
SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SendSummary:
    """Counts only: safe for logs and XCom."""
    sent: int
    failed_attempts: int        # sends that failed tonight and will be retried
    gave_up: int                # notices marked failed after their last allowed attempt
    waiting: int                # queued notices not yet due for another try, or with no SMTP configured

    def as_dict(self) -> dict:
        return asdict(self)


def smtp_url() -> str | None:
    return os.environ.get(SMTP_ENV) or None


class InsecureSmtp(Refused):
    """An SMTP URL the hub will not use: an unknown scheme, or credentials that would cross the network in clear."""


def tls_context() -> ssl.SSLContext:
    """Certificate and host name verified, against MASH_SMTP_CA_FILE (a council's own CA) or the system's store."""
    return ssl.create_default_context(cafile=os.environ.get(CA_FILE_ENV) or None)


def connect(url: str) -> smtplib.SMTP:
    """An SMTP session on ``url``, logged in if it names a user. A certificate that cannot be verified raises
    ``ssl.SSLCertVerificationError`` (an ``OSError``: the send is retried later, as for any outage)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise InsecureSmtp(f"{SMTP_ENV}: the scheme must be one of {sorted(SCHEMES)}")
    if parts.username and parts.scheme == "smtp":
        raise InsecureSmtp(f"{SMTP_ENV}: a user and password are never sent in clear; use smtp+starttls:// or "
                           "smtps://")
    port = parts.port or SCHEMES[parts.scheme]
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(parts.hostname, port, timeout=30, context=tls_context())
    else:
        client = smtplib.SMTP(parts.hostname, port, timeout=30)
    if parts.scheme == "smtp+starttls":
        try:
            client.starttls(context=tls_context())      # raises if the server does not offer STARTTLS
        except BaseException:
            client.close()
            raise
    if parts.username:
        client.login(unquote(parts.username), unquote(parts.password or ""))
    return client


def message(row, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, row.to_address, row.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{file_name(row.idempotency_key)}@mash.notices>"
    msg["X-MASH-Notice"] = row.idempotency_key
    msg.set_content(row.body_text)
    msg.add_alternative(row.body_html, subtype="html")
    return msg


def _failed(engine: Engine, row, error: BaseException, now: datetime, settings: Settings,
            permanent: bool = False) -> bool:
    """Record a failed attempt; True if that was the last allowed one (or the notice can never be sent)."""
    attempts = row.attempts + 1
    last = permanent or attempts >= settings.max_attempts
    with engine.begin() as conn:
        conn.execute(update(notice).where(notice.c.notice_id == row.notice_id).values(
            attempts=attempts, last_error=type(error).__name__[:80], last_attempt_at=now,
            status="failed" if last else "queued",
            next_attempt_at=None if last else now + timedelta(minutes=settings.first_retry_minutes
                                                               * 2 ** (attempts - 1))))
    return last


def send(engine: Engine, url: str | None = None, settings: Settings | None = None,
         now: datetime | None = None) -> SendSummary:
    """Send every queued notice due for a try at ``now`` (the nightly DAG's ``send_notices``)."""
    settings, url = settings or default_settings(), url or smtp_url()
    now = now or datetime.now(timezone.utc)
    with engine.connect() as conn:
        queued = conn.execute(select(notice).where(notice.c.status == "queued").order_by(notice.c.notice_id)).all()
    due = [r for r in queued if r.next_attempt_at is None or _aware(r.next_attempt_at) <= now]
    if url is None:
        return SendSummary(0, 0, 0, len(queued))
    sent = failed = gave_up = 0
    client = None
    for row in due:
        try:
            email = message(row, settings.sender)
        except ValueError as exc:                 # a header that cannot be sent: retrying will not help
            failed += 1
            gave_up += _failed(engine, row, exc, now, settings, permanent=True)
            continue
        try:
            client = client or connect(url)
            client.send_message(email)
        except (smtplib.SMTPException, OSError) as exc:
            failed += 1
            gave_up += _failed(engine, row, exc, now, settings)
            if not isinstance(exc, smtplib.SMTPRecipientsRefused):   # the connection may be gone: open a new one
                client = close(client)
            continue
        with engine.begin() as conn:
            conn.execute(update(notice).where(notice.c.notice_id == row.notice_id).values(
                status="sent", sent_at=now, attempts=row.attempts + 1, last_attempt_at=now, last_error=None,
                next_attempt_at=None))
        sent += 1
    close(client)
    return SendSummary(sent, failed - gave_up, gave_up, len(queued) - sent - failed)


def requeue(engine: Engine, keys: list[str] | None = None) -> int:
    """Queue ``failed`` notices (those with ``keys``, or all) for another try at the next send, after an officer has
    fixed the cause (an address, the mail relay); returns how many. Their attempts so far are kept, and each gets
    one more try before it is marked failed again."""
    query = update(notice).where(notice.c.status == "failed")
    if keys is not None:
        query = query.where(notice.c.idempotency_key.in_(keys))
    with engine.begin() as conn:
        return conn.execute(query.values(status="queued", next_attempt_at=None)).rowcount


def close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
    return None


def _aware(value: datetime) -> datetime:
    """A stored time as UTC, whether the store hands it back zoned (PostgreSQL) or naive UTC (SQLite)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)

