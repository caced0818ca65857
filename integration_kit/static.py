"""The checks that need no peer: the contract, the settings, the mapping files."""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from hub.integration.contract import Adapter, AdapterSettings
from hub.integration.registry import contract_problems, holds_secret, settings_errors  # noqa: F401  (shared with the hub's start)
from hub.mappings import Catalogue
from integration_kit.report import CheckResult
from integration_kit.tables import check_table, declared_tables, hook_signature_problem

# Field names that say "this is a secret": they must be SecretStr so logs and reprs hide them.
SECRET_NAME = re.compile(
    r"(token|secret|password|passwd|credential|api_?key|app_?key|access_?key|private_?key|"
    r"sign(ing)?_?key|client_?key)",
    re.IGNORECASE,
)


def _holds_text(annotation: Any) -> bool:
    """Only text can carry a secret: a flag or a number named `password_digest` is a setting."""
    if annotation in (str, bytes):
        return True
    return any(_holds_text(a) for a in typing.get_args(annotation))


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _nested_models(a)]


def secret_problems(model: type[BaseModel], prefix: str = "", seen: set[type] | None = None) -> list[str]:
    """Every field whose name suggests a secret but whose type is not SecretStr, nested too."""
    seen = seen if seen is not None else set()
    if model in seen:
        return []
    seen.add(model)
    problems = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if SECRET_NAME.search(name) and _holds_text(info.annotation) and not holds_secret(info.annotation):
            problems.append(
                f"settings field {path!r} looks like a secret but is {_type_name(info.annotation)}: "
                "declare it as SecretStr (or SecretStr | None) so it never shows in logs"
            )
        for nested in _nested_models(info.annotation):
            problems.extend(secret_problems(nested, f"{path}.", seen))
    return problems


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def check_contract(cls: Any, result: CheckResult) -> None:
    for problem in contract_problems(cls):
        result.fail(problem)
    if not (inspect.isclass(cls) and issubclass(cls, Adapter)):
        return
    if inspect.isabstract(cls):
        result.fail(f"{cls.__name__} is still abstract: {', '.join(sorted(cls.__abstractmethods__))}")
    init_params = list(inspect.signature(cls.__init__).parameters)
    if init_params[:3] != ["self", "settings", "context"] or len(init_params) > 3:
        result.fail(f"{cls.__name__}.__init__{tuple(init_params)} does not match the contract ('self', 'settings', 'context')")
    settings_model = getattr(cls, "settings_model", None)
    if inspect.isclass(settings_model) and issubclass(settings_model, AdapterSettings):
        if settings_model.model_config.get("extra") != "forbid":
            result.fail(
                f"{settings_model.__name__} allows unknown keys: keep AdapterSettings' extra='forbid' "
                "so a typo in a settings file is an error, not a silent default"
            )
        for problem in secret_problems(settings_model):
            result.fail(problem)
        undocumented = [n for n, f in settings_model.model_fields.items() if not f.description]
        if undocumented:
            result.note(f"fields without a description (documented settings are recommended): {', '.join(undocumented)}")
    if (wrong := hook_signature_problem(cls)) is not None:
        result.fail(wrong)
    result.note(f"{cls.__module__}.{cls.__qualname__}, supports_pull={cls.supports_pull}")


def check_mappings(cls: type[Adapter], settings: BaseModel, mappings_dir: Path, catalogue: Catalogue, result: CheckResult) -> None:
    try:
        tables = declared_tables(cls, settings, mappings_dir)
    except Exception as exc:  # noqa: BLE001 - an integrator's hook may fail any way; the kit reports it
        result.fail(f"{cls.__name__}.mapping_tables() raised {type(exc).__name__}: {exc}")
        return
    if tables is None:
        result.note(
            f"{cls.__name__} declares no mapping_tables(): nothing to check (recommended for any adapter that translates codes; see docs/adapter-contract.md)"
        )
        return
    for table in tables:
        coverage, _ = check_table(table, catalogue)
        for problem in coverage.problems:
            result.fail(problem)
        via = f"{table.entries} ({table.hub_in})" if table.hub_in == "values" else f"{table.entries}.{table.hub_field}"
        text = f"{table.file}: {table.kind} via {via}, {coverage.mapped} code(s) mapped"
        if coverage.unmapped:
            # A partial cover lists what it leaves out; a cover of named codes only counts the rest.
            shown = (
                f"{len(coverage.unmapped)} other code(s) need none"
                if isinstance(table.cover, frozenset)
                else "not mapped, allowed: "
                + ", ".join(coverage.unmapped[:12])
                + (f" and {len(coverage.unmapped) - 12} more" if len(coverage.unmapped) > 12 else "")
            )
            text += f"; {shown}" + (f" ({table.cover_reason})" if table.cover_reason else "")
        result.note(text)
