"""The officers' configuration files are read strictly: a key given twice, or a key the hub does not know, anywhere in
any of the six files, is refused with the file, line and column, by the loader, by ``mash policy check`` and by
``mash config check``. The typos that once widened disclosure (a second ``rules:`` block, a second ``when:``, an
``agncy:``) are among them. The shipped files load, and MASH_CONFIG_DIR is the one way to point at other copies."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from mash import config
from mash.arrivals import load_night_settings
from mash.cli import main
from mash.config import ConfigError
from mash.home import PACKAGE, config_path
from mash.notices.settings import SettingsError, load_settings
from mash.quality.suites import Thresholds
from mash.sharing.chronology import absence_threshold
from mash.sharing.policy import PolicyError, default_policy, load_policy
from mash.timescales import Timescales

SHIPPED = config_path("sharing_policy.yaml").read_text(encoding="utf-8")


def _line_of(text: str, snippet: str, occurrence: int = 1) -> int:
    """The 1-based line on which ``snippet`` occurs for the ``occurrence``-th time."""
    at = -1
    for _ in range(occurrence):
        at = text.index(snippet, at + 1)
    return text.count("\n", 0, at) + 1


def _refused(tmp_path, text: str, capsys) -> str:
    """The policy ``text`` refused by the loader and by ``mash policy check``, with the same message."""
    path = tmp_path / "sharing_policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert main(["policy", "check", str(path)]) == 1
    assert str(caught.value) in capsys.readouterr().err
    return str(caught.value)


def test_the_shipped_files_load_and_mash_config_check_passes(capsys):
    for name in config.FILES:
        assert isinstance(config.load(name).value, config.FILES[name])
    assert len(default_policy().rules) == 14
    assert load_night_settings().cutoffs["schools"].isoformat() == "04:00:00"
    assert load_settings().first_retry_minutes == 5
    assert Timescales.load().plan_visit_working_days == 10 and Thresholds.load().on_time_days == 1
    assert absence_threshold() == 0.10
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out.count(": valid") == 6


def test_a_second_rules_block_is_refused(tmp_path, capsys):
    """Plain YAML keeps the last ``rules:``: every "never" rule dropped, and UPNs in the police view."""
    attack = SHIPPED + ("\nrules:\n  - id: P9-upn\n    classes: [education_identifier]\n    recipients: [police]\n"
                        "    when: hub_function\n    basis: {article: x, condition: y}\n")
    assert [r["id"] for r in yaml.safe_load(attack)["rules"]] == ["P9-upn"]       # what YAML alone would take
    line = _line_of(attack, "\nrules:", 2) + 1
    message = _refused(tmp_path, attack, capsys)
    assert message.startswith(f"{tmp_path / 'sharing_policy.yaml'}:{line}:1: duplicate key 'rules'")
    assert f"first given at line {_line_of(attack, chr(10) + 'rules:') + 1}" in message


def test_a_second_when_in_a_rule_is_refused(tmp_path, capsys):
    """Plain YAML keeps the last ``when:``: the UPN "never" rule became a public-interest rule."""
    never = "    when: never\n    reason: The unique pupil number"
    attack = SHIPPED.replace(never, "    when: never\n    when: public_interest\n    reason: The unique pupil number")
    assert attack != SHIPPED
    message = _refused(tmp_path, attack, capsys)
    assert re.match(rf".*sharing_policy\.yaml:{_line_of(attack, 'when: public_interest')}:5: duplicate key 'when'",
                    message)


def test_a_misspelt_key_in_a_recipient_is_refused(tmp_path, capsys):
    """``agncy:`` was ignored: police became a recipient of no agency and saw children it does not know."""
    attack = SHIPPED.replace("police: {label: Police, agency: police}", "police: {label: Police, agncy: police}")
    assert attack != SHIPPED
    column = attack.splitlines()[_line_of(attack, "agncy") - 1].index("agncy") + 1
    message = _refused(tmp_path, attack, capsys)
    assert f"sharing_policy.yaml:{_line_of(attack, 'agncy')}:{column}: recipients.police.agncy: unknown key" \
        in message
    assert "expected one of: agency, label" in message


def test_a_recipient_defined_twice_is_refused(tmp_path, capsys):
    attack = SHIPPED.replace("  police: {label: Police, agency: police}\n",
                             "  police: {label: Police, agency: police}\n  police: {label: Police}\n")
    message = _refused(tmp_path, attack, capsys)
    assert f":{_line_of(attack, 'police: {label: Police}')}:3: duplicate key 'police'" in message


CONSENT_BASIS = "    basis:\n      article: UK GDPR Art 6(1)(a) consent\n      condition: not special"


@pytest.mark.parametrize("edit,found", [
    (lambda s: s.replace("    when: never\n    reason: Share the minimum",
                         "    when: never\n    basis: *safeguarding\n    reason: Share the minimum"),
     "a 'never' rule shares nothing"),
    (lambda s: s.replace(f"    when: consent\n{CONSENT_BASIS}",
                         f"    when: consent\n    reason: pupils\n{CONSENT_BASIS}"),
     "a rule that shares takes a basis, not a reason"),
    (lambda s: s.replace("fields:\n  consent:", "fields:\n  probation:\n    cases: {case_id: identity}\n  consent:"),
     "fields.probation: no such agency"),
    (lambda s: s.replace("version: 1", "version: 1\nrule:\n  - id: X"), "rule: unknown key"),
    (lambda s: s.replace("version: 1", "version: '1'"), "version: Input should be a valid integer"),
])
def test_a_key_the_policy_would_ignore_is_refused(tmp_path, capsys, edit, found):
    attack = edit(SHIPPED)
    assert attack != SHIPPED
    message = _refused(tmp_path, attack, capsys)
    assert re.match(r".*sharing_policy\.yaml:\d+:\d+: ", message) and found in message


# -------------------------------------------------------- every level of every file: unknown and duplicate keys

DEFINITIONS = {("sharing_policy.yaml", ("recipients",)), ("sharing_policy.yaml", ("data_classes",))}   # the officers
                                                                        # name these themselves: a new name is no typo


def _mappings(text: str) -> list[tuple[yaml.MappingNode, tuple]]:
    """Every mapping of a YAML text with the keys leading to it, in document order (an alias is not a new one)."""
    seen, found = set(), []

    def walk(node, keys):
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            found.append((node, keys))
            for key, value in node.value:
                walk(value, (*keys, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*keys, index))
    walk(yaml.compose(text, Loader=yaml.CSafeLoader), ())
    return found


def _span(events: list, start: int) -> int:
    """The index after the node that starts at ``events[start]``."""
    depth, at = 0, start
    while True:
        event = events[at]
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        at += 1
        if depth == 0:
            return at


def _without_anchors(events: list) -> list:
    copies = [copy.copy(e) for e in events]
    for event in copies:
        if hasattr(event, "anchor") and not isinstance(event, yaml.AliasEvent):
            event.anchor = None
    return copies


def _edited(name: str, target: int, duplicate: bool) -> str:
    """The shipped file with, in its ``target``-th mapping, a copy of the first entry under a key the hub does not
    know (``zzz_unknown``), or (``duplicate``) the first entry given twice."""
    events = list(yaml.parse(config_path(name).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
    starts = [i for i, e in enumerate(events) if isinstance(e, yaml.MappingStartEvent)]
    key_at = starts[target] + 1
    value_end = _span(events, key_at + 1)
    key = copy.copy(events[key_at])
    if not duplicate:
        key.value, key.style, key.implicit = "zzz_unknown", None, (True, False)
    entry = [key, *_without_anchors(events[key_at + 1:value_end])]
    return yaml.emit(events[:value_end] + entry + events[value_end:], Dumper=yaml.CDumper, width=1000)


CASES = [(name, index, keys, duplicate) for name in config.FILES
         for index, (_, keys) in enumerate(_mappings(config_path(name).read_text(encoding="utf-8")))
         for duplicate in (False, True) if duplicate or (name, keys) not in DEFINITIONS]


@pytest.mark.parametrize("name,index,keys,duplicate", CASES,
                         ids=[f"{n}:{'.'.join(map(str, k)) or 'top'}:{'duplicate' if d else 'unknown'}:{i}"
                              for n, i, k, d in CASES])
def test_every_level_of_every_file_refuses_unknown_and_duplicate_keys(tmp_path, name, index, keys, duplicate):
    text = _edited(name, index, duplicate)
    folder = tmp_path / "config"
    folder.mkdir()
    for other in config.FILES:
        (folder / other).write_text(text if other == name else config_path(other).read_text(), encoding="utf-8")
    path = folder / name
    mark = _mappings(text)[index][0].value[1][0].start_mark          # plain YAML keeps both keys in its node tree
    with pytest.raises(ConfigError) as caught:
        load_policy(path) if name == "sharing_policy.yaml" else config.load(name, path=path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{mark.line + 1}:{mark.column + 1}: "), (message, text.splitlines()[mark.line])
    assert ("duplicate key" if duplicate else "zzz_unknown") in message


def test_the_file_checker_names_every_broken_file(config_dir, capsys):
    quality = (config_dir / "quality.yaml").read_text().replace("  min_rows: 100", "  min_rows: 100\n  min_rows: 10")
    notices = (config_dir / "notices.yaml").read_text().replace("  police: {safeguarding", "  polise: {safeguarding")
    (config_dir / "quality.yaml").write_text(quality)
    (config_dir / "notices.yaml").write_text(notices)
    assert main(["config", "check"]) == 1
    captured = capsys.readouterr()
    assert f"{config_dir / 'quality.yaml'}:{_line_of(quality, 'min_rows: 10', 2)}:3: duplicate key 'min_rows'" \
        in captured.err
    assert f"{config_dir / 'notices.yaml'}:{_line_of(notices, 'polise')}:3: agencies.polise: unknown agency" \
        in captured.err
    assert captured.out.count(": valid") == 4


def test_mash_config_dir_is_the_one_way_to_other_files(config_dir):
    """Every loader reads the partnership's copies, once per process; no other variable names a file."""
    (config_dir / "timescales.yaml").write_text((config_dir / "timescales.yaml").read_text()
                                                .replace("decision_working_days: 1 ", "decision_working_days: 2 "))
    (config_dir / "chronology.yaml").write_text("version: 1\nattendance_absence_at_least: 0.2\n")
    assert Timescales.load().referral_decision_working_days == load_settings().decision_working_days == 2
    assert config.load("timescales.yaml").value is config.load("timescales.yaml", SettingsError).value   # one read
    assert absence_threshold() == 0.2
    (config_dir / "chronology.yaml").write_text("version: 1\nattendance_absence_at_least: 0.3\n")
    assert absence_threshold() == 0.2                 # read once: tonight's stages all see the same file
    assert default_policy().source == str(config_dir / "sharing_policy.yaml")
    source = "".join(p.read_text() for p in (PACKAGE).rglob("*.py"))
    assert not re.search(r"MASH_(NIGHT_CONFIG|TIMESCALES|NOTICE_CONTACTS|SHARING_POLICY|CHRONOLOGY)\b", source)


def test_a_missing_file_in_the_config_dir_is_refused_naming_it(config_dir):
    (config_dir / "night.yaml").unlink()
    with pytest.raises(ConfigError, match=re.escape(f"{config_dir / 'night.yaml'}: cannot be read")):
        load_night_settings()
