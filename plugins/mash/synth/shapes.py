"""Shapes of the agencies' extracts beyond one English town's five feeds, each with its ground truth.

A :class:`Shape` changes what the generator writes, not the town: every shape option draws from a random source
of its own (``shape_rng``), so the town, its children and every default record are the same with or without a
shape, and the default shape writes exactly what the generator always wrote. The options compose:

    agencies               whose drops are written (the others are simulated but not written)
    households             health lists whole households: every member of each household it knows, children and
                           (with ``adults``) parents, each surname written once for the household, one address
    adults                 parents beside the children: health patients, and police persons at domestic abuse
    no_address             agencies whose records carry no address and no postal code
    placeholder_postcodes  (agency, share): that share of the agency's records carry one placeholder postal code
    address_format         uk, or us / de / nl: the same streets and numbers written as another country writes an
                           address, with its postal codes
    noise                  default, high (twice the error rates) or heavy (three times)

:data:`SHAPES` names the presets the quality bench runs (``bench/link_quality.py --shape``, ``mash synth
--shape``); ``households-no-address`` is the shape of the public data set on which matching once collapsed: a
listing of households whose postal codes are mostly one placeholder, and a source with names, date of birth and
sex but no address.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from .population import YEAR, Child, Household, Population, data, surname_form
from .identifiers import NhsNumbers

AGENCIES = ("health", "police", "schools", "social_care", "consent")
PLACEHOLDER_POSTCODE = "ZZ99 3VZ"     # the NHS pseudo-postcode for an address not known
ADDRESS_FORMATS = ("uk", "us", "de", "nl")
NOISE_LEVELS = ("default", "high", "heavy")
FATHER_LISTED = 0.7                   # households whose father is known beside the mother
PARENT_AGE = (19, 40)                 # the mother's age in years at her eldest child's birth
FATHER_OLDER = (0, 6)


@dataclass(frozen=True)
class Shape:
    agencies: tuple[str, ...] = AGENCIES
    households: bool = False
    adults: bool = False
    no_address: tuple[str, ...] = ()
    placeholder_postcodes: tuple[tuple[str, float], ...] = ()
    address_format: str = "uk"
    noise: str = "default"

    def __post_init__(self):
        unknown = (set(self.agencies) | set(self.no_address)
                   | {a for a, _ in self.placeholder_postcodes}) - set(AGENCIES)
        if unknown:
            raise ValueError(f"unknown agencies: {sorted(unknown)}")
        if not self.agencies:
            raise ValueError("a shape writes at least one agency")
        if any(not 0 <= share <= 1 for _, share in self.placeholder_postcodes):
            raise ValueError("a placeholder postcode share is between 0 and 1")
        if self.address_format not in ADDRESS_FORMATS:
            raise ValueError(f"address_format must be one of {ADDRESS_FORMATS}, not {self.address_format!r}")
        if self.noise not in NOISE_LEVELS:
            raise ValueError(f"noise must be one of {NOISE_LEVELS}, not {self.noise!r}")

    def placeholder_share(self, agency: str) -> float:
        return dict(self.placeholder_postcodes).get(agency, 0.0)


SHAPES: dict[str, Shape] = {
    "town": Shape(),
    "households-no-address": Shape(agencies=("health", "schools"), households=True, adults=True,
                                   no_address=("schools",), placeholder_postcodes=(("health", 0.8),)),
    "households": Shape(households=True),
    "no-address": Shape(no_address=("police", "schools")),
    "placeholder-postcodes": Shape(placeholder_postcodes=(("health", 0.8),)),
    "adults": Shape(adults=True),
    "heavy-noise": Shape(noise="heavy"),
    "us-addresses": Shape(address_format="us"),
    "de-addresses": Shape(address_format="de"),
    "nl-addresses": Shape(address_format="nl"),
}


def shape_named(name: str, **changes) -> Shape:
    """A preset from :data:`SHAPES` with some options changed (the keyword arguments that are not None)."""
    if name not in SHAPES:
        raise ValueError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}")
    return replace(SHAPES[name], **{k: v for k, v in changes.items() if v is not None})


def shape_random(seed: int) -> random.Random:
    """The random source of the shape options, apart from the town's so that the town stays the same."""
    return random.Random(f"shape-{seed}")


def add_adults(population: Population, rng: random.Random) -> None:
    """Give each household a mother and, in most, a father, aged from the eldest child's birth."""
    heritages = population.heritages
    nhs = NhsNumbers(rng)
    nhs.issued = set(population.nhs.issued)
    count = 0
    for household in population.households:
        eldest = min(c.dob for c in household.children)
        mother_dob = eldest - int(rng.randint(*PARENT_AGE) * YEAR) - rng.randrange(365)
        parents = [("F", household.name_heritages[0], mother_dob)]
        if rng.random() < FATHER_LISTED:
            parents.append(("M", household.name_heritages[1],
                            mother_dob - int(rng.randint(*FATHER_OLDER) * YEAR) - rng.randrange(365)))
        for sex, heritage, dob in parents:
            count += 1
            given = rng.choice(heritages[heritage]["male" if sex == "M" else "female"])
            # A parent is a person record like a child's (the agencies' views of it are made the same way); its
            # key, A..., keeps it apart from the children's C... in the truth.
            household.adults.append(Child(f"A{count:06d}", household, sex, given, "",
                                          surname_form(household.surname, sex), "", dob, dob, household.ethnicity,
                                          nhs.issue()))


def name_origin(household: Household) -> str:
    """The name-origin group of a household's names (names.yaml ``origin``): mixed where its forenames and
    surname come from different groups."""
    heritages = data("names")["heritages"]
    origins = {heritages[h]["origin"] for h in household.name_heritages}
    return origins.pop() if len(origins) == 1 else "Mixed"


def people(population: Population) -> list[tuple[str, str, str, str, str, str]]:
    """(person key, household, name origin, heritage, ethnicity, child or adult) for every person of the town."""
    rows = []
    for household in population.households:
        origin = name_origin(household)
        for person, kind in [(c, "child") for c in household.children] + [(a, "adult") for a in household.adults]:
            rows.append((person.key, f"H{household.hid:06d}", origin, household.heritage, person.ethnicity, kind))
    return sorted(rows)

