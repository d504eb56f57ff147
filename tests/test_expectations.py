"""Every expectation of every suite fires on a fixture built to break it and stays quiet on a clean one.

The fixture is one synthetic night, ingested and read back as the validator reads it (``batch_frames``), then made
clean of the noise the generator puts in on purpose. Each test breaks the one thing its expectation checks.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import great_expectations as gx
import pandas as pd
import pytest
from stdnum.gb import nhs, upn

from mash.contracts import contracts
from mash.delivery import deliver
from mash.home import Home
from mash.ingest import ingest_agency
from mash.quality import check_file
from mash.quality.frames import batch_frames, with_derived
from mash.quality.suites import Thresholds, parameters, suite_json
from mash.store import migrate
from mash.synth import generate

EXTRACT = date(2026, 11, 2)
THRESHOLDS = Thresholds.load()
SUITES = [(agency, spec.name) for agency, contract in contracts().items() for spec in contract.files]
CASES = [(agency, file, n) for agency, file in SUITES
         for n in range(len(json.loads(suite_json(agency, file))["expectations"]))]


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """Every file of one synthetic night, as frames, cleaned of deliberate noise; and a GX context."""
    root = tmp_path_factory.mktemp("night")
    home = Home(root / "home").ensure()
    engine = migrate(home.db_url())
    generate(children=1500, seed=11, nights=1, out=root / "synth", start=EXTRACT)
    deliver(root / "synth" / "night-01", home)
    frames = {}
    for agency, contract in contracts().items():
        [outcome] = ingest_agency(agency, home, engine)
        with engine.connect() as conn:
            for file, frame in with_derived(agency, batch_frames(conn, contract, outcome.batch_id)).items():
                frames[(agency, file)] = frame
    params = {suite: parameters(f"{suite[0]}.{suite[1]}", EXTRACT, [], THRESHOLDS) for suite in SUITES}
    for suite, frame in frames.items():
        # whole-column shifts first, so that the order checks see the shifted dates
        for expectation in sorted(_expectations(*suite), key=lambda e: e["type"] != "expect_column_max_to_be_between"):
            _repair(frame, expectation, params[suite])
    return frames, params, gx.get_context(mode="ephemeral")


def _expectations(agency: str, file: str) -> list[dict]:
    return json.loads(suite_json(agency, file))["expectations"]


def _resolve(value, params: dict):
    return params[value["$PARAMETER"]] if isinstance(value, dict) else value


def _repair(frame: pd.DataFrame, expectation: dict, params: dict) -> None:
    """Undo the generator's deliberate noise that the expectation would (rightly) report."""
    kind, kw = expectation["type"], expectation["kwargs"]
    if kind == "expect_column_values_to_be_valid_nhs_number":
        frame.loc[~frame[kw["column"]].map(nhs.is_valid, na_action="ignore").fillna(True).astype(bool),
                  kw["column"]] = None
    elif kind == "expect_column_values_to_be_valid_upn":
        frame.loc[~frame[kw["column"]].map(upn.is_valid, na_action="ignore").fillna(True).astype(bool),
                  kw["column"]] = None
    elif kind == "expect_column_values_to_be_between" and "mostly" in kw:
        column = frame[kw["column"]]
        outside = (column < _resolve(kw["min_value"], params)) | (column > _resolve(kw["max_value"], params))
        frame.loc[outside, kw["column"]] = pd.NaT
    elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = frame[kw["column_A"]], frame[kw["column_B"]]
        frame[kw["column_A"]] = a.where(~(a < b), b)
    elif kind == "expect_column_max_to_be_between":
        column = frame[kw["column"]]
        frame[kw["column"]] = column + (pd.Timestamp(params["extract_date"]) - column.max())


def _break(frame: pd.DataFrame, expectation: dict, params: dict) -> pd.DataFrame:
    """A copy of ``frame`` that breaks ``expectation`` in about 5% of its rows (at least one)."""
    kind, kw = expectation["type"], expectation["kwargs"]
    frame = frame.copy()
    rows = frame.index[: max(1, math.ceil(len(frame) * 0.05))]
    column = kw.get("column")
    if kind == "expect_table_columns_to_match_set":
        return frame.drop(columns=[frame.columns[-1]])
    if kind == "expect_column_values_to_be_in_type_list":
        frame[column] = frame[column].astype(str)
    elif kind == "expect_column_values_to_not_be_null":
        frame.loc[rows, column] = None
    elif kind == "expect_column_values_to_be_in_set":
        frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = "NOT-A-CODE"
    elif kind == "expect_column_values_to_be_unique":
        frame.loc[frame.index[1], column] = frame.loc[frame.index[0], column]
    elif kind == "expect_compound_columns_to_be_unique":
        frame.loc[frame.index[1], kw["column_list"]] = frame.loc[frame.index[0], kw["column_list"]].to_numpy()
    elif kind == "expect_column_values_to_be_valid_nhs_number":
        frame.loc[rows, column] = "9434765918"                          # check digit should be 9
    elif kind == "expect_column_values_to_be_valid_upn":
        frame.loc[rows, column] = "A801200301001"                       # wrong check letter
    elif kind == "expect_column_values_to_be_between":
        low, high = _resolve(kw.get("min_value"), params), _resolve(kw.get("max_value"), params)
        frame.loc[rows, column] = (low - timedelta(days=1) if isinstance(low, pd.Timestamp) else low - 1) \
            if low is not None else (high + timedelta(days=30) if isinstance(high, pd.Timestamp) else high + 1)
    elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
        known = frame[kw["column_B"]].dropna()
        frame.loc[rows, kw["column_B"]] = known.iloc[0] if len(known) else pd.Timestamp(params["extract_date"])
        frame.loc[rows, kw["column_A"]] = frame.loc[rows, kw["column_B"]] - timedelta(days=1)
    elif kind == "expect_column_max_to_be_between":
        frame[column] = frame[column] - (frame[column].max() - _resolve(kw["min_value"], params)) \
            - timedelta(days=1)
    elif kind == "expect_table_row_count_to_be_between":
        return frame.iloc[: len(frame) // 3]
    else:
        raise AssertionError(f"no breaker for {kind}: add one with the expectation")
    return frame


@pytest.mark.parametrize("agency,file", SUITES)
def test_a_clean_file_passes_its_whole_suite(night, agency, file):
    frames, params, context = night
    checks = check_file(context, agency, file, frames[(agency, file)], params[(agency, file)], "clean",
                        data_docs=False)
    assert len(checks) == len(_expectations(agency, file))
    assert [c.describe() for c in checks if not c.success] == []


@pytest.mark.parametrize("agency,file,n", CASES, ids=[f"{a}.{f}-{n}" for a, f, n in CASES])
def test_each_expectation_fires_on_a_file_broken_for_it(night, agency, file, n):
    frames, params, context = night
    expectation = _expectations(agency, file)[n]
    suite_params = dict(params[(agency, file)])
    if expectation["type"] == "expect_table_row_count_to_be_between":   # a night far smaller than recent ones
        history = [len(frames[(agency, file)])] * THRESHOLDS.min_history
        suite_params = parameters(f"{agency}.{file}", EXTRACT, [max(h, THRESHOLDS.min_rows) for h in history],
                                  THRESHOLDS)
    broken = _break(frames[(agency, file)], expectation, suite_params)
    checks = check_file(context, agency, file, broken, suite_params, "broken", data_docs=False)
    assert not checks[n].success, f"{expectation['type']} on {checks[n].column} did not fire"
    assert checks[n].severity == expectation["severity"]
