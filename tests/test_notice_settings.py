"""The notices' settings: the shipped timescales and contacts load; a malformed file is refused naming the file, line,
column and key."""

from __future__ import annotations

import re

import pytest
import yaml

from mash.home import config_path
from mash.notices.settings import SettingsError, load_settings

TIMESCALES = config_path("timescales.yaml")
CONTACTS = config_path("notices.yaml")


def test_the_shipped_settings_hold_the_agreed_timescales():
    settings = load_settings()
    assert (settings.decision_working_days, settings.feedback_working_days, settings.assessment_working_days) == \
        (1, 1, 45)
    assert settings.encompass_school_day_starts.isoformat() == "08:30:00"
    assert set(settings.inboxes) == {"health", "police", "schools", "social_care", "consent"}


@pytest.mark.parametrize("which,change,message", [
    ("timescales", lambda raw: raw["referrals"].update(decision_working_days=-1),
     "referrals.decision_working_days: Input should be greater than or equal to 0"),
    ("timescales", lambda raw: raw["referrals"].update(feedback_working_days="one"),
     "referrals.feedback_working_days: Input should be a valid integer"),
    ("timescales", lambda raw: raw["notifications"].update(encompass_school_day_starts="breakfast"),
     "notifications.encompass_school_day_starts: must be a time HH:MM"),
    ("timescales", lambda raw: raw.update(version=3), "version: this hub reads 'version: 1' files"),
    ("timescales", lambda raw: raw["delivery"].update(max_attempt=3), "delivery.max_attempt: unknown key"),
    ("contacts", lambda raw: raw["agencies"].pop("police"), "agencies: no inboxes for ['police']"),
    ("contacts", lambda raw: raw["agencies"]["police"].update(data="a@x, b@y"), "agencies.police.data: must be one"),
    ("contacts", lambda raw: raw.update(sender="nobody"), "sender: must be an email address"),
])
def test_a_malformed_settings_file_is_refused_naming_the_key(tmp_path, which, change, message):
    source = TIMESCALES if which == "timescales" else CONTACTS
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SettingsError, match=rf"^{re.escape(str(path))}:\d+:\d+: {re.escape(message)}"):
        load_settings(**{which: path})
