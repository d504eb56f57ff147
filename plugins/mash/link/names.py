"""Names as the matcher sees them: transliterated and normalised text, placeholder names treated as missing,
canonical forms of given names (nicknames and spelling variants) and phonetic codes.

Every function works on a pandas Series and computes each distinct value once, so a column of 400,000 names costs
as many Python calls as it has distinct names.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Callable

import jellyfish
import numpy as np
import pandas as pd
import yaml
from nicknames import NickNamer
from unidecode import unidecode

# Names recorded before a child is named, or in place of one: never evidence that two records are the same child.
PLACEHOLDER_TOKENS = frozenset({
    "baby", "babe", "unborn", "infant", "newborn", "male", "female", "boy", "girl", "child", "twin", "triplet",
    "unknown", "unnamed", "nk", "not", "known", "stated", "one", "two", "three", "a", "b", "c",
})
_APOSTROPHES = re.compile(r"['`\u2018\u2019]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def map_distinct(values: pd.Series, function: Callable[[str], object]) -> pd.Series:
    """``function`` applied to every value of ``values``, called once per distinct value."""
    codes, distinct = pd.factorize(values.to_numpy(), use_na_sentinel=False)
    mapped = np.empty(len(distinct), dtype=object)
    mapped[:] = list(map(function, distinct))
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def normalise_text(text: str) -> str:
    """Transliterated, casefolded, without punctuation, single-spaced:
    "Łukasz O'Brien-Wójcik" -> 'lukasz obrien wojcik'."""
    text = unidecode(str(text)).casefold()
    text = _APOSTROPHES.sub("", text)
    return _NOT_ALNUM.sub(" ", text).strip()


def normalise(values: pd.Series) -> pd.Series:
    """:func:`normalise_text` over a column; missing values become ''."""
    return map_distinct(values.fillna("").astype(str), normalise_text)


def is_placeholder(name: str) -> bool:
    """True for '', 'baby', 'twin 1', 'unborn male' and the like: a normalised name made only of placeholder words
    and numbers."""
    return all(token in PLACEHOLDER_TOKENS or token.isdigit() for token in name.split())


def person_names(values: pd.Series) -> pd.Series:
    """Normalised names with placeholders replaced by '' (missing)."""
    return map_distinct(normalise(values), lambda name: "" if is_placeholder(name) else name)


def phonetic(names: pd.Series) -> pd.Series:
    """Metaphone code of the first word of each normalised name ('' for missing)."""
    return map_distinct(names, lambda name: jellyfish.metaphone(name.split()[0]) if name else "")


def first_token(names: pd.Series) -> pd.Series:
    return map_distinct(names, lambda name: name.split()[0] if name else "")


def last_token(names: pd.Series) -> pd.Series:
    return map_distinct(names, lambda name: name.split()[-1] if name else "")


def sorted_tokens(*columns: pd.Series) -> pd.Series:
    """The words of several name columns as one sorted, space-joined string ('' if all are missing)."""
    joined = columns[0].str.cat(list(columns[1:]), sep=" ") if len(columns) > 1 else columns[0]
    return map_distinct(joined, lambda text: " ".join(sorted(text.split())))


class GivenNameForms:
    """The canonical forms a given name can stand for, from the `nicknames` package and ``variants.yaml``.

    Two given names are variants of each other when their sets of canonical forms intersect: 'bill' stands for
    {'bill', 'william'} and 'william' for {'william'}; 'mohamed' and 'muhammad' both stand for {'muhammad'}.
    """

    def __init__(self, groups: list[list[str]]):
        self._namer = NickNamer()
        self._forms: dict[str, tuple[str, ...]] = {}
        self._groups: dict[str, set[str]] = {}
        for group in groups:
            names = [normalise_text(name) for name in group]
            for name in names:
                self._groups.setdefault(name, set()).add(names[0])

    @classmethod
    def default(cls) -> "GivenNameForms":
        return _default_forms()

    def _own(self, name: str) -> set[str]:
        return self._groups.get(name, {name})

    def forms(self, name: str) -> tuple[str, ...]:
        """Canonical forms of one normalised single-word given name; the first is its blocking key (its variant
        group's canonical form if ``variants.yaml`` lists it, else the alphabetically first of its forms)."""
        if not name:
            return ()
        if name not in self._forms:
            every = set().union(self._own(name), *(self._own(c) for c in self._namer.canonicals_of(name)))
            primary = min(self._groups[name]) if name in self._groups else min(every)
            self._forms[name] = (primary, *sorted(every - {primary}))
        return self._forms[name]


@cache
def _default_forms() -> GivenNameForms:
    text = resources.files("mash.link").joinpath("variants.yaml").read_text(encoding="utf-8")
    groups = yaml.safe_load(text)["groups"]
    if not isinstance(groups, list) or not all(isinstance(g, list) and len(g) >= 2 for g in groups):
        raise ValueError("variants.yaml: 'groups' must be a list of lists of at least two names")
    return GivenNameForms(groups)


def canonical_forms(first_names: pd.Series, forms: GivenNameForms | None = None
                    ) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """For each record's first given name: its primary canonical form (a blocking key) and an integer name id
    (-1 when missing); and, sorted, the codes ``id_a * count + id_b`` of every ordered pair of distinct names that
    share a canonical form (``count`` = the largest id + 1), so variant tests are array look-ups."""
    forms = forms or GivenNameForms.default()
    ids, distinct = pd.factorize(first_names.where(first_names != ""))
    per_name = [forms.forms(name) for name in distinct]
    primaries = np.array([name_forms[0] for name_forms in per_name] + [""], dtype=object)
    primary = pd.Series(primaries[ids], index=first_names.index, dtype=object)      # ids of -1: the ''
    exploded = pd.DataFrame([(i, form) for i, name_forms in enumerate(per_name) for form in name_forms],
                            columns=["name", "form"])
    shared = exploded.merge(exploded, on="form")
    shared = shared[shared["name_x"] != shared["name_y"]]
    count = max(len(distinct), 1)
    codes = np.unique(shared["name_x"].to_numpy(np.int64) * count + shared["name_y"].to_numpy(np.int64))
    return primary, ids.astype(np.int64), codes
