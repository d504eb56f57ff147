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
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from mash.contracts import agencies
from mash.errors import Refused
from mash.home import Home, config_path
from mash.landing import manifest_name
from mash.sharing.policy import read_config
from mash.store.schema import batch

LONDON = ZoneInfo("Europe/London")
ARRIVED, AWAITED, LATE = "arrived", "awaited", "late"
DEADLINE_SWITCH = "MASH_NIGHT_DEADLINE"   # "off" in the embedded Airflow (scripts/airflow-env) and the tests: they run
                                          # nights with `airflow dags test`, which has no scheduler or triggerer to
                                          # watch a deadline, and which in Airflow 3.3.2 fails on a DAG that has one
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class NightSettingsError(Refused):
    """``mash/config/night.yaml`` is malformed: the message names the file and key."""


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


def _duration(raw: dict, section: str, key: str, path: Path) -> timedelta:
    """``<section>.<key>_seconds`` or ``_minutes``: a whole number, 1 or more."""
    unit = key.rsplit("_", 1)[1]
    value = (raw.get(section) or {}).get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise NightSettingsError(f"{path.name}: {section}.{key} must be a whole number of {unit}, 1 or more")
    return timedelta(**{unit: value})


def load_night_settings(path: Path | None = None) -> NightSettings:
    """Read and validate ``mash/config/night.yaml`` (or MASH_NIGHT_CONFIG, or ``path``)."""
    path = Path(path or os.environ.get("MASH_NIGHT_CONFIG") or config_path("night.yaml"))
    raw = read_config(path, NightSettingsError)
    cutoffs = (raw.get("arrivals") or {}).get("cutoffs") or {}
    unknown = set(cutoffs) - set(agencies())
    if unknown:
        raise NightSettingsError(f"{path.name}: arrivals.cutoffs names unknown agencies {sorted(unknown)}")
    for agency in agencies():
        if not _CLOCK.match(str(cutoffs.get(agency, ""))):
            raise NightSettingsError(f"{path.name}: arrivals.cutoffs.{agency} must be a time HH:MM (London)")
    deadline = (_duration(raw, "deadline", "finished_within_minutes", path) if raw.get("deadline") is not None
                else None)
    to = (raw.get("alerts") or {}).get("to")
    if not isinstance(to, str) or to.count("@") != 1 or any(c in to for c in ",;\r\n "):
        raise NightSettingsError(f"{path.name}: alerts.to must be one email address")
    retries = (raw.get("retries") or {}).get("count", 2)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise NightSettingsError(f"{path.name}: retries.count must be a whole number, 0 or more")
    retry_delay = (_duration(raw, "retries", "delay_seconds", path) if (raw.get("retries") or {}).get("delay_seconds")
                   is not None else timedelta(minutes=5))
    return NightSettings(check_every=_duration(raw, "arrivals", "check_every_seconds", path),
                         cutoffs={a: time.fromisoformat(cutoffs[a]) for a in agencies()},
                         finished_within=None if deadline is None or os.environ.get(DEADLINE_SWITCH) == "off"
                         else deadline,
                         alerts_to=to, retries=retries, retry_delay=retry_delay)


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
