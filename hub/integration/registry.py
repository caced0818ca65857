"""Adapters are found through entry points (group `hotline_hub.adapters`) and built from
their settings model; anything wrong is said with the destination, the field and why."""

from __future__ import annotations

import inspect
import typing
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from hub.integration.contract import Adapter, AdapterContext, AdapterSettings, ConfigurationError

GROUP = "hotline_hub.adapters"

# The methods an adapter must override, with the parameters the hub calls them with.
REQUIRED = {"deliver": ["self", "message"], "health": ["self"]}
PULL = {"pull": ["self", "cursor"], "acknowledge": ["self", "item", "case_number"]}


def discover() -> dict[str, type[Adapter]]:
    found: dict[str, type[Adapter]] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # an integrator's broken package must not hide the others
            hint = ""
            if isinstance(exc, (AttributeError, ModuleNotFoundError)):
                # The entry point is read from the installed metadata, not from pyproject.toml.
                hint = (
                    f"; the installed entry point still names {ep.value}: after renaming the class or module "
                    "(or changing the entry point in pyproject.toml), run `pip install -e .` in the adapter's "
                    "package again"
                )
            raise ConfigurationError(f"adapter entry point {ep.name!r} ({ep.value}) failed to import: {exc}{hint}") from exc
        found[ep.name] = cls
    return found


def contract_problems(cls: Any) -> list[str]:
    """Every way `cls` breaks the contract, in words; empty when it conforms."""
    problems: list[str] = []
    if not (inspect.isclass(cls) and issubclass(cls, Adapter)):
        return [f"{cls!r} is not a subclass of hub.integration.contract.Adapter"]
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        problems.append(f"{cls.__name__}.name must be a non-empty string")
    settings_model = getattr(cls, "settings_model", None)
    if not (inspect.isclass(settings_model) and issubclass(settings_model, AdapterSettings)):
        problems.append(f"{cls.__name__}.settings_model must subclass AdapterSettings")
    required = dict(REQUIRED)
    if cls.supports_pull:
        required.update(PULL)
    for method, params in required.items():
        impl = getattr(cls, method, None)
        if impl is None or getattr(impl, "__isabstractmethod__", False) or impl is getattr(Adapter, method, None):
            problems.append(f"{cls.__name__}.{method}() is not implemented")
            continue
        got = list(inspect.signature(impl).parameters)
        if got != params:
            problems.append(f"{cls.__name__}.{method}{tuple(got)} does not match the contract {tuple(params)}")
    return problems


def settings_errors(model: type[BaseModel], raw: Any, source: str | None = "settings", lines: dict[tuple, int] | None = None, prefix: tuple = ()) -> list[str]:
    """'<source>:<line>: <field>: why' for every invalid field; empty when the settings validate.

    `lines` maps key paths of the settings file to their lines; `prefix` is where `raw` sits in
    that file (the hub's settings: ("destinations", <name>, "settings")), so a field is named
    by its whole path and an error lands on the nearest line the file has for it. The kit and
    the hub's start both say a bad setting this way."""
    if not isinstance(raw, dict):
        where = f"{source}: " if source else ""
        return [f"{where}{'.'.join(map(str, prefix)) or 'the settings'} must be a mapping of field: value, got {type(raw).__name__}"]
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        return describe_errors(model, exc.errors(), source, lines, prefix)
    return []


def describe_errors(
    model: type[BaseModel], errors: list[Any], source: str | None = None, lines: dict[tuple, int] | None = None, prefix: tuple = ()
) -> list[str]:
    out = []
    for err in errors:
        path = (*prefix, *err["loc"])
        name = ".".join(map(str, path)) or "(top level)"
        msg = {"missing": "required field is missing", "extra_forbidden": "unknown field"}.get(err["type"], err["msg"])
        where = _where(source, lines, path)
        if err["type"] == "extra_forbidden":
            valid = _valid_keys(model, tuple(err["loc"])[:-1])
            shown = f"; valid keys: {', '.join(valid)}" if valid else ""
        elif err["type"] == "missing":
            shown = ""
        elif _is_secret(model, err["loc"]):
            shown = " (the value is not shown: a secret)"
        else:
            shown = f" (got {err.get('input')!r})"
        out.append(f"{where}{name}: {msg}{shown}")
    return out


def _valid_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names of the model found at `loc` inside `model` (through nested models and
    dict[str, Model] values), so an unknown key is answered with the keys that would do."""
    current: Any = model
    for part in loc:
        if inspect.isclass(current) and issubclass(current, BaseModel):
            if str(part) not in current.model_fields:
                return []
            try:
                current = typing.get_type_hints(current)[str(part)]  # resolves forward references
            except (NameError, TypeError):  # a name only the model's own module could resolve
                current = current.model_fields[str(part)].annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return []
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if typing.get_origin(current) is not dict and len(args) == 1:  # Model | None
            current = args[0]
    if inspect.isclass(current) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def holds_secret(annotation: Any) -> bool:
    """SecretStr, or a type with SecretStr in it (SecretStr | None)."""
    return annotation is SecretStr or any(holds_secret(a) for a in typing.get_args(annotation))


def _is_secret(model: type[BaseModel], loc: tuple) -> bool:
    field = model.model_fields.get(str(loc[0])) if loc else None
    return field is not None and holds_secret(field.annotation)


def build_adapter(
    destination: str,
    adapter_name: str,
    raw_settings: dict[str, Any],
    context: AdapterContext,
    available: dict[str, type[Adapter]] | None = None,
    *,
    source: str | None = None,
    lines: dict[tuple, int] | None = None,
) -> Adapter:
    """The destination's adapter, built from its validated settings.

    `source` and `lines` (the hub's settings file and the line of each key path in it) let
    every refusal point at the file and line; without them the key path alone is named."""
    available = available if available is not None else discover()
    cls = available.get(adapter_name)
    key = ("destinations", destination)
    at = _where(source, lines, (*key, "adapter"))
    if cls is None:
        raise ConfigurationError(
            f"destination {destination!r}: {at}destinations.{destination}.adapter: no adapter named "
            f"{adapter_name!r}; installed: {', '.join(sorted(available)) or 'none'}"
        )
    problems = contract_problems(cls)
    if problems:
        raise ConfigurationError(
            f"destination {destination!r}: {at}destinations.{destination}.adapter: adapter {adapter_name!r} breaks the contract: " + "; ".join(problems)
        )
    try:
        settings = cls.settings_model.model_validate(raw_settings)
    except ValidationError as exc:
        errors = describe_errors(cls.settings_model, exc.errors(), source, lines, (*key, "settings"))
        raise ConfigurationError(f"destination {destination!r}: bad settings: " + "; ".join(errors)) from None
    return cls(settings, context)


def _where(source: str | None, lines: dict[tuple, int] | None, path: tuple) -> str:
    """'file:line: ' of the deepest part of `path` the file has, 'file: ' without a line, '' without a file."""
    line = next((lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in lines), None) if lines else None
    return f"{source}:{line}: " if source and line else f"{source}: " if source else ""
