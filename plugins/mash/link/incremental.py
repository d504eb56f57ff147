"""Incremental linkage: tonight's new and changed records against last night's population.

A record is unchanged when its fingerprint (a hash of the person-schema values the matcher reads) equals the one
stored when it was last matched. Only pairs with a new or changed record on at least one side are blocked and
scored, with the model estimated by the last full relink; the links and review pairs between unchanged records are
kept as they were scored, and the clustering (with the officers' constraints) runs over both.

    previous = Previous(fingerprints, pairs, model, records)    # from the store: mash.link.population
    result = link(records, previous=previous)

Working out every record's features (normalised and transliterated names, canonical forms, phonetic codes, checked
identifiers, dates, postcodes) is most of an incremental night's time at a million records, and an unchanged
record's features are last night's. So a run's features can be remembered in a file (:func:`remember`) and given
to the next run, incremental or full (``link(records, remembered=recall(path))``): only the new and changed
records' are then worked out. The file is a cache, not a record: the same features are worked out when it is
missing, unreadable or made by another version of the matcher, and a record reuses the features remembered for the
same values (the same fingerprint; features depend on the values alone, and tonight's record ids are put in). It
holds personal data (normalised names, dates of birth, postcodes, addresses), so it
is written owner-only, on the hub's own storage.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from dataclasses import dataclass, fields, replace
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import pandas as pd

from . import comparisons, names
from .comparisons import RECORD_ARRAYS, Features, alternatives_at, text_codes
from .model import Model


@dataclass(frozen=True)
class Remembered:
    """Features worked out by an earlier run, as :func:`remember` stored them, with the fingerprint of each record
    they were worked out from. Text stays as codes until the features of tonight's records are asked for
    (:meth:`at`), so that only the records reused tonight are decoded."""
    arrays: dict[str, np.ndarray]       # as stored: numbers, and text as the codes of ...
    texts: dict[str, np.ndarray]        # ... these values, per array
    fingerprints: np.ndarray

    @property
    def features(self) -> Features:
        """The features of every remembered record (their record ids are '')."""
        return self.at(np.arange(len(self.fingerprints)))

    def at(self, positions: np.ndarray) -> Features:
        """The remembered features at ``positions``, with their alternative names, as :meth:`Features.at` gives
        them (record ids '': tonight's are put in)."""
        records = self._part("", positions)
        if "alternatives.source" not in self.arrays:
            return records
        rows, owners = alternatives_at(self.arrays["alternative_of"], positions)
        return records.replaced(alternatives=self._part("alternatives.", rows), alternative_of=owners,
                                alternative_for=_decoded(self.arrays["alternative_for"][rows],
                                                         self.texts["alternative_for"]))

    def _part(self, prefix: str, positions: np.ndarray) -> Features:
        stored = [name for name in RECORD_ARRAYS if prefix + name in self.arrays]
        coded = {name: (self.arrays[prefix + name][positions], self.texts[prefix + name]) for name in stored
                 if prefix + name in self.texts}
        values = {name: _decoded(*coded[name]) if name in coded else self.arrays[prefix + name][positions]
                  for name in stored}
        return Features(**values, record_id=np.full(len(positions), "", dtype=object), given_id_count=1,
                        given_variant_codes=self.arrays[f"{prefix}given_variant_codes"]).with_codes(coded)

    def positions(self, prints: np.ndarray) -> np.ndarray:
        """Per record of tonight (its fingerprint), the position of remembered features worked out from the same
        values, or -1 when there are none (a new or changed record). Records are found by their values, not their
        ids: features are worked out from the values alone (tonight's record id is put in)."""
        known = len(self.fingerprints)
        codes = pd.factorize(np.concatenate([self.fingerprints, prints]))[0]       # one code per fingerprint
        first = np.full(known + len(prints), -1, dtype=np.int64)
        first[codes[:known][::-1]] = np.arange(known - 1, -1, -1)   # its first remembered position (numpy assigns
        # repeated indices in order, so the last assignment, the earliest position, is kept)
        return first[codes[known:]]


@dataclass(frozen=True)
class Previous:
    """What an incremental run reuses from the runs before it."""
    fingerprints: pd.Series     # record_id -> fingerprint (uint64) when the record was last matched
    pairs: pd.DataFrame         # the link and review pairs in force: record_id_l, record_id_r, match_weight,
                                # match_probability, decision, w_* (as they were scored)
    model: Model                # estimated by the last full relink ...
    records: int                # ... on this many records

    def model_for(self, records: int) -> Model:
        """The model with its prior rescaled to ``records``: the expected matches grow with the records, the
        record pairs with their square, so the prior (matches over pairs) goes as 1 / (records - 1)."""
        if records == self.records:
            return self.model           # exactly the model (a rescaling by 1 could move its last bit)
        prior = self.model.prior * max(self.records - 1, 1) / max(records - 1, 1)
        return replace(self.model, prior=float(np.clip(prior, 1e-300, 0.5)))


_ROWS = 16_384      # values hashed at a time: a block's working arrays stay small, in the processor's cache and in
                    # memory the process reuses, where a million values' arrays are fresh memory for every step


def fingerprints(records: pd.DataFrame, rows: int = _ROWS) -> np.ndarray:
    """Per record (in the person schema: :func:`~.comparisons.person_schema`), a 64-bit hash of every value the
    matcher reads (not the record id), as uint64; the store keeps it as 16 hex digits (:func:`as_text`).

    The value is ``pandas.util.hash_pandas_object(records without record_id, index=False)``: each column hashed by
    ``pandas.util.hash_array``, the columns combined as pandas combines them. It is worked out ``rows`` records at
    a time (see _ROWS), and per column pandas is told whether to find the distinct values first (worth it where
    values repeat, as names, dates and postcodes do; twice the work where nearly every value is new, as NHS
    numbers, UPNs and addresses are). The hash is the same either way for text without missing values, which is what
    the person schema holds."""
    columns = [records[name].to_numpy() for name in records.columns if name != "record_id"]
    repeats = [_repeats(values) for values in columns]
    prints = np.empty(len(records), dtype=np.uint64)
    for start in range(0, len(records), rows):
        block = np.full(min(rows, len(records) - start), 0x345678, dtype=np.uint64)   # pandas' combine_hash_arrays
        multiplier = np.uint64(1000003)                             # (CPython's tuple hash): stored ones stay valid
        for position, values in enumerate(columns):
            block ^= pd.util.hash_array(values[start:start + rows], categorize=repeats[position])
            block *= multiplier
            multiplier += np.uint64(82520 + 2 * (len(columns) - position))
        prints[start:start + rows] = block + np.uint64(97531)
    return prints


def _repeats(values: np.ndarray, sample: int = 4096) -> bool:
    """Whether fewer than half the values of an evenly spaced sample are distinct."""
    sampled = values[:: max(len(values) // sample, 1)]
    return len(pd.unique(sampled)) * 2 < len(sampled)


def as_text(prints: np.ndarray) -> list[str]:
    """Fingerprints as the store keeps them: 16 hex digits each (big-endian bytes, so the digits read as the
    number)."""
    text = np.asarray(prints, dtype=np.uint64).astype(">u8").tobytes().hex()
    return [text[start:start + 16] for start in range(0, len(text), 16)]


def from_text(texts: list[str]) -> np.ndarray:
    """Fingerprints from the store's 16 hex digits."""
    return np.frombuffer(bytes.fromhex("".join(texts)), dtype=">u8").astype(np.uint64)


class RecordIds:
    """Tonight's record ids, for finding records by id (last night's, the officers' pairs'). Each id is hashed once
    to 64 bits and looked up as an integer, several times faster than as text at a million records; every id found
    is then checked against the record's own id, so a hash collision can never put one record in another's place.

    Raises ValueError when an id is repeated."""

    def __init__(self, ids: np.ndarray):
        self.ids = np.asarray(ids, dtype=object)
        self._hashes = pd.Index(self._hashed(self.ids))
        self._exact = None                  # ids as text: only where two different ids share a hash
        if not self._hashes.is_unique:
            self._exact = pd.Index(self.ids)
            if not self._exact.is_unique:
                raise ValueError("record_id must be unique")

    @staticmethod
    def _hashed(ids: np.ndarray) -> np.ndarray:
        return np.concatenate([pd.util.hash_array(ids[start:start + _ROWS], categorize=False)
                               for start in range(0, len(ids), _ROWS)] or [np.empty(0, dtype=np.uint64)])

    @property
    def hashes(self) -> np.ndarray:
        """Per record, its id's 64-bit hash (uint64): a key for ordering records that does not depend on the order
        they were read in."""
        return self._hashes.to_numpy()

    def positions(self, ids) -> np.ndarray:
        """Per id in ``ids``, the position of the record with that id, or -1 when there is none."""
        ids = np.asarray(ids, dtype=object)
        if self._exact is not None:
            return self._exact.get_indexer(ids)
        found = self._hashes.get_indexer(self._hashed(ids))
        hit = np.flatnonzero(found >= 0)
        found[hit[self.ids[found[hit]] != ids[hit]]] = -1     # another id with the same hash: this one is absent
        return found


def unchanged(records: RecordIds, prints: np.ndarray, previous: Previous) -> np.ndarray:
    """Per record (tonight's record ids and fingerprints): it was matched before and its fingerprint is the same."""
    at = records.positions(previous.fingerprints.index)
    found = at >= 0
    same = np.zeros(len(prints), dtype=bool)
    same[at[found]] = previous.fingerprints.to_numpy(dtype=np.uint64)[found] == prints[at[found]]
    return same


def kept_pairs(previous: Previous, records: RecordIds, unchanged_records: np.ndarray
               ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The previous link and review pairs whose records are both present (in ``records``, tonight's record ids)
    and unchanged, with the positions of their left and right records."""
    pairs = previous.pairs
    left = records.positions(pairs["record_id_l"])
    right = records.positions(pairs["record_id_r"])
    keep = (left >= 0) & (right >= 0)
    keep[keep] = unchanged_records[left[keep]] & unchanged_records[right[keep]]
    return pairs[keep].reset_index(drop=True), left[keep], right[keep]


def _recipe() -> str:
    """What the features are worked out by: the code and name tables of the matcher and the versions of the
    libraries it calls. Remembered features made by another recipe are not reused."""
    digest = hashlib.sha256()
    for file in (comparisons.__file__, names.__file__, __file__):        # this module: the file's layout
        digest.update(Path(file).read_bytes())
    digest.update(resources.files(__package__).joinpath("variants.yaml").read_bytes())
    for library in ("nicknames", "python-stdnum", "Unidecode", "jellyfish", "pandas", "numpy"):
        digest.update(f"{library}={metadata.version(library)};".encode())
    return digest.hexdigest()


def remember(path: Path, features: Features, prints: np.ndarray) -> None:
    """Write ``features`` and their records' fingerprints to ``path`` (owner-only; replaced atomically)."""
    arrays = {"recipe": np.frombuffer(_recipe().encode(), dtype=np.uint8), "fingerprints": prints}
    parts = {"": features} if features.alternatives is None else {"": features, "alternatives.": features.alternatives}
    for prefix, part in parts.items():
        for field in fields(Features):
            value = getattr(part, field.name)
            if isinstance(value, np.ndarray) and field.name != "record_id":     # records are found by their values
                if value.dtype == object:       # text: a record's attribute has its codes already, maybe
                    value = part.codes(field.name) if field.name in RECORD_ARRAYS else text_codes(value)
                arrays.update(_arrays(prefix + field.name, value))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".features-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def recall(path: Path) -> Remembered | None:
    """The features remembered in ``path``; None when there are none, or they cannot be read, or another version
    of the matcher made them."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        if arrays.pop("recipe").tobytes().decode() != _recipe():
            return None

        prints = arrays.pop("fingerprints")
        texts = {name.removesuffix(".text"): _text(arrays.pop(name))
                 for name in list(arrays) if name.endswith(".text")}
        if not _consistent(arrays, texts, len(prints)):
            return None
        remembered = Remembered(arrays, texts, prints)
        remembered.at(np.zeros(0, dtype=np.int64))          # every array it needs is there
        return remembered
    except (OSError, ValueError, EOFError, KeyError, IndexError, TypeError, UnicodeDecodeError,
            zipfile.BadZipFile, NotImplementedError):     # not an npz, or one compressed by another method
        return None


_SEPARATOR = "\x00"


def _arrays(name: str, values: np.ndarray | tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """An array as arrays np.savez stores without pickling: numbers as they are; text, given as its codes (see
    :meth:`Features.codes`), as the codes of the values present and those values in UTF-8, separated by NUL
    (``name + '.text'``)."""
    if isinstance(values, np.ndarray):
        return {name: values}
    codes, distinct = values
    present = np.zeros(len(distinct), dtype=bool)
    present[codes[codes >= 0]] = True
    renumbered = np.append(np.cumsum(present) - 1, -1)         # code -1 (no value) indexes the last: stays -1
    text = _SEPARATOR.join(distinct[present])
    if text.count(_SEPARATOR) != max(int(present.sum()) - 1, 0):
        raise ValueError("a text value holds a NUL character")
    return {name: renumbered[codes].astype(np.int32),
            f"{name}.text": np.frombuffer(text.encode(), dtype=np.uint8)}


def _consistent(arrays: dict[str, np.ndarray], texts: dict[str, np.ndarray], records: int) -> bool:
    """Every record's array has one entry per record, every alternative name's one per alternative, and every code
    stands for a value."""
    alternatives = len(arrays.get("alternative_of", ()))

    def length(name: str) -> int | None:
        if name.startswith(("alternatives.", "alternative_")):
            return alternatives if name.removeprefix("alternatives.") != "given_variant_codes" else None
        return records if name in RECORD_ARRAYS else None          # given_variant_codes: any length

    return (all(length(name) in (None, len(values)) for name, values in arrays.items())
            and all(-1 <= arrays[name].min(initial=-1) and arrays[name].max(initial=-1) < len(distinct)
                    for name, distinct in texts.items()))


def _decoded(codes: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Text from its codes (-1: '')."""
    return np.append(distinct, "")[codes]


def _text(encoded: np.ndarray) -> np.ndarray:
    """The values :func:`_arrays` stored as UTF-8 separated by NUL."""
    text = encoded.tobytes().decode()
    return np.array(text.split(_SEPARATOR) if text else [], dtype=object)
