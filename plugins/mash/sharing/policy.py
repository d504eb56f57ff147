"""The sharing policy: which data class may reach which recipient, under which condition and lawful basis.

Read by :mod:`mash.config` (``sharing_policy.yaml``: strict, every error names the file, line and column) and then
checked here against the contracts and itself: every error also names the rule or the field. Deciding is default
deny: :meth:`Policy.decide` returns the first rule whose condition holds for the child, a "never" rule wins over
every other, and with no rule the answer is :data:`DEFAULT_DENY`.

The ``notices`` section holds the rules for what the hub tells a named professional unasked (feedback to a referrer,
notifications such as Operation Encompass): each names its notice kind, the recipients, the data classes a notice
may carry and its lawful basis; :meth:`Policy.decide_notice` allows a notice only within its rule, and never what a
"never" rule forbids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from mash import config
from mash.config import ConfigError, Document, PolicyFile
from mash.contracts import code_lists, contracts
from mash.home import config_path

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


class PolicyError(ConfigError):
    """The policy file is malformed or contradicts itself: the message names the file, line and column, and the rule
    or field."""


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


def _listed(doc: Document, loc: tuple, values: list[str] | None, allowed, what: str) -> frozenset[str]:
    where = _name(doc, loc[:2])
    if not values:
        raise doc.error(loc, f"{where}: {loc[-1]!r} must be a non-empty list")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise doc.error(loc, f"{where}: unknown {what} {unknown}")
    return frozenset(values)


def _name(doc: Document, loc: tuple) -> str:
    """How messages name a rule: ``rule <id>`` or ``notice rule <id>`` (its number if it has no id)."""
    section, index = loc
    spec = getattr(doc.value, section)[index]
    return f"{'rule' if section == 'rules' else 'notice rule'} {spec.id or index + 1}"


def _basis(doc: Document, loc: tuple, spec, never: bool) -> str:
    where = _name(doc, loc)
    if never:
        if not spec.reason:
            raise doc.error(loc, f"{where}: a 'never' rule needs a reason")
        if spec.basis is not None:
            raise doc.error((*loc, "basis"), f"{where}: a 'never' rule shares nothing: it takes a reason, not a "
                            "basis", at_key=True)
        return f"Not shared: {spec.reason}"
    basis = spec.basis
    if basis is None or not basis.article or not basis.condition:
        raise doc.error(loc if basis is None else (*loc, "basis"),
                        f"{where}: needs a lawful basis: an 'article' (UK GDPR) and a 'condition' (DPA 2018, or why "
                        "none is needed)")
    if getattr(spec, "reason", None) is not None:
        raise doc.error((*loc, "reason"), f"{where}: a rule that shares takes a basis, not a reason", at_key=True)
    return f"{basis.article}; {basis.condition}"


def _identified(doc: Document, loc: tuple, seen: set[str]) -> str:
    """Check a rule's id (present, unique, not reserved); returns how errors name the rule."""
    where, spec = _name(doc, loc), getattr(doc.value, loc[0])[loc[1]]
    if not spec.id:
        raise doc.error(loc, f"{where}: needs an id")
    if spec.id in seen or spec.id == DEFAULT_DENY:
        raise doc.error((*loc, "id"), f"{where}: duplicate or reserved id")
    seen.add(spec.id)
    return where


def _rules(doc: Document, recipients, classes, scopes) -> tuple[Rule, ...]:
    rules, seen = [], set()
    for index, spec in enumerate(doc.value.rules):
        loc = ("rules", index)
        where = _identified(doc, loc, seen)
        if spec.when not in CONDITIONS:
            raise doc.error((*loc, "when"), f"{where}: 'when' must be one of {list(CONDITIONS)}")
        if spec.when == "hub_function" and set(spec.recipients or []) - {r for r, a in recipients.items()
                                                                          if a is None}:
            raise doc.error((*loc, "recipients"), f"{where}: 'hub_function' is for the hub's own officers, not an "
                            "agency")
        if spec.requires_scope and spec.when != "consent":
            raise doc.error((*loc, "requires_scope"), f"{where}: 'requires_scope' only applies to a consent rule")
        rules.append(Rule(id=spec.id, classes=_listed(doc, (*loc, "classes"), spec.classes, classes, "data class(es)"),
                          recipients=_listed(doc, (*loc, "recipients"), spec.recipients, recipients,
                                             "recipient(s)"),
                          when=spec.when, basis=_basis(doc, loc, spec, spec.when == "never"),
                          requires_scope=_listed(doc, (*loc, "requires_scope"), spec.requires_scope, scopes,
                                                 "consent scope(s)") if spec.requires_scope else frozenset()))
    for index, rule in enumerate(rules):
        for never in (r for r in rules if r.when == "never" and r is not rule and rule.when != "never"):
            clash = sorted((c, p) for c in rule.classes & never.classes for p in rule.recipients & never.recipients)
            if clash:
                raise doc.error(("rules", index), f"rule {rule.id}: would share what rule {never.id} forbids: "
                                f"{clash[0][0]} to {clash[0][1]}")
    return tuple(rules)


def _notices(doc: Document, recipients, classes, rules: tuple[Rule, ...]) -> tuple[NoticeRule, ...]:
    found, seen = [], {r.id for r in rules}
    for index, spec in enumerate(doc.value.notices):
        loc = ("notices", index)
        where = _identified(doc, loc, seen)
        if spec.notice not in NOTICE_KINDS:
            raise doc.error((*loc, "notice"), f"{where}: 'notice' must be one of {sorted(NOTICE_KINDS)}")
        if any(r.notice == spec.notice for r in found):
            raise doc.error((*loc, "notice"), f"{where}: a second rule for notice {spec.notice!r}")
        if spec.to != NOTICE_KINDS[spec.notice]:
            raise doc.error((*loc, "to"), f"{where}: a {spec.notice} notice goes to {NOTICE_KINDS[spec.notice]!r}")
        rule = NoticeRule(id=spec.id, notice=spec.notice,
                          recipients=_listed(doc, (*loc, "recipients"), spec.recipients, recipients, "recipient(s)"),
                          classes=_listed(doc, (*loc, "classes"), spec.classes, classes, "data class(es)"),
                          basis=_basis(doc, loc, spec, never=False))
        for never in (r for r in rules if r.when == "never"):
            clash = sorted((c, p) for c in rule.classes & never.classes for p in rule.recipients & never.recipients)
            if clash:
                raise doc.error(loc, f"{where}: would send what rule {never.id} forbids: {clash[0][0]} to "
                                f"{clash[0][1]}")
        found.append(rule)
    return tuple(found)


def _fields(doc: Document, classes) -> dict[tuple[str, str, str], str]:
    raw, found = doc.value.fields, {}
    for agency, files in raw.items():
        if agency not in contracts():
            raise doc.error(("fields", agency), f"fields.{agency}: no such agency in the contracts", at_key=True)
        for file in files:
            if file not in {spec.name for spec in contracts()[agency].files}:
                raise doc.error(("fields", agency, file), f"fields.{agency}.{file}: no such file in the contract",
                                at_key=True)
    for agency, contract in contracts().items():
        for spec in contract.files:
            listed = raw.get(agency, {}).get(spec.name, {})
            for column in spec.column_names:
                where = f"fields.{agency}.{spec.name}.{column}"
                if column not in listed:
                    raise doc.error(("fields", agency, spec.name), f"{where}: the contract's field has no data class")
                if listed[column] not in classes:
                    raise doc.error(("fields", agency, spec.name, column),
                                    f"{where}: unknown data class {listed[column]!r}")
                found[(agency, spec.name, column)] = listed[column]
            extra = sorted(set(listed) - set(spec.column_names))
            if extra:
                raise doc.error(("fields", agency, spec.name, extra[0]),
                                f"fields.{agency}.{spec.name}: no such field(s) in the contract: {extra}", at_key=True)
    return found


def _row_classes(doc: Document, fields, classes) -> tuple[RowClass, ...]:
    found = []
    for index, spec in enumerate(doc.value.row_classes):
        loc, where = ("row_classes", index), f"row_classes[{index + 1}]"
        agency, _, file = spec.file.partition(".")
        if (agency, file, spec.column) not in fields:
            raise doc.error(loc, f"{where}: no contract field {spec.file}.{spec.column}")
        if spec.when not in ROW_CONDITIONS:
            raise doc.error((*loc, "when"), f"{where}: 'when' must be one of {list(ROW_CONDITIONS)}")
        for key, value in (("class", spec.data_class), ("replaces", spec.replaces)):
            if value is not None and value not in classes:
                raise doc.error((*loc, key), f"{where}: unknown data class {value!r}")
        found.append(RowClass(agency, file, spec.column, spec.when, spec.data_class, spec.replaces))
    return tuple(found)


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy (``path``, else the officers' file: MASH_CONFIG_DIR or the shipped one); raises
    :class:`PolicyError` naming the file, line and column of the first problem."""
    doc = config.load("sharing_policy.yaml", PolicyError, path)
    raw: PolicyFile = doc.value
    recipients = {name: spec.agency for name, spec in raw.recipients.items()}
    for name, agency in recipients.items():
        if agency is not None and agency not in contracts():
            raise doc.error(("recipients", name, "agency"), f"recipients.{name}: unknown agency {agency!r}")
    classes = dict(raw.data_classes)
    scope_codes = code_lists()["consent_scope"]
    scopes = {}
    for code, covered in raw.consent_scopes.items():
        if code not in scope_codes:
            raise doc.error(("consent_scopes", code), f"consent_scopes.{code}: not a consent_scope code", at_key=True)
        unknown_recipients = sorted(set(covered) - set(recipients))
        if unknown_recipients:
            raise doc.error(("consent_scopes", code), f"consent_scopes.{code}: unknown recipient(s) "
                            f"{unknown_recipients}")
        scopes[code] = frozenset(covered)
    missing = sorted(set(scope_codes) - set(scopes))
    if missing:
        raise doc.error(("consent_scopes",), f"consent_scopes: no entry for scope(s) {missing}")
    fields = _fields(doc, classes)
    rules = _rules(doc, recipients, classes, scopes)
    return Policy(recipients=recipients, consent_scopes=scopes, data_classes=classes, fields=fields,
                  row_classes=_row_classes(doc, fields, classes), rules=rules,
                  notices=_notices(doc, recipients, classes, rules), source=str(doc.path))


def default_policy() -> Policy:
    """The officers' policy (MASH_CONFIG_DIR or the shipped one), validated once per process."""
    return _policy_at(config_path("sharing_policy.yaml"))


@cache
def _policy_at(path: Path) -> Policy:
    return load_policy(path)
