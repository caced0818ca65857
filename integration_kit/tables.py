"""The optional contract extension for mapping files: an adapter declares its tables once,
loads them with `load_tables` at start, and the kit checks the same declaration.

    class MyAdapter(Adapter[MySettings]):
        @classmethod
        def mapping_tables(cls, settings: MySettings, mappings_dir: Path) -> list[MappingTable]:
            return [MappingTable(file=mappings_dir / "my_system" / "codes.yaml", model=MyCodes,
                                 kind="categories", entries="categories", hub_field="hub")]

Each table says which of the hub's code sets (`kind`) a list in the file translates, where
that list is (`entries`, dotted), which field holds the hub's code (`hub_field`; for a
dict its keys, or its values with `hub_in="values"`) and how much of the set it must cover
(`cover`, with `cover_reason` saying why less than all is enough).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from hub.domain.events import EVENT_TYPES
from hub.domain.model import CaseState, Channel, PersonKind, Satisfaction, Urgency
from hub.integration.contract import Adapter, ConfigurationError
from hub.mappings import Catalogue, LoadedMapping, MappingError, MappingErrors, load_catalogue, load_yaml_mapping

# The hub's code sets a mapping may translate, and where an integrator reads them.
KINDS: dict[str, str] = {
    "request_types": "mappings/request_types.yaml",
    "categories": "mappings/categories.yaml",
    "divisions": "mappings/divisions.yaml",
    "units": "mappings/units.yaml (active units)",
    "event_types": "hub.domain.events.EVENT_TYPES",
    "urgencies": "hub.domain.model.Urgency",
    "states": "hub.domain.model.CaseState",
    "channels": "hub.domain.model.Channel",
    "satisfactions": "hub.domain.model.Satisfaction",
    "person_kinds": "hub.domain.model.PersonKind",
}

Cover = Literal["all", "leaves", "none"]


@dataclass(frozen=True)
class MappingTable:
    file: Path
    model: type[BaseModel]
    kind: str
    entries: str
    hub_field: str = "hub"
    # "all": every hub code must be mapped; "leaves": categories without children (a parent
    # is never put on a case by a well-kept catalogue); "none": partial is fine, only unknown
    # codes are errors; a set: exactly these codes must be mapped (e.g. one county's units).
    cover: Cover | frozenset[str] = "all"
    entry_key: str | None = None  # field naming an entry in messages; hub_field when None
    hub_in: Literal["keys", "values"] = "keys"  # a dict: which side holds the hub's codes (the other is the peer's)
    cover_reason: str | None = None  # why a cover short of "all" is enough; the kit's report shows it

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"MappingTable.kind {self.kind!r} is not one of {', '.join(KINDS)}")


@dataclass
class TableCoverage:
    table: MappingTable
    missing: list[str] = field(default_factory=list)  # hub codes with no mapping
    unknown: list[str] = field(default_factory=list)  # "file:line: entry ...: hub code 'X' is not ..."
    load_errors: list[str] = field(default_factory=list)
    mapped: int = 0
    unmapped: list[str] = field(default_factory=list)  # hub codes with no mapping that the cover allows

    @property
    def problems(self) -> list[str]:
        out = list(self.load_errors)
        if self.missing:
            out.append(
                f"{self.table.file}: no mapping for {len(self.missing)} {self.table.kind} code(s) (see {KINDS[self.table.kind]}): {', '.join(self.missing)}"
            )
        out.extend(self.unknown)
        return out


def hub_codes(kind: str, catalogue: Catalogue) -> dict[str, str]:
    """code -> label of one of the hub's code sets, in the hub's order."""
    if kind == "request_types":
        return {c: e.name_zh for c, e in catalogue.request_types.items()}
    if kind == "categories":
        return {c: e.name_zh for c, e in catalogue.categories.items()}
    if kind == "divisions":
        return {c: e.name_zh for c, e in catalogue.divisions.items()}
    if kind == "units":
        return {c: e.name_zh for c, e in catalogue.units.items() if e.active}
    if kind == "event_types":
        return {t: action for action, t in EVENT_TYPES.items()}
    enum = {"urgencies": Urgency, "states": CaseState, "channels": Channel, "satisfactions": Satisfaction, "person_kinds": PersonKind}.get(kind)
    if enum is None:
        raise ValueError(f"unknown code kind {kind!r}")
    return {m.value: m.name.lower() for m in enum}


def _required(table: MappingTable, codes: dict[str, str]) -> list[str]:
    if isinstance(table.cover, frozenset):  # in the hub's order, so a report reads the same every run
        return [c for c in codes if c in table.cover] + sorted(c for c in table.cover if c not in codes)
    if table.cover == "none":
        return []
    if table.cover == "leaves" and table.kind == "categories":
        return [c for c in codes if not any(o != c and o.startswith(c) for o in codes)]
    return list(codes)


def _as_code(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def _walk(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        obj = getattr(obj, part) if isinstance(obj, BaseModel) else obj[part]
    return obj


def mapped_codes(doc: LoadedMapping, table: MappingTable) -> list[tuple[str, int | None, str | None]]:
    """(hub code, line, entry name) for every hub code the table's list names."""
    parts = table.entries.split(".")
    container = _walk(doc.model, parts)
    found: list[tuple[str, int | None, str | None]] = []
    if isinstance(container, dict):
        for key, value in container.items():
            code, peer = (_as_code(value), _as_code(key)) if table.hub_in == "values" else (_as_code(key), None)
            found.append((code, doc.line_of((*parts, peer or code)), peer or code))
        return found
    for i, item in enumerate(container):
        value = getattr(item, table.hub_field, None) if isinstance(item, BaseModel) else (item or {}).get(table.hub_field)
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        entry = doc.error((*parts, i), "", entry_key=table.entry_key or table.hub_field).entry
        for j, v in enumerate(values):
            if v is None:
                continue
            loc: tuple[str | int, ...] = (*parts, i, table.hub_field, j) if isinstance(value, (list, tuple)) else (*parts, i, table.hub_field)
            found.append((_as_code(v), doc.line_of(loc), entry))
    return found


def check_table(table: MappingTable, catalogue: Catalogue) -> tuple[TableCoverage, LoadedMapping | None]:
    result = TableCoverage(table)
    try:
        doc = load_yaml_mapping(table.file, table.model, entry_key=table.entry_key or table.hub_field)
    except MappingError as exc:
        errors = exc.errors if isinstance(exc, MappingErrors) else [exc]
        result.load_errors.extend(MappingError.__str__(e) for e in errors)
        return result, None
    try:
        found = mapped_codes(doc, table)
    except (AttributeError, KeyError, TypeError) as exc:
        result.load_errors.append(
            f"{table.file}: entries {table.entries!r} / hub_field {table.hub_field!r} do not match the file's model: {type(exc).__name__}: {exc}"
        )
        return result, doc
    codes = hub_codes(table.kind, catalogue)
    seen = set()
    for code, line, entry in found:
        seen.add(code)
        if code not in codes:
            where = f"{table.file}:{line}" if line else str(table.file)
            who = f"entry {entry!r}: " if entry and entry != code else ""
            result.unknown.append(f"{where}: {who}{table.kind} code {code!r} is not known to the hub (see {KINDS[table.kind]})")
    result.mapped = len(seen)
    result.missing = [c for c in _required(table, codes) if c not in seen]
    result.unmapped = [c for c in codes if c not in seen and c not in result.missing]
    return result, doc


def declared_tables(adapter_cls: type[Adapter], settings: BaseModel, mappings_dir: Path) -> list[MappingTable] | None:
    """The adapter's tables, or None when it does not use the extension (`Adapter.mapping_tables`'
    default)."""
    declared = adapter_cls.mapping_tables(settings, mappings_dir)
    if declared is None:
        return None
    tables = list(declared)
    bad = [t for t in tables if not isinstance(t, MappingTable)]
    if bad:
        raise TypeError(f"{adapter_cls.__name__}.mapping_tables() must return MappingTable objects, got {bad[0]!r}")
    return [t for t in tables if isinstance(t, MappingTable)]


def hook_signature_problem(adapter_cls: type[Adapter]) -> str | None:
    hook = adapter_cls.mapping_tables
    if not inspect.ismethod(hook):
        return f"{adapter_cls.__name__}.mapping_tables must be a classmethod"
    params = list(inspect.signature(hook).parameters)
    if params != ["settings", "mappings_dir"]:
        return f"{adapter_cls.__name__}.mapping_tables{tuple(params)} does not match the extension ('settings', 'mappings_dir')"
    return None


def load_tables(tables: Iterable[MappingTable], mappings_dir: Path, catalogue: Catalogue | None = None) -> dict[Path, Any]:
    """For adapters, at start: load every table, check coverage, return file -> validated model.

    Raises ConfigurationError naming every problem (file, line, code), so the hub's start
    says exactly what a bad or incomplete mapping lacks.
    """
    catalogue = catalogue or load_catalogue(mappings_dir)
    problems: list[str] = []
    models: dict[Path, Any] = {}
    for table in tables:
        coverage, doc = check_table(table, catalogue)
        problems.extend(coverage.problems)
        if doc is not None:
            models[table.file] = doc.model
    if problems:
        raise ConfigurationError("mapping problems:\n  " + "\n  ".join(problems))
    return models
