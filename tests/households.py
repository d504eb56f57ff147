"""A hostile shape of input for the matcher, with known truth, built here and not by mash.synth: a household listing
(siblings and twins sharing a surname and an address, most postcodes one placeholder value) beside a register of
names, dates of birth and sexes without any address. On this shape the matcher once merged siblings and missed every
true pair (issue 18)."""

from __future__ import annotations

import numpy as np
import pandas as pd

PLACEHOLDER_POSTCODE = "ZZ99 3VZ"
_ONSETS = ["b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "ch", "sh", "br",
           "tr", "st", "gr", "kl"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ee", "ia", "ou"]
_CODAS = ["", "", "n", "r", "s", "l", "th", "m", "nd", "rk"]
_STREETS = ["Park Road", "Mill Lane", "Church Street", "High Street", "Station Road", "Queens Road", "Oak Avenue",
            "Elm Close", "Ash Grove", "Bridge Street", "Green Lane", "Moor Lane"]


def _word(rng: np.random.Generator, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                   for _ in range(syllables)).capitalize()


def _pool(rng: np.random.Generator, size: int, syllables: int) -> tuple[list[str], np.ndarray]:
    """Distinct made-up names and Zipf-like frequencies (a few names common, most rare)."""
    names: list[str] = []
    while len(names) < size:
        name = _word(rng, syllables)
        if name not in names:
            names.append(name)
    weights = 1.0 / np.arange(1, size + 1) ** 0.8
    return names, weights / weights.sum()


def _typo(rng: np.random.Generator, name: str) -> str:
    """One letter changed, dropped or two neighbours swapped."""
    at = int(rng.integers(1, len(name) - 1))
    kind = rng.integers(3)
    if kind == 0:
        return name[:at] + str(rng.choice(list("aeioulnrst"))) + name[at + 1:]
    if kind == 1:
        return name[:at] + name[at + 1:]
    return name[:at - 1] + name[at] + name[at - 1] + name[at + 1:]


def households(n_households: int = 800, seed: int = 1, placeholder_share: float = 0.8,
               year_only_share: float = 0.3) -> tuple[pd.DataFrame, pd.Series]:
    """The two sources' records (person schema) and, per record_id, who it truly is.

    Source ``listing``: every child of ``n_households`` households once (two to five children sharing the surname
    and the address, twins one household in eight), a share ``placeholder_share`` of them with the postcode
    ``ZZ99 3VZ`` and a share ``year_only_share`` with only the year of birth known (recorded as 1 January). Source ``register``: three in four of those children (a given name mistyped one time in ten, the
    day and month of birth swapped one time in forty) and as many children again who are not in the listing;
    names, date of birth and sex only."""
    rng = np.random.default_rng(seed)
    given_pool, given_p = _pool(rng, 200, 2)
    family_pool, family_p = _pool(rng, 250, 2)
    children = []
    for h in range(n_households):
        family = str(rng.choice(family_pool, p=family_p))
        address = f"{int(rng.integers(1, 200))} {rng.choice(_STREETS)}"
        real = f"LS{int(rng.integers(1, 30))} {int(rng.integers(1, 10))}{''.join(rng.choice(list('ABDEFGHJ'), 2))}"
        postcode = PLACEHOLDER_POSTCODE if rng.random() < placeholder_share else real
        size = int(rng.integers(2, 6))
        births = pd.Timestamp("2008-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 17 * 365, size)), "D")
        if rng.random() < 1 / 8:
            births = births.insert(0, births[0])[:size]      # twins: the first two born on one day
        chosen = set()
        for k in range(size):
            given = str(rng.choice(given_pool, p=given_p))
            while given in chosen:                            # parents do not give two children one name
                given = str(rng.choice(given_pool, p=given_p))
            chosen.add(given)
            children.append({"child": f"H{h}-{k}", "given_name": given, "family_name": family,
                             "date_of_birth": births[k].strftime("%Y-%m-%d"), "sex": str(rng.choice(["M", "F"])),
                             "postcode": postcode, "address": address})
    listing = pd.DataFrame(children)
    listing["record_id"] = [f"L{i}" for i in range(len(listing))]
    listing["source"] = "listing"
    register = listing[rng.random(len(listing)) < 0.75].copy()
    year_only = rng.random(len(listing)) < year_only_share
    listing.loc[year_only, "date_of_birth"] = listing.loc[year_only, "date_of_birth"].str[:4] + "-01-01"
    mistyped = rng.random(len(register)) < 0.10
    register.loc[mistyped, "given_name"] = [_typo(rng, name) for name in register.loc[mistyped, "given_name"]]
    swapped = (rng.random(len(register)) < 1 / 40) & register["date_of_birth"].str[8:].astype(int).le(12)
    register.loc[swapped, "date_of_birth"] = [f"{d[:4]}-{d[8:]}-{d[5:7]}" for d in register.loc[swapped,
                                                                                                  "date_of_birth"]]
    others = pd.DataFrame({"child": [f"R{i}" for i in range(len(register))],
                           "given_name": rng.choice(given_pool, size=len(register), p=given_p),
                           "family_name": rng.choice(family_pool, size=len(register), p=family_p),
                           "date_of_birth": (pd.Timestamp("2008-01-01") + pd.to_timedelta(
                               rng.integers(0, 17 * 365, len(register)), "D")).strftime("%Y-%m-%d"),
                           "sex": rng.choice(["M", "F"], size=len(register))})
    register = pd.concat([register, others], ignore_index=True).assign(postcode="", address="", source="register")
    register["record_id"] = [f"R{i}" for i in range(len(register))]
    records = pd.concat([listing, register], ignore_index=True).sample(frac=1.0, random_state=seed)
    truth = records.set_index("record_id")["child"]
    return records.drop(columns="child").reset_index(drop=True), truth


def pair_scores(truth: pd.Series, person: pd.Series) -> tuple[float, float, int]:
    """Pairwise precision and recall of a clustering (record_id -> person id) against ``truth`` (record_id ->
    child), and the number of linked pairs that are siblings (same source ``listing``, different children)."""
    frame = pd.DataFrame({"child": truth, "person": person.reindex(truth.index)})

    def pairs(groups: pd.Series) -> int:
        return int((groups * (groups - 1) // 2).sum())

    true, linked = pairs(frame.groupby("child").size()), pairs(frame.groupby("person").size())
    hits = pairs(frame.groupby(["person", "child"]).size())
    listing = frame[frame.index.str.startswith("L")]
    merged_siblings = pairs(listing.groupby("person").size())
    return hits / linked if linked else 1.0, hits / true if true else 1.0, merged_siblings
