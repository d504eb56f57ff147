"""Rendering a notice from its templates (``templates/``): a subject that names ids only, never a person, and the
body as plain text and HTML (autoescaped). Each kind has a small template of its subject and opening line."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mash.notices.notice import Notice

TEMPLATES = Path(__file__).with_name("templates")


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True,
                       autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False))


def render(notice: Notice, rule_id: str | None) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of ``notice``."""
    env = _environment()
    kind = env.get_template(f"{notice.kind}.j2").make_module()
    subject = " ".join(str(kind.subject(notice)).split())
    context = {"n": notice, "kind": notice.kind, "rule_id": rule_id, "subject": subject}
    return (subject, env.get_template("notice.txt.j2").render(context),
            env.get_template("notice.html.j2").render(context))
