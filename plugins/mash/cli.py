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
from mash.home import Home, match_partitions, private_files


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
    from mash.alerts import batch_held, send_alert
    from mash.notices.sending import smtp_url
    from mash.quality import validate_agency
    from mash.quality.checkpoint import data_docs_index
    engine = _store(home)
    rejected = False
    for agency in args.agency or agencies():
        for outcome in validate_agency(agency, home, engine):
            print(json.dumps(outcome.as_dict()))
            rejected |= outcome.verdict == "rejected"
            if outcome.held:
                send_alert(batch_held(outcome.batch_id, agency, outcome.reason), home, smtp_url())
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
    from mash.synth.shapes import shape_named
    try:
        shape = shape_named(args.shape, agencies=tuple(args.agencies.split(",")) if args.agencies else None,
                            households=args.households or None, adults=args.adults or None,
                            no_address=tuple(args.no_address) if args.no_address else None,
                            placeholder_postcodes=tuple(args.placeholder_postcodes) or None,
                            address_format=args.address_format, noise=args.noise)
    except ValueError as error:
        print(f"mash synth: {error}", file=sys.stderr)
        return 2
    summary = generate(children=args.children, seed=args.seed, nights=args.nights, out=args.out,
                       start=args.start, shape=shape, with_people=args.people)
    print(summary)
    return 0


def _agency_share(text: str) -> tuple[str, float]:
    agency, _, share = text.partition("=")
    try:
        return agency, float(share)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not AGENCY=SHARE, e.g. health=0.8") from None


def cmd_deliver(args, home: Home) -> int:
    from mash.delivery import deliver
    for agency, count in deliver(args.night_dir, home.ensure(), tuple(args.without)).items():
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
    from mash.link.partitions import remove
    from mash.link.population import match_children, match_children_in_partitions
    settings = LinkSettings.load(args.settings)
    partitions = match_partitions() if args.partitions is None else args.partitions
    if partitions == 1:
        remove(home.matching_work(args.run_id).parent)      # the work a killed partitioned run left (personal data)
        summary = match_children(_store(home), args.run_id, settings, full=args.full,
                                 features=home.matching_features())
    else:
        summary = match_children_in_partitions(_store(home), args.run_id, home.matching_work(args.run_id),
                                               partitions, args.processes or min(partitions, os.cpu_count() or 1),
                                               settings, full=args.full, features=home.matching_features())
    print(json.dumps(summary.as_dict()))
    return _report_hold(home, args.run_id, summary)


HELD_EXIT = 3       # `mash match`: the night was held for an officer's approval (nothing stored)


def _report_hold(home: Home, run_id: str, summary) -> int:
    """A held night: alert the officers (once: when this run held it) and exit HELD_EXIT."""
    if not summary.held:
        return 0
    from mash.alerts import night_held, send_alert
    from mash.link.held import held_nights
    from mash.notices.sending import smtp_url
    if summary.newly_held:
        hold = next(h for h in held_nights(_store(home)) if h["run_id"] == run_id)
        send_alert(night_held(run_id, _hold_counts(hold)), home, smtp_url())
    print(f"held: matching run {run_id} changes more children than the settings allow; nothing was stored. "
          f"An officer approves it (mash match approve {run_id} --by NAME --reason TEXT) or rejects it",
          file=sys.stderr)
    return HELD_EXIT


def _hold_counts(hold: dict) -> list[str]:
    return [f"merged {hold['merged']} of {hold['children_before']} children",
            f"split {hold['split']}", f"ended {hold['ended']}",
            f"records moved {hold['records_moved']} of {hold['records_before']}"]


def cmd_match_held(args, home: Home) -> int:
    from mash.link.held import held_nights
    holds = held_nights(_store(home), pending_only=not args.all)
    for hold in holds:
        decided = f"  {hold['status']} by {hold['decided_by']}" if hold["decided_by"] else f"  {hold['status']}"
        print(f"{hold['run_id']}  held {hold['held_at']:%Y-%m-%d %H:%M}  {', '.join(_hold_counts(hold))}{decided}")
    print(f"{len(holds)} held matching run(s)")
    return 0


def cmd_match_decide(args, home: Home) -> int:
    from mash.link import LinkSettings
    from mash.link.held import decide_held_night
    from mash.link.population import apply_held_night
    approve = args.match_command == "approve"
    engine = _store(home)
    decide_held_night(engine, args.run, approve, args.by, args.reason)
    if not approve:
        print(f"rejected: matching run {args.run} is not applied; the children in force stay")
        return 0
    summary = apply_held_night(engine, args.run, LinkSettings.load(args.settings), home.matching_features())
    print(json.dumps(summary.as_dict()))
    print(f"approved and applied: matching run {args.run}; run mash publish to publish it", file=sys.stderr)
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
    from mash.link.held import held_nights
    from mash.sharing.publication import publish
    if held := held_nights(_store(home)):
        raise Refused(f"matching run {held[0]['run_id']} is held for an officer's approval: the shared views in "
                      "force stay until it is approved (mash match approve) or rejected (mash match reject)")
    summary = publish(_store(home), args.run_id or f"manual-{args.as_of.isoformat()}", args.as_of,
                      anchors=home.audit_anchors)
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
    from mash.sharing import anchors
    from mash.sharing.audit import verify
    path = args.anchors or home.audit_anchors
    found = anchors.read(path)
    with _store(home).connect() as conn:
        result = verify(conn, found)
    for problem in result.problems:
        print(f"TAMPERED: {problem}", file=sys.stderr)
    newest = anchors.newest(found)
    anchored = f"; anchored up to entry {newest.entries} by {newest.describe()} ({path})" if newest else ""
    print(f"{result.entries} audit entries: {'chain intact' if result.intact else 'chain broken'}{anchored}")
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


def cmd_config_check(args, home: Home) -> int:
    """Every file an officer edits, read as the night reads it (the policy also checked against the contracts);
    every file is checked, and each error names its file, line and column."""
    from mash import config
    from mash.home import config_path
    from mash.sharing.policy import load_policy
    failed = 0
    for name in config.FILES:
        path = args.dir / name if args.dir else config_path(name)
        try:
            load_policy(path) if name == "sharing_policy.yaml" else config.load(name, path=path)
            print(f"{path}: valid")
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


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

    synth = sub.add_parser("synth", help="demo and test tool: generate realistic synthetic nightly drops for every agency")
    synth.add_argument("--children", type=int, required=True)
    synth.add_argument("--seed", type=int, default=1)
    synth.add_argument("--nights", type=int, default=1)
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 2),
                       help="extract date of the first night (YYYY-MM-DD)")
    synth.add_argument("--noise", help="default, high (twice the errors) or heavy (three times); "
                                        "default: the shape's")
    synth.add_argument("--shape", default="town",
                       help="a preset of the options below (mash.synth.shapes.SHAPES): town (the default), "
                            "households-no-address, households, no-address, placeholder-postcodes, adults, "
                            "heavy-noise, us-addresses, de-addresses, nl-addresses")
    synth.add_argument("--agencies", metavar="A,B", help="write only these agencies' drops")
    synth.add_argument("--households", action="store_true",
                       help="health lists whole households: every member, one surname, one address")
    synth.add_argument("--adults", action="store_true", help="parents beside the children (health, police)")
    synth.add_argument("--no-address", action="append", metavar="AGENCY",
                       help="this agency's records have no address or postcode (repeatable)")
    synth.add_argument("--placeholder-postcodes", action="append", type=_agency_share, default=[],
                       metavar="AGENCY=SHARE", help="that share of the agency's records have postcode ZZ99 3VZ")
    synth.add_argument("--address-format", help="uk, us, de or nl: addresses and postal codes as that country "
                                                "writes them")
    synth.add_argument("--people", action="store_true",
                       help="also write people.csv: each person's name origin, ethnicity, child or adult")
    synth.set_defaults(func=cmd_synth)

    deliver = sub.add_parser("deliver", help="demo and test tool: act as the agencies, dropping a generated night into the landing zone")
    deliver.add_argument("night_dir", type=Path)
    deliver.add_argument("--without", action="append", default=[], metavar="AGENCY",
                         help="an agency that does not drop tonight (repeatable): its drop is late at its cut-off")
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
    held = match.add_subparsers(dest="match_command", metavar="{held,approve,reject}")
    listing = held.add_parser("held", help="matching runs held for an officer's approval (a mass relink)")
    listing.add_argument("--all", action="store_true", help="decided ones too")
    listing.set_defaults(func=cmd_match_held)
    for verb, text in (("approve", "approve a held matching run and apply it"),
                       ("reject", "reject a held matching run: the children in force stay")):
        deciding = held.add_parser(verb, help=text)
        deciding.add_argument("run", metavar="RUN", help="the held run's id (mash match held)")
        deciding.add_argument("--by", required=True, help="the officer's name")
        deciding.add_argument("--reason", required=True)
        deciding.set_defaults(func=cmd_match_decide)

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
    verifying = auditing.add_parser("verify", help="check the hash chain against its anchors and every disclosure "
                                    "and notice against its entry: exit 1 naming what was edited, deleted or added")
    verifying.add_argument("--anchors", type=Path, metavar="FILE",
                           help="the anchor file (default MASH_HOME/audit/anchors.jsonl; e.g. the officers' copy)")
    verifying.set_defaults(func=cmd_audit_verify)
    showing = auditing.add_parser("show", help="audit entries for a child and/or a recipient, newest first")
    showing.add_argument("--child")
    showing.add_argument("--recipient")
    showing.add_argument("--limit", type=int, default=100)
    showing.set_defaults(func=cmd_audit_show)

    policy = sub.add_parser("policy", help="the sharing policy").add_subparsers(dest="policy_command", required=True)
    checking = policy.add_parser("check", help="validate a sharing policy file")
    checking.add_argument("file", type=Path, nargs="?", help="default: mash/config/sharing_policy.yaml")
    checking.set_defaults(func=cmd_policy_check)

    configuration = sub.add_parser("config", help="the files officers edit").add_subparsers(dest="config_command",
                                                                                              required=True)
    checking = configuration.add_parser("check", help="validate every configuration file (exit 1 if any is wrong)")
    checking.add_argument("--dir", type=Path, help="a folder of the six files (default: MASH_CONFIG_DIR, else the "
                                                  "shipped defaults)")
    checking.set_defaults(func=cmd_config_check)

    reference = sub.add_parser("contracts", help="print the agency data contracts as Markdown")
    reference.add_argument("--write", type=Path, metavar="DOC", help="refresh the generated part of DOC in place")
    reference.set_defaults(func=cmd_contracts)
    return top


def main(argv: list[str] | None = None) -> int:
    private_files()             # whatever the umask the officer's shell has: the hub's files are personal data
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
