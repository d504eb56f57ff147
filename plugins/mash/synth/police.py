"""Police: children present at domestic abuse, missing episodes, welfare and exploitation concerns, and ASB."""

from __future__ import annotations

from dataclasses import dataclass, field

from .dates import Formatter
from .noise import View
from .population import Child, Household, data, weighted
from .workforce import Practitioner
from .world import World

DA_HOUSEHOLDS = 0.09          # households with domestic abuse incidents in the simulated period
DASH = (("STANDARD", 0.55), ("MEDIUM", 0.32), ("HIGH", 0.13))
# Incidents about one child: (type, role, chance over the period, minimum age, extra episodes on average).
CHILD_INCIDENTS = (("MISS", "MISSING", 0.02, 11, 1.5), ("CSE", "VICTIM", 0.004, 12, 0.5),
                   ("ASB", "SUSPECT", 0.012, 10, 0.5), ("CFW", "SUBJECT", 0.008, 0, 0.2))


@dataclass(slots=True)
class Incident:
    incident_id: str
    day: int
    minute: int
    kind: str
    risk: str
    officer: Practitioner
    summary: str
    ended: tuple[int, int] | None = None          # (day, minute) a missing episode ended
    children: list[tuple[Child, str]] = field(default_factory=list)


@dataclass(slots=True)
class PoliceRecord:
    person_id: str
    child: Child
    view: View
    created: int
    incidents: list[Incident] = field(default_factory=list)


class Police:
    agency = "police"

    def __init__(self, world: World):
        self.world = world
        self.officers = world.workforce.team(world.places["domains"]["police"], 60, mobile=True)
        self.summaries = data("texts")["police_summaries"]
        self.incidents: list[Incident] = []
        self.records: dict[str, PoliceRecord] = {}
        rng = world.rng
        for household in world.population.households:
            if rng.random() < DA_HOUSEHOLDS:
                for _ in range(1 + world.poisson(1.0)):
                    self._domestic(household, rng.randint(world.window_start, world.last_day))
        for child in world.population.children:
            for kind, role, chance, min_age, extra in CHILD_INCIDENTS:
                if rng.random() < chance:
                    for _ in range(1 + world.poisson(extra)):
                        day = rng.randint(world.window_start, world.last_day)
                        if child.age_on(day) >= max(min_age, 0.1) and child.age_on(day) < 18:
                            self._add(self._incident(kind, day), child, role)
        self.incidents.sort(key=lambda i: (i.day, i.minute, i.incident_id))
        if world.shape.adults:
            self._parents()

    def _incident(self, kind: str, day: int) -> Incident:
        rng = self.world.rng
        minute = int(rng.triangular(0, 24 * 60 - 1, 20 * 60))
        risk = weighted(rng, [r for r, _ in DASH], [w for _, w in DASH]) if kind == "DA" else ""
        incident = Incident(f"WY{len(self.incidents) + 1:07d}", day, minute, kind, risk, rng.choice(self.officers),
                            rng.choice(self.summaries[kind]))
        if kind == "MISS":
            end = minute + rng.randint(120, 48 * 60)
            incident.ended = (day + end // (24 * 60), end % (24 * 60))
        self.incidents.append(incident)
        return incident

    def _domestic(self, household: Household, day: int) -> None:
        present = [c for c in household.children if 0 < c.age_on(day) < 18]
        if present:
            incident = self._incident("DA", day)
            for child in present:
                self._add(incident, child, "PRESENT")

    def _parents(self) -> None:
        """A shape with adults: the parents at each domestic abuse incident, the mother as victim, the father as
        suspect, drawn from the shape's own random source (the police file then holds adults too)."""
        for incident in [i for i in self.incidents if i.kind == "DA"]:
            for parent in incident.children[0][0].household.adults:
                self._add(incident, parent, "VICTIM" if parent.sex == "F" else "SUSPECT", shape=True)

    def _add(self, incident: Incident, child: Child, role: str, shape: bool = False) -> None:
        incident.children.append((child, role))
        record = self.records.get(child.key)
        if record is None:
            world = self.world
            rng, noise = (world.shape_rng, world.shape_noise) if shape else (world.rng, world.noise)
            number = rng.randrange(10**6, 10**7)
            record = self.records[child.key] = PoliceRecord(f"P{number}{len(self.records):05d}", child,
                                                            noise.view(child, self.agency), incident.day)
        record.incidents.append(incident)

    def snapshot(self, extract_day: int, fmt: Formatter):
        today, lookback = extract_day - 1, extract_day - 730
        noise, day = self.world.noise, fmt.day
        persons, incidents, truth, shown = [], [], [], set()
        for incident in self.incidents:
            if not lookback <= incident.day <= today:
                continue
            ended = ""
            if incident.ended and incident.ended[0] <= today:
                ended = fmt.moment(*incident.ended)
            occurred = fmt.moment(incident.day, incident.minute)
            officer = incident.officer
            for child, role in incident.children:
                record = self.records[child.key]
                incidents.append((incident.incident_id, record.person_id, occurred, ended, incident.kind, role,
                                  incident.risk, officer.name, officer.email, officer.phone, incident.summary))
                shown.add(child.key)
        for key, record in self.records.items():
            if key not in shown:
                continue
            view, child = record.view, record.child
            address, postcode = noise.address(child, view, record.created, today)
            forenames = f"{view.given} {view.middle}".strip()
            persons.append((record.person_id, view.nhs, view.family, forenames, day(view.dob),
                            child.sex, postcode, address))
            truth.append(("persons", record.person_id, child.key))
        return {"persons": persons, "incidents": incidents}, truth
