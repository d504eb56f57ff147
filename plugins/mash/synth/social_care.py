"""Children's social care: referrals and what followed them, from decision to assessment, section 47 enquiry,
conferences, child protection plans and looked-after episodes, each dated so a night shows what was known then."""

from __future__ import annotations

from dataclasses import dataclass, field

from .dates import Formatter
from .noise import View
from .police import Police
from .population import YEAR, Child, Household, data, weighted
from .schools import Schools
from .workforce import Practitioner
from .world import World

HOUSEHOLD_REFERRALS_PER_CHILD_YEAR = 0.03   # referrals from sources other than police domestic abuse notifications
DA_REFERRAL = {"STANDARD": 0.05, "MEDIUM": 0.5, "HIGH": 0.9}
WHOLE_FAMILY = 0.7            # a referral about one child usually covers the siblings too
ACCOMMODATED = 0.08            # children in need accommodated under section 20
REFUGE = 0.15                 # children referred after a high-risk domestic abuse incident who are in a refuge
SOURCES = {"1A": 0.05, "1B": 0.02, "1C": 0.01, "1D": 0.02, "2A": 0.28, "2B": 0.03, "3A": 0.03, "3B": 0.04,
           "3C": 0.02, "3D": 0.02, "3E": 0.07, "3F": 0.05, "4": 0.03, "5A": 0.03, "5B": 0.03, "5C": 0.02,
           "5D": 0.06, "6": 0.08, "7": 0.02, "8": 0.05, "9": 0.02, "10": 0.02}
DECISIONS = {"default": (("NFA", 0.38), ("EH", 0.2), ("ASSESS", 0.35), ("S47", 0.07)),
             "serious": (("NFA", 0.08), ("EH", 0.07), ("ASSESS", 0.45), ("S47", 0.4))}
NEEDS = (("N1", 0.5), ("N2", 0.03), ("N3", 0.08), ("N4", 0.12), ("N5", 0.14), ("N6", 0.04), ("N7", 0.01),
         ("N8", 0.03), ("N0", 0.05))
CATEGORIES = (("NEG", 0.5), ("EMO", 0.35), ("PHY", 0.07), ("SAB", 0.04), ("MUL", 0.04))
LEGAL = (("C1", 0.35), ("C2", 0.2), ("V2", 0.3), ("L1", 0.05), ("L2", 0.05), ("E1", 0.05))
PLACEMENTS = (("U4", 0.5), ("U1", 0.2), ("K2", 0.1), ("P1", 0.08), ("R1", 0.07), ("A3", 0.05))


def agency_of(source: str) -> str:
    return {"2": "schools", "3": "health", "5": "social_care", "6": "police"}.get(source[0] if source != "10" else "",
                                                                                 "other")


@dataclass(slots=True)
class Referral:
    referral_id: str
    child: Child
    day: int
    source: str
    referrer: tuple[str, str, str]
    decision_day: int
    decision: str
    nfa_reason: str = ""
    need: str = ""
    closure: tuple[int, str] | None = None
    assessment: tuple[str, int, int] | None = None                     # (id, start, authorised)
    s47: tuple[str, int, int, str] | None = None                        # (id, strategy/start, outcome day, outcome)
    conferences: list[tuple[str, int, str, str]] = field(default_factory=list)   # (id, day, type, outcome)
    plan: tuple[str, int, int | None, str, str, int] | None = None      # (id, start, end, initial, latest, changed)
    looked_after: tuple[str, int, int | None, str, str, str] | None = None


@dataclass(slots=True)
class CaseRecord:
    child_id: str
    child: Child
    view: View
    created: int
    upn: str
    former: str
    ethnicity: str
    refuge: tuple[str, str] | None
    worker: Practitioner
    manager: Practitioner
    visit_every: int
    referrals: list[Referral] = field(default_factory=list)


class SocialCare:
    agency = "social_care"

    def __init__(self, world: World, police: Police, schools: Schools):
        self.world, self.schools = world, schools
        rng = world.rng
        domain = world.places["domains"]["social_care"]
        self.workers = world.workforce.team(domain, 45, mobile=True)
        self.managers = world.workforce.team(domain, 7)
        self.early_help = world.workforce.team(domain, 10)
        self.health_staff = world.workforce.team(world.places["domains"]["health"], 12)
        self.officers = police.officers
        self.nfa_reasons = data("texts")["nfa_reasons"]
        self.cases: dict[str, CaseRecord] = {}
        self.referrals: list[Referral] = []
        self.counter = 0
        events = []   # (day, household, source, serious, only child or None)
        for incident in police.incidents:
            if incident.kind == "DA" and rng.random() < DA_REFERRAL[incident.risk]:
                household = incident.children[0][0].household
                events.append((incident.day + rng.randint(0, 1), household, "6", incident.risk == "HIGH", None))
            elif incident.kind in ("MISS", "CSE") and rng.random() < 0.4:
                child = incident.children[0][0]
                events.append((incident.day + rng.randint(0, 1), child.household, "6", incident.kind == "CSE", child))
        per_day = HOUSEHOLD_REFERRALS_PER_CHILD_YEAR * world.population.initial / YEAR / 1.9
        for day in range(world.first_day, world.last_day + 1):
            count = world.poisson(per_day)
            if day >= world.start:
                count = max(count, 1)   # every later night carries at least one new referral
            for _ in range(count):
                events.append((day, self._family(day), weighted(rng, list(SOURCES), list(SOURCES.values())),
                               rng.random() < 0.1, None))
        events.sort(key=lambda e: (e[0], e[1].hid if e[1] else -1))
        for day, household, source, serious, only in events:
            if household is not None and day <= world.last_day:
                self._refer(day, household, source, serious, only)

    def _family(self, day: int, tries: int = 50) -> Household | None:
        """A household with a child (born or expected) on ``day``, if a few random picks find one."""
        households, rng = self.world.population.households, self.world.rng
        for _ in range(tries):
            household = rng.choice(households)
            if any(c.known_from <= day and c.age_on(day) < 18 for c in household.children):
                return household
        return None

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:07d}"

    def _referrer(self, source: str, child: Child, day: int) -> tuple[str, str, str]:
        rng, workforce = self.world.rng, self.world.workforce
        agency = agency_of(source)
        if agency == "schools":
            school = self.schools.current_school(child, day)
            dsl = school.dsl if school else rng.choice(self.schools.schools["primary"]).dsl
            return dsl.name, dsl.email, dsl.phone
        who = {"health": self.health_staff, "police": self.officers, "social_care": self.early_help}.get(agency)
        if who:
            p = rng.choice(who)
            return p.name, p.email, p.phone
        if source in ("9", "10"):
            return "", "", ""
        return workforce.adult_name(), "", workforce.mobile()

    def _refer(self, day: int, household: Household, source: str, serious: bool, only: Child | None) -> None:
        rng = self.world.rng
        children = [c for c in household.children if c.known_from <= day and c.age_on(day) < 18]
        if only is None and children and rng.random() > WHOLE_FAMILY:
            children = [rng.choice(children)]
        if only is not None:
            children = [only]
        if source == "2A" and not any(self.schools.current_school(c, day) for c in children):
            source = "3B" if any(c.age_on(day) < 5 for c in children) else "8"
        for child in children:
            referral = self._trajectory(child, day, source, serious)
            case = self.cases.get(child.key)
            if case is None:
                case = self.cases[child.key] = self._case(child, day, serious and source == "6")
            case.referrals.append(referral)
            self.referrals.append(referral)

    def _case(self, child: Child, day: int, after_abuse: bool) -> CaseRecord:
        world, rng = self.world, self.world.rng
        pupil = self.schools.by_child.get(child.key)
        upn = pupil.upn if pupil and pupil.created <= day and rng.random() < 0.7 else ""
        former = child.former_surname if rng.random() < 0.8 else ""
        ethnicity = child.ethnicity if rng.random() > 0.06 else rng.choice(("NOBT", "NOBT", "REFU"))
        refuge = world.population.town.refuge_address() if after_abuse and rng.random() < REFUGE else None
        visit_every = rng.randint(7, 42) if rng.random() > 0.05 else rng.randint(90, 150)
        return CaseRecord(self._id("LA"), child, world.noise.view(child, self.agency), day, upn, former, ethnicity,
                          refuge, rng.choice(self.workers), rng.choice(self.managers), visit_every)

    def _trajectory(self, child: Child, day: int, source: str, serious: bool) -> Referral:
        rng, working = self.world.rng, self.world.working
        decision_day = working.add(day, 1 if rng.random() < 0.85 else rng.randint(2, 3))
        options = DECISIONS["serious" if serious else "default"]
        decision = weighted(rng, [d for d, _ in options], [w for _, w in options])
        referral = Referral(self._id("R"), child, day, source, self._referrer(source, child, day), decision_day,
                            decision)
        if decision == "NFA":
            referral.nfa_reason = rng.choice(self.nfa_reasons)
            referral.closure = (decision_day, "RC7")
            return referral
        referral.need = "N1" if decision == "S47" else weighted(rng, [n for n, _ in NEEDS], [w for _, w in NEEDS])
        if decision == "EH":
            referral.closure = (decision_day, "RC9")
            return referral
        after = decision_day
        if decision == "ASSESS":
            late = rng.random() < 0.15
            authorised = working.add(decision_day, rng.randint(46, 70) if late else rng.randint(8, 45))
            referral.assessment = (self._id("A"), decision_day, authorised)
            outcome = rng.random()
            if outcome < 0.35:
                referral.closure = (authorised, "RC8")
                return referral
            if outcome < 0.55:
                referral.closure = (authorised, "RC9")
                return referral
            if outcome < 0.9:
                referral.closure = (authorised + rng.randint(90, 300), "RC7")
                if rng.random() < ACCOMMODATED:
                    self._looked_after(referral, authorised + rng.randint(0, 60), "V2")
                return referral
            after = authorised
        self._section47(referral, after)
        return referral

    def _section47(self, referral: Referral, strategy: int) -> None:
        rng, working = self.world.rng, self.world.working
        outcome_day = working.add(strategy, rng.randint(3, 15))
        outcome = weighted(rng, ["ICPC", "NFA", "CIN"], [0.5, 0.2, 0.3])
        s47_id = self._id("S")
        referral.s47 = (s47_id, strategy, outcome_day, outcome)
        if outcome == "NFA":
            referral.closure = (outcome_day, "RC8")
            return
        if outcome == "CIN":
            referral.closure = (outcome_day + rng.randint(90, 300), "RC7")
            return
        conference = working.add(strategy, rng.randint(8, 14) if rng.random() < 0.8 else rng.randint(16, 25))
        if rng.random() < 0.15:
            referral.conferences.append((self._id("CF"), conference, "ICPC", "NOPLAN"))
            referral.closure = (conference + rng.randint(60, 200), "RC7")
            return
        referral.conferences.append((self._id("CF"), conference, "ICPC", "PLAN"))
        reviews = weighted(rng, [1, 2, 3, 4, 5], [0.25, 0.35, 0.2, 0.12, 0.08])
        review = conference
        for i in range(reviews):
            review = working.add(review + (91 if i == 0 else 182) + rng.randint(-10, 25 if rng.random() < 0.1 else 5),
                                 0)
            referral.conferences.append((self._id("CF"), review, "RCPC", "END" if i == reviews - 1 else "PLAN"))
        initial = weighted(rng, [c for c, _ in CATEGORIES], [w for _, w in CATEGORIES])
        latest = initial if rng.random() > 0.1 else weighted(rng, [c for c, _ in CATEGORIES], [w for _, w in CATEGORIES])
        changed = referral.conferences[1][1] if latest != initial else conference
        referral.plan = (self._id("CP"), conference, review, initial, latest, changed)
        referral.closure = (review + rng.randint(30, 120), "RC7")
        if rng.random() < 0.3:
            self._looked_after(referral, conference + rng.randint(0, 200),
                               weighted(rng, [s for s, _ in LEGAL], [w for _, w in LEGAL]))

    def _looked_after(self, referral: Referral, start: int, legal: str) -> None:
        rng = self.world.rng
        end = start + rng.randint(30, 700) if rng.random() < 0.6 else None
        referral.looked_after = (self._id("LAE"), start, end, legal,
                                 weighted(rng, [p for p, _ in PLACEMENTS], [w for _, w in PLACEMENTS]),
                                 self.world.population.town.address()[1])

    def snapshot(self, extract_day: int, fmt: Formatter):
        today, lookback = extract_day - 1, extract_day - 730
        noise, day = self.world.noise, fmt.day
        tables = {name: [] for name in ("children", "referrals", "assessments", "s47_enquiries", "conferences",
                                        "plans", "looked_after")}
        truth = []
        for case in self.cases.values():
            shown = [r for r in case.referrals if r.day <= today and
                     (r.day >= lookback or r.closure is None or r.closure[0] > today)]
            if not shown:
                continue
            self._child_row(case, shown, today, tables["children"], noise, day)
            truth.append(("children", case.child_id, case.child.key))
            for r in shown:
                self._referral_rows(case, r, today, tables, day)
        return tables, truth

    def _child_row(self, case: CaseRecord, shown: list[Referral], today: int, rows: list, noise, day) -> None:
        child, view = case.child, case.view
        unborn = child.dob > today
        open_cases = [r for r in shown if r.decision not in ("NFA", "EH") and (r.closure is None or r.closure[0] > today)]
        worker = manager = None
        last_seen = None
        for r in shown:
            if r.decision in ("NFA", "EH") or r.decision_day > today:
                continue
            first_visit = r.decision_day + 1
            end = min(today, r.closure[0]) if r.closure else today
            if end >= first_visit:
                seen = first_visit + (end - first_visit) // case.visit_every * case.visit_every
                last_seen = max(last_seen or seen, seen)
        if open_cases:
            worker, manager = case.worker, case.manager
        if case.refuge and not view.no_address:
            address, postcode, protected = case.refuge[0], case.refuge[1], "Y"
        else:
            (address, postcode), protected = noise.address(child, view, case.created, today), "N"
        if unborn:
            names = ("", "", child.household.mother_surname(), "", "", day(child.expected_dob), "0")
        else:
            names = (view.given, view.middle, view.family, case.former, day(view.dob), "",
                     "1" if child.sex == "M" else "2")
        rows.append((case.child_id, "" if unborn else view.nhs, case.upn) + names
                    + (case.ethnicity, postcode, address, protected,
                       worker.name if worker else "", worker.email if worker else "", worker.phone if worker else "",
                       manager.email if manager else "", day(last_seen)))

    def _referral_rows(self, case: CaseRecord, r: Referral, today: int, tables: dict, day) -> None:
        decided = r.decision_day <= today
        closure = r.closure if r.closure and r.closure[0] <= today else None
        tables["referrals"].append((
            r.referral_id, case.child_id, day(r.day), r.source, agency_of(r.source), *r.referrer,
            day(r.decision_day) if decided else "", r.decision if decided else "",
            r.nfa_reason if decided else "", r.need if decided else "",
            day(closure[0]) if closure else "", closure[1] if closure else ""))
        if r.assessment and r.assessment[1] <= today:
            assessment_id, start, authorised = r.assessment
            tables["assessments"].append((assessment_id, r.referral_id, case.child_id, day(start),
                                          day(authorised) if authorised <= today else ""))
        if r.s47 and r.s47[1] <= today:
            s47_id, start, outcome_day, outcome = r.s47
            done = outcome_day <= today
            tables["s47_enquiries"].append((s47_id, r.referral_id, case.child_id, day(start), day(start),
                                            outcome if done else "", day(outcome_day) if done else ""))
        for conference_id, when, kind, outcome in r.conferences:
            if when <= today:
                tables["conferences"].append((conference_id, case.child_id, r.s47[0] if kind == "ICPC" else "",
                                              kind, day(when), outcome))
        if r.plan and r.plan[1] <= today:
            plan_id, start, end, initial, latest, changed = r.plan
            tables["plans"].append((plan_id, case.child_id, day(start), day(end) if end <= today else "",
                                    initial, latest if changed <= today else initial))
        if r.looked_after and r.looked_after[1] <= today:
            episode_id, start, end, legal, placement, postcode = r.looked_after
            tables["looked_after"].append((episode_id, case.child_id, day(start),
                                           day(end) if end is not None and end <= today else "", legal, placement,
                                           postcode))
