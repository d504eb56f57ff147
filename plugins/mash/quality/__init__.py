"""Data quality: every loaded batch validated against its agency's Great Expectations suites, with a verdict.

``validate_agency`` validates each of the agency's loaded batches not yet validated, oldest first: every file of the
batch against ``mash/quality/expectations/<agency>/<file>.json`` (see ``suites``), through GX directly (``checkpoint``). Each
expectation has a severity. A failed **critical** expectation rejects the batch: its state becomes ``rejected`` with
a reason naming the file, expectation, column and counts (never a value), so the agency's last good batch stays the
one the hub publishes and the reason is kept for the agency's notice; its rows stay in the store, nothing is lost.
A batch that would gut the agency's data compared with its last good batch (``hold_back``) is rejected the same way,
from the first night on. A failed **warning** is recorded and reported. Every check's result is stored per batch (``quality_check``), with
the verdict (``quality_validation``), so that trends can be drawn. A rerun validates nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, insert, select, update

from mash.contracts import contracts
from mash.home import Home
from mash.quality.checkpoint import gx_project, run_suite
from mash.quality.frames import batch_frames, with_derived
from mash.quality.hold_back import hold_back_reason
from mash.quality.suites import Thresholds, load_suite, parameters
from mash.store.schema import batch, batch_file, quality_check, quality_validation

log = logging.getLogger(__name__)
ROW_COUNT = "expect_table_row_count_to_be_between"   # the one observation kept: a count, never a value


@dataclass(frozen=True)
class Check:
    """One expectation's result on one file: names and counts only."""
    contract_file: str
    check_no: int
    expectation: str
    column: str
    severity: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    observed: str | None = None

    def describe(self) -> str:
        counts = f" ({self.unexpected_count} of {self.element_count} rows)" if self.unexpected_count else ""
        observed = f" (observed {self.observed})" if self.observed else ""
        on = f" on {self.column}" if self.column else ""
        return f"{self.contract_file}: {self.expectation}{on} failed{counts or observed}"


@dataclass(frozen=True)
class QualityOutcome:
    """What validation made of one batch: ids and counts only, safe for logs and XCom."""
    batch_id: str
    agency: str
    verdict: str
    checks: int
    critical_failed: int
    warnings_failed: int
    reason: str | None = None
    held: bool = False              # held back as gutting the agency's data (mash.quality.hold_back)

    def as_dict(self) -> dict:
        return asdict(self)


def check_file(context, agency: str, file: str, frame, params: dict, run_name: str, data_docs: bool = True
               ) -> list[Check]:
    """Run the file's suite on ``frame``; one Check per expectation, in the suite's order."""
    suite, result = run_suite(context, load_suite(agency, file), frame, params, run_name, data_docs)
    order = {e.id: n for n, e in enumerate(suite.expectations)}
    checks = []
    for r in result.results:
        config = r.expectation_config
        kwargs = config.kwargs
        column = ",".join(filter(None, [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B"),
                                        *(kwargs.get("column_list") or [])]))
        observed = r.result.get("observed_value") if config.type == ROW_COUNT else None
        raised = bool((r.exception_info or {}).get("raised_exception"))
        checks.append(Check(file, order[config.id], config.type, column, config.severity.value,
                            bool(r.success) and not raised, r.result.get("element_count"),
                            r.result.get("unexpected_count"), None if observed is None else str(observed)))
    return sorted(checks, key=lambda c: c.check_no)


def validate_agency(agency: str, home: Home, engine: Engine, thresholds: Thresholds | None = None
                    ) -> list[QualityOutcome]:
    """Validate every loaded batch of the agency that has not been validated yet, oldest first."""
    thresholds = thresholds or Thresholds.load()
    with engine.connect() as conn:
        pending = conn.execute(
            select(batch).where(batch.c.agency == agency, batch.c.state == "loaded",
                                ~batch.c.batch_id.in_(select(quality_validation.c.batch_id)))
            .order_by(batch.c.extract_date, batch.c.finished_at)).mappings().all()
    outcomes = []
    if not pending:
        log.info("%s: no batch waiting for validation", agency)
    for row in pending:
        outcomes.append(validate_batch(row, home, engine, thresholds))
    return outcomes


def validate_batch(row, home: Home, engine: Engine, thresholds: Thresholds) -> QualityOutcome:
    contract = contracts()[row["agency"]]
    with engine.connect() as conn:
        frames = with_derived(contract.agency, batch_frames(conn, contract, row["batch_id"]))
        histories = {spec.name: _history(conn, row, spec.name, thresholds.history_nights) for spec in contract.files}
        held = hold_back_reason(conn, row, contract, thresholds)
    checks: list[Check] = []
    with gx_project(home) as context:
        for spec in contract.files:
            suite_name = f"{contract.agency}.{spec.name}"
            params = parameters(suite_name, row["extract_date"], histories[spec.name], thresholds)
            checks += check_file(context, contract.agency, spec.name, frames[spec.name], params, row["batch_id"])
    failed_critical = [c for c in checks if not c.success and c.severity == "critical"]
    failed_warning = [c for c in checks if not c.success and c.severity != "critical"]
    verdict = "rejected" if failed_critical or held else "warnings" if failed_warning else "passed"
    reasons = [held] if held else []
    if failed_critical:
        reasons.append("failed critical data-quality checks: " + "; ".join(c.describe() for c in failed_critical))
    reason = "; ".join(reasons) or None
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(quality_validation).values(
            batch_id=row["batch_id"], validated_at=now, verdict=verdict, checks=len(checks),
            critical_failed=len(failed_critical), warnings_failed=len(failed_warning)))
        conn.execute(insert(quality_check), [dict(batch_id=row["batch_id"], contract_file=c.contract_file,
                                                  check_no=c.check_no, expectation=c.expectation,
                                                  column_name=c.column or None, severity=c.severity,
                                                  success=c.success, element_count=c.element_count,
                                                  unexpected_count=c.unexpected_count, observed=c.observed)
                                             for c in checks])
        if reason:
            conn.execute(update(batch).where(batch.c.batch_id == row["batch_id"])
                         .values(state="rejected", reason=reason))
    outcome = QualityOutcome(row["batch_id"], row["agency"], verdict, len(checks), len(failed_critical),
                             len(failed_warning), reason, held=held is not None)
    log.info("%s: batch %s %s: %d checks, %d critical failed, %d warnings", row["agency"], row["batch_id"], verdict,
             len(checks), len(failed_critical), len(failed_warning))
    return outcome


def _history(conn, row, file: str, nights: int) -> list[int]:
    """Rows loaded for ``file`` by the agency's last accepted batches before this one (reused files count too)."""
    holder = batch_file.alias("holder")
    query = (select(holder.c.rows_loaded)
             .select_from(batch.join(batch_file, batch_file.c.batch_id == batch.c.batch_id)
                          .join(holder, (holder.c.batch_id == batch_file.c.rows_batch_id)
                                & (holder.c.contract_file == batch_file.c.contract_file))
                          .join(quality_validation, quality_validation.c.batch_id == batch.c.batch_id))
             .where(batch.c.agency == row["agency"], batch.c.state == "loaded", batch_file.c.contract_file == file,
                    batch.c.batch_id != row["batch_id"], batch.c.extract_date <= row["extract_date"])
             .order_by(batch.c.extract_date.desc(), batch.c.finished_at.desc()).limit(nights))
    return [n for (n,) in conn.execute(query)]
