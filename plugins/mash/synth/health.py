"""Health: every child the trust and community services know, unborn children from booking, and their contacts."""

from __future__ import annotations

from dataclasses import dataclass, field

from .dates import Formatter
from .noise import View
from .population import YEAR, Child, data
from .world import World

KNOWN = 0.9                  # children registered with the borough's health services
BORN_HERE = 0.92             # the rest were born elsewhere: no birth notification
BABY_PLACEHOLDER = 0.5       # newborn records still named "Baby" for the first fortnight
HV_REVIEWS = ((12, "New birth visit"), (49, "6-8 week review"), (365, "1 year review"), (820, "2-2.5 year review"))
# Unscheduled contacts per year by age band: (event type, rate, sex or None).
CONTACT_RATES = {
    "under5": (("AE", 0.35, None), ("HV", 0.15, None), ("GP", 0.03, None)),
    "child": (("AE", 0.2, None), ("SN", 0.15, None), ("GP", 0.02, None)),
    "teen": (("AE", 0.3, None), ("SN", 0.1, None), ("GP", 0.02, None), ("CAMHS", 0.08, None),
             ("SH", 0.04, "M"), ("SH", 0.1, "F"), ("SM", 0.02, None), ("TOP", 0.006, "F")),
}
ROLES = {"AE": "Emergency department nurse", "BIRTH": "Midwife", "MW": "Community midwife", "HV": "Health visitor",
         "SN": "School nurse", "GP": "General practitioner", "SH": "Sexual health nurse",
         "CAMHS": "CAMHS practitioner", "SM": "Substance misuse worker", "TOP": "Pregnancy advisory nurse"}


@dataclass(slots=True)
class Patient:
    patient_id: str
    child: Child
    view: View
    unborn_given: str
    placeholder: bool
    events: list[tuple] = field(default_factory=list)   # (event_id, day, type, site, practitioner, reason)


def band(age: float) -> str:
    return "under5" if age < 5 else "child" if age < 13 else "teen"


class Health:
    agency = "health"

    def __init__(self, world: World):
        self.world = world
        rng = world.rng
        domain = world.places["domains"]["health"]
        self.staff = {kind: world.workforce.team(domain, 4 if kind in ("SH", "SM", "TOP") else 12)
                      for kind in ROLES}
        self.sites = {kind: sites or ["GP surgery"] for kind, sites in world.places["health_sites"].items()}
        self.reasons = data("texts")["health_reasons"]
        self.patients: list[Patient] = []
        self.event_count = 0
        ids = rng.sample(range(1_000_000, 9_999_999), len(world.population.children))
        for child, number in zip(world.population.children, ids):
            if rng.random() < KNOWN:
                patient = Patient(f"K{number}", child, world.noise.view(child, self.agency),
                                  rng.choice(("Baby", "Baby", "")), rng.random() < BABY_PLACEHOLDER)
                self._events(patient)
                self.patients.append(patient)
        if world.shape.adults or world.shape.households:
            self._shape_patients(dict(zip((c.key for c in world.population.children), ids)))

    def _shape_patients(self, numbers: dict[str, int]) -> None:
        """The shape's patients, drawn from its own random source: parents (registered as often as children), and
        in a listing of households every member of each household known, written with one surname and address."""
        world, rng = self.world, self.world.shape_rng
        listed = {p.child.key for p in self.patients}
        known = {p.child.household.hid for p in self.patients}
        adults = [a for h in world.population.households for a in h.adults]
        registered = {a.key for a in adults if rng.random() < KNOWN}
        if world.shape.households:
            known |= {a.household.hid for a in adults if a.key in registered}
            registered = {a.key for a in adults if a.household.hid in known}
        for number, adult in enumerate(adults, 10_000_000):
            if adult.key in registered:
                self.patients.append(Patient(f"K{number}", adult, world.shape_noise.view(adult, self.agency), "",
                                             False))
        if not world.shape.households:
            return
        for child in world.population.children:
            if child.key not in listed and child.household.hid in known:
                self.patients.append(Patient(f"K{numbers[child.key]}", child,
                                             world.shape_noise.view(child, self.agency),
                                             rng.choice(("Baby", "Baby", "")), rng.random() < BABY_PLACEHOLDER))
        heads: dict[int, View] = {}
        surnames: dict[tuple[int, str], str] = {}
        for patient in sorted(self.patients, key=lambda p: p.child.key):   # parents (A...) first
            view, person = patient.view, patient.child
            head = heads.setdefault(person.household.hid, view)
            view.stale, view.address_lag = False, head.address_lag
            view.no_postcode, view.placeholder = head.no_postcode, head.placeholder
            view.family = surnames.setdefault((person.household.hid, person.surname), view.family)

    def _event(self, patient: Patient, day: int, kind: str, reason: str = "") -> None:
        rng = self.world.rng
        self.event_count += 1
        patient.events.append((f"E{self.event_count:08d}", day, kind, rng.choice(self.sites[kind]),
                               rng.choice(self.staff[kind]), reason or rng.choice(self.reasons[kind])))

    def _events(self, patient: Patient) -> None:
        world, rng, child = self.world, self.world.rng, patient.child
        first, last = world.window_start, world.last_day
        if child.known_from <= last and child.dob >= first:
            booking = child.known_from
            for day in sorted({booking} | {rng.randint(booking, child.dob) for _ in range(rng.randint(1, 3))}):
                if first <= day <= min(last, child.dob - 1):
                    self._event(patient, day, "MW", "Booking appointment" if day == booking else "")
            if first <= child.dob <= last and rng.random() < BORN_HERE:
                self._event(patient, child.dob, "BIRTH")
        for age, review in HV_REVIEWS:
            if first <= child.dob + age <= last and rng.random() < 0.9:
                self._event(patient, child.dob + age + rng.randint(-3, 10), "HV", review)
        span_first = max(first, child.dob + 1)
        if span_first > last:
            return
        middle = (span_first + last) // 2
        for kind, rate, sex in CONTACT_RATES[band(child.age_on(middle))]:
            if sex is None or sex == child.sex:
                for _ in range(world.poisson(rate * (last - span_first + 1) / YEAR)):
                    self._event(patient, rng.randint(span_first, last), kind)
        patient.events.sort(key=lambda e: e[1])

    def snapshot(self, extract_day: int, fmt: Formatter):
        today, lookback = extract_day - 1, extract_day - 730
        noise, day = self.world.noise, fmt.day
        persons, events, truth = [], [], []
        for p in self.patients:
            child, view = p.child, p.view
            if child.known_from > today:
                continue
            address, postcode = noise.address(child, view, child.known_from, today)
            if child.dob > today:
                persons.append((p.patient_id, "", p.unborn_given, child.household.mother_surname(),
                                day(child.expected_dob), "Y", "0", postcode, address, child.household.gp_practice))
            else:
                given = "Baby" if p.placeholder and today - child.dob < 14 else view.given
                persons.append((p.patient_id, view.nhs, given, view.family, day(view.dob), "N",
                                "1" if child.sex == "M" else "2", postcode, address, child.household.gp_practice))
            truth.append(("persons", p.patient_id, child.key))
            for event_id, when, kind, site, who, reason in p.events:
                if lookback <= when <= today:
                    events.append((event_id, p.patient_id, day(when), kind, site, who.name, ROLES[kind], who.email,
                                   who.phone, reason))
        return {"persons": persons, "events": events}, truth
