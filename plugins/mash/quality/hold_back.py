"""Holding back a batch that would gut an agency's data, from the first night after a good one.

The volume expectations wait for several accepted nights; this does not. Tonight's batch is compared with the
agency's last good batch (loaded and validated, dated no later): if the records loaded from its persons file (the
contract's first file: persons, pupils, children, consents) fall below ``hold_persons_lower`` times as many, or the
share of all its records quarantined rises by more than ``hold_quarantine_rise``, the batch is rejected with a
reason giving the counts (never a value), so the last good batch stays current. A night whose every date of birth
came in another format, quarantining most persons, is the case this is for.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from mash.contracts import Contract
from mash.quality.suites import Thresholds
from mash.store.schema import batch, batch_file, quality_validation


def hold_back_reason(conn: Connection, row, contract: Contract, thresholds: Thresholds) -> str | None:
    """Why the batch ``row`` must not become current, or None."""
    last_good = conn.execute(
        select(batch.c.batch_id)
        .join(quality_validation, quality_validation.c.batch_id == batch.c.batch_id)
        .where(batch.c.agency == row["agency"], batch.c.state == "loaded", batch.c.batch_id != row["batch_id"],
               batch.c.extract_date <= row["extract_date"])
        .order_by(batch.c.extract_date.desc(), batch.c.finished_at.desc()).limit(1)).scalar()
    if last_good is None:
        return None
    before, now = _file_counts(conn, last_good), _file_counts(conn, row["batch_id"])
    reasons = []
    persons = contract.files[0].name
    was, is_ = before.get(persons, (0, 0, 0))[1], now.get(persons, (0, 0, 0))[1]
    if was >= thresholds.hold_min_rows and is_ < was * thresholds.hold_persons_lower:
        reasons.append(f"{persons}: {is_} records loaded against {was} in the last good batch {last_good} "
                       f"(below {thresholds.hold_persons_lower:g} times as many)")
    (in_before, _, out_before), (in_now, _, out_now) = _totals(before), _totals(now)
    if in_before >= thresholds.hold_min_rows and in_now:
        share_before, share_now = out_before / in_before, out_now / in_now
        if share_now - share_before > thresholds.hold_quarantine_rise:
            reasons.append(f"{share_now:.0%} of records quarantined ({out_now} of {in_now}) against "
                           f"{share_before:.0%} in the last good batch {last_good}")
    if not reasons:
        return None
    return ("held back, the last good batch stays current: " + "; ".join(reasons)
            + ". Correct the extract and drop it again")


def _file_counts(conn: Connection, batch_id: str) -> dict[str, tuple[int, int, int]]:
    """Records in, loaded and quarantined per contract file of a batch; a file identical to an earlier one counts
    with that one's rows, which are the batch's rows."""
    holder = batch_file.alias("holder")
    rows = conn.execute(
        select(batch_file.c.contract_file, holder.c.rows_in, holder.c.rows_loaded, holder.c.rows_quarantined)
        .join(holder, (holder.c.batch_id == batch_file.c.rows_batch_id)
              & (holder.c.contract_file == batch_file.c.contract_file))
        .where(batch_file.c.batch_id == batch_id))
    return {r.contract_file: (r.rows_in, r.rows_loaded, r.rows_quarantined) for r in rows}


def _totals(counts: dict[str, tuple[int, int, int]]) -> tuple[int, int, int]:
    return tuple(sum(c[i] for c in counts.values()) for i in range(3))
