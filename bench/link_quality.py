"""Link quality: how well a matcher finds the same child across the agencies' person records.

What it does
    Generates one night for ``--children`` children with ``mash.synth.generate`` in the generator shape ``--shape``
    (a preset of ``mash.synth.SHAPES``: the default town, a listing of households beside a source without
    addresses, placeholder postcodes, parents beside children, heavier noise, US/German/Dutch addresses, ...;
    ``--noise`` overrides its noise; ``--seed``), turns it into the matcher's input with
    ``mash.link.records.records_from_night`` and writes, into ``--out`` DIR:

      input.csv    the person records (record_id, source, nhs_number, upn, given_name, middle_names, family_name,
                   former_family_name, date_of_birth, sex, postcode, address, preferred_name), the input of
                   ``mash link``; former_family_name and preferred_name are extra columns a matcher may ignore
      truth.csv    record_id, child_key: who each record really is, from the generator's ground_truth.csv; and
                   source, name_origin and kind (child or adult), from the generator's people.csv
      synth/       the generated night itself
      scores.json  every matcher's scores, with the breakdowns below

    ``--all-shapes`` does all that for every shape, each in DIR/<shape>, and ends with one table of them all.

    Then it runs each ``--matcher``:

      mash   ``.venv/bin/mash link DIR/input.csv --out DIR/mash``, timed (wall seconds, and the child's peak
             resident memory from os.wait4); it scores DIR/mash/clusters.csv and, if there, DIR/mash/pairs.csv
      splink the Splink 5 yardstick (bench/splink_yardstick, in its own venv bench/.venv-splink made by its
             setup.sh): ``run.py DIR/input.csv --out DIR/splink``, timed the same way and scored from
             DIR/splink/clusters.csv, so that both systems are measured on the same data in the same run
      nhs    a trivial baseline written to DIR/nhs/clusters.csv: records sharing a valid NHS number (10 digits
             once spaces are dropped, modulus 11 check digit) are one person, every other record is alone
      none   nothing: only the input and the truth are written

    ``--reuse`` takes DIR/input.csv and DIR/truth.csv as an earlier run wrote them instead of generating the night
    again (``--children``, ``--noise`` and ``--seed`` are then those of that run).

    ``--score-only CLUSTERS.csv`` (repeatable) skips all that and scores clusterings made elsewhere (Splink, say)
    against ``--truth`` (default DIR/truth.csv); a pairs.csv beside a clusters.csv is scored too.

Scores (one markdown table row per clustering)
    clusters.csv has record_id and person_id; a truth record missing from it is a person of its own. Two records
    are linked if they share a person_id, truly the same if they share a child_key. Precision and recall are
    over pairs of records: TP = pairs linked and truly the same, precision = TP / pairs linked, recall = TP /
    pairs truly the same. From pairs.csv (two record id columns, e.g. record_id_l and record_id_r, and
    ``decision``): auto-link precision = share of decision=link pairs that are truly the same; review pairs =
    pairs with decision=review, and the share of all records that are in at least one of them.

    Breakdowns (printed before the overall table, where truth.csv has the columns): per name-origin group of the
    generator (English, Irish, South Asian, Eastern European, African, Caribbean, Chinese, Mixed) and per child or
    adult, recall over the true pairs of the group's people and precision over the linked pairs with at least one
    record of the group (a false link between two groups counts against both); per pair of sources, over the true
    and the linked pairs with one record from each source.

Usage (from the repository root)
    .venv/bin/python bench/link_quality.py --out var/link-quality                   # 20,000 children, mash link
    .venv/bin/python bench/link_quality.py --out var/lq-high --noise high --matcher nhs --matcher mash
    .venv/bin/python bench/link_quality.py --out var/lq --children 100000 --seed 7
    .venv/bin/python bench/link_quality.py --out /tmp/lq400k --reuse --matcher mash --matcher splink
    .venv/bin/python bench/link_quality.py --out var/lq --score-only var/lq/splink/clusters.csv
    .venv/bin/python bench/link_quality.py --out /tmp/lq18/households-no-address --children 4000 \
        --shape households-no-address --matcher mash --matcher splink
    .venv/bin/python bench/link_quality.py --out /tmp/lq18 --children 4000 --all-shapes --matcher mash --matcher splink
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
MATCHERS = ("mash", "splink", "nhs", "none")
SPLINK = REPO_ROOT / "bench" / ".venv-splink" / "bin" / "python"
TABLE = [("clustering", "name"), ("records", "records"), ("true pairs", "true_pairs"),
         ("predicted pairs", "predicted_pairs"), ("precision", "precision"), ("recall", "recall"), ("F1", "f1"),
         ("auto-link pairs", "auto_link_pairs"), ("auto-link precision", "auto_link_precision"),
         ("review pairs", "review_pairs"), ("records in review", "review_record_share"), ("seconds", "seconds"),
         ("peak RSS MB", "peak_rss_mb")]
TEXT_COLUMNS = ("name", "group", "shape", "data", "fields")      # left-aligned in the markdown tables
GROUP_TABLE = [("records", "records"), ("true pairs", "true_pairs"), ("predicted pairs", "predicted_pairs"),
               ("precision", "precision"), ("recall", "recall"), ("F1", "f1")]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------------------
# Input and truth
# ------------------------------------------------------------------------------------------------------------

def write_inputs(out: Path, children: int, noise: str | None, seed: int, shape: str = "town") -> tuple[Path, Path]:
    """Generate one night of ``shape`` (a preset of ``mash.synth.SHAPES``; ``noise``, if given, overrides its
    noise) and write out/input.csv (the matcher's input) and out/truth.csv (with each record's source, and its
    person's name origin and whether a child or an adult, from the generator's people.csv)."""
    from mash.link.records import records_from_night
    from mash.synth import generate
    from mash.synth.shapes import shape_named

    synth = out / "synth"
    started = time.perf_counter()
    chosen = shape_named(shape, noise=noise)
    generate(children=children, seed=seed, nights=1, out=synth, shape=chosen, with_people=True)
    records = records_from_night(synth / "night-01")
    log(f"generated {children} children (shape {shape}, {chosen.noise} noise, seed {seed}): {len(records)} person "
        f"records in {time.perf_counter() - started:.1f} s")
    truth = pd.read_csv(synth / "ground_truth.csv", dtype=str, keep_default_na=False)
    truth = pd.DataFrame({"record_id": truth["agency"] + ":" + truth["record_id"], "child_key": truth["child_key"],
                          "source": truth["agency"]})
    people = pd.read_csv(synth / "people.csv", dtype=str, keep_default_na=False)
    truth = truth.merge(people[["child_key", "name_origin", "kind"]], on="child_key", how="left", validate="m:1")
    missing = set(truth["record_id"]).symmetric_difference(records["record_id"])
    if missing:
        raise SystemExit(f"input and ground truth disagree on {len(missing)} record ids")
    input_csv, truth_csv = out / "input.csv", out / "truth.csv"
    records.to_csv(input_csv, index=False)
    truth.to_csv(truth_csv, index=False)
    return input_csv, truth_csv


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# ------------------------------------------------------------------------------------------------------------
# Matchers
# ------------------------------------------------------------------------------------------------------------

def valid_nhs(numbers: pd.Series) -> pd.Series:
    """The NHS number without spaces where it is 10 digits with a valid modulus 11 check digit, else ''."""
    digits = numbers.str.replace(r"[\s-]", "", regex=True)
    ok = digits.str.fullmatch(r"\d{10}")
    padded = digits.where(ok, "0000000000")
    d = pd.DataFrame({i: padded.str[i].astype(int) for i in range(10)})
    check = 11 - sum(d[i] * (10 - i) for i in range(9)) % 11
    check = check.where(check != 11, 0)
    return digits.where(ok & (check != 10) & (check == d[9]), "")


def nhs_baseline(input_csv: Path, out_dir: Path) -> Path:
    """Cluster records by valid NHS number; every record without one is a person of its own."""
    records = read_csv(input_csv)
    nhs = valid_nhs(records["nhs_number"])
    person = ("nhs:" + nhs).where(nhs != "", "rec:" + records["record_id"])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "clusters.csv"
    pd.DataFrame({"record_id": records["record_id"], "person_id": person}).to_csv(path, index=False)
    return path


def mash_executable() -> Path:
    beside = Path(sys.executable).with_name("mash")
    return beside if beside.exists() else REPO_ROOT / ".venv" / "bin" / "mash"


def run_mash(input_csv: Path, out_dir: Path, executable: Path | None = None) -> dict:
    """Run ``mash link`` (``executable``, default :func:`mash_executable`) in a child process; return its wall
    seconds, peak RSS (MB) and exit code."""
    return run_timed([str(executable or mash_executable()), "link", str(input_csv), "--out", str(out_dir)])


def run_splink(input_csv: Path, out_dir: Path) -> dict:
    """Run the Splink yardstick (bench/splink_yardstick/run.py, in its own venv) as :func:`run_mash` runs mash."""
    return run_timed([str(SPLINK), str(REPO_ROOT / "bench" / "splink_yardstick" / "run.py"), str(input_csv),
                      "--out", str(out_dir), "--quiet"])


def run_timed(command: list[str]) -> dict:
    """Run ``command`` in a child process; return its wall seconds, peak RSS (MB) and exit code."""
    log("running " + " ".join(command))
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)     # reaped here, so Popen must not wait again
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "returncode": process.returncode}


# ------------------------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------------------------

def _pairs_within(sizes: pd.Series) -> int:
    sizes = sizes.astype("int64")
    return int((sizes * (sizes - 1) // 2).sum())


def _pair_columns(pairs: pd.DataFrame) -> tuple[str, str]:
    named = [c for c in pairs.columns if "record_id" in c]
    left, right = (named if len(named) >= 2 else list(pairs.columns))[:2]
    return left, right


def score(truth: pd.DataFrame, clusters: pd.DataFrame, pairs: pd.DataFrame | None = None) -> dict:
    """Pairwise precision and recall of ``clusters`` (record_id, person_id) against ``truth`` (record_id,
    child_key), and the auto-link precision and review load of ``pairs`` (two record id columns, decision).

    Only truth records count; a truth record absent from ``clusters`` is a person of its own.
    """
    persons = clusters.drop_duplicates("record_id").set_index("record_id")["person_id"]
    frame = truth[["record_id", "child_key"]].copy()
    frame["person_id"] = frame["record_id"].map(persons)
    alone = frame["person_id"].isna()
    frame["person_id"] = ("p:" + frame["person_id"].where(~alone, "")).where(~alone, "alone:" + frame["record_id"])
    true_pairs = _pairs_within(frame.groupby("child_key").size())
    predicted = _pairs_within(frame.groupby("person_id").size())
    hits = _pairs_within(frame.groupby(["person_id", "child_key"]).size())
    precision = hits / predicted if predicted else None
    recall = hits / true_pairs if true_pairs else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    result = {"records": len(frame), "children": frame["child_key"].nunique(),
              "persons": frame["person_id"].nunique(), "true_pairs": true_pairs, "predicted_pairs": predicted,
              "true_positive_pairs": hits, "precision": precision, "recall": recall, "f1": f1,
              "records_not_clustered": int(alone.sum()),
              "auto_link_pairs": None, "auto_link_precision": None, "review_pairs": None,
              "review_record_share": None}
    if pairs is not None:
        left, right = _pair_columns(pairs)
        child = frame.set_index("record_id")["child_key"]
        decision = pairs["decision"].str.strip().str.lower()
        links = pairs[decision == "link"]
        same = links[left].map(child).eq(links[right].map(child)) & links[left].isin(child.index)
        review = pairs[decision == "review"]
        in_review = pd.unique(pd.concat([review[left], review[right]]))
        result.update(auto_link_pairs=len(links),
                      auto_link_precision=float(same.mean()) if len(links) else None,
                      review_pairs=len(review),
                      review_record_share=len(set(in_review) & set(child.index)) / len(frame) if len(frame) else None)
    return result


def _labelled(truth: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """``truth`` with each record's person_id (a truth record absent from ``clusters`` alone)."""
    persons = clusters.drop_duplicates("record_id").set_index("record_id")["person_id"]
    frame = truth.copy()
    person = frame["record_id"].map(persons)
    frame["person_id"] = ("p:" + person.fillna("")).where(person.notna(), "alone:" + frame["record_id"])
    return frame


def _touching(frame: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Per value of ``column``: pairs of records within a group of ``keys`` with at least one record of that value
    (C(n, 2) - C(n - n_value, 2) summed over the groups)."""
    counts = frame.groupby(keys + [column]).size().unstack(fill_value=0).astype("int64")
    total = counts.sum(axis=1)
    pairs = lambda n: n * (n - 1) // 2  # noqa: E731
    return counts.apply(lambda n: int((pairs(total) - pairs(total - n)).sum()))


def _between(frame: pd.DataFrame, keys: list[str], column: str) -> dict[tuple[str, str], int]:
    """Per pair of values (a <= b) of ``column``: pairs of records within a group of ``keys``, one of each."""
    counts = frame.groupby(keys + [column]).size().unstack(fill_value=0).astype("int64")
    values = sorted(counts.columns)
    found = {}
    for i, a in enumerate(values):
        found[(a, a)] = int((counts[a] * (counts[a] - 1) // 2).sum())
        for b in values[i + 1:]:
            found[(a, b)] = int((counts[a] * counts[b]).sum())
    return found


def _rates(true_pairs: int, predicted: int, hits: int) -> dict:
    precision = hits / predicted if predicted else None
    recall = hits / true_pairs if true_pairs else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {"true_pairs": true_pairs, "predicted_pairs": predicted, "true_positive_pairs": hits,
            "precision": precision, "recall": recall, "f1": f1}


def group_scores(truth: pd.DataFrame, clusters: pd.DataFrame, column: str) -> list[dict]:
    """Precision and recall per value of a truth ``column`` that every record of one child shares (e.g.
    name_origin): recall over the true pairs of the group's children, precision over the linked pairs with at
    least one record of the group (a false link between two groups counts against both)."""
    frame = _labelled(truth, clusters)
    true_pairs = _touching(frame, ["child_key"], column)
    predicted = _touching(frame, ["person_id"], column)
    hits = _touching(frame, ["person_id", "child_key"], column)
    records = frame.groupby(column).size()
    return [{"group": value, "records": int(records[value]),
             **_rates(int(true_pairs[value]), int(predicted[value]), int(hits[value]))}
            for value in sorted(records.index)]


def source_pair_scores(truth: pd.DataFrame, clusters: pd.DataFrame) -> list[dict]:
    """Precision and recall per pair of sources (truth's ``source`` column): the linked and the true pairs with one
    record from each (both from one source for a source paired with itself)."""
    frame = _labelled(truth, clusters)
    true_pairs = _between(frame, ["child_key"], "source")
    predicted = _between(frame, ["person_id"], "source")
    hits = _between(frame, ["person_id", "child_key"], "source")
    return [{"group": f"{a} / {b}", **_rates(true_pairs[(a, b)], predicted.get((a, b), 0), hits.get((a, b), 0))}
            for a, b in sorted(true_pairs) if true_pairs[(a, b)] or predicted.get((a, b), 0)]


GROUP_COLUMNS = {"name_origin": "name origin", "kind": "child or adult"}


def breakdowns(truth: pd.DataFrame, clusters: pd.DataFrame) -> dict[str, list[dict]]:
    """The per-group tables the truth allows: per name origin, child or adult, and pair of sources."""
    found = {title: group_scores(truth, clusters, column) for column, title in GROUP_COLUMNS.items()
             if column in truth.columns and truth[column].nunique() > 1}
    if "source" in truth.columns:
        found["source pair"] = source_pair_scores(truth, clusters)
    return found


def score_files(truth_csv: Path, clusters_csv: Path, name: str | None = None) -> dict:
    pairs_csv = clusters_csv.with_name("pairs.csv")
    pairs = read_csv(pairs_csv) if pairs_csv.is_file() else None
    if pairs is not None and "decision" not in pairs.columns:      # e.g. Splink's pairs: no link/review decision
        pairs = None
    truth, clusters = read_csv(truth_csv), read_csv(clusters_csv)
    result = score(truth, clusters, pairs)
    result["name"] = name or str(clusters_csv)
    result["breakdowns"] = breakdowns(truth, clusters)
    return result


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key in ("seconds", "peak_rss_mb"):
        return f"{value:,.1f}"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(results: list[dict], table: list[tuple[str, str]] = TABLE) -> str:
    lines = ["| " + " | ".join(title for title, _ in table) + " |",
             "|" + "|".join("---" if key in TEXT_COLUMNS else "---:" for _, key in table) + "|"]
    for result in results:
        lines.append("| " + " | ".join(_cell(key, result.get(key)) for _, key in table) + " |")
    return "\n".join(lines)


def breakdown_markdown(results: list[dict]) -> str:
    """One table per breakdown (name origin, child or adult, source pair), every clustering's rows in it."""
    parts = []
    for title in dict.fromkeys(t for result in results for t in result.get("breakdowns", {})):
        rows = [{"name": result["name"], **row} for result in results for row in result["breakdowns"].get(title, [])]
        parts.append(f"Per {title}:\n\n" + markdown(rows, [("clustering", "name"), (title, "group")] + GROUP_TABLE))
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------------------------------

def run_shape(args, out: Path, shape: str) -> tuple[list[dict], bool, str]:
    """Generate (or reuse) one shape's input in ``out``, run and score each matcher; (results, failed, described)."""
    out.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        input_csv, truth_csv = out / "input.csv", out / "truth.csv"
        if not (input_csv.is_file() and truth_csv.is_file()):
            raise SystemExit(f"--reuse: {input_csv} and {truth_csv} must exist (an earlier run writes them)")
    else:
        input_csv, truth_csv = write_inputs(out, args.children, args.noise, args.seed, shape)
    results, failed = [], False
    runners = {"mash": ("mash link", run_mash), "splink": ("Splink 5 (DuckDB)", run_splink)}
    for matcher in dict.fromkeys(args.matcher or ["mash"]):
        if matcher == "nhs":
            started = time.perf_counter()
            clusters = nhs_baseline(input_csv, out / "nhs")
            results.append({**score_files(truth_csv, clusters, "nhs baseline"),
                            "seconds": time.perf_counter() - started})
        elif matcher in runners:
            name, runner = runners[matcher]
            run = runner(input_csv, out / matcher)
            clusters = out / matcher / "clusters.csv"
            if run["returncode"] != 0 or not clusters.is_file():
                log(f"{name} failed (exit code {run['returncode']}); nothing to score")
                failed = True
                continue
            results.append({**score_files(truth_csv, clusters, name), **run})
    noise = args.noise or "the shape's"
    described = "as generated before" if args.reuse else \
        f"shape {shape}, {args.children:,} children, {noise} noise, seed {args.seed}"
    described += f": {len(read_csv(truth_csv)):,} person records in {input_csv}"
    for result in results:
        result["shape"] = shape
    return results, failed, described


def main(argv: list[str] | None = None) -> int:
    from mash.synth import SHAPES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=20_000)
    parser.add_argument("--noise", choices=["default", "high", "heavy"],
                        help="override the shape's noise (default: the shape's, default for the town)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shape", choices=list(SHAPES), default="town", help="a generator shape (mash.synth.SHAPES)")
    parser.add_argument("--all-shapes", action="store_true", help="every shape, each in DIR/<shape>")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument("--matcher", action="append", choices=MATCHERS,
                        help="mash (default), splink (the yardstick), nhs (valid NHS number baseline) or none; "
                             "repeatable")
    parser.add_argument("--reuse", action="store_true", help="take DIR/input.csv and DIR/truth.csv as they are")
    parser.add_argument("--score-only", action="append", type=Path, metavar="CLUSTERS_CSV",
                        help="only score this clusters.csv against --truth (repeatable)")
    parser.add_argument("--truth", type=Path, help="truth.csv for --score-only (default DIR/truth.csv)")
    args = parser.parse_args(argv)

    if args.score_only:
        truth_csv = args.truth or args.out / "truth.csv"
        results = [score_files(truth_csv, path) for path in args.score_only]
        print(breakdown_markdown(results) + "\n")
        print(markdown(results))
        return 0

    if "splink" in (args.matcher or []) and not SPLINK.exists():
        parser.error(f"--matcher splink: {SPLINK} is missing; run bash bench/splink_yardstick/setup.sh first")
    shapes = list(SHAPES) if args.all_shapes else [args.shape]
    everything, failed = [], False
    for shape in shapes:
        out = args.out / shape if args.all_shapes else args.out
        results, shape_failed, described = run_shape(args, out, shape)
        failed |= shape_failed
        everything += results
        print(f"{described}\n")
        if results:
            print(breakdown_markdown(results) + "\n")
            print(markdown(results) + "\n", flush=True)
        (out / "scores.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    if args.all_shapes and everything:
        print("Every shape:\n")
        print(markdown(everything, [("shape", "shape")] + TABLE))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
