"""The notices commands an officer runs: build, send (to a real SMTP server), list, and the referral lists; no
address or name in what they print."""

from __future__ import annotations

import json

from mash.cli import main
from tests.smtp import SmtpServer


def test_an_officer_builds_sends_and_lists_notices_and_overdue_referrals(home, engine, tmp_path, capsys,
                                                                         monkeypatch):
    out = tmp_path / "synth"
    main(["synth", "--children", "1500", "--seed", "4", "--nights", "1", "--out", str(out)])
    main(["deliver", str(out / "night-01")])
    main(["ingest", "--strict"])
    main(["match", "--run-id", "night-1"])
    capsys.readouterr()

    assert main(["notices", "build", "--as-of", "2026-11-02", "--run-id", "night-1"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["built"] > 0 and built["audit_entries"] > 0
    assert main(["notices", "send"]) == 0
    assert "no SMTP server configured" in capsys.readouterr().err
    with SmtpServer() as smtp:
        monkeypatch.setenv("MASH_SMTP_URL", smtp.url)
        assert main(["notices", "send"]) == 0
        assert json.loads(capsys.readouterr().out)["sent"] == built["built"] == len(smtp.inbox.messages)
    assert main(["notices", "list", "--status", "sent", "--json"]) == 0
    listed = capsys.readouterr().out
    assert len(json.loads(listed)) == built["built"] and "@" not in listed
    assert main(["notices", "build", "--as-of", "2026-11-02", "--run-id", "night-1"]) == 0
    assert json.loads(capsys.readouterr().out)["built"] == 0

    assert main(["referrals", "list", "--as-of", "2026-11-02", "--json"]) == 0
    referrals = capsys.readouterr().out
    assert len(json.loads(referrals)) > 10 and "@" not in referrals
    code = main(["referrals", "overdue", "--as-of", "2026-12-31", "--strict", "--json"])
    overdue = json.loads(capsys.readouterr().out)
    assert code == (1 if overdue else 0) and "@" not in json.dumps(overdue)
