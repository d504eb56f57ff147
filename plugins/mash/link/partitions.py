"""Linkage spread over processes or workers: the candidate pairs' comparisons, the step that grows fastest with the
population, run in partitions that may each go to another process or Celery worker, with exactly the result of
:func:`mash.link.link` (the same stages, :func:`~mash.link.prepare`, :func:`~mash.link.comparisons.compare` and
:func:`~mash.link.finish`, with the comparisons split).

    work = prepare(records, settings, must_link, cannot_link, previous)   # features and blocking, once
    split(work, 4, directory)          # writes the work into directory: [0, 1, 2, 3]
    compare_partition(directory, k)    # for each k, on any machine that mounts directory: a quarter of the pairs
    result, work = combine(directory)  # estimation (a full relink), scoring, clustering: a LinkResult
    remove(directory)

``directory`` holds the records' features, which are personal data: it belongs on the hub's own storage (under
MASH_HOME), owner-only, and is removed once the result is stored, or when the run fails; a run killed outright
leaves it for the next run, which removes it first. A partition's file holds comparison levels only (small
integers per pair). Only partition numbers and pair counts need to pass between the steps.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
from functools import partial
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from . import LinkResult, LinkSettings, LinkWork, Previous, finish, prepare
from .comparisons import compare

WORK = "work.pickle"


def split(work: LinkWork, partitions: int, directory: Path) -> list[int]:
    """Write ``work`` into ``directory`` for ``partitions`` partitions; their numbers. The work of any other run
    beside it (a run that failed before storing, whose work is personal data) and an earlier run's in
    ``directory`` are removed first: one matching run at a time (the nightly DAG runs one night at a time)."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1 (got {partitions})")
    directory = Path(directory)
    if directory.parent.exists():
        for earlier in directory.parent.iterdir():
            if earlier.is_dir():
                shutil.rmtree(earlier)
            else:
                earlier.unlink()
    directory.mkdir(mode=0o700, parents=True)          # personal data: the owner's only, whatever the umask
    try:
        with os.fdopen(os.open(directory / WORK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            pickle.dump({"work": work, "partitions": partitions}, file, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        remove(directory)
        raise
    return list(range(partitions))


def _load(directory: Path) -> tuple[LinkWork, int]:
    path = Path(directory) / WORK
    if not path.is_file():
        raise FileNotFoundError(f"no linkage work in {directory}: run the partitioning step (split) first")
    with open(path, "rb") as file:      # written by split(), on the hub's own storage
        stored = pickle.load(file)
    return stored["work"], stored["partitions"]


def _levels_file(directory: Path, partition: int) -> Path:
    return Path(directory) / f"levels-{partition}.npz"


def _bounds(pairs: int, partitions: int, partition: int) -> tuple[int, int]:
    """Partition ``partition``'s share of the candidate pairs: a contiguous run, all of nearly equal length."""
    edges = np.linspace(0, pairs, partitions + 1).round().astype(np.int64)
    return int(edges[partition]), int(edges[partition + 1])


def compare_partition(directory: Path, partition: int) -> int:
    """Compare partition ``partition``'s candidate pairs and write their levels; the number of pairs compared.
    Idempotent: a rerun rewrites the same file."""
    work, partitions = _load(directory)
    if not 0 <= partition < partitions:
        raise ValueError(f"partition {partition} is not among the {partitions} partitions in {directory}")
    start, stop = _bounds(len(work.candidates.left), partitions, partition)
    levels = compare(work.features, work.candidates.left[start:stop], work.candidates.right[start:stop])
    written = _levels_file(directory, partition)
    partial_file = written.with_name(f"{written.stem}.partial.npz")
    np.savez(partial_file, **{name: levels[name].to_numpy() for name in levels.columns})
    partial_file.replace(written)
    return stop - start


def compare_partitions(directory: Path, partitions: Iterable[int], processes: int = 1) -> int:
    """Compare the ``partitions`` in this process (``processes`` 1) or in a pool of fresh processes; the number of
    pairs compared."""
    partitions = list(partitions)
    if processes <= 1:
        return sum(compare_partition(directory, k) for k in partitions)
    with multiprocessing.get_context("spawn").Pool(min(processes, len(partitions))) as pool:
        return sum(pool.map(partial(compare_partition, Path(directory)), partitions))


def combine(directory: Path) -> tuple[LinkResult, LinkWork]:
    """The partitions' levels, in order, and :func:`~mash.link.finish` over them; with the work (its previous
    population) for storing the result."""
    work, partitions = _load(directory)
    parts = []
    for partition in range(partitions):
        path = _levels_file(directory, partition)
        if not path.is_file():
            raise FileNotFoundError(f"partition {partition} of {partitions} has not been compared (no {path.name} "
                                    f"in {directory})")
        with np.load(path) as stored:
            parts.append(pd.DataFrame({name: stored[name] for name in stored.files}))
    levels = pd.concat(parts, ignore_index=True)
    if len(levels) != len(work.candidates.left):
        raise ValueError(f"the partitions in {directory} hold {len(levels)} pairs, not the "
                         f"{len(work.candidates.left)} candidate pairs")
    return finish(work, levels), work


def remove(directory: Path) -> None:
    """Remove the work (personal data) once the result is stored."""
    shutil.rmtree(directory, ignore_errors=True)


def link_in_partitions(records: pd.DataFrame, partitions: int, directory: Path,
                       settings: LinkSettings | None = None, must_link: Iterable[tuple[str, str]] = (),
                       cannot_link: Iterable[tuple[str, str]] = (), previous: Previous | None = None,
                       processes: int = 1) -> LinkResult:
    """:func:`mash.link.link` with the comparisons in ``partitions`` partitions, run in ``processes`` processes,
    the work kept in ``directory`` meanwhile (removed afterwards)."""
    numbers = split(prepare(records, settings, must_link, cannot_link, previous), partitions, directory)
    try:
        compare_partitions(directory, numbers, processes)
        result, _ = combine(directory)
    finally:
        remove(directory)
    return result
