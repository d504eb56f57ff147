"""Consent from the local authority's consent register: the child's latest recorded decision, and the scopes it
covers tonight.

A later row for the same child supersedes an earlier one. Only a GIVEN consent that has not been withdrawn by
tonight covers anything; refused, withdrawn, not sought (unsafe or statutory) and not recorded cover nothing, so
sharing then needs significant harm or a public-interest decision. A withdrawal therefore takes effect at the next
run: the view is rebuilt each night from the register as it stands.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from mash.sharing.tonight import Tonight

GIVEN = "GIVEN"


def latest_consents(tonight: Tonight) -> pd.DataFrame:
    """One row per child: its latest consent row (columns child_id, consent_id, state, scope, given_by,
    recorded_date, withdrawn_date)."""
    rows = tonight.rows("consent", "consents", ["consent_id", "state", "scope", "given_by", "recorded_date",
                                               "withdrawn_date"])
    rows = rows.sort_values(["child_id", "recorded_date", "consent_id"], kind="stable")
    return rows.drop_duplicates("child_id", keep="last").reset_index(drop=True)


def consent_scopes(latest: pd.DataFrame, as_of: date) -> dict[str, frozenset[str]]:
    """Child id -> the scopes of a consent GIVEN and in force on ``as_of``; children without one are absent."""
    withdrawn = latest["withdrawn_date"].map(lambda d: d is not None and not pd.isna(d) and d <= as_of)
    in_force = latest[(latest["state"] == GIVEN) & ~withdrawn]
    return {child: frozenset(s.strip() for s in (scope or "").split(";") if s.strip())
            for child, scope in zip(in_force["child_id"], in_force["scope"])}
