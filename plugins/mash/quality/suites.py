"""The expectation suites (mash/quality/expectations/<agency>/<file>.json) and the thresholds they take from mash/config/quality.yaml.

A suite names its batch-dependent bounds as GX suite parameters ({"$PARAMETER": name}); ``parameters`` computes
them for one batch: dates of birth plausible for a child or an unborn child on the extract date, no event after the
extract, freshness, and tonight's volume against the median of recent accepted nights.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import great_expectations as gx
import pandas as pd

import mash.quality.expectations  # noqa: F401  (registers the NHS number and UPN expectations with GX)
from mash import config
from mash.config import QualityFile
from mash.home import PACKAGE

SUITES = PACKAGE / "quality" / "expectations"


@dataclass(frozen=True)
class Thresholds:
    oldest_child_years: int
    expected_birth_within_days: int
    expected_birth_overdue_days: int
    freshness_days: dict[str, int]
    history_nights: int
    min_history: int
    min_rows: int
    lower: float
    upper: float
    on_time_days: int
    board_suppress_up_to: int
    hold_persons_lower: float
    hold_quarantine_rise: float
    hold_min_rows: int

    @classmethod
    def load(cls, path: Path | None = None) -> "Thresholds":
        """From the officers' ``quality.yaml`` (MASH_CONFIG_DIR or the shipped one), or ``path``; a malformed file
        raises :class:`mash.config.ConfigError` naming its line and key."""
        q: QualityFile = config.load("quality.yaml", path=path).value
        return cls(q.oldest_child_years, q.expected_birth_within_days, q.expected_birth_overdue_days,
                   dict(q.freshness_days), q.volume.history_nights, q.volume.min_history, q.volume.min_rows,
                   q.volume.lower, q.volume.upper, q.on_time_days, q.board_suppress_up_to,
                   q.hold_back.persons_lower, q.hold_back.quarantine_rise, q.hold_back.min_rows)


def suite_path(agency: str, file: str) -> Path:
    return SUITES / agency / f"{file}.json"


@cache
def suite_json(agency: str, file: str) -> str:
    return suite_path(agency, file).read_text(encoding="utf-8")


def load_suite(agency: str, file: str) -> gx.ExpectationSuite:
    """The reviewed suite for one contract file, as a GX ExpectationSuite."""
    return gx.ExpectationSuite(**json.loads(suite_json(agency, file)))


def parameters(suite_name: str, extract_date: date, history: list[int], thresholds: Thresholds) -> dict:
    """The suite parameters for one file of one batch; ``history`` holds the file's rows on recent accepted nights."""
    day = pd.Timestamp(extract_date)
    fresh_days = thresholds.freshness_days.get(suite_name)
    volume_min, volume_max = 0, None
    if len(history) >= thresholds.min_history:
        median = statistics.median(history)
        if median >= thresholds.min_rows:
            volume_min, volume_max = int(median * thresholds.lower), int(median * thresholds.upper)
    return {
        "extract_date": day,
        "extract_end": day + timedelta(days=1),
        "oldest_birth": day - pd.DateOffset(years=thresholds.oldest_child_years),
        "latest_expected_birth": day + timedelta(days=thresholds.expected_birth_within_days),
        "oldest_expected_birth": day - timedelta(days=thresholds.expected_birth_overdue_days),
        "fresh_since": day - timedelta(days=fresh_days) if fresh_days is not None else None,
        "volume_min": volume_min,
        "volume_max": volume_max,
    }
