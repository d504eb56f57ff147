"""The shared state of one synthetic run: the seeded random source, the population, the calendar and the noise."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from .dates import WorkingDays
from .noise import Noise
from .population import Population, data, poisson
from .shapes import Shape, add_adults, shape_random
from .workforce import Workforce

LOOKBACK_DAYS = 730
HISTORY_DAYS = 3 * 365     # social care cases can have started before the lookback window


@dataclass
class World:
    rng: random.Random
    start: int            # the first night's extract date
    last_day: int         # the last day whose events any night's extract holds (the last extract date - 1)
    window_start: int     # the first day of the first night's lookback window
    first_day: int        # the first simulated day
    population: Population
    noise: Noise
    working: WorkingDays
    workforce: Workforce
    places: dict
    shape: Shape
    shape_rng: random.Random    # the shape options' own draws: the town's stay the same whatever the shape
    shape_noise: Noise          # errors of records only a shape adds, drawn from shape_rng

    @classmethod
    def create(cls, children: int, seed: int, nights: int, start: date, shape: Shape) -> "World":
        rng, shape_rng = random.Random(seed), shape_random(seed)
        first = start.toordinal()
        last_day = first + nights - 2
        first_day = first - HISTORY_DAYS
        population = Population(rng, children, first, first_day, last_day, shape.address_format)
        if shape.adults:
            add_adults(population, shape_rng)
        working = WorkingDays(date.fromordinal(first_day).year, date.fromordinal(last_day).year + 3)
        return cls(rng, first, last_day, first - LOOKBACK_DAYS, first_day, population,
                   Noise(rng, shape, shape_rng), working, Workforce(rng, population), data("places"), shape,
                   shape_rng, Noise(shape_rng, shape, shape_rng))

    def poisson(self, mean: float) -> int:
        return poisson(self.rng, mean)
