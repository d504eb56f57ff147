"""Synthetic agency extracts for a diverse English town: nightly full-snapshot drops from health, police, schools,
social care and the consent register, with realistic errors and a ground truth of who is who.

    from mash.synth import generate
    summary = generate(children=2000, seed=1, nights=3, out=Path("var/synth"))
    generate(children=2000, seed=1, nights=1, out=Path("var/hh"), shape=SHAPES["households-no-address"])

A shape (:mod:`mash.synth.shapes`) writes the same town as other feeds would: listings of households, sources
without addresses, placeholder postcodes, parents beside children, heavier noise, non-UK addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from mash.contracts import contracts

from .dates import Formatter
from .consent import Consent
from .extracts import write_drop, write_ground_truth, write_people
from .health import Health
from .police import Police
from .schools import Schools
from .shapes import AGENCIES, SHAPES, Shape, people
from .social_care import SocialCare
from .world import World

__all__ = ["AGENCIES", "SHAPES", "Shape", "Summary", "generate"]


@dataclass(frozen=True)
class Summary:
    """Counts only, no personal data."""
    children: int                            # children at the start (born, or unborn and known to maternity)
    children_total: int                      # with the pregnancies booked on later nights
    households: int
    persons: dict[str, int]                  # distinct person-level records per agency over all nights
    nights: tuple[dict[str, int], ...]       # per night: rows per "agency/contract_file"


def generate(children: int, seed: int, nights: int, out: Path, start: date = date(2026, 11, 2),
             noise: str = "default", shape: Shape | None = None, with_people: bool = False) -> Summary:
    """Write ``nights`` consecutive nightly drops for a town of ``children`` children into ``out``.

    ``shape`` (default: one town's five agencies) says what the drops look like; ``noise`` other than default
    overrides the shape's. ``with_people`` also writes people.csv: each person's name origin, heritage, ethnicity
    and whether a child or an adult, for measuring quality per group.
    """
    if children < 1 or nights < 1:
        raise ValueError("children and nights must be at least 1")
    shape = shape or Shape()
    if noise != "default":
        shape = replace(shape, noise=noise)
    out = Path(out)
    world = World.create(children, seed, nights, start, shape)
    schools = Schools(world)
    health = Health(world)
    police = Police(world)
    social_care = SocialCare(world, police, schools)
    sources = {"health": health, "police": police, "schools": schools, "social_care": social_care,
               "consent": Consent(world, social_care)}
    specs = contracts()
    formatters = {a: Formatter(specs[a].date_format, specs[a].datetime_format) for a in AGENCIES}
    truth: dict[tuple[str, str, str], str] = {}
    per_night = []
    for night in range(1, nights + 1):
        extract_date = start + timedelta(days=night - 1)
        night_dir = out / f"night-{night:02d}"
        counts = {}
        for agency in shape.agencies:
            tables, records = sources[agency].snapshot(extract_date.toordinal(), formatters[agency])
            for contract_file, record_id, child_key in records:
                truth[(agency, contract_file, record_id)] = child_key
            for name, rows in write_drop(night_dir, specs[agency], extract_date, tables).items():
                counts[f"{agency}/{name}"] = rows
        per_night.append(counts)
    out.mkdir(parents=True, exist_ok=True)
    write_ground_truth(out / "ground_truth.csv", truth)
    if with_people:
        write_people(out / "people.csv", people(world.population))
    persons = {agency: sum(1 for key in truth if key[0] == agency) for agency in shape.agencies}
    population = world.population
    return Summary(population.initial, len(population.children), len(population.households), persons,
                   tuple(per_night))
