"""The contracts rendered as Markdown for docs/contracts.md, so the documentation cannot drift from the YAML."""

from __future__ import annotations

from mash.contracts import Contract, code_lists, contracts

MARKER = "<!-- Everything below is generated from plugins/mash/contracts/ by `mash contracts --write`. -->"


def _flags(col) -> str:
    return ", ".join(flag for flag, on in (("required", col.required), ("identifying", col.identifying),
                                          ("sensitive", col.sensitive)) if on)


def _type(col) -> str:
    if col.type in {"code", "codes"}:
        many = "codes (`;`-separated)" if col.type == "codes" else "code"
        return f"{many} from [{col.codes}](#code-list-{col.codes})"
    return f"{col.type} (at most {col.max_length})" if col.max_length else col.type


def render_contract(contract: Contract) -> list[str]:
    lines = [f"## {contract.agency}: {contract.title}", "", contract.description, "",
             f"Encoding **{contract.encoding}**; dates `{contract.date_format}`; date-times "
             f"`{contract.datetime_format}`; Y/N flags.", ""]
    for spec in contract.files:
        lines += [f"### `{contract.agency}-<YYYYMMDD>-{spec.name}.csv`", "", spec.description, "",
                  f"Key: {', '.join(f'`{k}`' for k in spec.key)}. Stored in table `{contract.table_name(spec.name)}`.",
                  "", "| column | type | flags | description |", "| --- | --- | --- | --- |"]
        lines += [f"| `{c.name}` | {_type(c)} | {_flags(c)} | {c.description}"
                  f"{' (references `' + c.references + '`)' if c.references else ''} |" for c in spec.columns]
        lines.append("")
    return lines


def render() -> str:
    lines = [MARKER, ""]
    for contract in contracts().values():
        lines += render_contract(contract)
    lines += ["## Code lists", ""]
    for name, codes in code_lists().items():
        lines += [f"### Code list {name}", "", "| code | meaning |", "| --- | --- |"]
        lines += [f"| `{c.code}` | {c.label}{' (sensitive)' if c.sensitive else ''} |" for c in codes.values()]
        lines.append("")
    return "\n".join(lines)


def update_document(text: str) -> str:
    """The document with everything after the marker replaced by the freshly rendered reference."""
    head = text.split(MARKER)[0] if MARKER in text else text.rstrip() + "\n\n"
    return head + render()
