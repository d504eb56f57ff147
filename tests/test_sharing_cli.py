"""The sharing commands an officer runs: publish, export, decide, audit and policy check, with refusals that exit 1
and name the problem."""

from __future__ import annotations

import json

from sqlalchemy import update

from mash.cli import main
from mash.store.schema import disclosure_audit
from tests.tamper import drop_audit_guard


def test_an_officer_publishes_exports_decides_and_verifies_the_audit(home, engine, tmp_path, capsys):
    out = tmp_path / "synth"
    main(["synth", "--children", "250", "--seed", "4", "--nights", "1", "--out", str(out)])
    main(["deliver", str(out / "night-01")])
    main(["ingest", "--strict"])
    main(["match", "--run-id", "night-1"])
    capsys.readouterr()

    assert main(["publish", "--as-of", "2026-11-02", "--run-id", "night-1"]) == 0
    published = json.loads(capsys.readouterr().out)
    assert published["children"] > 0 and 0 < published["audit_entries"] < published["disclosures"] + published["withheld"]

    assert main(["export", "--recipient", "officers", "--out", str(tmp_path / "officers")]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["rows"]["children"] == published["children"]
    assert main(["export", "--recipient", "press", "--out", str(tmp_path / "press")]) == 1
    assert "unknown recipient 'press'" in capsys.readouterr().err

    child_id = (tmp_path / "officers" / "children.csv").read_text().splitlines()[1].split(",")[0]
    decide = ["decide", "--child", child_id, "--classes", "identity,police_incidents", "--recipients", "schools",
              "--basis", "UK GDPR Art 6(1)(e)", "--rationale", "risk of harm", "--by", "Ann Officer",
              "--review-date", "2099-01-01"]
    assert main([*decide, "--approved-by", "Ann Officer"]) == 1
    assert "approved by someone other" in capsys.readouterr().err
    assert main([*decide, "--approved-by", "Bob Manager"]) == 0
    assert "recorded public-interest decision 1" in capsys.readouterr().out
    assert main(["decide", "list"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["state"] == "in force"

    assert main(["audit", "verify"]) == 0
    assert "chain intact" in capsys.readouterr().out
    assert main(["audit", "show", "--child", child_id, "--recipient", "officers"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown and {e["child_id"] for e in shown} == {child_id}
    with engine.begin() as conn:
        drop_audit_guard(conn)
        conn.execute(update(disclosure_audit).where(disclosure_audit.c.entry_id == 2).values(basis="edited"))
    assert main(["audit", "verify"]) == 1
    assert "TAMPERED: entry 2" in capsys.readouterr().err


def test_policy_check_names_what_is_wrong(tmp_path, capsys):
    assert main(["policy", "check"]) == 0
    assert "valid" in capsys.readouterr().out
    broken = tmp_path / "policy.yaml"
    broken.write_text("version: 1\nrecipients: {}\n", encoding="utf-8")
    assert main(["policy", "check", str(broken)]) == 1
    assert f"{broken}:1:1: consent_scopes: missing" in capsys.readouterr().err
