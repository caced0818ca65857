"""The code catalogue: request types, categories, divisions and units from mappings/.

Loaded once when the hub starts. Every problem in the four files (syntax, shape, duplicate
codes, references across files) is collected and reported together with file and line,
so a bad mapping stops the start instead of failing a case at 3 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.domain.model import RequestType
from hub.mappings.loader import LoadedMapping, MappingError, MappingErrors, load_yaml_mapping, raise_all

DivisionCode = Annotated[
    str,
    Field(
        pattern=r"^\d{6}(\d{3})?$",
        description="GB/T 2260 county-level code (6 digits), a township/street code (9 digits, 统计用区划代码), or a locally configured one.",
    ),
]
CategoryCode = Annotated[str, Field(pattern=r"^(\d{2}){1,4}$", description="Hub catalogue code: two digits per level.")]
# Unit codes end up in case rows and API payloads (commands.UnitCode allows 32 characters).
UnitCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$", max_length=32)]
NameZh = Annotated[str, Field(min_length=1, max_length=64)]


class _Entry(BaseModel):
    # Unknown fields are refused: a typo such as `defualt_unit` must not silently vanish.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestTypeEntry(_Entry):
    code: RequestType
    name_zh: NameZh
    description: Annotated[str, Field(min_length=1, max_length=200)]


class Category(_Entry):
    code: CategoryCode
    name_zh: NameZh
    parent: CategoryCode | None
    default_unit: UnitCode | None = None

    @model_validator(mode="after")
    def _code_extends_parent(self) -> Category:
        # The code itself shows the tree, so reports can group by prefix without a join.
        if self.parent is None and len(self.code) != 2:
            raise ValueError(f"a top-level code has 2 digits; {self.code!r} needs a parent")
        if self.parent is not None and not (self.code.startswith(self.parent) and len(self.code) == len(self.parent) + 2):
            raise ValueError(f"code {self.code!r} must be its parent's code {self.parent!r} plus two digits")
        return self


Level = Literal["province", "city", "county", "township"]
_PARENT_LEVEL: dict[str, str | None] = {"province": None, "city": "province", "county": "city", "township": "county"}


class Division(_Entry):
    code: DivisionCode
    name_zh: NameZh
    level: Level
    parent: DivisionCode | None
    official: bool = Field(default=True, description="False for a code configured locally, not in GB/T 2260.")

    @model_validator(mode="after")
    def _province_is_the_root(self) -> Division:
        if (self.level == "province") != (self.parent is None):
            raise ValueError("the province, and only the province, has no parent")
        # 乡镇/街道: 9 digits, its county's 6 and three more; every other level 6 digits.
        if (self.level == "township") != (len(self.code) == 9):
            raise ValueError("a township or street has a 9-digit code, every other level 6 digits")
        if self.level == "township" and not (self.parent and self.code.startswith(self.parent)):
            raise ValueError(f"a township's code starts with its county's: {self.code!r} is not under {self.parent!r}")
        return self


UnitKind = Literal["department", "county_government", "county_department", "public_service", "township_government"]


class Unit(_Entry):
    code: UnitCode
    name_zh: NameZh
    division: DivisionCode
    kind: UnitKind
    parent: UnitCode | None = None
    active: bool = True


class RequestTypesFile(_Entry):
    request_types: list[RequestTypeEntry]


class CategoriesFile(_Entry):
    categories: list[Category]


class DivisionsFile(_Entry):
    divisions: list[Division]


class UnitsFile(_Entry):
    units: list[Unit]


class UnknownCode(Exception):
    """A caller sent a code that is not in the catalogue (or no longer active)."""

    def __init__(self, field: str, code: str, valid_codes_at: str) -> None:
        self.field, self.code, self.valid_codes_at = field, code, valid_codes_at
        super().__init__(f"{field}: unknown code {code!r}; valid codes are in {valid_codes_at}")


def _where(kind: str) -> str:
    return f"mappings/{kind}.yaml, or GET /api/v1/codes/{kind}"


_DIVISION_CODE = re.compile(r"^\d{6}(\d{3}){0,2}$")  # county, township (9) or village (12)


@dataclass(frozen=True)
class Catalogue:
    """Read-only lookups over the validated codes; each miss raises UnknownCode."""

    request_types: Mapping[str, RequestTypeEntry]
    categories: Mapping[str, Category]
    divisions: Mapping[str, Division]
    units: Mapping[str, Unit]

    def division(self, code: str, field: str = "place.division_code") -> Division:
        """The county-level division of a 6-, 9- or 12-digit code."""
        if not isinstance(code, str) or not _DIVISION_CODE.match(code) or code[:6] not in self.divisions:
            raise UnknownCode(field, str(code), _where("divisions"))
        return self.divisions[code[:6]]

    def category(self, code: str, field: str = "category_code") -> Category:
        try:
            return self.categories[code]
        except (KeyError, TypeError):
            raise UnknownCode(field, str(code), _where("categories")) from None

    def unit(self, code: str, field: str = "unit_code") -> Unit:
        """An active unit. An inactive one is kept for history but takes no new cases."""
        unit = self.units.get(code) if isinstance(code, str) else None
        if unit is None or not unit.active:
            raise UnknownCode(field, str(code), _where("units"))
        return unit

    def county_of(self, division_code: str) -> str:
        return self.division(division_code).code

    def units_in_divisions(self, codes: Iterable[str]) -> list[str]:
        """Active units sitting exactly in these divisions (not in their children), file order.

        Exact on purpose: it scopes county keys, and a city code must not grant every county.
        """
        wanted = {self.county_of(c) for c in codes}
        return [u.code for u in self.units.values() if u.active and u.division in wanted]

    def codes(self, kind: str) -> list[dict[str, Any]]:
        table: Mapping[str, BaseModel] | None = {
            "request_types": self.request_types,
            "categories": self.categories,
            "divisions": self.divisions,
            "units": self.units,
        }.get(kind)
        if table is None:
            raise ValueError(f"unknown code kind {kind!r}: request_types, categories, divisions or units")
        return [entry.model_dump(mode="json") for entry in table.values()]


def load_catalogue(directory: Path) -> Catalogue:
    """Load and cross-check the four files; raise MappingError(s) listing every problem."""
    errors: list[MappingError] = []

    def load(name: str, model: type) -> LoadedMapping | None:
        try:
            return load_yaml_mapping(directory / f"{name}.yaml", model)
        except MappingError as exc:
            errors.extend(exc.errors if isinstance(exc, MappingErrors) else [exc])
            return None

    divisions_doc = load("divisions", DivisionsFile)
    units_doc = load("units", UnitsFile)
    categories_doc = load("categories", CategoriesFile)
    request_types_doc = load("request_types", RequestTypesFile)

    divisions = _index(divisions_doc, "divisions", errors)
    units = _index(units_doc, "units", errors)
    categories = _index(categories_doc, "categories", errors)
    request_types = _index(request_types_doc, "request_types", errors)

    # Each check runs only when the files it reads loaded; otherwise it would only echo
    # the load error as a flood of "unknown" references.
    if divisions_doc:
        _check_refs(divisions_doc, "divisions", "parent", divisions, "divisions.yaml", errors, _one_level_up)
    if units_doc and divisions_doc:
        _check_refs(units_doc, "units", "division", divisions, "divisions.yaml", errors)
    if units_doc:
        _check_refs(units_doc, "units", "parent", units, "units.yaml", errors)
        _check_unit_cycles(units_doc, units, errors)
    if categories_doc:
        _check_refs(categories_doc, "categories", "parent", categories, "categories.yaml", errors)
    if categories_doc and units_doc:
        _check_refs(
            categories_doc,
            "categories",
            "default_unit",
            units,
            "units.yaml",
            errors,
            lambda entry, unit: None if unit.active else f"default_unit {unit.code!r} is not active",
        )
    if request_types_doc:
        missing = [t.value for t in RequestType if t not in request_types]
        if missing:
            errors.append(
                request_types_doc.error(
                    ("request_types",), f"missing request types: {', '.join(missing)} (the list must cover hub.domain.model.RequestType exactly)"
                )
            )

    raise_all(errors)
    return Catalogue(MappingProxyType(request_types), MappingProxyType(categories), MappingProxyType(divisions), MappingProxyType(units))


def _index(doc: LoadedMapping | None, key: str, errors: list[MappingError]) -> dict[str, Any]:
    """code -> entry; a repeated code is an error on its second occurrence."""
    if doc is None:
        return {}
    index: dict[str, Any] = {}
    for i, entry in enumerate(getattr(doc.model, key)):
        if entry.code in index:
            first = doc.line_of((key, _position(doc, key, entry.code)))
            errors.append(doc.error((key, i, "code"), f"duplicate code (first at line {first})"))
            continue
        index[entry.code] = entry
    return index


def _position(doc: LoadedMapping, key: str, code: str) -> int:
    return next(i for i, e in enumerate(getattr(doc.model, key)) if e.code == code)


def _check_refs(
    doc: LoadedMapping,
    key: str,
    field: str,
    targets: Mapping[str, Any],
    target_file: str,
    errors: list[MappingError],
    rule: Callable[[Any, Any], str | None] | None = None,
) -> None:
    """Every non-null `field` of every entry names a code in `targets` (and passes `rule`)."""
    for i, entry in enumerate(getattr(doc.model, key)):
        ref = getattr(entry, field)
        if ref is None:
            continue
        target = targets.get(ref)
        if target is None:
            errors.append(doc.error((key, i, field), f"{field} {ref!r} is not a code in {target_file}"))
        elif rule and (problem := rule(entry, target)):
            errors.append(doc.error((key, i, field), problem))


def _one_level_up(entry: Division, parent: Division) -> str | None:
    # Levels step down one at a time; this also makes a parent cycle impossible.
    expected = _PARENT_LEVEL[entry.level]
    if parent.level != expected:
        return f"a {entry.level}'s parent must be a {expected}; {parent.code!r} is a {parent.level}"
    return None


def _check_unit_cycles(doc: LoadedMapping, units: Mapping[str, Unit], errors: list[MappingError]) -> None:
    """Dispatch cascades along parent links; a loop would cascade for ever."""
    for i, unit in enumerate(doc.model.units):
        seen: set[str] = set()
        current = unit.parent
        while current is not None and current in units and current not in seen:
            seen.add(current)
            current = units[current].parent
        if unit.code in seen:  # only units on the loop are named, not those leading into it
            errors.append(doc.error(("units", i, "parent"), "parent chain loops back to this unit"))
