"""Splink 5 (DuckDB) yardstick: dedupe the hub's person records with a standard Splink model.

This is a benchmark to compare the hub's own matching engine against, not part of the hub. It runs in its own
virtual environment (``bench/.venv-splink``, made by ``bench/splink_yardstick/setup.sh``) and never imports
``mash``.

Usage (from the repository root)
    bash bench/splink_yardstick/setup.sh                       # once: creates bench/.venv-splink
    bench/.venv-splink/bin/python bench/splink_yardstick/run.py INPUT.csv --out DIR [--threshold 0.95]
        [--predict-threshold 0.01] [--max-pairs 1e7] [--seed 1] [--quiet]

INPUT.csv has the hub's person columns (header row; any value may be empty):
    record_id, source, nhs_number, upn, given_name, middle_names, family_name,
    date_of_birth (YYYY-MM-DD), sex (M/F/U), postcode, address

Writes
    DIR/clusters.csv   record_id, person_id      (every input record; singletons get their own person_id)
    DIR/pairs.csv      record_id_l, record_id_r, match_weight, match_probability
                       (every scored pair with match_probability >= --predict-threshold)
    DIR/timing.json    wall seconds for load, training, predict, clustering, write and total; peak RSS MB of this
                       process (ru_maxrss, which includes DuckDB's memory since it runs in-process); counts;
                       thresholds; versions; load average at the end.
    DIR/model.json     the trained Splink model (settings with m and u values), for inspection.

The model is a plain, textbook Splink dedupe model (no tuning to any particular data set):
    cleaning      empty/blank strings -> NULL; names lower-cased, whitespace collapsed; postcode upper-cased with
                  single spaces; NHS number digits only; sex 'U' -> NULL (unknown is missing, not a value)
    blocking      nhs_number | family_name+dob | given_name+dob | postcode+dob |
                  substr(given_name,1,2)+substr(family_name,1,2)+year(dob)
    comparisons   ExactMatch(nhs_number); NameComparison(given_name); NameComparison(family_name) (both with
                  term-frequency adjustment on the exact level); DateOfBirthComparison(date_of_birth, ISO string);
                  ExactMatch(sex); PostcodeComparison(postcode)
    training      prior from deterministic rules (nhs_number; given+family+dob; recall 0.7); u by random sampling
                  (max_pairs 1e7, seed 1); m by EM on two training blocks: date_of_birth, and given_name+family_name
    predict       threshold_match_probability = --predict-threshold (default 0.01)
    clustering    connected components at match probability >= --threshold (default 0.95)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import time
from pathlib import Path

import duckdb
import splink
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

COLUMNS = ["record_id", "source", "nhs_number", "upn", "given_name", "middle_names", "family_name",
           "date_of_birth", "sex", "postcode", "address"]


def _blank_to_null(expr: str) -> str:
    return f"NULLIF(TRIM({expr}), '')"


def clean_sql(path: str, present: set[str]) -> str:
    """SQL that reads INPUT.csv as text and returns the cleaned table handed to Splink.

    Columns of INPUT.csv beyond :data:`COLUMNS` (e.g. former_family_name, preferred_name) are ignored; any of
    :data:`COLUMNS` that it lacks (other than record_id) become all-NULL.
    """
    p = path.replace("'", "''")

    def col(c: str) -> str:
        return f'"{c}"' if c in present else "CAST(NULL AS VARCHAR)"

    def name(c: str) -> str:
        return f"NULLIF(LOWER(REGEXP_REPLACE(TRIM({col(c)}), '\\s+', ' ', 'g')), '')"

    return f"""
        SELECT
            {_blank_to_null(col('record_id'))} AS record_id,
            {_blank_to_null(col('source'))} AS source,
            NULLIF(REGEXP_REPLACE(COALESCE({col('nhs_number')}, ''), '[^0-9]', '', 'g'), '') AS nhs_number,
            {_blank_to_null(col('upn'))} AS upn,
            {name('given_name')} AS given_name,
            {name('middle_names')} AS middle_names,
            {name('family_name')} AS family_name,
            {_blank_to_null(col('date_of_birth'))} AS date_of_birth,
            CASE WHEN UPPER(TRIM({col('sex')})) IN ('M', 'F') THEN UPPER(TRIM({col('sex')})) END AS sex,
            NULLIF(UPPER(REGEXP_REPLACE(TRIM({col('postcode')}), '\\s+', ' ', 'g')), '') AS postcode,
            {_blank_to_null(col('address'))} AS address
        FROM read_csv('{p}', header = true, all_varchar = true)
    """


def csv_columns(con: duckdb.DuckDBPyConnection, path: str) -> set[str]:
    p = path.replace("'", "''")
    return {row[0] for row in con.sql(f"DESCRIBE SELECT * FROM read_csv('{p}', header = true, all_varchar = true)")
            .fetchall()}


def settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        blocking_rules_to_generate_predictions=[
            block_on("nhs_number"),
            block_on("family_name", "date_of_birth"),
            block_on("given_name", "date_of_birth"),
            block_on("postcode", "date_of_birth"),
            block_on("substr(given_name, 1, 2)", "substr(family_name, 1, 2)", "substr(date_of_birth, 1, 4)"),
        ],
        comparisons=[
            cl.ExactMatch("nhs_number"),
            cl.NameComparison("given_name"),
            cl.NameComparison("family_name"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y-%m-%d"),
            cl.ExactMatch("sex"),
            cl.PostcodeComparison("postcode"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def scalar(con: duckdb.DuckDBPyConnection, sql: str):
    """First value of a one-row query, fully fetched (DuckDB 2 refuses new work while a result is unfinished)."""
    return con.sql(sql).fetchall()[0][0]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="INPUT.csv with the hub's person columns")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--threshold", type=float, default=0.95,
                        help="match probability at or above which pairs are joined into one person (default 0.95)")
    parser.add_argument("--predict-threshold", type=float, default=0.01,
                        help="lowest match probability kept from predict and written to pairs.csv (default 0.01)")
    parser.add_argument("--max-pairs", type=float, default=1e7,
                        help="pairs sampled for u estimation (default 1e7)")
    parser.add_argument("--seed", type=int, default=1, help="seed for u sampling (default 1)")
    parser.add_argument("--quiet", action="store_true", help="only warnings from Splink")
    args = parser.parse_args(argv)
    if not 0 <= args.predict_threshold <= args.threshold <= 1:
        parser.error("need 0 <= --predict-threshold <= --threshold <= 1")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_level = logging.WARNING if args.quiet else logging.INFO
    timing: dict[str, float] = {}
    started = time.perf_counter()

    # Load and clean (empty strings become NULL before Splink sees them).
    t = time.perf_counter()
    con = duckdb.connect()
    present = csv_columns(con, args.input)
    if "record_id" not in present:
        raise SystemExit(f"{args.input}: no record_id column (columns: {sorted(present)})")
    con.sql(f"CREATE TABLE person AS {clean_sql(args.input, present)}")
    n_records = scalar(con, "SELECT count(*) FROM person")
    dup_ids = scalar(con, "SELECT count(*) - count(DISTINCT record_id) FROM person")
    if dup_ids:
        raise SystemExit(f"{args.input}: record_id is not unique ({dup_ids} duplicates)")
    db_api = DuckDBAPI(connection=con)
    person = db_api.register("person", dataset_display_name="person")
    creator = settings()
    linker = Linker(person, creator, log_level=log_level)
    timing["load_s"] = time.perf_counter() - t

    # Training: prior, u by random sampling, m by EM.
    t = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(
        [block_on("nhs_number"), block_on("given_name", "family_name", "date_of_birth")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=args.max_pairs, seed=args.seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "family_name"))
    timing["training_s"] = time.perf_counter() - t

    # Predict.
    t = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=args.predict_threshold)
    n_pairs = scalar(con, f"SELECT count(*) FROM {predictions.physical_name}")
    timing["predict_s"] = time.perf_counter() - t

    # Clustering.
    t = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=args.threshold)
    n_people = scalar(con, f"SELECT count(DISTINCT cluster_id) FROM {clusters.physical_name}")
    timing["clustering_s"] = time.perf_counter() - t

    # Write the outputs.
    t = time.perf_counter()
    con.sql(f"""COPY (SELECT record_id, cluster_id AS person_id FROM {clusters.physical_name}
                          ORDER BY person_id, record_id)
                    TO '{str(out / "clusters.csv").replace("'", "''")}' (HEADER, DELIMITER ',')""")
    con.sql(f"""COPY (SELECT record_id_l, record_id_r, match_weight, match_probability
                          FROM {predictions.physical_name} ORDER BY match_probability DESC, record_id_l, record_id_r)
                    TO '{str(out / "pairs.csv").replace("'", "''")}' (HEADER, DELIMITER ',')""")
    model_path = out / "model.json"
    if model_path.exists():
        model_path.unlink()
    linker.misc.save_model_to_json(str(model_path), overwrite=True)
    timing["write_s"] = time.perf_counter() - t
    timing["total_s"] = time.perf_counter() - started

    report = {
        "input": os.path.abspath(args.input),
        "records": n_records,
        "pairs_written": n_pairs,
        "people": n_people,
        "threshold_match_probability": args.threshold,
        "predict_threshold_match_probability": args.predict_threshold,
        "u_max_pairs": args.max_pairs,
        "seed": args.seed,
        **{k: round(v, 3) for k, v in timing.items()},
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "splink": splink.__version__,
        "duckdb": duckdb.__version__,
        "duckdb_threads": scalar(con, "SELECT current_setting('threads')"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    (out / "timing.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
