"""Every file an officer edits, read one strict way.

The six files (``sharing_policy.yaml``, ``night.yaml``, ``quality.yaml``, ``timescales.yaml``, ``notices.yaml``,
``chronology.yaml``) ship in the package (``mash/config/``); MASH_CONFIG_DIR names a folder with the partnership's
own copies of all six, and is the only environment variable that changes which file is read
(:func:`mash.home.config_path`). Each file is parsed by a YAML loader that refuses a key given twice in one mapping
(YAML would silently keep the last), then validated by a pydantic model that refuses unknown keys at every level.
Every error reads ``file:line:column: where: what``, pointing at the key or value at fault, so a typo that would
widen a disclosure (a second ``rules:`` block, a second ``when:``, ``agncy:``) stops the run instead of being taken.

:func:`load` reads a file once per process (the night sees one version of each, however many stages ask);
:func:`read` reads a given path, uncached (``mash policy check FILE``, tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import time
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from mash.contracts import agencies, contracts
from mash.errors import Refused
from mash.home import config_path


class ConfigError(Refused):
    """An officer's configuration file is malformed: ``file:line:column: where: what``."""


# ---------------------------------------------------------------------------------------------------------- YAML

class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML's safe loader (libyaml's parser when installed), refusing a key given twice in one mapping (``<<`` merges
    may still override)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:        # an unhashable key: the safe loader refuses it itself
                    continue
                if first is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        problem=f"duplicate key {key!r} (first given at line {first.line + 1})",
                        problem_mark=key_node.start_mark)
        return super().construct_mapping(node, deep)


def _where(path: Path, mark) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)


def parse(path: Path) -> tuple[Any, yaml.Node | None]:
    """A YAML file's data and its node tree (for locating errors); duplicate keys and bad YAML refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"{_where(path, mark)}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML ({type(exc).__name__})") from None
    finally:
        loader.dispose()


def _locate(node: yaml.Node | None, loc: tuple, at_key: bool):
    """The mark of the node at pydantic location ``loc`` (its key's mark if ``at_key``, or if pydantic says the key
    itself is wrong: ``[key]``), or the nearest above it. Parts that name no node (a union member's type, a key that
    is missing) are passed over."""
    mark = key = node.start_mark if node is not None else None
    for part in loc:
        if part == "[key]":
            mark = key
        elif isinstance(node, yaml.MappingNode):
            pairs = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
            if pairs:
                key_node, node = pairs[-1]
                key = key_node.start_mark
                mark = key if at_key and part == loc[-1] else node.start_mark
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
    return mark


def _dotted(loc: tuple, data) -> str:
    """How a message names the place: ``rules[N3-upn-education-only].when``, ``row_classes[2].class`` (a list item
    by its id, else by its number from 1)."""
    named = ""
    for part in loc:
        if isinstance(part, int) and isinstance(data, list) and 0 <= part < len(data):
            data = data[part]
            ident = data.get("id") if isinstance(data, dict) else None
            named += f"[{ident if isinstance(ident, str) and ident else part + 1}]"
        elif isinstance(part, str) and part != "[key]" and isinstance(data, dict) and (part in data
                                                                                  or part is loc[-1]):
            data = data.get(part)
            named += f".{part}" if named else part
    return named or "(top)"


# -------------------------------------------------------------------------------------------------------- models

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Every model here: unknown keys refused, no silent conversions (``"5"`` is not 5, ``yes`` is not 1)."""
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _version(value: int) -> int:
    if value != 1:
        raise ValueError("this hub reads 'version: 1' files")
    return value


def _clock(value):
    if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError('must be a time HH:MM in quotes (London), e.g. "04:30"')
    return time.fromisoformat(value)


def _mailbox(value: str) -> str:
    if value.count("@") != 1 or any(c in value for c in ",;\r\n "):
        raise ValueError("must be one email address")
    return value


def _sender(value: str) -> str:
    if "@" not in value or any(c in value for c in "\r\n"):
        raise ValueError("must be an email address (a display name may come first)")
    return value


Version = Annotated[int, AfterValidator(_version)]
Clock = Annotated[time, BeforeValidator(_clock)]
Count = Annotated[int, Field(ge=0)]             # a whole number, 0 or more (days, nights, rows)
Positive = Annotated[int, Field(ge=1)]
Share = Annotated[float, Field(ge=0, le=1)]
Mailbox = Annotated[str, AfterValidator(_mailbox)]
Text = Annotated[str, Field(min_length=1)]


def _agency(value: str) -> str:
    if value not in agencies():
        raise ValueError(f"unknown agency {value!r} (the agencies are {', '.join(agencies())})")
    return value


def _every_agency(value: dict, what: str) -> dict:
    missing = [agency for agency in agencies() if agency not in value]
    if missing:
        raise ValueError(f"no {what} for {missing}")
    return value


Agency = Annotated[str, AfterValidator(_agency)]


class Arrivals(Strict):
    check_every_seconds: Positive
    cutoffs: Annotated[dict[Agency, Clock], AfterValidator(lambda v: _every_agency(v, "cut-off"))]


class Deadline(Strict):
    finished_within_minutes: Positive


class Alerts(Strict):
    to: Mailbox


class Retries(Strict):
    count: Count = 2                    # a failed task is tried again this many times before the officers are alerted
    delay_seconds: Positive = 300


class NightFile(Strict):
    """``night.yaml``: when each agency's drop is late, the night's deadline, how a failed task is retried, and where
    alerts go."""
    version: Version
    arrivals: Arrivals
    deadline: Deadline | None = None
    retries: Retries = Retries()
    alerts: Alerts


class Volume(Strict):
    history_nights: Positive
    min_history: Count
    min_rows: Count
    lower: Annotated[float, Field(ge=0)]
    upper: Annotated[float, Field(ge=0)]


class HoldBack(Strict):
    """A batch that would gut an agency's data is held back (see ``mash.quality.hold_back``)."""
    persons_lower: Annotated[float, Field(gt=0, le=1)]
    quarantine_rise: Annotated[float, Field(gt=0, le=1)]
    min_rows: Count


def _contract_file(value: str) -> str:
    agency, _, file = value.partition(".")
    if agency not in contracts() or file not in {spec.name for spec in contracts()[agency].files}:
        raise ValueError(f"no contract file {value!r} (keys are <agency>.<file>, e.g. health.events)")
    return value


class QualityFile(Strict):
    """``quality.yaml``: the data-quality thresholds the expectation suites take as parameters."""
    version: Version
    oldest_child_years: Positive
    expected_birth_within_days: Count
    expected_birth_overdue_days: Count
    freshness_days: dict[Annotated[str, AfterValidator(_contract_file)], Count]
    volume: Volume
    hold_back: HoldBack
    on_time_days: Count
    # the board report shows counts from 1 to this as 'c', with secondary suppression (mash.report.suppression)
    board_suppress_up_to: Positive = 4


class Referrals(Strict):
    decision_working_days: Count
    assessment_working_days: Count
    feedback_working_days: Count
    first_night_lookback_working_days: Count


class Conferences(Strict):
    initial_conference_working_days: Count
    first_review_months: Count
    later_review_months: Count


class Notifications(Strict):
    encompass_school_day_starts: Clock
    visiting_interval_working_days: Count
    school_roll_lookback_days: Count


class Delivery(Strict):
    max_attempts: Positive
    first_retry_minutes: Count


class TimescalesFile(Strict):
    """``timescales.yaml``: the one source of timescales for notices and the board's report."""
    version: Version
    referrals: Referrals
    conferences: Conferences
    notifications: Notifications
    delivery: Delivery


class Inboxes(Strict):
    safeguarding: Mailbox
    data: Mailbox


class NoticesFile(Strict):
    """``notices.yaml``: who notices come from, and each agency's safeguarding and data inboxes."""
    version: Version
    sender: Annotated[str, AfterValidator(_sender)]
    agencies: Annotated[dict[Agency, Inboxes], AfterValidator(lambda v: _every_agency(v, "inboxes"))]


class ChronologyFile(Strict):
    """``chronology.yaml``: what the chronology counts as significant."""
    version: Version
    attendance_absence_at_least: Share


class Recipient(Strict):
    label: Text
    agency: str | None = None


class Basis(Strict):
    article: str | None = None          # both required of a sharing rule: checked with the rule's id in the message
    condition: str | None = None


class RuleSpec(Strict):
    id: str | None = None
    classes: list[str] | None = None
    recipients: list[str] | None = None
    when: str | None = None
    basis: Basis | None = None
    reason: str | None = None
    requires_scope: list[str] = []


class NoticeRuleSpec(Strict):
    id: str | None = None
    notice: str | None = None
    to: str | None = None
    recipients: list[str] | None = None
    classes: list[str] | None = None
    basis: Basis | None = None


class RowClassSpec(Strict):
    file: str
    column: str
    when: str
    data_class: str = Field(alias="class")
    replaces: str | None = None


class PolicyFile(Strict):
    """``sharing_policy.yaml``'s shape; what its names mean is checked by :mod:`mash.sharing.policy`. Top-level keys
    starting with ``_`` only hold YAML anchors (a lawful basis written once) and are not read."""
    version: Version
    recipients: dict[str, Recipient]
    consent_scopes: dict[str, list[str]]
    data_classes: dict[str, str]
    row_classes: list[RowClassSpec] = []
    fields: dict[str, dict[str, dict[str, str]]]
    rules: list[RuleSpec] = Field(min_length=1)
    notices: list[NoticeRuleSpec] = []

    @model_validator(mode="before")
    @classmethod
    def _anchors(cls, raw):
        return {k: v for k, v in raw.items() if not str(k).startswith("_")} if isinstance(raw, dict) else raw


FILES: dict[str, type[Strict]] = {
    "sharing_policy.yaml": PolicyFile, "night.yaml": NightFile, "quality.yaml": QualityFile,
    "timescales.yaml": TimescalesFile, "notices.yaml": NoticesFile, "chronology.yaml": ChronologyFile,
}


# ------------------------------------------------------------------------------------------------------ loading

_MESSAGES = {"extra_forbidden": "unknown key", "missing": "missing"}


@dataclass(frozen=True, eq=False)
class Document(Generic[M]):
    """A validated file: its model, and where each part of it was written (for the checks made after loading)."""
    path: Path
    value: M
    node: yaml.Node | None
    error_type: type[ConfigError] = ConfigError

    def error(self, loc: tuple, message: str, at_key: bool = False) -> ConfigError:
        """An error about the part at ``loc`` (keys and list indexes, as in the model), naming its line and
        column."""
        return self.error_type(f"{_where(self.path, _locate(self.node, loc, at_key))}: {message}")


def _allowed(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys the model allows where an unknown key was found (for the message), if that place is a model."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(model, type) else None
        if field is None:
            continue
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            for c in candidates:         # dict[str, Model] / list[Model]: the model is the last argument
                args = getattr(c, "__args__", ())
                if args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
                    nested = args[-1]
        if nested is None:
            return []
        model = nested
    return sorted(f.alias or name for name, f in model.model_fields.items())


def read(path: Path, model: type[M]) -> Document[M]:
    """Parse and validate ``path`` as ``model``; raises :class:`ConfigError` (``file:line:column: ...``) at the first
    problem."""
    path = Path(path)
    data, node = parse(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{_where(path, node.start_mark if node is not None else None)}: must be a mapping of keys "
                    "(with 'version: 1')")
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        problems = exc.errors(include_url=False, include_input=False)
        # a misspelt key is also a missing one: name the misspelling, which is what the officer typed
        problem = next((p for p in problems if p["type"] == "extra_forbidden"), problems[0])
        loc, kind = tuple(problem["loc"]), problem["type"]
        message = _MESSAGES.get(kind, problem["msg"].removeprefix("Value error, "))
        if kind == "extra_forbidden":
            allowed = _allowed(model, loc)
            message += f" (expected one of: {', '.join(allowed)})" if allowed else ""
        document = Document(path, None, node)
        raise document.error(loc, f"{_dotted(loc, data)}: {message}", at_key=kind == "extra_forbidden") from None
    return Document(path, value, node)


@cache
def _read_once(path: Path, model: type[M]) -> Document[M]:
    return read(path, model)


def load(name: str, error: type[ConfigError] = ConfigError, path: Path | None = None) -> Document:
    """The officers' file ``name``: from MASH_CONFIG_DIR (else the shipped default), read once per process; or, given
    ``path``, that file read now (``mash policy check FILE``, tests)."""
    try:
        document = read(path, FILES[name]) if path is not None else _read_once(config_path(name), FILES[name])
    except ConfigError as exc:
        if error is ConfigError:
            raise
        raise error(str(exc)) from None
    return replace(document, error_type=error)     # the same parsed file, whichever stage's error it raises
