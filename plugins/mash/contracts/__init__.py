"""Data contracts for each agency's nightly extract, loaded from the YAML beside this file and checked at load.

A contract names the files an agency sends, their columns, types, required fields and code lists, and which
fields identify a child or are sensitive. Ingestion, the store's tables and the documentation all derive from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

CONTRACT_DIR = Path(__file__).parent
TYPES = {"string", "integer", "date", "datetime", "boolean", "code", "codes"}
ENCODINGS = {"utf-8", "windows-1252"}
TRUE_VALUES = {"Y": True, "N": False}


class ContractError(ValueError):
    """A contract file is malformed: the message names the file and the field."""


@dataclass(frozen=True)
class Code:
    code: str
    label: str
    sensitive: bool = False


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    identifying: bool = False
    sensitive: bool = False
    codes: str | None = None
    references: str | None = None
    max_length: int | None = None       # characters: a longer value is quarantined (it would not fit downstream)
    description: str = ""


@dataclass(frozen=True)
class FileSpec:
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Contract:
    agency: str
    title: str
    description: str
    encoding: str
    date_format: str
    datetime_format: str
    files: tuple[FileSpec, ...]
    code_lists: dict[str, dict[str, Code]] = field(repr=False)

    def file(self, name: str) -> FileSpec:
        for spec in self.files:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.agency} has no file {name!r}")

    def table_name(self, file_name: str) -> str:
        return f"{self.agency}_{file_name}"


def _require(mapping: dict, key: str, where: str):
    if key not in mapping:
        raise ContractError(f"{where}: missing {key!r}")
    return mapping[key]


@cache
def code_lists() -> dict[str, dict[str, Code]]:
    raw = yaml.safe_load((CONTRACT_DIR / "codes.yaml").read_text(encoding="utf-8"))
    lists: dict[str, dict[str, Code]] = {}
    for list_name, entries in raw.items():
        lists[list_name] = {
            str(code): Code(str(code), _require(attrs, "label", f"codes.yaml: {list_name}.{code}"),
                            bool(attrs.get("sensitive", False)))
            for code, attrs in entries.items()
        }
    return lists


def _column(raw: dict, where: str, lists: dict) -> Column:
    unknown = set(raw) - {f.name for f in Column.__dataclass_fields__.values()}
    if unknown:
        raise ContractError(f"{where}: unknown attribute(s) {sorted(unknown)}")
    col = Column(**raw)
    if col.type not in TYPES:
        raise ContractError(f"{where}: type {col.type!r} is not one of {sorted(TYPES)}")
    if col.max_length is not None and (col.type != "string" or not isinstance(col.max_length, int)
                                       or col.max_length < 1):
        raise ContractError(f"{where}: max_length must be a positive whole number, on a string column")
    if col.type == "string" and col.max_length is None:     # an unbounded value can hide the records after it
        raise ContractError(f"{where}: a string column needs a max_length")
    if col.type in {"code", "codes"} and col.codes not in lists:
        raise ContractError(f"{where}: code list {col.codes!r} is not defined in codes.yaml")
    return col


def load_contract(path: Path) -> Contract:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.name
    lists = code_lists()
    encoding = raw.get("encoding", "utf-8")
    if encoding not in ENCODINGS:
        raise ContractError(f"{where}: encoding {encoding!r} is not one of {sorted(ENCODINGS)}")
    files = []
    for raw_file in _require(raw, "files", where):
        fwhere = f"{where}: file {raw_file.get('name')!r}"
        columns = tuple(_column(c, f"{fwhere} column {c.get('name')!r}", lists)
                        for c in _require(raw_file, "columns", fwhere))
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise ContractError(f"{fwhere}: duplicate column names")
        key = tuple(_require(raw_file, "key", fwhere))
        if not set(key) <= set(names):
            raise ContractError(f"{fwhere}: key {list(key)} names a column the file does not have")
        files.append(FileSpec(raw_file["name"], raw_file.get("description", ""), key, columns))
    return Contract(
        agency=_require(raw, "agency", where),
        title=_require(raw, "title", where),
        description=raw.get("description", "").strip(),
        encoding=encoding,
        date_format=raw.get("date_format", "%Y-%m-%d"),
        datetime_format=raw.get("datetime_format", "%Y-%m-%dT%H:%M:%S"),
        files=tuple(files),
        code_lists=lists,
    )


@cache
def contracts() -> dict[str, Contract]:
    """Every agency's contract, keyed by agency, in a stable order."""
    found = {}
    for path in sorted(CONTRACT_DIR.glob("*.yaml")):
        if path.name == "codes.yaml":
            continue
        contract = load_contract(path)
        if contract.agency != path.stem:
            raise ContractError(f"{path.name}: agency {contract.agency!r} must match the file name")
        found[contract.agency] = contract
    return found


@cache
def labels(list_name: str) -> dict[str, str]:
    """A code list as code -> label (shared: do not modify)."""
    return {code: entry.label for code, entry in code_lists()[list_name].items()}


@cache
def sensitive_codes(list_name: str) -> tuple[str, ...]:
    """The codes of a code list flagged sensitive (e.g. sexual health and CAMHS contacts)."""
    return tuple(code for code, entry in code_lists()[list_name].items() if entry.sensitive)


def agencies() -> list[str]:
    return list(contracts())
