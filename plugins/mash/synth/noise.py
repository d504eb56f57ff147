"""The errors real agency extracts carry, applied independently to each agency's record of a child.

Each agency record holds its own view of the child's names, date of birth, NHS number and address, fixed when the
record is made: typos, nicknames, spelling variants, swapped names, day/month swaps, placeholder dates, missing or
mistyped NHS numbers, half of a double surname, an old surname, a stale address or a missing postcode.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from datetime import date
from functools import cache

from nicknames import NickNamer
from unidecode import unidecode

from .identifiers import mistype_nhs
from .population import Child, data
from .shapes import PLACEHOLDER_POSTCODE, Shape

LETTERS = "abcdefghijklmnopqrstuvwxyz"
NOISE_FACTORS = {"default": 1.0, "high": 2.0, "heavy": 3.0}
MAX_RATE = 0.95


@dataclass(frozen=True)
class Rates:
    typo: float = 0.02              # one character substituted, dropped or transposed, per name
    nickname: float = 0.02          # a nickname in place of the forename (schools: the preferred name)
    variant: float = 0.15           # another spelling of a name that has variants
    swap_names: float = 0.01        # given and family names swapped
    swap_day_month: float = 0.01    # only where the day is 12 or less
    placeholder_dob: float = 0.0    # 1 January of the year of birth
    nhs_missing: float = 0.03
    nhs_mistyped: float = 0.005
    half_surname: float = 0.3       # only one half of a hyphenated surname
    old_surname: float = 0.4        # the surname before it changed
    stale_address: float = 0.05     # the address is not updated after a move
    no_postcode: float = 0.02
    no_accents: float = 0.2         # letters outside A-Z recorded without accents

    def scaled(self, factor: float) -> "Rates":
        return replace(self, **{f.name: min(MAX_RATE, getattr(self, f.name) * factor) for f in fields(self)})


AGENCY_RATES = {
    "health": Rates(nhs_missing=0.03, stale_address=0.03),
    "police": Rates(typo=0.04, nickname=0.15, swap_names=0.03, swap_day_month=0.02, placeholder_dob=0.03,
                    nhs_missing=0.7, nhs_mistyped=0.01, stale_address=0.15, no_postcode=0.08, no_accents=0.5),
    "schools": Rates(nickname=0.2, nhs_missing=1.0, stale_address=0.08, no_accents=0.1),
    "social_care": Rates(typo=0.015, nickname=0.03, nhs_missing=0.15, stale_address=0.05, old_surname=0.2),
    "consent": Rates(typo=0.02, nhs_missing=0.3, swap_day_month=0.01),
}


def rates_for(agency: str, noise: str) -> Rates:
    if noise not in NOISE_FACTORS:
        raise ValueError(f"noise must be one of {', '.join(NOISE_FACTORS)}, not {noise!r}")
    rates = AGENCY_RATES[agency]
    return rates if noise == "default" else rates.scaled(NOISE_FACTORS[noise])


@cache
def nick_namer() -> NickNamer:
    return NickNamer()


@cache
def nicknames(name: str) -> tuple[str, ...]:
    """Shorter familiar forms of a forename, e.g. William -> Bill, Will, Billy."""
    found = nick_namer().nicknames_of(name.lower())
    return tuple(sorted(n.capitalize() for n in found if 2 <= len(n) < len(name)))


def typo(name: str, rng: random.Random) -> str:
    if len(name) < 3:
        return name
    pos = rng.randrange(1, len(name) - 1)
    kind = rng.random()
    if kind < 0.4:
        return name[:pos] + rng.choice(LETTERS) + name[pos + 1:]
    if kind < 0.7:
        return name[:pos] + name[pos + 1:]
    return name[:pos] + name[pos + 1] + name[pos] + name[pos + 2:]


def cp1252_safe(text: str) -> str:
    """Transliterate the characters Windows-1252 cannot hold, as a legacy system does (Ł -> L, ș -> s)."""
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        return "".join(ch if _cp1252(ch) else unidecode(ch) for ch in text)


def _cp1252(ch: str) -> bool:
    try:
        ch.encode("cp1252")
        return True
    except UnicodeEncodeError:
        return False


@dataclass(slots=True)
class View:
    """One agency record's view of a child's identity."""
    given: str
    middle: str
    family: str
    preferred: str
    dob: int
    nhs: str
    stale: bool
    address_lag: int
    no_postcode: bool
    no_address: bool = False        # the shape's agency records no address at all
    placeholder: bool = False       # the postcode is the placeholder value


class Noise:
    """Makes each agency record's own view of a child with that agency's error rates."""

    def __init__(self, rng: random.Random, shape: Shape, shape_rng: random.Random):
        self.rng, self.shape, self.shape_rng = rng, shape, shape_rng
        self.rates = {agency: rates_for(agency, shape.noise) for agency in AGENCY_RATES}
        self.variants = data("names")["variants"]

    def _name(self, name: str, rates: Rates, nickname: bool) -> str:
        rng = self.rng
        if name in self.variants and rng.random() < rates.variant:
            name = rng.choice(self.variants[name])
        if nickname and rng.random() < rates.nickname and nicknames(name):
            name = rng.choice(nicknames(name))
        if rng.random() < rates.typo:
            name = typo(name, rng)
        return name

    def view(self, child: Child, agency: str) -> View:
        rng, rates = self.rng, self.rates[agency]
        given = self._name(child.given, rates, nickname=agency != "schools")
        preferred = ""
        if agency == "schools" and rng.random() < rates.nickname and nicknames(child.given):
            preferred = rng.choice(nicknames(child.given))
        middle = child.middle
        family = child.surname
        if child.former_surname and rng.random() < rates.old_surname:
            family = child.former_surname
        elif "-" in family and rng.random() < rates.half_surname:
            family = rng.choice(family.split("-"))
        if rng.random() < rates.typo:
            family = typo(family, rng)
        if rng.random() < rates.no_accents:
            given, middle, family = unidecode(given), unidecode(middle), unidecode(family)
        if rng.random() < rates.swap_names:
            given, family = family, given
        dob = child.dob
        born = date.fromordinal(dob)
        if rng.random() < rates.placeholder_dob:
            dob = date(born.year, 1, 1).toordinal()
        elif born.day <= 12 and born.day != born.month and rng.random() < rates.swap_day_month:
            dob = date(born.year, born.day, born.month).toordinal()
        nhs = child.nhs
        if rng.random() < rates.nhs_missing:
            nhs = ""
        elif rng.random() < rates.nhs_mistyped:
            nhs = mistype_nhs(nhs, rng)
        view = View(given, middle, family, preferred, dob, nhs, rng.random() < rates.stale_address,
                    rng.randint(0, 45), rng.random() < rates.no_postcode)
        view.no_address = agency in self.shape.no_address
        share = self.shape.placeholder_share(agency)
        view.placeholder = bool(share) and self.shape_rng.random() < share
        return view

    def address(self, child: Child, view: View, created: int, day: int) -> tuple[str, str]:
        """The address this record shows on ``day``: updated after a lag, or never where the record is stale."""
        if view.no_address:
            return "", ""
        address, postcode = child.household.address_on(created if view.stale else day - view.address_lag)
        if view.placeholder:
            return address, PLACEHOLDER_POSTCODE
        return address, "" if view.no_postcode else postcode
