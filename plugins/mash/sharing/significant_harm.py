"""Significant harm, as children's social care records it: an open section 47 enquiry, an active child protection
plan, or being looked after. Where it holds, information is shared without consent (public task and legal
obligation), as Working Together and the DfE's information-sharing advice require."""

from __future__ import annotations

from datetime import date

import pandas as pd

from mash.sharing.tonight import Tonight


def open_on(start: pd.Series, end: pd.Series, as_of: date) -> pd.Series:
    started = start.map(lambda d: d is not None and not pd.isna(d) and d <= as_of)
    ended = end.map(lambda d: d is not None and not pd.isna(d) and d <= as_of)
    return started & ~ended


def children_at_risk(tonight: Tonight, as_of: date) -> set[str]:
    """Hub child ids for whom significant harm holds on ``as_of``."""
    found: set[str] = set()
    for contract_file, start, end in (("s47_enquiries", "start_date", "outcome_date"),
                                      ("plans", "start_date", "end_date"),
                                      ("looked_after", "start_date", "end_date")):
        rows = tonight.rows("social_care", contract_file, [start, end])
        found.update(rows.loc[open_on(rows[start], rows[end], as_of), "child_id"])
    return found
