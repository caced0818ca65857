"""Adapters are found through entry points (group `hotline_hub.adapters`) and built from
their settings model; anything wrong is said with the destination, the field and why."""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

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
            raise ConfigurationError(f"adapter entry point {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
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
    if getattr(cls, "supports_pull", False):
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


def build_adapter(destination: str, adapter_name: str, raw_settings: dict[str, Any], context: AdapterContext,
                  available: dict[str, type[Adapter]] | None = None) -> Adapter:
    available = available if available is not None else discover()
    cls = available.get(adapter_name)
    if cls is None:
        raise ConfigurationError(f"destination {destination!r}: no adapter named {adapter_name!r}; "
                                 f"installed: {', '.join(sorted(available)) or 'none'}")
    problems = contract_problems(cls)
    if problems:
        raise ConfigurationError(f"destination {destination!r}: adapter {adapter_name!r} breaks the contract: " + "; ".join(problems))
    try:
        settings = cls.settings_model.model_validate(raw_settings)
    except ValidationError as exc:
        where = "; ".join(f"destinations.{destination}.settings.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"destination {destination!r}: bad settings: {where}") from exc
    return cls(settings, context)
