"""The practitioners named in extracts: health visitors, officers, social workers, school safeguarding leads.

Phone numbers are from Ofcom's ranges reserved for drama (01632 960xxx, 07700 900xxx) and e-mail domains end in
.example, so no generated contact detail reaches a real person.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from unidecode import unidecode

from .population import Population, surname_form, weighted


@dataclass(frozen=True, slots=True)
class Practitioner:
    name: str
    email: str
    phone: str


class Workforce:
    def __init__(self, rng: random.Random, population: Population):
        self.rng = rng
        self.population = population
        self.emails: set[str] = set()

    def landline(self) -> str:
        return f"01632 960{self.rng.randrange(1000):03d}"

    def mobile(self) -> str:
        return f"07700 900{self.rng.randrange(1000):03d}"

    def adult_name(self) -> str:
        rng, pop = self.rng, self.population
        heritage = weighted(rng, pop.pure, [pop.heritages[h]["share"] for h in pop.pure])
        sex = rng.choice("MF")
        spec = pop.heritages[heritage]
        return f"{rng.choice(spec['male' if sex == 'M' else 'female'])} {surname_form(rng.choice(spec['surnames']), sex)}"

    def person(self, domain: str, mobile: bool = False) -> Practitioner:
        name = self.adult_name()
        local = unidecode(name).lower().replace(" ", ".").replace("'", "")
        email, n = f"{local}@{domain}", 1
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.emails.add(email)
        return Practitioner(name, email, self.mobile() if mobile else self.landline())

    def team(self, domain: str, size: int, mobile: bool = False) -> list[Practitioner]:
        return [self.person(domain, mobile) for _ in range(size)]
