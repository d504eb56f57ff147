"""Mail over verified TLS, against a real local SMTP server (aiosmtpd) with a self-signed certificate: a
certificate the hub does not trust is refused before anything (a login, a notice) is sent; with the certificate's
CA in MASH_SMTP_CA_FILE it is accepted; a user and password are never sent over plain SMTP."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from mash.alerts import send_alert, task_failed
from mash.notices.sending import CA_FILE_ENV, InsecureSmtp, send
from mash.store.schema import notice
from tests.smtp import SmtpServer, self_signed_certificate

NOW = datetime(2026, 11, 3, 7, 0, tzinfo=timezone.utc)


def _queue_notice(engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(notice).values(
            idempotency_key="referral-ack:R1", kind="referral_ack", recipient="schools", about="R1", run_id="run-1",
            as_of=date(2026, 11, 3), created_at=NOW, to_address="dsl@school.example", subject="Referral received",
            body_text="received", body_html="<p>received</p>", status="queued", attempts=0))


def _with_login(url: str) -> str:
    return url.replace("://", "://mash:relay-secret@", 1)


@pytest.mark.parametrize("tls", ["starttls", "smtps"])
def test_a_certificate_the_hub_does_not_trust_is_refused_and_its_ca_file_makes_it_trusted(
        engine, tmp_path, monkeypatch, tls):
    certificate = self_signed_certificate(tmp_path)
    _queue_notice(engine)
    monkeypatch.delenv(CA_FILE_ENV, raising=False)
    with SmtpServer(tls=tls, certificate=certificate) as smtp:
        summary = send(engine, _with_login(smtp.url), now=NOW)
        assert (summary.sent, summary.failed_attempts) == (0, 1)
        assert smtp.inbox.messages == [] and smtp.logins == []          # no password, no notice crossed
        with engine.connect() as conn:
            row = conn.execute(select(notice)).one()
        assert (row.status, row.last_error) == ("queued", "SSLCertVerificationError")

        monkeypatch.setenv(CA_FILE_ENV, str(certificate[0]))
        summary = send(engine, _with_login(smtp.url), now=NOW + timedelta(days=1))
        assert summary.sent == 1 and smtp.inbox.keys() == ["referral-ack:R1"] and smtp.logins == ["mash"]


def test_a_password_is_never_sent_over_plain_smtp(engine):
    _queue_notice(engine)
    with SmtpServer() as smtp:
        with pytest.raises(InsecureSmtp, match="never sent in clear") as refused:
            send(engine, _with_login(smtp.url), now=NOW)
        assert "relay-secret" not in str(refused.value) and smtp.inbox.messages == []
        assert send(engine, smtp.url, now=NOW).sent == 1                    # no login: plain SMTP is allowed


def test_an_alert_is_not_sent_to_an_untrusted_relay_and_stays_in_the_outbox(home, tmp_path, monkeypatch):
    monkeypatch.delenv(CA_FILE_ENV, raising=False)
    alert = task_failed("mash_nightly", "run-1", "ingest", "police", 3, "OperationalError", None, None)
    with SmtpServer(tls="starttls", certificate=self_signed_certificate(tmp_path)) as smtp:
        assert send_alert(alert, home, _with_login(smtp.url)) is False
        assert smtp.inbox.messages == [] and smtp.logins == []
        assert send_alert(alert, home, _with_login(smtp.url).replace("smtp+starttls", "smtp")) is False
        assert smtp.logins == []
    assert len(list((home.outbox / "officers").iterdir())) == 1
