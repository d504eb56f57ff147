"""The safeguarding partnership board's monthly report: data quality per agency and the management information
the board asks for, computed from the extracts in the store, written as HTML and PDF with charts.

``board_report(engine, "2026-11", out_dir)`` reads, for each agency, its latest accepted batch with an extract date
in or before the month (what the hub published at the month's end), the batch ledger for punctuality and
quarantine, and the matching's ``child_record``; computes every table with the functions in ``figures`` (social
care's management information) and ``extracts`` (data quality); renders them (``render``) and prints the PDF with
headless Chromium (``browser``). No value from an extract appears in the report: only counts, codes' labels and
postcode districts (never for a protected address). Counts of children and of their referrals, enquiries,
conferences and plans go through ``suppression``: a small count is shown as ``c``, with secondary suppression so
no total gives it away (the data-quality section counts agencies' records and nights, and is shown as it is).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select

from mash.contracts import agencies, contracts
from mash.quality.frames import batch_frames
from mash.quality.suites import Thresholds
from mash.report import extracts, figures, render, suppression
from mash.report.browser import print_pdf
from mash.store.schema import batch, child_record, quality_check
from mash.notices.referral import overdue
from mash.notices.settings import load_settings
from mash.timescales import Timescales

log = logging.getLogger(__name__)
SOCIAL_CARE_FILES = {"children", "referrals", "assessments", "s47_enquiries", "conferences", "plans"}
TREND_MONTHS = 6


@dataclass(frozen=True)
class BoardReport:
    html: Path
    pdf: Path
    month: str


def _published(conn, month: figures.Month) -> dict[str, dict]:
    """Each agency's latest accepted batch with an extract date on or before the month's last day."""
    rows = conn.execute(select(batch.c.agency, batch.c.batch_id, batch.c.extract_date)
                        .where(batch.c.state == "loaded", batch.c.extract_date <= month.last)
                        .order_by(batch.c.extract_date, batch.c.finished_at)).mappings().all()
    return {row["agency"]: dict(row) for row in rows}          # the last one per agency wins


def board_report(engine: Engine, month_text: str, out_dir: Path, today: date | None = None) -> BoardReport:
    month = figures.Month.parse(month_text)
    today = today or datetime.now(timezone.utc).date()
    if month.first > today:
        raise ValueError(f"month {month_text} has not started yet")
    as_of = min(today, month.last)
    thresholds, timescales = Thresholds.load(), Timescales.load()
    names = agencies()
    with engine.connect() as conn:
        published = _published(conn, month)
        if "social_care" not in published:
            raise ValueError(f"no accepted social care extract dated on or before {month.last}: "
                             f"the board's management information needs one")
        frames = {agency: batch_frames(conn, contracts()[agency], published[agency]["batch_id"],
                                       {file} | (SOCIAL_CARE_FILES if agency == "social_care" else set()))
                  for agency, (file, _) in extracts.IDENTIFIERS.items() if agency in published}
        ledger = pd.DataFrame(conn.execute(
            select(batch.c.agency, batch.c.extract_date, batch.c.received_at, batch.c.state, batch.c.rows_in,
                   batch.c.rows_quarantined)).mappings().all(),
            columns=["agency", "extract_date", "received_at", "state", "rows_in", "rows_quarantined"])
        checks = pd.DataFrame(conn.execute(
            select(batch.c.agency, batch.c.extract_date, quality_check.c.expectation,
                   quality_check.c.unexpected_count, quality_check.c.element_count)
            .join(batch, batch.c.batch_id == quality_check.c.batch_id)).all(),
            columns=["agency", "extract_date", "expectation", "unexpected_count", "element_count"])
        links = pd.DataFrame(conn.execute(select(child_record.c.record_id, child_record.c.child_id)).all(),
                             columns=["record_id", "child_id"])
    sc = frames["social_care"]
    persons = {agency: frames[agency][file] for agency, (file, _) in extracts.IDENTIFIERS.items() if agency in frames}
    extract_day = min(published["social_care"]["extract_date"], month.last)

    trend = extracts.trends(ledger, month, names, thresholds.on_time_days, TREND_MONTHS, as_of)
    identifiers = extracts.identifier_trend(checks, month, TREND_MONTHS)
    quality = [
        render.table("Extracts received this month", extracts.extract_punctuality(
            ledger, month, names, thresholds.on_time_days, as_of), extracts.extract_punctuality),
        render.table("Rows quarantined", extracts.quarantined(ledger, month, names), extracts.quarantined),
        render.table("NHS number and UPN: completeness, validity and duplicates",
                     extracts.identifier_quality(persons), extracts.identifier_quality),
        render.table("Records matched to another agency (latest matching run)",
                     extracts.matched_to_another_agency(links, names), extracts.matched_to_another_agency),
        render.table("Records matched to another agency, by ethnic group (agencies recording ethnicity)",
                     suppression.suppress_share(extracts.matched_by_ethnicity(links, persons), "Person records",
                                                "Matched to another agency", "Matched %",
                                                thresholds.board_suppress_up_to),
                     extracts.matched_by_ethnicity),
        render.table("Ethnicity not obtained", extracts.ethnicity_not_obtained(
            {a: persons[a] for a in extracts.ETHNICITY if a in persons}), extracts.ethnicity_not_obtained),
        render.table(f"Trends over the last {TREND_MONTHS} months", trend.set_index(["Month", "Agency"]),
                     extracts.trends),
        render.table("Identifiers failing their check digit, from each night's validation",
                     identifiers, extracts.identifier_trend),
    ]

    def counts(frame: pd.DataFrame) -> pd.DataFrame:          # every table of children: small numbers withheld
        return suppression.suppress(frame, thresholds.board_suppress_up_to)

    by_category = counts(figures.plans_by_category_and_gender(sc, month))
    plans = [
        render.table("Children on a plan at the month's end, by category and gender", by_category,
                     figures.plans_by_category_and_gender),
        render.table("By age band and gender", counts(figures.plans_by_age_and_gender(sc, month)),
                     figures.plans_by_age_and_gender),
        render.table("By ethnicity", counts(figures.plans_by_ethnicity(sc, month)), figures.plans_by_ethnicity),
        render.table("By area (postcode district)", counts(figures.plans_by_area(sc, month)), figures.plans_by_area),
        render.table("Plan durations", counts(figures.plan_durations(sc, month)), figures.plan_durations),
        render.table("Section 47 enquiries per quarter", counts(figures.s47_by_quarter(sc, month)),
                     figures.s47_by_quarter),
    ]
    timeliness = [
        render.table("Against timescales", counts(figures.timeliness(sc, month, timescales)), figures.timeliness),
        render.table("Referrals with no recorded outcome", counts(figures.referrals_without_outcome(sc, month)),
                     figures.referrals_without_outcome),
        render.table(f"Referrals whose feedback to the referrer is overdue (as at {as_of})",
                     counts(figures.feedback_overdue(overdue(engine, as_of, load_settings()))),
                     figures.feedback_overdue),
        render.table(f"Children on a plan not seen within the visiting interval (as at {extract_day})",
                     counts(figures.children_not_seen(sc, month, timescales, extract_day)),
                     figures.children_not_seen),
    ]
    categories = by_category["Total"].drop("Total", errors="ignore")
    html = render.render_html(
        month=month, as_of=as_of, timescales=timescales, suppressed=suppression.SYMBOL,
        suppress_up_to=thresholds.board_suppress_up_to, quality=quality, plans=plans, timeliness=timeliness,
        quality_charts=[render.trend_chart(trend, "On time %", "Extracts on time, % of nights"),
                        render.trend_chart(trend, "Quarantined %", "Rows quarantined, % of rows received")],
        plan_charts=[render.bar_chart(categories, "Children on a plan by category")])
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"board-{month_text}.html"
    html_path.write_text(html, encoding="utf-8")
    pdf_path = print_pdf(html_path, out_dir / f"board-{month_text}.pdf")
    log.info("board report for %s written: %s, %s", month_text, html_path.name, pdf_path.name)
    return BoardReport(html_path, pdf_path, month_text)
