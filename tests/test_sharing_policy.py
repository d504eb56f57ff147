"""The sharing policy: every class x recipient x condition decided as the partnership agreed, default deny, "never"
absolute, and a malformed policy refused with a message naming the rule or field."""

from __future__ import annotations

import itertools

import pytest
import yaml
from hypothesis import given, strategies as st

from mash.contracts import contracts
from mash.home import config_path
from mash.sharing.policy import DEFAULT_DENY, Facts, PolicyError, load_policy

DEFAULT_PATH = config_path("sharing_policy.yaml")

AGENCIES = ["health", "police", "schools", "social_care"]
CONDITIONS = {
    "nothing": Facts(),
    "consent to all": Facts(consent_scopes=frozenset({"ALL"})),
    "consent to all with sensitive health": Facts(consent_scopes=frozenset({"ALL", "SENSITIVE_HEALTH"})),
    "consent to education only": Facts(consent_scopes=frozenset({"EDUCATION"})),
    "significant harm": Facts(significant_harm=True),
}
# The agreed matrix, written out independently of the YAML: class -> recipient -> conditions that disclose.
# A public-interest decision is checked separately (it names its own classes and recipients).
EVERY_CONSENT = {"consent to all", "consent to all with sensitive health"}
ROUTINE = {agency: EVERY_CONSENT | {"significant harm"} for agency in AGENCIES}
ROUTINE["schools"] = ROUTINE["schools"] | {"consent to education only"}
EXPECTED = {
    "identity": {**ROUTINE, "officers": set(CONDITIONS)},
    "address": ROUTINE,
    "involvement": {**ROUTINE, "officers": set(CONDITIONS)},
    "social_care_status": {**ROUTINE, "officers": set(CONDITIONS)},
    "child_protection_plan": ROUTINE,
    "health_events": ROUTINE,
    "police_incidents": ROUTINE,
    "school_attendance": ROUTINE,
    "education_identifier": {"schools": ROUTINE["schools"]},
    "sensitive_health": {"health": {"consent to all with sensitive health", "significant harm"},
                         "social_care": {"consent to all with sensitive health", "significant harm"}},
    "consent_record": {"officers": set(CONDITIONS)},
    "protected_address": {},
    "free_text": {},
    "equalities": {},
}
NEVER = {("protected_address", r) for r in [*AGENCIES, "officers"]} | {("free_text", r) for r in [*AGENCIES, "officers"]} \
    | {("education_identifier", r) for r in ["health", "police", "social_care", "officers"]} \
    | {("equalities", r) for r in [*AGENCIES, "officers"]} | {("consent_record", r) for r in AGENCIES}


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def test_the_matrix_names_every_class_and_every_field_of_every_feed_has_one(policy):
    assert set(EXPECTED) == set(policy.data_classes)
    for agency, contract in contracts().items():
        for spec in contract.files:
            for column in spec.column_names:
                assert policy.class_of(agency, spec.name, column) in policy.data_classes


@pytest.mark.parametrize("data_class,recipient,condition",
                         list(itertools.product(EXPECTED, [*AGENCIES, "officers"], CONDITIONS)))
def test_rule_matrix(policy, data_class, recipient, condition):
    decision = policy.decide(recipient, data_class, CONDITIONS[condition])
    assert decision.disclose == (condition in EXPECTED[data_class].get(recipient, set()))
    if decision.disclose:
        rule = policy.rule(decision.rule_id)
        assert data_class in rule.classes and recipient in rule.recipients and rule.when != "never"
        assert "UK GDPR Art" in decision.basis and ("DPA 2018" in decision.basis or "not special" in decision.basis)
    elif (data_class, recipient) in NEVER:
        assert policy.rule(decision.rule_id).when == "never"
    else:
        assert decision.rule_id == DEFAULT_DENY


@pytest.mark.parametrize("data_class", sorted(EXPECTED))
def test_a_public_interest_decision_shares_exactly_what_it_names(policy, data_class):
    for recipient in AGENCIES:
        facts = Facts(public_interest=frozenset({(data_class, recipient)}))
        decision = policy.decide(recipient, data_class, facts)
        assert decision.disclose == ((data_class, recipient) not in NEVER)
        other = next(r for r in AGENCIES if r != recipient)
        assert not policy.decide(other, data_class, facts).disclose       # the decision names its recipient


facts = st.builds(Facts, consent_scopes=st.frozensets(st.sampled_from(
    ["ALL", "HEALTH", "POLICE", "EDUCATION", "SOCIAL_CARE", "SENSITIVE_HEALTH"])),
    significant_harm=st.booleans(),
    public_interest=st.frozensets(st.tuples(st.sampled_from(sorted(EXPECTED)),
                                            st.sampled_from([*AGENCIES, "officers"]))))


@given(facts=facts)
def test_never_means_never_whatever_the_child_s_circumstances(policy, facts):
    for data_class, recipient in NEVER:
        assert not policy.decide(recipient, data_class, facts).disclose
    for recipient in ("police", "health"):
        assert not policy.decide(recipient, "education_identifier", facts).disclose


def _broken(tmp_path, change) -> str:
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return str(caught.value)


def _rule(raw, rule_id):
    return next(r for r in raw["rules"] if r["id"] == rule_id)


@pytest.mark.parametrize("change,message", [
    (lambda raw: raw["fields"]["health"]["events"].pop("reason"), "fields.health.events.reason: the contract's field"),
    (lambda raw: raw["fields"]["police"]["persons"].update(shoe_size="identity"), "no such field(s) in the contract"),
    (lambda raw: raw["fields"]["police"]["persons"].update(sex="gender"), "unknown data class 'gender'"),
    (lambda raw: _rule(raw, "C1-consent").pop("basis"), "rule C1-consent: needs a lawful basis"),
    (lambda raw: _rule(raw, "P1-public-interest")["basis"].pop("condition"), "rule P1-public-interest: needs a lawful"),
    (lambda raw: _rule(raw, "C1-consent")["recipients"].append("press"), "unknown recipient(s) ['press']"),
    (lambda raw: _rule(raw, "H1-significant-harm")["classes"].append("free_text"),
     "rule H1-significant-harm: would share what rule N2-free-text forbids"),
    (lambda raw: _rule(raw, "H2-significant-harm-education")["recipients"].append("police"),
     "would share what rule N3-upn-education-only forbids"),
    (lambda raw: _rule(raw, "H1-significant-harm").update(when="always"), "'when' must be one of"),
    (lambda raw: _rule(raw, "H1-significant-harm").update(requires_scope=["ALL"]), "only applies to a consent rule"),
    (lambda raw: _rule(raw, "O1-hub-officers")["recipients"].append("police"), "not an agency"),
    (lambda raw: raw["rules"].append(dict(_rule(raw, "C1-consent"))), "duplicate or reserved id"),
    (lambda raw: _rule(raw, "N1-protected-address").pop("reason"), "a 'never' rule needs a reason"),
    (lambda raw: raw["consent_scopes"].pop("POLICE"), "no entry for scope(s) ['POLICE']"),
    (lambda raw: raw.update(version=2), "version: 1"),
])
def test_a_malformed_policy_is_refused_naming_the_problem(tmp_path, change, message):
    assert message in _broken(tmp_path, change)


def _notice(raw, notice_id):
    return next(r for r in raw["notices"] if r["id"] == notice_id)


@pytest.mark.parametrize("change,message", [
    (lambda raw: _notice(raw, "F1-referral-acknowledgement").pop("basis"),
     "notice rule F1-referral-acknowledgement: needs a lawful basis"),
    (lambda raw: _notice(raw, "E1-operation-encompass")["classes"].append("free_text"),
     "notice rule E1-operation-encompass: would send what rule N2-free-text forbids: free_text to schools"),
    (lambda raw: _notice(raw, "A1-emergency-attendance")["classes"].append("education_identifier"),
     "would send what rule N3-upn-education-only forbids"),
    (lambda raw: _notice(raw, "E1-operation-encompass").update(notice="gossip"), "'notice' must be one of"),
    (lambda raw: _notice(raw, "E1-operation-encompass").update(to="team_manager"), "goes to 'school_dsl'"),
    (lambda raw: _notice(raw, "V1-visit-overdue")["recipients"].append("press"), "unknown recipient(s) ['press']"),
    (lambda raw: _notice(raw, "V1-visit-overdue").update(id="H1-significant-harm"), "duplicate or reserved id"),
    (lambda raw: raw["notices"].append({**_notice(raw, "F2-referral-outcome"), "id": "F3"}),
     "a second rule for notice 'referral_outcome'"),
    (lambda raw: _notice(raw, "F2-referral-outcome").update(when="consent"),
     "notices[F2-referral-outcome].when: unknown key"),
])
def test_a_malformed_notice_rule_is_refused_naming_the_problem(tmp_path, change, message):
    assert message in _broken(tmp_path, change)


NOTICE_CLASSES = {"identity", "social_care_status", "involvement"}


def test_a_notice_goes_only_to_its_rule_s_recipients_with_only_its_classes(policy):
    allowed = policy.decide_notice("referral_acknowledgement", "police", NOTICE_CLASSES)
    assert allowed.disclose and allowed.rule_id == "F1-referral-acknowledgement"
    assert "Working Together" in allowed.basis
    assert policy.decide_notice("referral_acknowledgement", "officers", NOTICE_CLASSES).rule_id == DEFAULT_DENY
    beyond = policy.decide_notice("referral_outcome", "health", NOTICE_CLASSES | {"health_events"})
    assert not beyond.disclose and beyond.rule_id == DEFAULT_DENY
    assert not policy.decide_notice("encompass", "police", {"identity", "police_incidents"}).disclose
    never = policy.decide_notice("encompass", "schools", {"identity", "police_incidents", "free_text"})
    assert not never.disclose and never.rule_id == "N2-free-text"


def test_without_a_notices_section_no_notice_is_allowed(tmp_path):
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    raw.pop("notices")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    policy = load_policy(path)
    assert not policy.decide_notice("encompass", "schools", {"identity", "police_incidents"}).disclose
