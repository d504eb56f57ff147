"""The sharing policy: which data class may reach which recipient, under which condition and lawful basis.

Loaded from ``mash/config/sharing_policy.yaml`` (or MASH_SHARING_POLICY) and validated at load: every error names the
rule or the field. Deciding is default deny: :meth:`Policy.decide` returns the first rule whose condition holds for
the child, a "never" rule wins over every other, and with no rule the answer is :data:`DEFAULT_DENY`.

The ``notices`` section holds the rules for what the hub tells a named professional unasked (feedback to a referrer,
notifications such as Operation Encompass): each names its notice kind, the recipients, the data classes a notice
may carry and its lawful basis; :meth:`Policy.decide_notice` allows a notice only within its rule, and never what a
"never" rule forbids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from mash.errors import Refused
from mash.contracts import code_lists, contracts
from mash.home import config_path

DEFAULT_PATH = config_path("sharing_policy.yaml")
CONDITIONS = ("never", "significant_harm", "consent", "public_interest", "hub_function")
ROW_CONDITIONS = ("sensitive_code", "true")
DEFAULT_DENY = "default-deny"
# The notices the hub knows how to build (mash.notices), and the professional each is addressed to.
NOTICE_KINDS = {
    "referral_acknowledgement": "referrer",
    "referral_outcome": "referrer",
    "encompass": "school_dsl",
    "emergency_attendance": "social_worker",
    "school_move": "social_worker_and_new_school",
    "visit_overdue": "team_manager",
}


class PolicyError(Refused):
    """The policy file is malformed or contradicts itself: the message names the rule or field."""


@dataclass(frozen=True)
class Rule:
    id: str
    classes: frozenset[str]
    recipients: frozenset[str]
    when: str
    basis: str                          # the lawful basis as recorded in the audit; the reason for a "never" rule
    requires_scope: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NoticeRule:
    """A notice kind the hub may send unasked: to whom, carrying which classes, on what basis."""
    id: str
    notice: str
    recipients: frozenset[str]
    classes: frozenset[str]
    basis: str


@dataclass(frozen=True)
class RowClass:
    """Rows of ``file`` whose ``column`` meets ``when`` belong to ``data_class`` rather than their columns' class."""
    agency: str
    file: str
    column: str
    when: str
    data_class: str
    replaces: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the policy's conditions need to know about one child tonight."""
    consent_scopes: frozenset[str] = frozenset()          # scopes of consent GIVEN and in force; empty if none
    significant_harm: bool = False
    public_interest: frozenset[tuple[str, str]] = frozenset()    # (data class, recipient) under decisions in force


@dataclass(frozen=True)
class Decision:
    disclose: bool
    rule_id: str
    basis: str


@dataclass(frozen=True)
class Policy:
    recipients: dict[str, str | None]                     # recipient -> the agency it is, if any
    consent_scopes: dict[str, frozenset[str]]
    data_classes: dict[str, str]
    fields: dict[tuple[str, str, str], str]              # (agency, file, column) -> data class
    row_classes: tuple[RowClass, ...]
    rules: tuple[Rule, ...]
    notices: tuple[NoticeRule, ...] = ()
    source: str = field(default="", compare=False)

    def class_of(self, agency: str, file: str, column: str) -> str:
        return self.fields[(agency, file, column)]

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def never(self, data_class: str, recipient: str) -> Rule | None:
        return next((r for r in self.rules if r.when == "never" and data_class in r.classes
                     and recipient in r.recipients), None)

    def publishable(self, data_class: str) -> bool:
        """Whether any rule could ever share the class with anyone."""
        return any(r.when != "never" and data_class in r.classes for r in self.rules)

    def consented(self, facts: Facts, recipient: str, required: frozenset[str]) -> bool:
        covered = any(recipient in self.consent_scopes.get(scope, ()) for scope in facts.consent_scopes)
        return covered and required <= facts.consent_scopes

    def holds(self, rule: Rule, facts: Facts, data_class: str, recipient: str) -> bool:
        if rule.when == "significant_harm":
            return facts.significant_harm
        if rule.when == "consent":
            return self.consented(facts, recipient, rule.requires_scope)
        if rule.when == "public_interest":
            return (data_class, recipient) in facts.public_interest
        return rule.when == "hub_function"

    def decide(self, recipient: str, data_class: str, facts: Facts) -> Decision:
        forbidden = self.never(data_class, recipient)
        if forbidden:
            return Decision(False, forbidden.id, forbidden.basis)
        for rule in self.rules:
            if data_class in rule.classes and recipient in rule.recipients and self.holds(rule, facts, data_class,
                                                                                         recipient):
                return Decision(True, rule.id, rule.basis)
        return Decision(False, DEFAULT_DENY, "No rule of the sharing policy allows it (default deny)")

    def decide_notice(self, notice: str, recipient: str, classes: set[str]) -> Decision:
        """Whether a ``notice`` carrying ``classes`` may go to ``recipient``: only under the notice's rule, for a
        recipient it names, with every class it carries covered, and never a class a "never" rule forbids."""
        for data_class in sorted(classes):
            forbidden = self.never(data_class, recipient)
            if forbidden:
                return Decision(False, forbidden.id, forbidden.basis)
        rule = next((r for r in self.notices if r.notice == notice), None)
        if rule is None or recipient not in rule.recipients or not classes <= rule.classes:
            return Decision(False, DEFAULT_DENY, "No notice rule of the sharing policy allows it (default deny)")
        return Decision(True, rule.id, rule.basis)


def _listed(raw: dict, key: str, where: str, allowed, what: str) -> frozenset[str]:
    values = raw.get(key)
    if not isinstance(values, list) or not values:
        raise PolicyError(f"{where}: {key!r} must be a non-empty list")
    unknown = sorted(set(map(str, values)) - set(allowed))
    if unknown:
        raise PolicyError(f"{where}: unknown {what} {unknown}")
    return frozenset(map(str, values))


def _basis(raw: dict, where: str) -> str:
    if raw["when"] == "never":
        reason = raw.get("reason")
        if not reason:
            raise PolicyError(f"{where}: a 'never' rule needs a reason")
        return f"Not shared: {reason}"
    basis = raw.get("basis")
    if not isinstance(basis, dict) or not basis.get("article") or not basis.get("condition"):
        raise PolicyError(f"{where}: needs a lawful basis: an 'article' (UK GDPR) and a 'condition' (DPA 2018, or "
                          "why none is needed)")
    unknown = set(basis) - {"article", "condition"}
    if unknown:
        raise PolicyError(f"{where}: basis has unknown key(s) {sorted(unknown)}")
    return "; ".join(str(basis[k]) for k in ("article", "condition") if basis.get(k))


def _identified(raw: dict, where: str, seen: set[str], keys: set[str]) -> str:
    """Check a rule's id (present, unique, not reserved) and keys; returns how errors name the rule."""
    if not raw.get("id"):
        raise PolicyError(f"{where}: needs an id")
    if raw["id"] in seen or raw["id"] == DEFAULT_DENY:
        raise PolicyError(f"{where}: duplicate or reserved id")
    seen.add(raw["id"])
    unknown = set(raw) - keys
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {sorted(unknown)}")
    return where


def _rules(raw_rules, recipients, classes, scopes) -> tuple[Rule, ...]:
    if not isinstance(raw_rules, list) or not raw_rules:
        raise PolicyError("rules: must be a non-empty list")
    rules, seen = [], set()
    for number, raw in enumerate(raw_rules, start=1):
        where = _identified(raw, f"rule {raw.get('id') or number}", seen,
                            {"id", "classes", "recipients", "when", "basis", "reason", "requires_scope"})
        if raw.get("when") not in CONDITIONS:
            raise PolicyError(f"{where}: 'when' must be one of {list(CONDITIONS)}")
        if raw["when"] == "hub_function" and set(raw.get("recipients") or []) - {r for r, a in recipients.items()
                                                                               if a is None}:
            raise PolicyError(f"{where}: 'hub_function' is for the hub's own officers, not an agency")
        required = raw.get("requires_scope", [])
        if required and raw["when"] != "consent":
            raise PolicyError(f"{where}: 'requires_scope' only applies to a consent rule")
        rules.append(Rule(id=raw["id"], classes=_listed(raw, "classes", where, classes, "data class(es)"),
                          recipients=_listed(raw, "recipients", where, recipients, "recipient(s)"),
                          when=raw["when"], basis=_basis(raw, where),
                          requires_scope=_listed(raw, "requires_scope", where, scopes, "consent scope(s)")
                          if required else frozenset()))
    for rule in rules:
        for never in (r for r in rules if r.when == "never" and r is not rule and rule.when != "never"):
            clash = sorted((c, p) for c in rule.classes & never.classes for p in rule.recipients & never.recipients)
            if clash:
                raise PolicyError(f"rule {rule.id}: would share what rule {never.id} forbids: {clash[0][0]} "
                                  f"to {clash[0][1]}")
    return tuple(rules)


def _notices(raw_notices, recipients, classes, rules: tuple[Rule, ...]) -> tuple[NoticeRule, ...]:
    if raw_notices is None:
        return ()
    if not isinstance(raw_notices, list):
        raise PolicyError("notices: must be a list of notice rules")
    found, seen = [], {r.id for r in rules}
    for number, raw in enumerate(raw_notices, start=1):
        where = _identified(raw, f"notice rule {raw.get('id') or number}", seen,
                            {"id", "notice", "to", "recipients", "classes", "basis"})
        if raw.get("notice") not in NOTICE_KINDS:
            raise PolicyError(f"{where}: 'notice' must be one of {sorted(NOTICE_KINDS)}")
        if any(r.notice == raw["notice"] for r in found):
            raise PolicyError(f"{where}: a second rule for notice {raw['notice']!r}")
        if raw.get("to") != NOTICE_KINDS[raw["notice"]]:
            raise PolicyError(f"{where}: a {raw['notice']} notice goes to {NOTICE_KINDS[raw['notice']]!r}")
        rule = NoticeRule(id=raw["id"], notice=raw["notice"],
                          recipients=_listed(raw, "recipients", where, recipients, "recipient(s)"),
                          classes=_listed(raw, "classes", where, classes, "data class(es)"),
                          basis=_basis({**raw, "when": "notice"}, where))
        for never in (r for r in rules if r.when == "never"):
            clash = sorted((c, p) for c in rule.classes & never.classes for p in rule.recipients & never.recipients)
            if clash:
                raise PolicyError(f"{where}: would send what rule {never.id} forbids: {clash[0][0]} to {clash[0][1]}")
        found.append(rule)
    return tuple(found)


def _fields(raw_fields, classes) -> dict[tuple[str, str, str], str]:
    if not isinstance(raw_fields, dict):
        raise PolicyError("fields: must map agency -> file -> column -> data class")
    found = {}
    for agency, contract in contracts().items():
        for spec in contract.files:
            listed = (raw_fields.get(agency) or {}).get(spec.name) or {}
            for column in spec.column_names:
                where = f"fields.{agency}.{spec.name}.{column}"
                if column not in listed:
                    raise PolicyError(f"{where}: the contract's field has no data class")
                if listed[column] not in classes:
                    raise PolicyError(f"{where}: unknown data class {listed[column]!r}")
                found[(agency, spec.name, column)] = listed[column]
            extra = sorted(set(listed) - set(spec.column_names))
            if extra:
                raise PolicyError(f"fields.{agency}.{spec.name}: no such field(s) in the contract: {extra}")
    return found


def _row_classes(raw_rows, fields, classes) -> tuple[RowClass, ...]:
    found = []
    for number, raw in enumerate(raw_rows or [], start=1):
        where = f"row_classes[{number}]"
        agency, _, file = str(raw.get("file", "")).partition(".")
        column = raw.get("column")
        if (agency, file, column) not in fields:
            raise PolicyError(f"{where}: no contract field {raw.get('file')}.{column}")
        if raw.get("when") not in ROW_CONDITIONS:
            raise PolicyError(f"{where}: 'when' must be one of {list(ROW_CONDITIONS)}")
        for key in ("class", "replaces"):
            if raw.get(key) is not None and raw[key] not in classes:
                raise PolicyError(f"{where}: unknown data class {raw[key]!r}")
        found.append(RowClass(agency, file, column, raw["when"], raw["class"], raw.get("replaces")))
    return tuple(found)


def read_config(path: Path, error: type[Refused] = PolicyError) -> dict:
    """An officers' YAML configuration file (version 1) as a mapping; ``error`` names the file if it is not one."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path.name}: cannot be read as YAML ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise error(f"{path.name}: must be a mapping with 'version: 1'")
    return raw


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy; raises :class:`PolicyError` naming the first problem."""
    path = Path(path or os.environ.get("MASH_SHARING_POLICY") or DEFAULT_PATH)
    raw = read_config(path)
    unknown = {k for k in raw if not k.startswith("_")} - {"version", "recipients", "consent_scopes",
                                                          "data_classes", "row_classes", "fields", "rules", "notices"}
    if unknown:
        raise PolicyError(f"{path.name}: unknown section(s) {sorted(unknown)}")
    recipients = {name: (spec or {}).get("agency") for name, spec in (raw.get("recipients") or {}).items()}
    for name, agency in recipients.items():
        if agency is not None and agency not in contracts():
            raise PolicyError(f"recipients.{name}: unknown agency {agency!r}")
    classes = {str(k): str(v) for k, v in (raw.get("data_classes") or {}).items()}
    scope_codes = code_lists()["consent_scope"]
    scopes = {}
    for code, covered in (raw.get("consent_scopes") or {}).items():
        if code not in scope_codes:
            raise PolicyError(f"consent_scopes.{code}: not a consent_scope code")
        unknown_recipients = sorted(set(covered or []) - set(recipients))
        if unknown_recipients:
            raise PolicyError(f"consent_scopes.{code}: unknown recipient(s) {unknown_recipients}")
        scopes[code] = frozenset(covered or [])
    missing = sorted(set(scope_codes) - set(scopes))
    if missing:
        raise PolicyError(f"consent_scopes: no entry for scope(s) {missing}")
    fields = _fields(raw.get("fields"), classes)
    rules = _rules(raw.get("rules"), recipients, classes, scopes)
    return Policy(recipients=recipients, consent_scopes=scopes, data_classes=classes, fields=fields,
                  row_classes=_row_classes(raw.get("row_classes"), fields, classes), rules=rules,
                  notices=_notices(raw.get("notices"), recipients, classes, rules), source=str(path))


@cache
def default_policy() -> Policy:
    return load_policy()
