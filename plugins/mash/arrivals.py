"""Drop detection: whether each agency's extract for a night has arrived, is still awaited, or is late.

An agency's drop for a night has arrived when its manifest for that night (``<agency>-<YYYYMMDD>.manifest.json``,
written last, see :mod:`mash.landing`) is in its landing folder, or a batch for that night is already in the store
(a rerun of a night whose drop was ingested). Only the manifest is looked at, never a data file still being written.
Until the agency's cut-off (``mash/config/night.yaml``, London time on the night's date) a missing drop is awaited; after
it the agency is late: the nightly run goes on with its last good extract, and the agency gets a late-extract
notice (:mod:`mash.notices.extract_notice`). The same as the nightly DAG's ``wait_for_drop`` and ``mash drops``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from mash import config
from mash.config import ConfigError, NightFile
from mash.contracts import agencies
from mash.home import Home
from mash.landing import LONDON, manifest_name
from mash.store.schema import batch

ARRIVED, AWAITED, LATE = "arrived", "awaited", "late"
DEADLINE_SWITCH = "MASH_NIGHT_DEADLINE"   # "off" in the embedded Airflow (scripts/airflow-env) and the tests: they run
                                          # nights with `airflow dags test`, which has no scheduler or triggerer to
                                          # watch a deadline, and which in Airflow 3.3.2 fails on a DAG that has one


class NightSettingsError(ConfigError):
    """``night.yaml`` is malformed: the message names the file, line, column and key."""


@dataclass(frozen=True)
class NightSettings:
    check_every: timedelta              # between two looks at a waiting agency's landing folder
    cutoffs: dict[str, time]            # agency -> London time on the night's date
    finished_within: timedelta | None   # from when the run was queued; later, the officers are alerted (None: no
                                        # deadline: see DEADLINE_SWITCH)
    alerts_to: str                      # the officers' mailbox
    retries: int = 2                    # a failed task is tried again this many times before the officers are alerted
    retry_delay: timedelta = timedelta(minutes=5)

    def cutoff(self, agency: str, night: date) -> datetime:
        """When ``agency``'s drop for ``night`` is late (zoned, London)."""
        return datetime.combine(night, self.cutoffs[agency], tzinfo=LONDON)


def load_night_settings(path: Path | None = None) -> NightSettings:
    """``night.yaml`` (``path``, else the officers' file: MASH_CONFIG_DIR or the shipped one), validated by
    :class:`mash.config.NightFile`."""
    doc = config.load("night.yaml", NightSettingsError, path)
    night: NightFile = doc.value
    deadline = night.deadline and timedelta(minutes=night.deadline.finished_within_minutes)
    return NightSettings(check_every=timedelta(seconds=night.arrivals.check_every_seconds),
                         cutoffs=dict(night.arrivals.cutoffs),
                         finished_within=None if os.environ.get(DEADLINE_SWITCH) == "off" else deadline,
                         alerts_to=night.alerts.to, retries=night.retries.count,
                         retry_delay=timedelta(seconds=night.retries.delay_seconds))


def drop_state(home: Home, engine: Engine, agency: str, night: date, now: datetime,
               settings: NightSettings | None = None) -> str:
    """``arrived``, ``awaited`` (not yet, before the cut-off) or ``late`` (not by the cut-off) at ``now``."""
    settings = settings or load_night_settings()
    if (home.agency_landing(agency) / manifest_name(agency, night)).is_file():
        return ARRIVED
    with engine.connect() as conn:
        ingested = conn.execute(select(batch.c.batch_id).where(batch.c.agency == agency,
                                                               batch.c.extract_date == night).limit(1)).first()
    if ingested is not None:
        return ARRIVED
    return LATE if now >= settings.cutoff(agency, night) else AWAITED


def drop_states(home: Home, engine: Engine, night: date, now: datetime,
                settings: NightSettings | None = None) -> dict[str, str]:
    """Every agency's :func:`drop_state` (``mash drops``)."""
    settings = settings or load_night_settings()
    return {agency: drop_state(home, engine, agency, night, now, settings) for agency in agencies()}
