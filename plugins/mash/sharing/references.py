"""What the hub's officers see of person records: a reference, never the record id.

A record id is ``<agency>:<local id>``, and a school's local id is the pupil's UPN, which is for education use only
(policy rule N3). Officers therefore see the record's reference (``schools-R000042``, ``mash.link.review``), and
beside it the agency's own id only where the sharing policy gives the officers recipient that id's data class (a
police person id is ``identity``, shown under O1; a UPN is ``education_identifier``, never).
"""

from __future__ import annotations

from sqlalchemy import Connection

from mash.link.records import FEEDS
from mash.link.review import open_reviews
from mash.sharing.policy import Facts, Policy

OFFICERS = "officers"


def local_id_shown(policy: Policy, agency: str) -> bool:
    """Whether the policy lets the officers see the agency's own id for its records."""
    feed = FEEDS.get(agency)
    if feed is None:
        return False
    data_class = policy.class_of(agency, feed.contract_file, feed.columns["record_id"])
    return policy.decide(OFFICERS, data_class, Facts()).disclose


def officer_view(record_id: str, reference: str, policy: Policy) -> dict:
    """What an officer is shown of one record: its reference, its agency, and its local id if the policy allows."""
    agency, local_id = record_id.split(":", 1)
    return {"reference": reference, "agency": agency,
            "local_id": local_id if local_id_shown(policy, agency) else None}


def review_queue(conn: Connection, policy: Policy) -> list[dict]:
    """The open review queue as officers see it: each pair's records by reference (with the agency and, where the
    policy allows, the local id), its probability, weight and per-field weights; no record id."""
    shown = []
    for pair in open_reviews(conn):
        left, right = (officer_view(pair[f"record_id_{side}"], pair[f"reference_{side}"], policy)
                       for side in "lr")
        shown.append({"left": left, "right": right, "match_probability": pair["match_probability"],
                      "match_weight": pair["match_weight"], "weights": pair["weights"],
                      "first_seen_run": pair["first_seen_run"], "last_seen_run": pair["last_seen_run"]})
    return shown
