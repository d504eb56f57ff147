"""The agency data contracts: what they hold, how a malformed one is refused, and that the docs match them."""

from __future__ import annotations

import pytest

from mash.contracts import ContractError, code_lists, contracts, load_contract
from mash.contracts.reference import MARKER, render
from tests.conftest import REPO


def test_every_agency_and_the_consent_register_has_a_contract():
    assert set(contracts()) == {"health", "police", "schools", "social_care", "consent"}


def test_social_care_uses_the_children_in_need_census_codes():
    referrals = contracts()["social_care"].file("referrals")
    source = next(c for c in referrals.columns if c.name == "referral_source")
    assert source.codes == "referral_source" and source.required
    codes = set(code_lists()["referral_source"])
    assert {"1A", "2A", "3E", "6", "9", "10"} <= codes and len(codes) == 22
    assert set(code_lists()["abuse_category"]) == {"NEG", "PHY", "SAB", "EMO", "MUL"}
    assert {"NOBT", "REFU"} <= set(code_lists()["ethnicity"])


def test_sensitive_health_services_and_protected_fields_are_flagged():
    sensitive_services = {c.code for c in code_lists()["health_event_type"].values() if c.sensitive}
    assert sensitive_services == {"SH", "CAMHS", "SM", "TOP"}
    la = contracts()["social_care"].file("looked_after")
    assert next(c for c in la.columns if c.name == "placement_postcode").sensitive
    upn = next(c for c in contracts()["schools"].file("pupils").columns if c.name == "upn")
    assert upn.identifying and upn.required


def test_every_reference_points_at_a_real_column():
    for contract in contracts().values():
        for spec in contract.files:
            for col in spec.columns:
                if col.references:
                    target_file, target_col = col.references.split(".")
                    assert target_col in contract.file(target_file).column_names, col.references


@pytest.mark.parametrize(("body", "message"), [
    ("agency: x\ntitle: t\nfiles:\n  - name: f\n    key: [a]\n    columns:\n      - {name: a, type: text}\n",
     "x.yaml: file 'f' column 'a': type 'text' is not one of"),
    ("agency: x\ntitle: t\nfiles:\n  - name: f\n    key: [a]\n    columns:\n      - {name: a, type: code, codes: nope}\n",
     "x.yaml: file 'f' column 'a': code list 'nope' is not defined in codes.yaml"),
    ("agency: x\ntitle: t\nfiles:\n  - name: f\n    key: [b]\n    columns:\n      - {name: a, type: string, max_length: 9}\n",
     "x.yaml: file 'f': key ['b'] names a column the file does not have"),
    ("agency: x\ntitle: t\nfiles:\n  - name: f\n    key: [a]\n    columns:\n      - {name: a, type: string}\n",
     "x.yaml: file 'f' column 'a': a string column needs a max_length"),
    ("agency: x\ntitle: t\nfiles:\n  - name: f\n    key: [a]\n    columns:\n      - {name: a, type: string, colour: red}\n",
     "x.yaml: file 'f' column 'a': unknown attribute(s) ['colour']"),
    ("agency: x\ntitle: t\nencoding: latin-9\nfiles: []\n", "x.yaml: encoding 'latin-9' is not one of"),
    ("title: t\nfiles: []\n", "x.yaml: missing 'agency'"),
])
def test_a_malformed_contract_is_refused_with_a_message_naming_the_field(tmp_path, body, message):
    path = tmp_path / "x.yaml"
    path.write_text(body)
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    assert str(caught.value).startswith(message)


def test_docs_contracts_md_is_generated_from_the_yaml():
    doc = (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
    assert MARKER + doc.split(MARKER, 1)[1] == render(), "run: mash contracts --write docs/contracts.md"
