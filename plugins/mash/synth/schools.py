"""Schools: pupils on roll (and those who left in the lookback), their enrolments, attendance and exclusions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .dates import Formatter, half_terms
from .identifiers import Upns
from .noise import View
from .population import Child
from .workforce import Practitioner
from .world import World

ON_ROLL = 0.92               # the rest are in independent schools out of the borough or educated at home
MOVED_IN = 0.1               # joined the borough's schools part-way through a phase
CHANGE_SCHOOL = 0.06         # per phase: moved to another of the borough's schools
OFF_ROLL = 0.015             # per phase: left the roll with no new school
TEMPORARY_UPN = 0.01
SUSPENSIONS_PER_YEAR = 0.05  # secondary pupils
PERMANENT_PER_YEAR = 0.002
EXCLUSION_REASONS = ("PP", "PA", "VP", "VA", "BU", "DM", "DA", "PH", "PH", "PH", "OT")


@dataclass(frozen=True, slots=True)
class School:
    urn: str
    dfe: str
    name: str
    phase: str
    dsl: Practitioner


@dataclass(slots=True)
class Enrolment:
    school: School
    entry: int
    leaving: int | None
    attendance: dict[int, tuple[str, str, str]] = field(default_factory=dict)   # half-term start -> sessions


@dataclass(slots=True)
class Pupil:
    upn: str
    former_upn: str
    child: Child
    view: View
    ethnicity: str
    absence: float
    enrolments: list[Enrolment]
    exclusions: list[tuple[str, int, str, int, str, str]]   # (id, start, category, sessions, reason, urn)

    @property
    def created(self) -> int:
        return self.enrolments[0].entry


def cohort(dob: int) -> int:
    """The academic year of birth: children born September to August start school together."""
    born = date.fromordinal(dob)
    return born.year if born.month >= 9 else born.year - 1


class Schools:
    agency = "schools"

    def __init__(self, world: World):
        self.world = world
        rng = world.rng
        names = world.places["schools"]
        domain = world.places["domains"]["schools"]
        self.schools = {phase: [] for phase in ("primary", "secondary")}
        urns = iter(rng.sample(range(107000, 150000), sum(len(v) for v in names.values())))
        dfes = {"primary": iter(rng.sample(range(2000, 2999), len(names["primary"]))),
                "secondary": iter(rng.sample(range(4000, 4999), len(names["secondary"])))}
        for phase, phase_names in names.items():
            for i, name in enumerate(phase_names):
                slug = "".join(w[0] for w in name.split()).lower() + str(i)
                self.schools[phase].append(School(str(next(urns)), str(next(dfes[phase])), name, phase,
                                                  world.workforce.person(f"{slug}.{domain}")))
        self.upns = Upns()
        self.exclusion_count = 0
        self.pupils: list[Pupil] = []
        self.by_child: dict[str, Pupil] = {}
        self.half_terms = half_terms(world.window_start, world.last_day, world.working)
        for child in world.population.children:
            self._pupil(child)

    def _phases(self, child: Child) -> list[tuple[str, int, int]]:
        c = cohort(child.dob)
        working = self.world.working
        return [("primary", working.add(date(c + 5, 9, 3).toordinal(), 0), date(c + 12, 7, 22).toordinal()),
                ("secondary", working.add(date(c + 12, 9, 3).toordinal(), 0), date(c + 17, 6, 26).toordinal())]

    def _pupil(self, child: Child) -> None:
        world, rng = self.world, self.world.rng
        all_phases = self._phases(child)
        phases = [p for p in all_phases if p[2] >= world.window_start and p[1] <= world.last_day]
        if not phases or rng.random() > ON_ROLL:
            return
        enrolments: list[Enrolment] = []
        moved_in = rng.random() < MOVED_IN
        for phase, entry, leaving in phases:
            if moved_in and not enrolments:
                entry = world.working.add(rng.randint(entry, leaving - 30), 0)
            school = rng.choice(self.schools[phase])
            stop = False
            if rng.random() < CHANGE_SCHOOL and leaving - entry > 90:
                moved = rng.randint(entry + 20, leaving - 20)
                enrolments.append(Enrolment(school, entry, moved))
                school = rng.choice([s for s in self.schools[phase] if s is not school])
                entry = world.working.add(moved + rng.randint(1, 20), 0)
            if rng.random() < OFF_ROLL and leaving - entry > 30:
                leaving, stop = rng.randint(entry + 10, leaving - 10), True
            enrolments.append(Enrolment(school, entry, leaving if leaving <= world.last_day else None))
            if stop:
                break
        enrolments = [e for e in enrolments if e.leaving is None or e.leaving >= world.window_start]
        if not enrolments:
            return
        # The UPN was issued on entry to the first school: the borough's primary, or a school elsewhere.
        first = enrolments[0]
        if not moved_in:
            la, year = world.places["la_code"], date.fromordinal(all_phases[0][1]).year
            dfe = first.school.dfe if first.school.phase == "primary" else rng.choice(self.schools["primary"]).dfe
        else:
            la, dfe, year = rng.choice(world.places["other_la_codes"]), str(rng.randrange(2000, 5000)), \
                date.fromordinal(first.entry).year
        former = ""
        if rng.random() < TEMPORARY_UPN:
            former = self.upns.issue(la, dfe, year, temporary=True, letter=rng.choice("ABCDEFGH"))
        ethnicity = child.ethnicity if rng.random() > 0.05 else rng.choice(("NOBT", "REFU", ""))
        absence = rng.uniform(0.01, 0.08) if rng.random() > 0.1 else rng.uniform(0.1, 0.4)
        pupil = Pupil(self.upns.issue(la, dfe, year), former, child, world.noise.view(child, self.agency),
                      ethnicity, absence, enrolments, [])
        self._exclusions(pupil)
        self.pupils.append(pupil)
        self.by_child[child.key] = pupil

    def _exclusions(self, pupil: Pupil) -> None:
        world, rng = self.world, self.world.rng
        for enrolment in pupil.enrolments:
            if enrolment.school.phase != "secondary":
                continue
            first = max(enrolment.entry, world.window_start)
            last = min(enrolment.leaving or world.last_day, world.last_day)
            years = max(last - first, 0) / 365.25
            rate = SUSPENSIONS_PER_YEAR * (4 if pupil.absence > 0.1 else 1)
            for _ in range(world.poisson(rate * years)):
                day = world.working.add(rng.randint(first, last), 0)
                permanent = rng.random() < PERMANENT_PER_YEAR / SUSPENSIONS_PER_YEAR
                self.exclusion_count += 1
                pupil.exclusions.append((f"EX{self.exclusion_count:07d}", day, "PERM" if permanent else "SUSP",
                                         0 if permanent else rng.randint(1, 10) * 2, rng.choice(EXCLUSION_REASONS),
                                         enrolment.school.urn))

    def current_school(self, child: Child, day: int) -> School | None:
        pupil = self.by_child.get(child.key)
        if pupil is None:
            return None
        for e in pupil.enrolments:
            if e.entry <= day and (e.leaving is None or e.leaving >= day):
                return e.school
        return None

    def _attendance(self, pupil: Pupil, enrolment: Enrolment, term: tuple[int, int, int]) -> tuple[str, str, str]:
        start, end, possible = term
        cached = enrolment.attendance.get(start)
        if cached is None:
            rng, working = self.world.rng, self.world.working
            if enrolment.entry > start or (enrolment.leaving is not None and enrolment.leaving < end):
                possible = 2 * working.count(max(start, enrolment.entry), min(end, enrolment.leaving or end))
            absent = min(possible, int(possible * pupil.absence * (0.5 + rng.random())))
            authorised = int(absent * rng.uniform(0.4, 0.9))
            cached = enrolment.attendance[start] = (str(possible), str(authorised), str(absent - authorised))
        return cached

    def snapshot(self, extract_day: int, fmt: Formatter):
        today, lookback = extract_day - 1, extract_day - 730
        pupils, enrolments, attendance, exclusions, truth = [], [], [], [], []
        terms = [t for t in self.half_terms if lookback <= t[1] <= today]
        day = fmt.day
        for pupil in self.pupils:
            shown = [e for e in pupil.enrolments
                     if e.entry <= today and (e.leaving is None or e.leaving >= lookback)]
            if not shown:
                continue
            child, view = pupil.child, pupil.view
            address, postcode = self.world.noise.address(child, view, pupil.created, today)
            pupils.append((pupil.upn, pupil.former_upn, view.given, view.preferred, view.middle, view.family,
                           day(view.dob), child.sex, pupil.ethnicity, postcode, address))
            truth.append(("pupils", pupil.upn, child.key))
            for e in shown:
                leaving = e.leaving if e.leaving is not None and e.leaving <= today else None
                school = e.school
                enrolments.append((pupil.upn, school.urn, school.name, day(e.entry), day(leaving), "C",
                                   school.dsl.name, school.dsl.email, school.dsl.phone))
                for term in terms:
                    if term[1] >= e.entry and term[0] <= (leaving or today):
                        attendance.append((pupil.upn, school.urn, day(term[0]), day(term[1]))
                                          + self._attendance(pupil, e, term))
            for exclusion_id, start, category, sessions, reason, urn in pupil.exclusions:
                if lookback <= start <= today:
                    exclusions.append((exclusion_id, pupil.upn, urn, day(start), category,
                                       str(sessions) if sessions else "", reason))
        return {"pupils": pupils, "enrolments": enrolments, "attendance": attendance, "exclusions": exclusions}, truth
