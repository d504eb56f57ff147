"""The `mash` command: everything the nightly DAG does, runnable by an officer without the scheduler."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path

from mash import spreadsheet
from mash.contracts import agencies
from mash.errors import Refused
from mash.home import Home, match_partitions


def _store(home: Home):
    from mash.store import migrate
    return migrate(home.ensure().db_url())


def cmd_db_upgrade(args, home: Home) -> int:
    _store(home)
    print(f"store is at the newest schema: {_redacted(home.db_url())}")
    return 0


def cmd_db_roles(args, home: Home) -> int:
    from mash.sharing.access import grant_roles
    from mash.sharing.policy import default_policy
    roles = grant_roles(_store(home), list(default_policy().recipients))
    print(f"granted: {', '.join(roles)} (each reads only its own views), mash_officers (the audit), mash_hub (writes)")
    return 0


def cmd_ingest(args, home: Home) -> int:
    from mash.ingest import IngestFailed, ingest_agency
    engine = _store(home)
    rejected = failed = False
    for agency in args.agency or agencies():
        try:
            outcomes = ingest_agency(agency, home, engine)
        except IngestFailed as exc:            # one agency's failure does not stop the others
            print(f"error: {exc}", file=sys.stderr)
            failed = True
            outcomes = exc.outcomes
        for outcome in outcomes:
            print(json.dumps(outcome.as_dict()))
            rejected |= outcome.state == "rejected"
    return 2 if failed else 1 if rejected and args.strict else 0


def cmd_validate(args, home: Home) -> int:
    from mash.quality import validate_agency
    from mash.quality.checkpoint import data_docs_index
    engine = _store(home)
    rejected = False
    for agency in args.agency or agencies():
        for outcome in validate_agency(agency, home, engine):
            print(json.dumps(outcome.as_dict()))
            rejected |= outcome.verdict == "rejected"
    print(f"data docs: {data_docs_index(home)}", file=sys.stderr)
    return 1 if rejected and args.strict else 0


def cmd_report_board(args, home: Home) -> int:
    from mash.report import board_report
    try:
        report = board_report(_store(home), args.month, args.out or home.reports / "board" / args.month)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{report.html}\n{report.pdf}")
    return 0


def cmd_status(args, home: Home) -> int:
    from mash.status import batches, render_table
    rows = batches(_store(home))
    print(json.dumps(rows, indent=2, default=str) if args.json else render_table(rows))
    return 0


def cmd_drops(args, home: Home) -> int:
    from datetime import datetime, timezone

    from mash.arrivals import LONDON, drop_states, load_night_settings
    settings, now = load_night_settings(), datetime.now(timezone.utc)
    night = args.night or now.astimezone(LONDON).date()
    for agency, state in drop_states(home, _store(home), night, now, settings).items():
        print(f"{agency:<12} {state:<8} cut-off {settings.cutoff(agency, night):%Y-%m-%d %H:%M %Z}")
    return 0


def cmd_synth(args, home: Home) -> int:
    from mash.synth import generate
    summary = generate(children=args.children, seed=args.seed, nights=args.nights, out=args.out,
                       start=args.start, noise=args.noise)
    print(summary)
    return 0


def cmd_deliver(args, home: Home) -> int:
    from mash.delivery import deliver
    for agency, count in deliver(args.night_dir, home.ensure()).items():
        print(f"{agency}: {count} files delivered to {home.agency_landing(agency)}")
    return 0


def cmd_contracts(args, home: Home) -> int:
    from mash.contracts.reference import render, update_document
    if args.write:
        args.write.write_text(update_document(args.write.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"updated {args.write}")
    else:
        print(render())
    return 0


def cmd_link(args, home: Home) -> int:
    import pandas as pd
    from mash.link import LinkSettings, link
    records = pd.read_csv(args.input, dtype=str, keep_default_na=False, encoding="utf-8")
    result = link(records, LinkSettings.load(args.settings))
    args.out.mkdir(parents=True, exist_ok=True)
    spreadsheet.write_csv(result.clusters, args.out / "clusters.csv")
    write_csv(result.pairs, args.out / "pairs.csv")
    (args.out / "model.json").write_text(json.dumps(result.model.as_dict(), indent=2), encoding="utf-8")
    print(json.dumps(result.stats))
    return 0


def write_csv(frame, path: Path, rows: int = 250_000) -> None:
    """``mash.spreadsheet.write_csv(frame, path, float_format="%.6g")``, faster: ``rows`` rows at a time, and in each
    float column of such a block each distinct value formatted once (most weights take a handful of values;
    formatting every one of millions of pairs' floats was most of writing pairs.csv). Values are told apart by
    their bits, so 0.0 and -0.0 are written as pandas writes them ('0' and '-0')."""
    import numpy as np
    import pandas as pd
    with open(path, "w", encoding="utf-8", newline="") as file:
        for start in range(0, max(len(frame), 1), rows):
            part = spreadsheet.safe_frame(frame.iloc[start:start + rows])     # before floats become text
            columns = {}
            for name, values in part.items():
                if values.dtype.kind == "f":
                    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
                    codes, distinct = pd.factorize(numbers.view(np.uint64))
                    values = np.array(["" if np.isnan(value) else f"{value:.6g}"
                                       for value in distinct.view(np.float64)], dtype=object)[codes]
                columns[name] = values
            pd.DataFrame(columns, copy=False).to_csv(file, index=False, header=start == 0)


def cmd_match(args, home: Home) -> int:
    from mash.link import LinkSettings
    from mash.link.population import match_children, match_children_in_partitions
    settings = LinkSettings.load(args.settings)
    partitions = match_partitions() if args.partitions is None else args.partitions
    if partitions == 1:
        summary = match_children(_store(home), args.run_id, settings, full=args.full,
                                 features=home.matching_features())
    else:
        summary = match_children_in_partitions(_store(home), args.run_id, home.matching_work(args.run_id),
                                               partitions, args.processes or min(partitions, os.cpu_count() or 1),
                                               settings, full=args.full, features=home.matching_features())
    print(json.dumps(summary.as_dict()))
    return 0


def cmd_review_list(args, home: Home) -> int:
    from mash.sharing.policy import default_policy
    from mash.sharing.references import review_queue
    with _store(home).connect() as conn:
        pairs = review_queue(conn, default_policy())
    if args.json:
        print(json.dumps(pairs, indent=2, default=str))
        return 0

    def shown(record: dict) -> str:
        return record["reference"] + (f" ({record['agency']} id {record['local_id']})" if record["local_id"] else "")

    for pair in pairs:
        weights = "  ".join(f"{name[2:]} {value:+.1f}" for name, value in pair["weights"].items() if value)
        print(f"{shown(pair['left'])}  {shown(pair['right'])}  p={pair['match_probability']:.3f}  {weights}")
    print(f"{len(pairs)} pairs waiting for an officer's decision")
    return 0


def cmd_review_decide(args, home: Home) -> int:
    from mash.link.review import decide
    with _store(home).begin() as conn:
        left, right = decide(conn, args.record_l, args.record_r, args.decision, args.by, args.reason)
    verdict = "the same child" if args.decision == "same" else "different children"
    print(f"recorded: {left} and {right} are {verdict}; every later run honours this")
    return 0


def cmd_publish(args, home: Home) -> int:
    from mash.sharing.publication import publish
    summary = publish(_store(home), args.run_id or f"manual-{args.as_of.isoformat()}", args.as_of)
    print(json.dumps(summary.as_dict()))
    return 0


def cmd_notices_build(args, home: Home) -> int:
    from mash.notices.outbox import build
    summary = build(_store(home), home.ensure(), args.run_id or f"manual-{args.as_of.isoformat()}", args.as_of)
    print(json.dumps(summary.as_dict()))
    return 0


def cmd_notices_send(args, home: Home) -> int:
    from mash.notices.sending import SMTP_ENV, send, smtp_url
    summary = send(_store(home))
    print(json.dumps(summary.as_dict()))
    if smtp_url() is None:
        print(f"no SMTP server configured ({SMTP_ENV}): {summary.waiting} notice(s) wait in {home.outbox}",
              file=sys.stderr)
    return 0


def cmd_notices_requeue(args, home: Home) -> int:
    from mash.notices.sending import requeue
    print(f"{requeue(_store(home), args.key or None)} failed notice(s) queued for the next send")
    return 0


def cmd_notices_list(args, home: Home) -> int:
    from mash.notices.listing import notices
    rows = notices(_store(home), status=args.status, kind=args.kind)
    _print_rows(rows, args.json)
    return 0


def cmd_referrals(args, home: Home) -> int:
    from mash.notices.referral import overdue, track
    from mash.notices.settings import default_settings
    from mash.sharing.tonight import Tonight
    engine = _store(home)
    if args.referrals_command == "overdue":
        found = overdue(engine, args.as_of, default_settings())
    else:
        found = track(Tonight(engine), args.as_of, default_settings()).drop(columns=["referrer_email"])
    _print_rows(found.astype(object).where(found.notna(), None).to_dict("records"), args.json)
    return 1 if args.referrals_command == "overdue" and len(found) and args.strict else 0


def _print_rows(rows: list[dict], as_json: bool) -> None:
    """Rows as JSON lines or a tab-separated table with a header (safe to open in a spreadsheet)."""
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if rows:
        print("\t".join(rows[0]))
    for row in rows:
        print("\t".join("" if v is None else spreadsheet.safe_cell(str(v)) for v in row.values()))
    print(f"({len(rows)} row(s))", file=sys.stderr)


def cmd_export(args, home: Home) -> int:
    from mash.sharing.export import export_view
    from mash.sharing.policy import default_policy
    summary = export_view(_store(home), args.recipient, list(default_policy().recipients), args.out)
    print(json.dumps(summary))
    return 0


def cmd_decide(args, home: Home) -> int:
    from mash.sharing.policy import default_policy
    from mash.sharing.public_interest import record_decision
    with _store(home).begin() as conn:
        decision_id = record_decision(
            conn, default_policy(), child_id=args.child, data_classes=args.classes.split(","),
            recipients=args.recipients.split(","), lawful_basis=args.basis, rationale=args.rationale,
            decided_by=args.by, approved_by=args.approved_by, review_date=args.review_date)
    print(f"recorded public-interest decision {decision_id} for {args.child}: shared from the next run until "
          f"{args.review_date.isoformat()}")
    return 0


def cmd_decide_list(args, home: Home) -> int:
    from mash.sharing.public_interest import listing
    with _store(home).connect() as conn:
        rows = listing(conn, args.as_of)
    if args.due:
        rows = [r for r in rows if r["state"] == "due for review"]
    print(json.dumps(rows, indent=2))
    return 0


def cmd_audit_verify(args, home: Home) -> int:
    from mash.sharing.audit import verify
    with _store(home).connect() as conn:
        result = verify(conn)
    for problem in result.problems:
        print(f"TAMPERED: {problem}", file=sys.stderr)
    print(f"{result.entries} audit entries: {'chain intact' if result.intact else 'chain broken'}")
    return 0 if result.intact else 1


def cmd_audit_show(args, home: Home) -> int:
    from mash.sharing.audit import entries
    with _store(home).connect() as conn:
        rows = entries(conn, child_id=args.child, recipient=args.recipient, limit=args.limit)
    print(json.dumps(rows, indent=2, default=str))
    return 0


def cmd_policy_check(args, home: Home) -> int:
    from mash.sharing.policy import load_policy
    policy = load_policy(args.file)
    print(f"{policy.source}: valid: {len(policy.rules)} rules, {len(policy.notices)} notice rules, "
          f"{len(policy.data_classes)} data classes, "
          f"{len(policy.fields)} fields classified, {len(policy.recipients)} recipients")
    return 0


def _redacted(url: str) -> str:
    """A database URL without its password, for printing."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="mash", description=__doc__)
    top.add_argument("-v", "--verbose", action="store_true", help="log what happens (counts and ids only)")
    sub = top.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the hub's store").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="create or migrate the store to the newest schema").set_defaults(func=cmd_db_upgrade)
    db.add_parser("roles", help="PostgreSQL: create and grant the recipients', officers' and hub's roles") \
        .set_defaults(func=cmd_db_roles)

    ingest = sub.add_parser("ingest", help="ingest every complete drop waiting in the landing zone")
    ingest.add_argument("--agency", action="append", choices=agencies(), help="only this agency (repeatable)")
    ingest.add_argument("--strict", action="store_true", help="exit 1 if any drop was rejected (2 if one failed)")
    ingest.set_defaults(func=cmd_ingest)

    validate = sub.add_parser("validate", help="check loaded batches against the expectation suites; a critical "
                                                "failure rejects the batch")
    validate.add_argument("--agency", action="append", choices=agencies(), help="only this agency (repeatable)")
    validate.add_argument("--strict", action="store_true", help="exit 1 if any batch was rejected")
    validate.set_defaults(func=cmd_validate)

    report = sub.add_parser("report", help="reports").add_subparsers(dest="report_command", required=True)
    board = report.add_parser("board", help="the partnership board's monthly report: HTML and PDF")
    board.add_argument("--month", required=True, help="YYYY-MM")
    board.add_argument("--out", type=Path, help="folder for the report (default MASH_HOME/reports/board/YYYY-MM)")
    board.set_defaults(func=cmd_report_board)

    status = sub.add_parser("status", help="list every batch with its state and row counts")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    drops = sub.add_parser("drops", help="whether each agency's drop for a night has arrived, is awaited or is late")
    drops.add_argument("--night", type=date.fromisoformat, help="YYYY-MM-DD (default: today, London time)")
    drops.set_defaults(func=cmd_drops)

    synth = sub.add_parser("synth", help="generate realistic synthetic nightly drops for every agency")
    synth.add_argument("--children", type=int, required=True)
    synth.add_argument("--seed", type=int, default=1)
    synth.add_argument("--nights", type=int, default=1)
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 2),
                       help="extract date of the first night (YYYY-MM-DD)")
    synth.add_argument("--noise", choices=["default", "high"], default="default")
    synth.set_defaults(func=cmd_synth)

    deliver = sub.add_parser("deliver", help="act as the agencies: drop a generated night into the landing zone")
    deliver.add_argument("night_dir", type=Path)
    deliver.set_defaults(func=cmd_deliver)

    linker = sub.add_parser("link", help="link person records (CSV, person schema) into persons")
    linker.add_argument("input", type=Path, metavar="INPUT.csv")
    linker.add_argument("--out", type=Path, required=True, help="writes clusters.csv, pairs.csv and model.json here")
    linker.add_argument("--settings", type=Path, help="YAML overriding the packaged link settings")
    linker.set_defaults(func=cmd_link)

    match = sub.add_parser("match", help="link the store's current person records into children with stable ids")
    match.add_argument("--run-id", default="manual", help="recorded with the ids and lineage this run creates")
    match.add_argument("--settings", type=Path, help="YAML overriding the packaged link settings")
    match.add_argument("--full", action="store_true",
                       help="relink every record and re-estimate the model (default: once a population has been "
                            "matched, only new and changed records are scored)")
    match.add_argument("--partitions", type=int, metavar="N",
                       help="compare the candidate pairs in N partitions (default MASH_MATCH_PARTITIONS, else 1: "
                            "in this process); the same result")
    match.add_argument("--processes", type=int, metavar="P",
                       help="with --partitions, run them in P processes (default: N, at most the CPUs)")
    match.set_defaults(func=cmd_match)

    review = sub.add_parser("review", help="the queue of uncertain pairs").add_subparsers(dest="review_command",
                                                                                          required=True)
    listing = review.add_parser("list", help="pairs waiting for an officer, least certain first, with weights")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_review_list)
    deciding = review.add_parser("decide", help="record that two records are, or are not, the same child")
    deciding.add_argument("record_l", help="a record's reference, as `mash review list` shows it (or its record id)")
    deciding.add_argument("record_r", help="the other record's reference (or record id)")
    verdict = deciding.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--same", dest="decision", action="store_const", const="same")
    verdict.add_argument("--different", dest="decision", action="store_const", const="different")
    deciding.add_argument("--by", required=True, help="the deciding officer")
    deciding.add_argument("--reason", required=True)
    deciding.set_defaults(func=cmd_review_decide)

    publishing = sub.add_parser("publish", help="decide, audit and publish tonight's shared view for every recipient")
    publishing.add_argument("--as-of", type=date.fromisoformat, default=date.today(),
                            help="the night whose conditions apply (YYYY-MM-DD; default today)")
    publishing.add_argument("--run-id", help="recorded in the audit (default manual-<as-of>)")
    publishing.set_defaults(func=cmd_publish)

    noticing = sub.add_parser("notices", help="feedback to referrers, notifications and extract notices") \
        .add_subparsers(dest="notices_command", required=True)
    building = noticing.add_parser("build", help="build, audit and write tonight's new notices to the outbox")
    building.add_argument("--as-of", type=date.fromisoformat, default=date.today(),
                          help="the night (YYYY-MM-DD; default today)")
    building.add_argument("--run-id", help="recorded in the audit (default manual-<as-of>)")
    building.set_defaults(func=cmd_notices_build)
    noticing.add_parser("send", help="send queued notices by SMTP (MASH_SMTP_URL), retrying failed ones when due") \
        .set_defaults(func=cmd_notices_send)
    requeuing = noticing.add_parser("requeue", help="queue failed notices for another try, once the cause is fixed")
    requeuing.add_argument("--key", action="append", help="a notice's idempotency key (repeatable; default all failed)")
    requeuing.set_defaults(func=cmd_notices_requeue)
    listing_notices = noticing.add_parser("list", help="notices with their status and attempts (no addresses)")
    listing_notices.add_argument("--status", choices=["queued", "sent", "failed", "withheld"])
    listing_notices.add_argument("--kind")
    listing_notices.add_argument("--json", action="store_true")
    listing_notices.set_defaults(func=cmd_notices_list)

    referring = sub.add_parser("referrals", help="referral tracking and feedback to referrers") \
        .add_subparsers(dest="referrals_command", required=True)
    for name, text in (("list", "every referral: referrer agency, decision, outcome, dates and feedback due"),
                       ("overdue", "referrals whose acknowledgement or outcome notice is past due and not sent")):
        command = referring.add_parser(name, help=text)
        command.add_argument("--as-of", type=date.fromisoformat, default=date.today())
        command.add_argument("--json", action="store_true")
        if name == "overdue":
            command.add_argument("--strict", action="store_true", help="exit 1 if any referral is overdue")
        command.set_defaults(func=cmd_referrals)

    exporting = sub.add_parser("export", help="write one recipient's current shared view to CSV files")
    exporting.add_argument("--recipient", required=True)
    exporting.add_argument("--out", type=Path, required=True)
    exporting.set_defaults(func=cmd_export)

    deciding_pi = sub.add_parser("decide", help="record a public-interest decision to share without consent")
    deciding_pi.add_argument("--child", help="hub child id, e.g. MASH-0000012")
    deciding_pi.add_argument("--classes", help="comma-separated data classes (see mash/config/sharing_policy.yaml)")
    deciding_pi.add_argument("--recipients", help="comma-separated recipients")
    deciding_pi.add_argument("--basis", help="lawful basis, e.g. 'UK GDPR Art 6(1)(e); DPA 2018 Sch 1 para 18'")
    deciding_pi.add_argument("--rationale")
    deciding_pi.add_argument("--by", help="the deciding officer")
    deciding_pi.add_argument("--approved-by", help="the approving manager (not the deciding officer)")
    deciding_pi.add_argument("--review-date", type=date.fromisoformat, help="sharing stops after this date")
    deciding_pi.set_defaults(func=cmd_decide)
    decide_sub = deciding_pi.add_subparsers(dest="decide_command")
    decisions = decide_sub.add_parser("list", help="every decision and whether it is in force or due for review")
    decisions.add_argument("--as-of", type=date.fromisoformat, default=date.today())
    decisions.add_argument("--due", action="store_true", help="only decisions due for review")
    decisions.set_defaults(func=cmd_decide_list)

    auditing = sub.add_parser("audit", help="the disclosure audit").add_subparsers(dest="audit_command",
                                                                                  required=True)
    auditing.add_parser("verify", help="check the hash chain: exit 1 if any entry was edited or deleted") \
        .set_defaults(func=cmd_audit_verify)
    showing = auditing.add_parser("show", help="audit entries for a child and/or a recipient, newest first")
    showing.add_argument("--child")
    showing.add_argument("--recipient")
    showing.add_argument("--limit", type=int, default=100)
    showing.set_defaults(func=cmd_audit_show)

    policy = sub.add_parser("policy", help="the sharing policy").add_subparsers(dest="policy_command", required=True)
    checking = policy.add_parser("check", help="validate a sharing policy file")
    checking.add_argument("file", type=Path, nargs="?", help="default: mash/config/sharing_policy.yaml")
    checking.set_defaults(func=cmd_policy_check)

    reference = sub.add_parser("contracts", help="print the agency data contracts as Markdown")
    reference.add_argument("--write", type=Path, metavar="DOC", help="refresh the generated part of DOC in place")
    reference.set_defaults(func=cmd_contracts)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return args.func(args, Home.from_env())
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
