"""Tonight's matching over the store: link every agency's current person records into children, keep the
children's ids stable, remember why each link was made, and queue the uncertain pairs for officers.

The same as the nightly DAG's `match_children` task and `mash match`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Engine, delete

from mash.link import LinkSettings, link
from mash.link.identity import assign_child_ids
from mash.link.records import records_from_store
from mash.link.review import constraints, explanations, sync_review_queue
from mash.store import bulk_insert
from mash.store.schema import record_link


@dataclass(frozen=True)
class MatchSummary:
    """Counts only: safe for logs and XCom."""
    records: int
    children: int
    links: int
    reviews: int
    new_children: int
    merged: int
    split: int
    records_moved: int
    invalid_identifiers: dict[str, dict[str, int]]   # per source: NHS numbers and UPNs present but invalid

    def as_dict(self) -> dict:
        return asdict(self)


def same_local_authority_child(records, cannot_link) -> list[tuple[str, str]]:
    """Records carrying the same local authority child id (social care's record and the consent register's rows
    for that child) are one child by definition, not by likelihood: they are joined as must-links, unless an
    officer has decided that two of them are different children (then the officer's decision stands)."""
    keyed = records[records["la_child_id"] != ""].groupby("la_child_id")["record_id"].apply(sorted)
    disputed = {record for pair in cannot_link for record in pair}
    return [(ids[0], other) for ids in keyed if len(ids) > 1 and not disputed.intersection(ids)
            for other in ids[1:]]


def match_children(engine: Engine, run_id: str, settings: LinkSettings | None = None) -> MatchSummary:
    records = records_from_store(engine)
    with engine.connect() as conn:
        must_link, cannot_link = constraints(conn)
    present = set(records["record_id"])
    cannot_link = [p for p in cannot_link if present.issuperset(p)]
    result = link(records, settings,
                  must_link=[p for p in must_link if present.issuperset(p)]
                  + same_local_authority_child(records, cannot_link),
                  cannot_link=cannot_link)
    links = result.pairs[result.pairs["decision"] == "link"]
    with engine.begin() as conn:
        _, changes = assign_child_ids(conn, result.clusters, run_id)
        reviews = sync_review_queue(conn, result.pairs, run_id)
        conn.execute(delete(record_link))
        bulk_insert(conn, record_link, ["record_id_l", "record_id_r", "match_probability", "match_weight",
                                        "weights", "run_id"],
                    zip(links["record_id_l"], links["record_id_r"], links["match_probability"].astype(float),
                        links["match_weight"].astype(float), explanations(links), [run_id] * len(links)))
    return MatchSummary(records=len(records), children=changes.children, links=len(links), reviews=reviews,
                        new_children=changes.new, merged=changes.merged, split=changes.split,
                        records_moved=changes.records_moved,
                        invalid_identifiers=result.stats["invalid_identifiers"])
