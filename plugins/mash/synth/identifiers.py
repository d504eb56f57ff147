"""Identifiers the agencies issue: valid NHS numbers, UPNs, and local record numbers."""

from __future__ import annotations

import random

from stdnum.gb import upn as upn_check

NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def nhs_check_digit(stem: str) -> int | None:
    """The modulus-11 check digit for a 9-digit stem, or None where the stem cannot be issued (digit 10)."""
    check = 11 - sum(int(c) * w for c, w in zip(stem, NHS_WEIGHTS)) % 11
    if check == 11:
        return 0
    return None if check == 10 else check


class NhsNumbers:
    """Issues unique valid NHS numbers from the 4xx and 6xx-7xx ranges used in England and Wales."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.issued: set[str] = set()

    def issue(self) -> str:
        while True:
            stem = str(self.rng.choice((4, 6, 7)) * 100_000_000 + self.rng.randrange(100_000_000))
            check = nhs_check_digit(stem)
            number = f"{stem}{check}"
            if check is not None and number not in self.issued:
                self.issued.add(number)
                return number


def mistype_nhs(number: str, rng: random.Random) -> str:
    """The number with one digit changed so that the check digit no longer holds."""
    while True:
        pos = rng.randrange(10)
        wrong = number[:pos] + str((int(number[pos]) + rng.randrange(1, 10)) % 10) + number[pos + 1:]
        stem_check = nhs_check_digit(wrong[:9])
        if stem_check is None or stem_check != int(wrong[9]):
            return wrong


class Upns:
    """Issues UPNs: check letter + LA number + school DfE number + 2-digit year + 3-digit serial."""

    def __init__(self):
        self.serials: dict[tuple[str, str, int], int] = {}

    def issue(self, la: str, dfe: str, year: int, temporary: bool = False, letter: str = "A") -> str:
        """A new UPN; once a school has issued 999 in a year, the next establishment number's range is used."""
        while self.serials.get((la, dfe, year % 100), 0) >= 999:
            dfe = f"{(int(dfe) + 1) % 10000:04d}"
        key = (la, dfe, year % 100)
        serial = self.serials.get(key, 0) + 1
        self.serials[key] = serial
        tail = f"{serial % 100:02d}{letter}" if temporary else f"{serial:03d}"
        body = f"{la}{dfe}{year % 100:02d}{tail}"
        return upn_check.calc_check_digit(body) + body
