"""The `mash` command: a generated night ingested without the scheduler, and `mash status` reporting it."""

from __future__ import annotations

import json
from datetime import date

from mash.cli import main
from mash.contracts import agencies


def test_synth_deliver_ingest_and_status_without_airflow(home, tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["synth", "--children", "200", "--seed", "3", "--nights", "1", "--out", str(out),
                 "--start", date(2026, 11, 2).isoformat()]) == 0
    assert main(["deliver", str(out / "night-01")]) == 0
    assert main(["ingest", "--strict"]) == 0
    capsys.readouterr()
    assert main(["validate", "--strict"]) == 0
    verdicts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(v["agency"] for v in verdicts) == sorted(agencies())
    assert all(v["verdict"] in ("passed", "warnings") and v["checks"] > 0 for v in verdicts)
    assert main(["validate"]) == 0 and capsys.readouterr().out == ""       # nothing is validated twice

    assert main(["status", "--json"]) == 0
    batches = json.loads(capsys.readouterr().out)
    assert sorted(b["agency"] for b in batches) == sorted(agencies())
    for b in batches:
        assert b["state"] == "loaded"
        assert b["batch_id"].startswith(f"{b['agency']}-20261102-")
        assert b["rows_in"] == b["rows_loaded"] + b["rows_quarantined"] > 0
        assert set(b) >= {"agency", "batch_id", "received_at", "state", "rows_in", "rows_loaded",
                          "rows_quarantined", "reason"}

    assert main(["status"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["agency", "batch", "received", "state"]
    assert {line.split()[1] for line in table[1:]} == {b["batch_id"] for b in batches}


def test_ingest_strict_exits_non_zero_when_a_drop_is_rejected(home, tmp_path, capsys):
    out = tmp_path / "synth"
    main(["synth", "--children", "100", "--seed", "4", "--nights", "1", "--out", str(out)])
    health = next((out / "night-01" / "health").glob("*-events.csv"))
    health.write_bytes(health.read_bytes() + b"X,Y\r\n")      # changed after the manifest was written
    main(["deliver", str(out / "night-01")])
    assert main(["ingest", "--strict"]) == 1
    outcomes = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    rejected = [o for o in outcomes if o["state"] == "rejected"]
    assert [o["agency"] for o in rejected] == ["health"]
    assert rejected[0]["reason"].startswith(f"{health.name}: SHA-256 does not match the manifest")
    assert sum(o["state"] == "loaded" for o in outcomes) == len(agencies()) - 1


def test_an_unexpected_failure_in_one_agency_names_no_value_and_stops_no_other(home, tmp_path, capsys, caplog,
                                                                              monkeypatch):
    import mash.ingest as ingest
    out = tmp_path / "synth"
    main(["synth", "--children", "100", "--seed", "5", "--nights", "1", "--out", str(out)])
    main(["deliver", str(out / "night-01")])
    real_parse = ingest.parse_file

    def failing_for_police(path, spec, contract, encoding):     # injected fault: an error quoting a value
        if contract.agency == "police":
            raise ValueError("could not read 'Zebedee Smith'")
        return real_parse(path, spec, contract, encoding)

    monkeypatch.setattr(ingest, "parse_file", failing_for_police)
    assert main(["ingest"]) == 2
    captured = capsys.readouterr()
    assert "police: drop police-20261102.manifest.json failed with ValueError (details: " in captured.err
    assert "Zebedee" not in captured.err + captured.out + caplog.text
    [details] = (home.root / "errors").iterdir()
    assert details.stat().st_mode & 0o777 == 0o600 and "Zebedee" in details.read_text()
    assert sum(line.startswith("{") for line in captured.out.splitlines()) == len(agencies()) - 1
    assert any(home.agency_landing("police").iterdir()), "the failed drop must stay for a rerun"

    monkeypatch.setattr(ingest, "parse_file", real_parse)
    assert main(["ingest", "--strict"]) == 0
    assert not any(home.agency_landing("police").iterdir())
