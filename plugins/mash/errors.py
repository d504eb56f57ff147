"""The one kind of error the hub reports to the person who asked: a request refused, with a message that names
what is wrong (a rule, a field, an id) and never a child's details. The `mash` command prints it and exits 1."""


class Refused(ValueError):
    """A request the hub refuses; the message is safe to show and to log."""
