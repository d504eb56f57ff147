"""The consent register: consent and information-sharing decisions recorded with families open to early help or
social care, with later withdrawals recorded as new rows for the same child."""

from __future__ import annotations

from dataclasses import dataclass

from .dates import Formatter
from .noise import View
from .population import Child, weighted
from .social_care import Referral, SocialCare
from .world import World

STATES = {"EH": (("GIVEN", 0.72), ("REFUSED", 0.12), ("NOT_SOUGHT_UNSAFE", 0.03), ("NOT_RECORDED", 0.13)),
          "ASSESS": (("GIVEN", 0.65), ("REFUSED", 0.12), ("NOT_SOUGHT_UNSAFE", 0.06), ("NOT_RECORDED", 0.12),
                     ("NOT_SOUGHT_STATUTORY", 0.05)),
          "S47": (("NOT_SOUGHT_STATUTORY", 0.85), ("GIVEN", 0.1), ("NOT_RECORDED", 0.05))}
SCOPES = ("ALL", "HEALTH;EDUCATION;SOCIAL_CARE", "HEALTH;EDUCATION", "EDUCATION;SOCIAL_CARE", "HEALTH;SOCIAL_CARE",
          "HEALTH;POLICE;EDUCATION;SOCIAL_CARE")
WITHDRAWN = 0.06              # consents later withdrawn (at least one on each later night)
SINCE_LAST = 180              # no new consent row within this many days of the child's last one
RECORDED = 0.7               # decisions that reach the register at all


@dataclass(slots=True)
class ConsentRow:
    consent_id: str
    child_id: str
    child: Child
    view: View
    state: str
    scope: str
    given_by: str
    recorded: int
    recorded_by: str
    withdrawn: int | None
    review: int | None


class Consent:
    agency = "consent"

    def __init__(self, world: World, social_care: SocialCare):
        self.world = world
        rng = world.rng
        self.rows: list[ConsentRow] = []
        views: dict[str, View] = {}
        last: dict[str, int] = {}
        for referral in sorted(social_care.referrals, key=lambda r: (r.decision_day, r.referral_id)):
            case = social_care.cases[referral.child.key]
            if referral.decision not in STATES or referral.decision_day > world.last_day or rng.random() > RECORDED:
                continue
            recorded = world.working.add(referral.decision_day, rng.randint(0, 4))
            if recorded > world.last_day or recorded - last.get(case.child_id, -10**6) < SINCE_LAST:
                continue
            last[case.child_id] = recorded
            view = views.get(case.child_id) or views.setdefault(case.child_id,
                                                                world.noise.view(referral.child, self.agency))
            self.rows.append(self._row(referral, case.child_id, view, recorded, case.worker.name))
        for row in [r for r in self.rows if r.state == "GIVEN"]:
            if rng.random() < WITHDRAWN:
                self._withdraw(row, rng.randint(row.recorded + 20, row.recorded + 400))
        for day in range(world.start, world.last_day + 1):
            current = self._latest(day - 1)
            candidates = [r for r in current.values() if r.state == "GIVEN"]
            if candidates:
                self._withdraw(rng.choice(candidates), day)
        self.rows.sort(key=lambda r: (r.recorded, r.consent_id))

    def _latest(self, day: int) -> dict[str, ConsentRow]:
        """Each child's latest row recorded by ``day``: a later row supersedes an earlier one."""
        latest: dict[str, ConsentRow] = {}
        for row in sorted(self.rows, key=lambda r: (r.recorded, r.consent_id)):
            if row.recorded <= day:
                latest[row.child_id] = row
        return latest

    def _row(self, referral: Referral, child_id: str, view: View, recorded: int, worker: str) -> ConsentRow:
        rng = self.world.rng
        options = STATES[referral.decision]
        state = weighted(rng, [s for s, _ in options], [w for _, w in options])
        scope = given_by = ""
        review = None
        if state in ("GIVEN", "REFUSED"):
            scope = rng.choice(SCOPES)
            teen = referral.child.age_on(recorded) >= 13
            if state == "GIVEN" and teen and rng.random() < 0.3:
                scope += ";SENSITIVE_HEALTH" if scope != "ALL" else ""
            given_by = "CHILD" if teen and rng.random() < 0.5 else "PARENT"
            review = recorded + (365 if state == "GIVEN" else 90)
        elif state.startswith("NOT_SOUGHT"):
            scope = "ALL"
        return ConsentRow(f"CN{len(self.rows) + 1:07d}", child_id, referral.child, view, state, scope, given_by,
                          recorded, worker, None, review)

    def _withdraw(self, row: ConsentRow, day: int) -> None:
        """Record a withdrawal as a new row, unless a later decision superseded the consent first."""
        if day > self.world.last_day:
            return
        before = [r for r in self.rows if r.child_id == row.child_id and r.recorded < day]
        if max(before, key=lambda r: (r.recorded, r.consent_id)) is not row:
            return
        self.rows.append(ConsentRow(f"CN{len(self.rows) + 1:07d}", row.child_id, row.child, row.view, "WITHDRAWN",
                                    row.scope, row.given_by, day, row.recorded_by, day, None))

    def snapshot(self, extract_day: int, fmt: Formatter):
        today, lookback = extract_day - 1, extract_day - 730
        day = fmt.day
        latest = {child_id: row.consent_id for child_id, row in self._latest(today).items()}
        rows, truth = [], []
        for row in self.rows:
            if row.recorded > today or (row.recorded < lookback and latest[row.child_id] != row.consent_id):
                continue
            child, view = row.child, row.view
            unborn = child.dob > today
            rows.append((row.consent_id, row.child_id, "" if unborn else view.nhs, "" if unborn else view.given,
                         child.household.mother_surname() if unborn else view.family,
                         "" if unborn else day(view.dob), row.state, row.scope, row.given_by, day(row.recorded),
                         row.recorded_by, day(row.withdrawn), day(row.review)))
            truth.append(("consents", row.consent_id, child.key))
        return {"consents": rows}, truth
