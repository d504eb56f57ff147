"""A notice before it is recorded: what it is about (its idempotency key), who it goes to, and its content as
fields, each drawn from one contract column, so the data classes it carries are the sharing policy's classes of
those columns and can be checked against the policy's notice rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from mash.sharing.policy import Policy


@dataclass(frozen=True)
class Field:
    label: str
    value: str
    source: tuple[str, str, str]            # (agency, contract file, column) the value comes from


@dataclass(frozen=True)
class Notice:
    key: str                                # idempotency key: unique, derived from what the notice is about
    kind: str                               # a policy notice kind (NOTICE_KINDS) or an extract notice kind
    recipient: str                          # the agency it goes to
    to_address: str
    about: str                              # the agency's own id of what it is about
    child_id: str | None = None
    due_date: date | None = None
    fields: tuple[Field, ...] = ()
    lines: tuple[str, ...] = field(default=())   # extra lines without personal data (extract notices)

    def classes(self, policy: Policy) -> set[str]:
        """The data classes the notice carries: the policy's classes of its fields' columns."""
        return {policy.class_of(*f.source) for f in self.fields}


def text(value) -> str:
    """A value as a notice shows it: dates in ISO form, missing values empty."""
    if value is None or value != value:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
