"""Record features and pairwise comparisons, Splink-style: each comparison is a small table of levels, each level a
label, a description and a condition over candidate pairs; a pair gets the first level whose condition holds.

Level 0 is always "null" (a value missing, invalid or a placeholder: no evidence either way); levels 1.. run from
the strongest agreement to the last, unconditional "else". Conditions are vectorised over all pairs at once (numpy,
pandas and ``rapidfuzz.process.cpdist``), never a Python loop over pairs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.process import cpdist
from stdnum.gb import nhs, upn

from . import names

if TYPE_CHECKING:
    from .incremental import Remembered

COLUMNS = ("record_id", "source", "nhs_number", "upn", "given_name", "middle_names", "family_name",
           "former_family_name", "preferred_name", "date_of_birth", "sex", "postcode", "address")
# A record's other names, each an alternative in one name comparison (the pair gets the best level over the
# alternatives): the name a child goes by (schools), the first middle name (a child known by it; police record all
# forenames in one field) and a previous family name (social care).
ALTERNATIVE_NAMES = (("preferred_name", "given_name"), ("middle_names", "given_name"),
                     ("former_family_name", "family_name"))
_PER_RECORD = ("given_variant_codes", "given_id_count", "alternatives", "alternative_of", "alternative_for")
PLACEHOLDER_DOB = pd.Timestamp("1900-01-01")
_UK_POSTCODE = r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$"
_NUMERIC_POSTCODE = r"^[0-9]{3,10}$"


def person_schema(records: pd.DataFrame) -> pd.DataFrame:
    """The records with every person-schema column present, as text, missing values as ''. Every record needs a
    record_id (that they are unique is checked where records are found by id: :class:`~.incremental.RecordIds`)."""
    frame = pd.DataFrame({column: (_text(records[column]) if column in records
                                   else np.full(len(records), "", dtype=object))
                          for column in COLUMNS}, dtype=object, copy=False)     # not copied into one block
    if (frame["record_id"] == "").any():
        raise ValueError("every record needs a record_id")
    return frame


def _text(values: pd.Series) -> np.ndarray:
    """A column's values as Python strings, missing values as ''."""
    return (values.fillna("") if values.hasnans else values).astype(str).to_numpy(dtype=object)


_SEPARATORS = re.compile(r"[\s-]")


def text_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Text values as the integer codes of their distinct values, '' (missing) as -1; and the distinct values."""
    codes, distinct = pd.factorize(values)
    empty = np.flatnonzero(distinct == "")
    if len(empty):
        codes[codes == empty[0]] = -1
    return codes.astype(np.int32), distinct


def _codes_in(distinct: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as codes (see :func:`text_codes`) of the values ``distinct``, which are extended by the values
    not among them; and the extended values. Only the ``values``' distinct values are hashed, not ``distinct`` (a
    whole population's, when a night's few new records are coded like last night's)."""
    codes, unique = pd.factorize(values)
    code_of = np.full(len(unique), -1, dtype=np.int64)
    at = pd.Index(unique, dtype=object).get_indexer(distinct)   # per known value: its place among the new, or -1
    known = np.flatnonzero(at >= 0)
    code_of[at[known]] = known
    new = np.flatnonzero((code_of < 0) & (unique != ""))
    code_of[new] = len(distinct) + np.arange(len(new))
    code_of[unique == ""] = -1
    return code_of[codes].astype(np.int32), np.concatenate([distinct, unique[new]])


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def _checked_identifiers(values: pd.Series, is_valid: Callable[[str], bool]) -> tuple[np.ndarray, np.ndarray]:
    """Compact identifiers where valid, '' where missing or invalid (an invalid identifier is never evidence); and
    whether each is present but invalid (a figure for the data-quality report). Each distinct value checked once."""
    codes, distinct = pd.factorize(values.to_numpy(), use_na_sentinel=False)
    compact = [_compact(value) for value in distinct]
    valid = np.array([value if value and is_valid(value) else "" for value in compact], dtype=object)
    invalid = np.array([bool(value) for value in compact], dtype=bool) & (valid == "")
    return valid[codes], invalid[codes]


def _nhs_number_is_valid(number: str) -> bool:
    """python-stdnum's NHS number check (ten digits, modulus 11) on a compact number, without its cleaning."""
    return len(number) == 10 and number.isdigit() and nhs.checksum(number) == 0


IDENTIFIERS: dict[str, Callable[[str], bool]] = {"nhs_number": _nhs_number_is_valid, "upn": upn.is_valid}


def invalid_identifiers(features: "Features") -> dict[str, dict[str, int]]:
    """Per source, how many records carry an NHS number or UPN that is present but invalid (wrong length or check
    digit): never match evidence, and a figure for the data-quality report. Counts only; every source present is
    listed, with zeros."""
    counts = {source: dict.fromkeys(IDENTIFIERS, 0) for source in pd.unique(features.source)}
    for column in IDENTIFIERS:
        invalid = getattr(features, f"{column}_invalid")
        for source, count in pd.Series(features.source[invalid]).value_counts().items():
            counts[source][column] = int(count)
    return counts


# The features blanked together when a value is a placeholder: a comparison's attribute and those derived from it.
# Text attributes become '', numbers -1 (days, name ids) or 0 (parts of a date), as for a missing value.
_BLANKED_WITH = {"postcode": ("postcode", "postcode_sector", "postcode_district"),
                 "address": ("address", "address_numbers"),
                 "dob_text": ("dob", "dob_year", "dob_month", "dob_day", "dob_text"),
                 "day_month": ("dob", "dob_month", "dob_day", "dob_text"),
                 "family": ("family", "family_first", "family_last", "family_phonetic"),
                 "given": ("given", "given_first", "given_key", "given_phonetic", "given_id")}
_REPORTED_AS = {"postcode": "postcode", "address": "address", "dob_text": "date_of_birth", "family": "family_name",
                "given": "given_name", "day_month": "date_of_birth_day_and_month"}


def dominant_values(features: "Features", share: float, name_share: float, min_records: int
                    ) -> tuple["Features", dict[str, dict[str, int]]]:
    """The features with placeholder values found from the data treated as missing, and what was found (counts
    only). A postcode, address or date of birth held by at least ``share`` of a source's known values (and at least
    ``min_records`` records), or a given or family name held by ``name_share`` of them, is a placeholder (ZZ99 3VZ,
    00000, 'Unknown'): it is blanked in every record, so that no comparison takes it for evidence and no blocking
    key is made of it. A day and month of birth held by ``share`` of a source's dates (1 January standing for
    "year known") makes that source's dates on that day unknown. Real values stay far below these shares: a UK
    postcode holds some fifteen households, a date of birth one child in a few thousand."""
    sources = pd.factorize(features.source)[0]
    k = int(sources.max(initial=-1)) + 1
    blank: dict[str, np.ndarray] = {}
    found: dict[str, dict[str, int]] = {}
    day_month = np.where(features.dob_month > 0, features.dob_month * 100 + features.dob_day, -1)
    for attribute, threshold in (("postcode", share), ("address", share), ("dob_text", share),
                                 ("family", name_share), ("given", name_share), ("day_month", share)):
        codes = day_month if attribute == "day_month" else features.codes(attribute)[0].astype(np.int64)
        known = codes >= 0
        width = int(codes.max(initial=-1)) + 1
        if not known.any():
            continue
        held = np.bincount(sources[known] * width + codes[known], minlength=k * width).reshape(k, width)
        dominant = (held >= min_records) & (held >= threshold * held.sum(axis=1, keepdims=True))
        if not dominant.any():
            continue
        if attribute == "day_month":                    # only the sources whose habit it is; the year stays
            hit = known & dominant[sources, np.maximum(codes, 0)]
            target = "day_month"
        else:
            hit = known & dominant.any(axis=0)[np.maximum(codes, 0)]
            target = attribute
        blank[target] = blank.get(target, np.zeros(len(features), bool)) | hit
        found[_REPORTED_AS[attribute]] = {"values": int(dominant.sum()), "records": int(hit.sum())}
    if not blank:
        return features, found
    changes = {}
    for target, hit in blank.items():
        for name in _BLANKED_WITH[target]:
            values = getattr(features, name).copy()
            values[hit] = "" if values.dtype == object else (0 if name in ("dob_year", "dob_month", "dob_day")
                                                             else -1)
            changes[name] = values
    return features.replaced(**changes), found


@dataclass(frozen=True)
class Features:
    """What the comparisons and blocking keys read, one entry per record (strings are '' when missing)."""
    record_id: np.ndarray
    source: np.ndarray             # the agency (or file) the record came from
    nhs_number: np.ndarray         # valid (compact) or ''
    upn: np.ndarray
    nhs_number_invalid: np.ndarray  # present but invalid
    upn_invalid: np.ndarray
    given: np.ndarray              # normalised full given name, placeholders removed
    given_first: np.ndarray        # its first word
    given_key: np.ndarray          # primary canonical form of the first word (blocking key)
    given_id: np.ndarray           # integer id of the first word, -1 when missing
    given_variant_codes: np.ndarray  # sorted id_a * (max id + 1) + id_b for names sharing a canonical form
    given_phonetic: np.ndarray
    middle: np.ndarray             # the first middle name, normalised
    family: np.ndarray
    family_first: np.ndarray       # first and last words, for one half of a double-barrelled surname
    family_last: np.ndarray
    family_phonetic: np.ndarray
    name_tokens: np.ndarray        # sorted words of given and family names, for swapped names
    dob: np.ndarray                # days since 1970-01-01 (negative before it), -1 when missing: test dob_text
    dob_year: np.ndarray
    dob_month: np.ndarray
    dob_day: np.ndarray
    dob_text: np.ndarray           # YYYYMMDD, '' when missing
    sex: np.ndarray
    postcode: np.ndarray
    postcode_sector: np.ndarray    # UK postcodes only ('' for a numeric postal code)
    postcode_district: np.ndarray
    address: np.ndarray            # normalised
    address_numbers: np.ndarray    # the address's words holding a digit (house and flat numbers), sorted
    # Alternative names: rows of the same kind as above for a record's other names (schools' preferred name, the
    # first middle name, social care's former family name), in a Features of their own; ``alternative_of`` is the
    # position of the record each row belongs to and ``alternative_for`` the comparison it is an alternative in.
    given_id_count: int = 0        # the ids' range (given_variant_codes are id_a * given_id_count + id_b)
    alternatives: "Features | None" = None
    alternative_of: np.ndarray | None = None
    alternative_for: np.ndarray | None = None
    # Text attributes as integer codes, worked out once (:meth:`codes`) and kept by take() and replaced(), so that
    # blocking, comparisons and the remembered features' file (which stores them) share them.
    _codes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, init=False, repr=False,
                                                             compare=False)

    def __len__(self) -> int:
        return len(self.record_id)

    def codes(self, attribute: str) -> tuple[np.ndarray, np.ndarray]:
        """A text attribute's values as integer codes, '' (missing) as -1, and the values the codes stand for
        (perhaps more than are present): see :func:`text_codes`. Worked out once."""
        if attribute not in self._codes:
            self._codes[attribute] = text_codes(getattr(self, attribute))
        return self._codes[attribute]

    def with_codes(self, codes: dict[str, tuple[np.ndarray, np.ndarray]]) -> "Features":
        """These features, told their text attributes' codes (worked out before: see :meth:`codes`)."""
        self._codes.update(codes)
        return self

    def replaced(self, **changes) -> "Features":
        """A copy with ``changes`` (dataclasses.replace), keeping the codes of the attributes not changed."""
        return replace(self, **changes).with_codes({name: codes for name, codes in self._codes.items()
                                                   if name not in changes})

    def take(self, positions: np.ndarray) -> "Features":
        """The records at ``positions`` (without alternatives)."""
        return replace(self, **{name: getattr(self, name)[positions] for name in RECORD_ARRAYS}, alternatives=None,
                       alternative_of=None, alternative_for=None
                       ).with_codes({name: (codes[positions], distinct)
                                     for name, (codes, distinct) in self._codes.items()})

    def _overwrite(self, at: np.ndarray, other: "Features") -> None:
        """Replace the records at positions ``at`` by ``other``'s, in place (for features just made by take())."""
        for name in RECORD_ARRAYS:
            if name != "record_id":
                getattr(self, name)[at] = getattr(other, name)
        for name, (codes, distinct) in self._codes.items():
            other_codes, distinct = _codes_in(distinct, getattr(other, name))
            codes[at] = other_codes
            self._codes[name] = codes, distinct

    def at(self, positions: np.ndarray) -> "Features":
        """The records at ``positions`` (a record may come more than once), with their alternative names: comparing
        pairs of them (position i of the result is record positions[i]) gives the levels they get among all."""
        subset = self.take(positions)
        if self.alternatives is None:
            return subset
        rows, owners = alternatives_at(self.alternative_of, positions)
        return subset.replaced(alternatives=self.alternatives.take(rows), alternative_of=owners,
                               alternative_for=self.alternative_for[rows])

    def with_alternatives(self) -> "Features":
        """The records followed by their alternative-name rows (positions len(self).. are alternatives)."""
        return self if self.alternatives is None else _concatenated([self, self.alternatives])

    @classmethod
    def of(cls, records: pd.DataFrame, forms: names.GivenNameForms | None = None,
           earlier: "Features | Remembered | None" = None, earlier_at: np.ndarray | None = None) -> "Features":
        """The features of ``records``. With ``earlier`` (features worked out before, e.g. last night's) and
        ``earlier_at`` (per record, the position in ``earlier`` of features worked out from the same values, -1
        for a record whose values are new), only the records with new values are worked out; the result is the
        same."""
        return cls.of_schema(person_schema(records), forms, earlier, earlier_at)

    @classmethod
    def of_schema(cls, frame: pd.DataFrame, forms: names.GivenNameForms | None = None,
                  earlier: "Features | Remembered | None" = None, earlier_at: np.ndarray | None = None
                  ) -> "Features":
        """:meth:`of` records already in the person schema (:func:`person_schema`). ``earlier`` may be features or
        features remembered in a file (:class:`~.incremental.Remembered`): anything whose ``at()`` gives them."""
        if earlier is None:
            features = cls._computed(frame)
        else:
            fresh_at = np.flatnonzero(earlier_at < 0)
            features = _reusing(earlier, earlier_at, cls._computed(frame.iloc[fresh_at].reset_index(drop=True)),
                                fresh_at, frame["record_id"].to_numpy(dtype=object))
        return features._with_given_forms(forms)

    @classmethod
    def _computed(cls, frame: pd.DataFrame) -> "Features":
        """The features of the records in ``frame`` and of their alternative names, before the given names'
        canonical forms (which depend on every name present)."""
        extra, owner, target = _alternative_rows(frame)
        features = cls._of_frame(pd.concat([frame, extra], ignore_index=True))
        if not len(extra):
            return features
        n = len(frame)
        return replace(features.take(np.arange(n)), alternatives=features.take(np.arange(n, n + len(extra))),
                       alternative_of=owner, alternative_for=target)

    def _with_given_forms(self, forms: names.GivenNameForms | None) -> "Features":
        """The canonical forms and ids of the first given names, records' and alternatives' alike: the ids number
        the distinct names of all of them, so they are worked out over the whole population at once."""
        first = self.given_first if self.alternatives is None else np.concatenate([self.given_first,
                                                                                  self.alternatives.given_first])
        key, ids, codes = names.canonical_forms(pd.Series(first, dtype=object), forms)
        key = key.to_numpy(dtype=object)
        n = len(self)
        records = self.replaced(given_key=key[:n], given_id=ids[:n], given_variant_codes=codes,
                            given_id_count=max(int(ids.max(initial=-1)) + 1, 1))
        if self.alternatives is None:
            return records
        return records.replaced(alternatives=self.alternatives.replaced(given_key=key[n:], given_id=ids[n:]))

    @classmethod
    def _of_frame(cls, frame: pd.DataFrame) -> "Features":
        given = names.person_names(frame["given_name"])
        family = names.person_names(frame["family_name"])
        dates = _dates(frame["date_of_birth"])
        sex = frame["sex"].str.strip().str.upper()
        postcode = names.map_distinct(frame["postcode"], _postcode)
        address = names.normalise(frame["address"])
        return cls(
            record_id=frame["record_id"].to_numpy(dtype=object),
            source=frame["source"].str.strip().to_numpy(dtype=object),
            **{column: values for name, is_valid in IDENTIFIERS.items()
               for column, values in zip((name, f"{name}_invalid"), _checked_identifiers(frame[name], is_valid))},
            given=given.to_numpy(dtype=object),
            given_first=names.first_token(given).to_numpy(dtype=object),
            given_key=np.full(len(frame), "", dtype=object),        # see _with_given_forms
            given_id=np.full(len(frame), -1, dtype=np.int64),
            given_variant_codes=np.empty(0, dtype=np.int64),
            given_phonetic=names.phonetic(given).to_numpy(dtype=object),
            middle=names.first_token(names.person_names(frame["middle_names"])).to_numpy(dtype=object),
            family=family.to_numpy(dtype=object),
            family_first=names.first_token(family).to_numpy(dtype=object),
            family_last=names.last_token(family).to_numpy(dtype=object),
            family_phonetic=names.phonetic(family).to_numpy(dtype=object),
            name_tokens=names.sorted_tokens(given, family).to_numpy(dtype=object),
            **dates,
            sex=sex.where(sex.isin(["M", "F"]), "").to_numpy(dtype=object),
            postcode=postcode.to_numpy(dtype=object),
            postcode_sector=names.map_distinct(postcode, lambda p: _uk_part(p, 2)).to_numpy(dtype=object),
            postcode_district=names.map_distinct(postcode, lambda p: _uk_part(p, 3)).to_numpy(dtype=object),
            address=address.to_numpy(dtype=object),
            address_numbers=names.map_distinct(address, _numbers).to_numpy(dtype=object),
        )


RECORD_ARRAYS = tuple(f.name for f in fields(Features) if f.init and f.name not in _PER_RECORD)   # one entry per record


def _concatenated(parts: list[Features]) -> Features:
    """The records of several Features one after another (without alternatives; the per-record fields, such as
    the given names' variant codes, of the first)."""
    records = {name: np.concatenate([getattr(part, name) for part in parts]) for name in RECORD_ARRAYS}
    return replace(parts[0], **records, alternatives=None, alternative_of=None, alternative_for=None)


def alternatives_at(alternative_of: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For records at ``positions`` (a record may come more than once), the rows of their alternative names
    (``alternative_of``: each row's record) and, per row, the index into ``positions`` of the record it is for."""
    by_owner = np.argsort(alternative_of, kind="stable")
    owners = alternative_of[by_owner]
    first = np.searchsorted(owners, positions, "left")
    count = np.searchsorted(owners, positions, "right") - first
    within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return by_owner[np.repeat(first, count) + within], np.repeat(np.arange(len(positions)), count)


def _reusing(earlier: "Features | Remembered", earlier_at: np.ndarray, fresh: Features, fresh_at: np.ndarray,
             record_id: np.ndarray) -> Features:
    """Tonight's records (ids ``record_id``), in order, from the ``earlier`` rows at ``earlier_at`` (worked out from
    the same values, perhaps for another record id; an earlier row may stand for several records tonight) and the
    ``fresh`` features of the records at positions ``fresh_at``; and their alternative names (in no particular
    order)."""
    reused = earlier.at(np.maximum(earlier_at, 0))          # fresh records' rows: overwritten, alternatives dropped
    records = reused.replaced(record_id=record_id, alternatives=None, alternative_of=None, alternative_for=None)
    records._overwrite(fresh_at, fresh)
    alternatives, owners, targets = [], [], []
    if reused.alternatives is not None:
        rows = np.flatnonzero(earlier_at[reused.alternative_of] >= 0)
        alternatives.append(reused.alternatives.take(rows))
        owners.append(reused.alternative_of[rows])
        targets.append(reused.alternative_for[rows])
    if fresh.alternatives is not None:
        alternatives.append(fresh.alternatives)
        owners.append(fresh_at[fresh.alternative_of])
        targets.append(fresh.alternative_for)
    if not alternatives:
        return records
    owner = np.concatenate(owners)
    return records.replaced(alternatives=replace(_concatenated(alternatives), record_id=record_id[owner]),
                        alternative_of=owner, alternative_for=np.concatenate(targets))


def _dates(values: pd.Series) -> dict[str, np.ndarray]:
    """The dob attributes of dates of birth (YYYY-MM-DD text; a missing, unparseable or placeholder date is
    -1, 0 and ''), each distinct date parsed once."""
    codes, distinct = pd.factorize(values.to_numpy(), use_na_sentinel=False)
    dob = pd.to_datetime(pd.Series(distinct, dtype=object).str.strip(), format="%Y-%m-%d", errors="coerce")
    dob = dob.where(dob > PLACEHOLDER_DOB)
    known = dob.notna().to_numpy()
    days = np.where(known, (dob - pd.Timestamp("1970-01-01")).dt.days.fillna(-1).to_numpy(), -1)
    parts = {"dob": days, "dob_year": np.where(known, dob.dt.year.fillna(0).to_numpy(), 0),
             "dob_month": np.where(known, dob.dt.month.fillna(0).to_numpy(), 0),
             "dob_day": np.where(known, dob.dt.day.fillna(0).to_numpy(), 0)}
    text = dob.dt.strftime("%Y%m%d").fillna("").to_numpy(dtype=object)
    return {**{name: part.astype(np.int64)[codes] for name, part in parts.items()}, "dob_text": text[codes]}


def _postcode(text: str) -> str:
    """A postcode without spaces or punctuation, upper case: a UK postcode, or a postal code of digits only (the
    form of most other countries' codes, compared as a whole); '' for anything else (a partial or mistyped UK
    postcode, 'NFA')."""
    postcode = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    return postcode if re.match(_UK_POSTCODE, postcode) or re.match(_NUMERIC_POSTCODE, postcode) else ""


def _uk_part(postcode: str, drop: int) -> str:
    """A UK postcode's sector (``drop`` 2) or district (3); '' for any other postal code."""
    return postcode[:-drop] if re.match(_UK_POSTCODE, postcode) else ""


def _alternative_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Copies of the records with one name replaced by an alternative (see ALTERNATIVE_NAMES) that is present and
    differs from the name it stands in for; the owning record's position and the comparison of each copy."""
    parts, owners, targets = [], [], []
    for column, target in ALTERNATIVE_NAMES:
        alternative = names.person_names(frame[column])
        if column == "middle_names":
            alternative = names.first_token(alternative)
        primary = names.person_names(frame[target])
        keep = ((alternative != "") & (alternative != primary)).to_numpy()
        rows = frame[keep].copy()
        rows[target] = alternative[keep]
        parts.append(rows)
        owners.append(np.flatnonzero(keep))
        targets.append(np.full(int(keep.sum()), target, dtype=object))
    return (pd.concat(parts, ignore_index=True), np.concatenate(owners).astype(np.int64),
            np.concatenate(targets))


class PairView:
    """Candidate pairs (positions ``left``, ``right`` into :class:`Features`) with the vectorised tests the level
    conditions are written in. Similarities are computed once per attribute and cached."""

    def __init__(self, features: Features, left: np.ndarray, right: np.ndarray):
        self.features, self.left, self.right = features, left, right
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def _codes(self, attribute: str) -> np.ndarray:
        """The attribute's values per record as integer codes ('' is -1 for text): pairs are compared as
        integers, not as Python strings."""
        values = getattr(self.features, attribute)
        return values if values.dtype != object else self.features.codes(attribute)[0]

    def _length(self, attribute: str) -> np.ndarray:
        """The length of a text attribute's value per record (each distinct value measured once), cached."""
        key = (attribute, "length")
        if key not in self._cache:
            codes, distinct = self.features.codes(attribute)
            self._cache[key] = np.array([len(value) for value in distinct] + [0], dtype=np.int64)[codes]  # '': 0
        return self._cache[key]

    def __len__(self) -> int:
        return len(self.left)

    def l(self, attribute: str) -> np.ndarray:              # noqa: E743 - left and right sides of a pair
        return getattr(self.features, attribute)[self.left]

    def r(self, attribute: str) -> np.ndarray:
        return getattr(self.features, attribute)[self.right]

    def missing(self, attribute: str) -> np.ndarray:
        key = (attribute, "missing")
        if key not in self._cache:
            codes = self._codes(attribute)
            self._cache[key] = (codes[self.left] == -1) | (codes[self.right] == -1)
        return self._cache[key]

    def equal(self, attribute: str) -> np.ndarray:
        key = (attribute, "equal")
        if key not in self._cache:
            codes = self._codes(attribute)
            self._cache[key] = codes[self.left] == codes[self.right]
        return self._cache[key]

    def _similarity(self, attribute: str, scorer, scale: float, where: np.ndarray | None = None,
                    elsewhere: float = 0.0, **options) -> np.ndarray:
        """``scorer`` over the pairs (only those ``where`` holds; ``elsewhere`` for the others), cached."""
        key = (attribute, scorer.__name__)
        if key not in self._cache:
            rows = np.arange(len(self)) if where is None else np.flatnonzero(where)
            features = getattr(self.features, attribute)
            scores = np.full(len(self), elsewhere, dtype=np.float32)
            scores[rows] = np.asarray(cpdist(list(features[self.left[rows]]), list(features[self.right[rows]]),
                                             scorer=scorer, workers=-1, **options), dtype=np.float32) / scale
            self._cache[key] = scores
        return self._cache[key]

    def jaro_winkler(self, attribute: str) -> np.ndarray:
        """Jaro-Winkler similarity (1 for equal values, computed only for the others)."""
        return self._similarity(attribute, JaroWinkler.normalized_similarity, 1.0, where=~self.equal(attribute),
                                elsewhere=1.0)

    def edits(self, attribute: str) -> np.ndarray:
        """Optimal string alignment distance: insertions, deletions, substitutions and transpositions of
        neighbouring letters (one typo is one edit, however short the name, where Jaro-Winkler is harsh); 2 for
        any distance above 1, 0 for equal values (computed only for the others)."""
        return self._similarity(attribute, OSA.distance, 1.0, where=~self.equal(attribute), score_cutoff=1)

    def address_similarity(self) -> np.ndarray:
        """rapidfuzz token_set_ratio of the addresses scaled to 0..1, where they are comparable (both known,
        postcodes not different); 0 elsewhere."""
        return self._similarity("address", fuzz.token_set_ratio, 100.0,
                                where=~self.missing("address") & ~self.postcodes_differ)

    @cached_property
    def given_variants(self) -> np.ndarray:
        """The first given names differ but share a canonical form (nickname or spelling variant)."""
        codes = self.features.given_variant_codes
        if not len(codes):
            return np.zeros(len(self), dtype=bool)
        ids_l, ids_r = self.l("given_id"), self.r("given_id")
        pair_codes = ids_l * self.features.given_id_count + ids_r
        found = np.searchsorted(codes, pair_codes).clip(max=len(codes) - 1)
        return (ids_l >= 0) & (ids_r >= 0) & (codes[found] == pair_codes)

    @cached_property
    def names_swapped(self) -> np.ndarray:
        """Given and family names recorded the other way round: same words, different given name; or each name at
        most one edit (see :meth:`edits`) from the other record's other name, given and family names differing."""
        known = ~self.missing("given") & ~self.missing("family")
        swapped = known & self.equal("name_tokens") & ~self.equal("given")
        given, family = self._length("given"), self._length("family")      # one edit: lengths within one
        near = ((np.abs(given[self.left] - family[self.right]) <= 1)
                & (np.abs(family[self.left] - given[self.right]) <= 1))
        rows = np.flatnonzero(known & near & ~swapped & ~self.equal("given") & ~self.equal("family"))
        for this, other in (("given", "family"), ("family", "given")):
            this_values = getattr(self.features, this)[self.left[rows]]
            other_values = getattr(self.features, other)[self.right[rows]]
            rows = rows[np.asarray(cpdist(list(this_values), list(other_values), scorer=OSA.distance,
                                          score_cutoff=1, workers=-1)) <= 1]
        swapped[rows] = True
        return swapped

    @cached_property
    def family_half(self) -> np.ndarray:
        """One half of a double-barrelled family name equals the other record's whole family name."""
        f = self.features                       # the three as codes of one vocabulary: compared as integers
        family, first, last = np.split(pd.factorize(np.concatenate([f.family, f.family_first, f.family_last]))[0],
                                       [len(f), 2 * len(f)])
        double = first != family
        half = np.zeros(len(self), dtype=bool)
        for this, other in ((self.left, self.right), (self.right, self.left)):
            half |= double[this] & ((first[this] == family[other]) | (last[this] == family[other]))
        return half

    @cached_property
    def postcodes_differ(self) -> np.ndarray:
        """Both postcodes known and different."""
        return ~self.missing("postcode") & ~self.equal("postcode")

    @cached_property
    def same_address(self) -> np.ndarray:
        """Both addresses known, token set ratio >= 0.9 and no different house numbers."""
        return ~self.missing("address") & (self.address_similarity() >= 0.9) & ~self.house_numbers_differ

    @cached_property
    def house_numbers_differ(self) -> np.ndarray:
        """Both addresses have house (or flat) numbers and they differ: neighbours in one street, whose addresses
        a token set ratio scores as near-equal."""
        return ~self.missing("address_numbers") & ~self.equal("address_numbers")

    @cached_property
    def dates_known(self) -> np.ndarray:
        """Both dates of birth known to the day (not only by their year)."""
        return ~self.missing("dob_text")

    @cached_property
    def dob_swapped(self) -> np.ndarray:
        return ((self.l("dob_year") == self.r("dob_year")) & (self.l("dob_day") == self.r("dob_month"))
                & (self.l("dob_month") == self.r("dob_day")))

    @cached_property
    def dob_one_digit(self) -> np.ndarray:
        """Damerau-Levenshtein distance 1 between the YYYYMMDD forms (for equal lengths: one substitution or one
        transposition of neighbouring digits)."""
        digits = _digits(self.features.dob_text)                    # per record, then per pair
        digits_l, digits_r = digits[self.left], digits[self.right]
        differ = digits_l != digits_r
        count = differ.sum(axis=1)
        neighbours = ((digits_l[:, :-1] == digits_r[:, 1:]) & (digits_l[:, 1:] == digits_r[:, :-1])
                      & differ[:, :-1] & differ[:, 1:]).any(axis=1)
        return (count == 1) | ((count == 2) & neighbours)

    def dob_days_apart(self) -> np.ndarray:
        return np.abs(self.l("dob") - self.r("dob"))


_HOUSE_NUMBER = re.compile(r"^[0-9]+[a-z]?$")


def _numbers(address: str) -> str:
    """The house and flat numbers of a normalised address ('12', '3a'; not a postcode's halves), sorted."""
    return " ".join(sorted(word for word in address.split() if _HOUSE_NUMBER.match(word)))


def _digits(texts: np.ndarray) -> np.ndarray:
    """YYYYMMDD strings as an (n, 8) array of digits; missing dates as all -1."""
    filled = np.where(texts == "", "--------", texts).astype("U8")
    return (filled.view(np.int32).reshape(-1, 8) - ord("0")).astype(np.int8)


@dataclass(frozen=True)
class Level:
    label: str
    description: str
    condition: Callable[[PairView], np.ndarray] | None    # None: the null level's test is on the comparison


@dataclass(frozen=True)
class Comparison:
    """One field's comparison: a null test (level 0) and levels 1.. from best to worst; the last is 'else'."""
    name: str                                  # the weight column is w_<name>
    null: Callable[[PairView], np.ndarray]
    levels: tuple[Level, ...]
    term_frequency: str | None = None          # Features attribute whose value frequency adjusts the exact level

    def labels(self) -> list[str]:
        return ["null", *(level.label for level in self.levels)]

    def levels_of(self, pairs: PairView) -> np.ndarray:
        """Integer level per pair: 0 null, then 1 + index of the first level whose condition holds."""
        conditions = [level.condition(pairs) if level.condition else np.ones(len(pairs), bool)
                      for level in self.levels]
        chosen = np.select(conditions, np.arange(1, len(self.levels) + 1, dtype=np.int8), default=len(self.levels))
        return np.where(self.null(pairs), 0, chosen).astype(np.int8)


ELSE = Level("else", "none of the above", None)

COMPARISONS: tuple[Comparison, ...] = (
    Comparison("nhs_number", lambda p: p.missing("nhs_number"), (
        Level("equal", "the same valid NHS number", lambda p: p.equal("nhs_number")),
        Level("different", "two different valid NHS numbers", None),
    )),
    Comparison("upn", lambda p: p.missing("upn"), (
        Level("equal", "the same valid unique pupil number", lambda p: p.equal("upn")),
        Level("different", "two different valid unique pupil numbers", None),
    )),
    # Names swapped come first: the level stands for both names (the family name comparison is then null), so it
    # says more than an exact given name alone, and weights are monotone in level order (mash.link.model).
    Comparison("given_name", lambda p: p.missing("given"), (
        Level("swapped", "given and family names swapped (each name within one edit)", lambda p: p.names_swapped),
        Level("exact", "same normalised given name", lambda p: p.equal("given")),
        Level("variant", "nickname or spelling variant of the same name", lambda p: p.given_variants),
        Level("one_edit", "one letter added, dropped, changed or two neighbours transposed",
              lambda p: p.edits("given") <= 1),
        Level("jw_0.92", "Jaro-Winkler >= 0.92", lambda p: p.jaro_winkler("given") >= 0.92),
        Level("jw_0.85", "Jaro-Winkler >= 0.85", lambda p: p.jaro_winkler("given") >= 0.85),
        Level("phonetic", "same metaphone code", lambda p: p.equal("given_phonetic")),
        ELSE,
    ), term_frequency="given"),
    Comparison("family_name", lambda p: p.missing("family") | p.names_swapped, (
        Level("exact", "same normalised family name", lambda p: p.equal("family")),
        Level("half", "one half of a double-barrelled name equals the other name", lambda p: p.family_half),
        Level("one_edit", "one letter added, dropped, changed or two neighbours transposed",
              lambda p: p.edits("family") <= 1),
        Level("jw_0.92", "Jaro-Winkler >= 0.92", lambda p: p.jaro_winkler("family") >= 0.92),
        Level("jw_0.85", "Jaro-Winkler >= 0.85", lambda p: p.jaro_winkler("family") >= 0.85),
        ELSE,
    ), term_frequency="family"),
    Comparison("middle_name", lambda p: p.missing("middle"), (
        Level("exact", "same first middle name", lambda p: p.equal("middle")),
        Level("one_edit", "one letter added, dropped, changed or two neighbours transposed",
              lambda p: p.edits("middle") <= 1),
        ELSE,
    )),
    # A date known only by its year (see dominant_values) compares at the last two levels.
    Comparison("date_of_birth", lambda p: (p.l("dob_year") == 0) | (p.r("dob_year") == 0), (
        Level("exact", "same date, not 1 January", lambda p: p.dates_known & p.equal("dob")
              & ~((p.l("dob_day") == 1) & (p.l("dob_month") == 1))),
        Level("exact_1_jan", "same date, 1 January (often a placeholder)", lambda p: p.dates_known & p.equal("dob")),
        Level("day_month_swapped", "day and month swapped", lambda p: p.dates_known & p.dob_swapped),
        Level("one_digit", "one digit different or two neighbouring digits transposed", lambda p: p.dob_one_digit),
        Level("within_31_days", "at most 31 days apart", lambda p: p.dates_known & (p.dob_days_apart() <= 31)),
        Level("same_year", "same year of birth", lambda p: p.equal("dob_year")),
        ELSE,
    )),
    Comparison("sex", lambda p: p.missing("sex"), (
        Level("equal", "same sex", lambda p: p.equal("sex")),
        Level("different", "different sex", None),
    )),
    # Postcode and address describe one thing, the child's home, so they are one comparison: two comparisons would
    # count a shared home twice (and siblings share it). The address tells apart the homes within one postcode.
    Comparison("home", lambda p: p.missing("postcode") & p.missing("address"), (
        Level("same_home", "same address (token set ratio >= 0.9, no different house numbers), postcodes not "
              "different", lambda p: p.same_address & ~p.postcodes_differ),
        Level("same_postcode", "same postcode, addresses not both known", lambda p: p.equal("postcode")
              & ~p.missing("postcode") & p.missing("address")),
        Level("neighbours", "same postcode, different addresses", lambda p: p.equal("postcode")
              & ~p.missing("postcode")),
        Level("similar_address", "address token set ratio >= 0.7, postcodes not different",
              lambda p: p.address_similarity() >= 0.7),
        Level("sector", "same UK postcode sector", lambda p: ~p.missing("postcode_sector")
              & p.equal("postcode_sector")),
        Level("district", "same UK postcode district", lambda p: ~p.missing("postcode_district")
              & p.equal("postcode_district")),
        ELSE,
    )),
)


def by_name(name: str) -> Comparison:
    return next(c for c in COMPARISONS if c.name == name)


def compare(features: Features, left: np.ndarray, right: np.ndarray) -> pd.DataFrame:
    """One int8 level column per comparison, one row per pair. When the pairs involve few of the records (an
    incremental night, a partition, a sample), only those records are compared among themselves."""
    seen = np.zeros(len(features), dtype=bool)
    seen[left] = seen[right] = True
    involved = np.flatnonzero(seen)                     # sorted, as np.unique would give (which hashes: slow here)
    if len(involved) < len(features) // 2:
        features = features.at(involved)
        left, right = np.searchsorted(involved, left), np.searchsorted(involved, right)
    pairs = PairView(features, left, right)
    levels = {c.name: c.levels_of(pairs) for c in COMPARISONS}
    if features.alternatives is not None and len(left):
        combined = features.with_alternatives()
        for name in pd.unique(features.alternative_for):
            rows = np.flatnonzero(features.alternative_for == name)
            pair, alt_left, alt_right = _alternative_pairs(features.alternative_of[rows], len(features) + rows,
                                                           left, right)
            alt_levels = by_name(name).levels_of(PairView(combined, alt_left, alt_right))
            levels[name] = _best(levels[name], pair, alt_levels)
    return pd.DataFrame(levels)


def _alternative_pairs(owner: np.ndarray, row: np.ndarray, left: np.ndarray, right: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For alternative rows ``row`` of records ``owner``: every pair (index into left/right) with the owner on one
    side, and that pair's sides with the owner replaced by the alternative row (in no particular order)."""
    by_owner = np.argsort(owner, kind="stable")
    owners, rows = owner[by_owner], row[by_owner]
    is_owner = np.zeros(int(max(left.max(initial=-1), right.max(initial=-1), owner.max(initial=-1))) + 1, bool)
    is_owner[owner] = True
    found_pairs, found_left, found_right = [], [], []
    for side, other, owner_is_left in ((left, right, True), (right, left, False)):
        pair = np.flatnonzero(is_owner[side])
        starts = np.searchsorted(owners, side[pair], "left")
        counts = np.searchsorted(owners, side[pair], "right") - starts
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        alternative = rows[np.repeat(starts, counts) + within]
        pair = np.repeat(pair, counts)
        found_pairs.append(pair)
        found_left.append(alternative if owner_is_left else other[pair])
        found_right.append(other[pair] if owner_is_left else alternative)
    return tuple(np.concatenate(found) for found in (found_pairs, found_left, found_right))


def _best(levels: np.ndarray, pair: np.ndarray, alternative: np.ndarray) -> np.ndarray:
    """Per pair the best (lowest non-null) of its own level and its alternatives' levels."""
    worst = np.iinfo(np.int8).max
    best = np.where(levels > 0, levels, worst).astype(np.int8)
    np.minimum.at(best, pair, np.where(alternative > 0, alternative, worst).astype(np.int8))
    return np.where(best == worst, 0, best).astype(np.int8)
