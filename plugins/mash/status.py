"""The ingestion ledger as officers read it: every batch with its state, row counts and any rejection reason."""

from __future__ import annotations

from sqlalchemy import Engine, select

from mash.store.schema import batch

COLUMNS = ("agency", "batch_id", "received_at", "state", "rows_in", "rows_loaded", "rows_quarantined", "reason")


def batches(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(batch).order_by(batch.c.extract_date, batch.c.agency, batch.c.received_at))
        return [{**row, "received_at": row["received_at"].isoformat(timespec="seconds")}
                for row in rows.mappings()]


def render_table(rows: list[dict]) -> str:
    """A plain-text table, one line per batch, for `mash status`."""
    header = ["agency", "batch", "received", "state", "in", "loaded", "quarantined", "reason / note"]
    lines = [[r["agency"], r["batch_id"], r["received_at"][:16], r["state"], str(r["rows_in"]),
              str(r["rows_loaded"]), str(r["rows_quarantined"]), r["reason"] or r["note"] or ""] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    widths[-1] = 0
    fmt = "  ".join(f"{{:<{w}}}" if i < 4 or i == len(widths) - 1 else f"{{:>{w}}}"
                    for i, w in enumerate(widths))
    return "\n".join(fmt.format(*line).rstrip() for line in [header, *lines])
