"""Files people open in a spreadsheet never carry a live formula (OWASP CSV injection): every text value starting
with =, +, -, @, a tab or a carriage return is written with a leading ', in the shared-view export, `mash link`'s
files and the CLI's tab-separated tables."""

from __future__ import annotations

import csv
import itertools

import pandas as pd
import pytest
from sqlalchemy import String, Text, text

from mash.cli import main, write_csv
from mash.sharing.export import export_view
from mash.sharing.publication import publish
from mash.spreadsheet import FORMULA_STARTS, safe_cell, safe_frame
from mash.store.schema import shared_child, shared_chronology, shared_involvement
from tests.views import NIGHT, RECIPIENTS, populate_town

KEYS = {"publication_id", "child_id", "data_class"}      # the views join on these


def _cells(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_formula_in_every_exported_text_column_is_written_as_text(engine, home, tmp_path):
    populate_town(home, engine, tmp_path / "synth", children=150)
    publish(engine, "night-1", NIGHT)
    starts = itertools.cycle(FORMULA_STARTS)
    poisoned = set()
    with engine.begin() as conn:        # hostile values already in the store, in every text column a view shows
        for table in (shared_child, shared_involvement, shared_chronology):
            for column in table.columns:
                if isinstance(column.type, (String, Text)) and column.name not in KEYS:
                    start = next(starts).replace("'", "''")
                    conn.execute(text(f"UPDATE {table.name} SET {column.name} = '{start}' || {column.name} "
                                      f"WHERE {column.name} IS NOT NULL"))
                    poisoned.add(column.name)
    for recipient in RECIPIENTS:
        export_view(engine, recipient, RECIPIENTS, tmp_path / recipient)
        for name in ("children", "involvement", "chronology"):
            rows = _cells(tmp_path / recipient / f"{name}.csv")
            for column in poisoned & set(rows[0] if rows else ()):
                values = [row[column] for row in rows if row[column]]
                assert all(value.startswith("'") and value[1:2] in FORMULA_STARTS for value in values), \
                    (recipient, name, column, values[:3])
            assert not any(value.startswith(FORMULA_STARTS) for row in rows for value in row.values())
    assert {"given_name", "family_name", "nhs_number", "practitioner_email", "description", "agency"} <= poisoned


def test_mash_link_files_and_cli_tables_neutralise_formulas(tmp_path, capsys):
    records = pd.DataFrame({"record_id": ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "+1", "-1", "plain"],
                            "score": [-1.5, 2.0, -0.0, 0.5, 1.0]})
    write_csv(records, tmp_path / "pairs.csv", rows=2)
    written = _cells(tmp_path / "pairs.csv")
    assert [row["record_id"] for row in written] == ["'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'+1", "'-1", "plain"]
    assert [row["score"] for row in written] == ["-1.5", "2", "-0", "0.5", "1"]      # numbers stay numbers
    assert safe_cell("\tcmd") == "'\tcmd" and safe_cell("\r=1") == "'\r=1" and safe_cell(-3) == -3
    assert safe_frame(pd.DataFrame({"n": [None, 3]})).equals(pd.DataFrame({"n": [None, 3]}))


@pytest.mark.parametrize("value", ["=1+1", "@x", "\t=1"])
def test_the_cli_tab_separated_table_is_safe_to_open(value, capsys):
    from mash.cli import _print_rows
    _print_rows([{"notice_key": value, "attempts": 1}], as_json=False)
    assert capsys.readouterr().out.splitlines()[1].startswith("'")
