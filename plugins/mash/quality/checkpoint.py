"""Running a suite with Great Expectations itself (no Airflow provider) and keeping Data Docs for officers.

The GX project lives in MASH_HOME/quality/gx: suites, validation definitions and checkpoints are written there from
mash/quality/expectations/ on each run, every validation result is kept, and the Data Docs site is rebuilt as results come in
(MASH_HOME/quality/gx/uncommitted/data_docs/local_site/index.html). Results are asked for with no example values
(``partial_unexpected_count: 0``), so neither the results nor the Data Docs repeat a value from an extract.
Mapped tasks validate agencies in parallel and GX writes one project file, so runs take a file lock.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

import great_expectations as gx
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig

from mash.home import Home

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
DATASOURCE = "mash"


def project_dir(home: Home) -> Path:
    return home.root / "quality"


def data_docs_index(home: Home) -> Path:
    return project_dir(home) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


@contextmanager
def gx_project(home: Home):
    """The hub's GX file project under MASH_HOME, held under an exclusive lock."""
    folder = project_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        context = gx.get_context(mode="file", project_root_dir=folder)
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        yield context


def run_suite(context, suite: gx.ExpectationSuite, frame: pd.DataFrame, parameters: dict, run_name: str,
              data_docs: bool = True):
    """Validate ``frame`` against ``suite`` through a checkpoint that updates the Data Docs (unless told not to).

    Returns the suite as stored in the project (its expectations carry ids) and the validation result."""
    suite = context.suites.add_or_update(suite)
    source = context.data_sources.add_or_update_pandas(DATASOURCE)
    asset = next((a for a in source.assets if a.name == suite.name), None) or source.add_dataframe_asset(suite.name)
    definition = next((d for d in asset.batch_definitions if d.name == "whole file"), None) \
        or asset.add_batch_definition_whole_dataframe("whole file")
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=definition, suite=suite))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=suite.name, validation_definitions=[validation], result_format=RESULT_FORMAT,
        actions=[UpdateDataDocsAction(name="data_docs")] if data_docs else []))
    result = checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters,
                            run_id=RunIdentifier(run_name=run_name))
    return suite, next(iter(result.run_results.values()))
