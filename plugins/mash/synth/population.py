"""The town's children and their households: heritage, names, births, twins, surnames and moves of address."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from .identifiers import NhsNumbers

HERE = Path(__file__).parent
YEAR = 365.25
UNBORN_AHEAD = 182          # expected dates of delivery up to six months ahead are known to maternity services
MAX_AGE_DAYS = int(18 * YEAR) - 1
SIBLINGS = ((1, 0.42), (2, 0.36), (3, 0.15), (4, 0.05), (5, 0.02))
TWIN_RATE = 0.015
HYPHENATED_RATE = 0.05
CHANGED_SURNAME_RATE = 0.02
MOVES_PER_YEAR = 0.12
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
# Non-UK address formats: the town (and region) an address is written with. US: number first, 5-digit ZIP;
# Germany: number after the street, 5-digit postcode written before the town; Netherlands: "1234 AB".
FOREIGN_TOWNS = {"us": ("Springfield", "IL"), "de": ("Musterstadt", ""), "nl": ("Amersfoort", "")}


@cache
def data(name: str) -> dict:
    return yaml.safe_load((HERE / f"{name}.yaml").read_text(encoding="utf-8"))


def poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def weighted(rng: random.Random, options: list, weights: list[float]):
    return rng.choices(options, weights)[0]


@dataclass(slots=True)
class Household:
    hid: int
    heritage: str                  # a heritage from names.yaml, or "mixed"
    name_heritages: tuple[str, str]  # (forenames from, surname from)
    ethnicity: str
    surname: str                   # "male|female" forms for gendered surnames
    gp_practice: str
    addresses: list[tuple[int, str, str]] = field(default_factory=list)   # (from day, address, postcode)
    children: list["Child"] = field(default_factory=list)
    adults: list["Child"] = field(default_factory=list)    # parents, only in shapes with adults

    def address_on(self, day: int) -> tuple[str, str]:
        for since, address, postcode in reversed(self.addresses):
            if since <= day:
                return address, postcode
        return self.addresses[0][1], self.addresses[0][2]

    def mother_surname(self) -> str:
        return surname_form(self.surname, "F")


@dataclass(slots=True)
class Child:
    key: str
    household: Household
    sex: str                       # M or F
    given: str
    middle: str
    surname: str
    former_surname: str            # "" unless the surname changed
    dob: int                       # actual date of birth (expected date for a child not yet born)
    expected_dob: int
    ethnicity: str
    nhs: str

    @property
    def known_from(self) -> int:
        """Maternity services know a pregnancy from booking, about six months before delivery."""
        return self.expected_dob - UNBORN_AHEAD

    def age_on(self, day: int) -> float:
        return (day - self.dob) / YEAR


def surname_form(surname: str, sex: str) -> str:
    """The male or female form of a gendered surname written "male|female"; hyphenated parts each."""
    parts = []
    for part in surname.split("-"):
        male, _, female = part.partition("|")
        parts.append(female if sex == "F" and female else male)
    return "-".join(parts)


class Town:
    """Streets with postcodes in the town's districts, and the addresses households live at.

    ``address_format`` other than uk writes the same street, number and postcode unit as another country writes an
    address (:data:`FOREIGN_TOWNS`), with a postal code derived from the unit, so the draws and the households'
    addresses stay the same whatever the format.
    """

    def __init__(self, rng: random.Random, address_format: str = "uk"):
        places = data("places")
        self.rng = rng
        self.name = places["town"]
        self.streets = []
        for root in places["street_roots"]:
            district = rng.choice(sorted(places["districts"]))
            sector = rng.randint(1, 9)
            units = [f"{district} {sector}{rng.choice(UNIT_LETTERS)}{rng.choice(UNIT_LETTERS)}" for _ in range(4)]
            self.streets.append((f"{root} {rng.choice(places['street_types'])}", units))
        self.refuge = places["refuge"]
        self.format = address_format
        self.areas = {d: i for i, d in enumerate(sorted([*places["districts"], *self.refuge["districts"]]))}

    def address(self) -> tuple[str, str]:
        street, units = self.rng.choice(self.streets)
        number = self.rng.randint(1, 160)
        return self._write(number, street, units[number * len(units) // 161], refuge=False)

    def refuge_address(self) -> tuple[str, str]:
        district = self.rng.choice(self.refuge["districts"])
        postcode = f"{district} {self.rng.randint(1, 9)}{self.rng.choice(UNIT_LETTERS)}{self.rng.choice(UNIT_LETTERS)}"
        return self._write(self.rng.randint(1, 90), self.rng.choice(self.streets)[0], postcode, refuge=True)

    def _write(self, number: int, street: str, unit: str, refuge: bool) -> tuple[str, str]:
        if self.format == "uk":
            return f"{number} {street}, {self.refuge['town'] if refuge else self.name}", unit
        district, inward = unit.split(" ")
        area, sector, letters = self.areas[district], inward[0], inward[1:]
        place, region = FOREIGN_TOWNS[self.format]
        place = f"North {place}" if refuge else place       # a refuge is out of the borough
        digit = UNIT_LETTERS.index(letters[0]) % 10
        if self.format == "us":
            return f"{number} {street}, {place}, {region}", f"6{area:02d}{sector}{digit}"
        if self.format == "de":
            return f"{street} {number}, 3{area:02d}{sector}{digit} {place}", f"3{area:02d}{sector}{digit}"
        return f"{street} {number}, {place}", f"3{area:02d}{sector} {letters}"


class Population:
    """All children and households, over the whole simulated period [first_day, last_day]."""

    def __init__(self, rng: random.Random, children: int, start: int, first_day: int, last_day: int,
                 address_format: str = "uk"):
        self.rng = rng
        self.first_day, self.last_day = first_day, last_day
        self.town = Town(rng, address_format)
        self.nhs = NhsNumbers(rng)
        names = data("names")
        self.heritages = names["heritages"]
        self.pure = [h for h in self.heritages if h != "mixed"]
        self.shares = [self.heritages[h]["share"] for h in self.heritages]
        self.gp_practices = [f"B85{rng.randrange(1000):03d}" for _ in range(28)]
        self.households: list[Household] = []
        self.children: list[Child] = []
        # The existing population (born or expected within six months of the start) ...
        lo, hi = start - MAX_AGE_DAYS, start + UNBORN_AHEAD
        while len(self.children) < children:
            self._household(lo, hi, children)
        self.initial = len(self.children)
        # ... and pregnancies booked on the later nights, in new or existing households.
        for day in range(hi + 1, last_day + UNBORN_AHEAD + 1):
            for _ in range(poisson(rng, children / (MAX_AGE_DAYS + UNBORN_AHEAD))):
                household = rng.choice(self.households)
                if rng.random() < 0.5 or max(c.dob for c in household.children) > day - 400:
                    household = self._new_household()
                self._births(household, day)
        for household in self.households:
            self._moves(household)

    def _new_household(self) -> Household:
        rng = self.rng
        heritage = weighted(rng, list(self.heritages), self.shares)
        spec = self.heritages[heritage]
        if heritage == "mixed":
            blend = weighted(rng, spec["blends"], [b["weight"] for b in spec["blends"]])
            pair = list(blend["heritages"])
            rng.shuffle(pair)
            name_heritages, ethnicity = (pair[0], pair[1]), blend["ethnicity"]
        else:
            name_heritages = (heritage, heritage)
            ethnicity = weighted(rng, list(spec["ethnicity"]), list(spec["ethnicity"].values()))
        surname = rng.choice(self.heritages[name_heritages[1]]["surnames"])
        if name_heritages[1] in ("english", "irish") and rng.random() < HYPHENATED_RATE:
            other = rng.choice(self.heritages[name_heritages[1]]["surnames"])
            if other != surname:
                surname = f"{surname}-{other}"
        address, postcode = self.town.address()
        household = Household(len(self.households), heritage, name_heritages, ethnicity, surname,
                              rng.choice(self.gp_practices), [(self.first_day - 3650, address, postcode)])
        self.households.append(household)
        return household

    def _household(self, lo: int, hi: int, limit: int) -> None:
        rng = self.rng
        household = self._new_household()
        size = weighted(rng, [s for s, _ in SIBLINGS], [w for _, w in SIBLINGS])
        days = [rng.randint(lo, hi)]
        for _ in range(size - 1):   # siblings born 13 months to 5 years before the eldest or after the youngest
            gap = rng.randint(400, 1800)
            days.append(min(days) - gap if rng.random() < 0.5 else max(days) + gap)
        for day in sorted(d for d in days if lo <= d <= hi):
            if len(self.children) < limit:
                self._births(household, day, limit)
        if not household.children:
            self.households.pop()

    def _births(self, household: Household, expected: int, limit: int | None = None) -> None:
        rng = self.rng
        born = expected + rng.randint(-21, 10)
        room = 2 if limit is None else limit - len(self.children)
        twins = 2 if rng.random() < TWIN_RATE and room >= 2 else 1
        taken = {c.given for c in household.children}
        for _ in range(twins):
            taken.add(self._child(household, born, expected, taken).given)

    def _child(self, household: Household, dob: int, expected: int, taken: set[str]) -> Child:
        rng = self.rng
        sex = "M" if rng.random() < 0.512 else "F"
        first_names = self.heritages[household.name_heritages[0]]
        pool = first_names["male" if sex == "M" else "female"]
        given = rng.choice(pool)
        while given in taken:
            given = rng.choice(pool)
        middle = ""
        if rng.random() < first_names["middle_name_rate"]:
            middle = rng.choice([n for n in pool if n != given])
        surname = surname_form(household.surname, sex)
        former = ""
        if rng.random() < CHANGED_SURNAME_RATE:
            former = surname_form(rng.choice(self.heritages[household.name_heritages[1]]["surnames"]), sex)
            if former == surname:
                former = ""
        child = Child(f"C{len(self.children) + 1:06d}", household, sex, given, middle, surname, former, dob,
                      expected, household.ethnicity, self.nhs.issue())
        household.children.append(child)
        self.children.append(child)
        return child

    def _moves(self, household: Household) -> None:
        day = self.first_day
        while True:
            day += int(self.rng.expovariate(MOVES_PER_YEAR / YEAR)) + 1
            if day >= self.last_day:
                return
            address, postcode = self.town.address()
            household.addresses.append((day, address, postcode))
