"""Features plug into the hub here, so the core never imports them.

A feature is a module with a `feature` object that may
- add event sinks (called inside the case transaction, e.g. the outbox writing messages),
- add API routers,
- add background workers (started by `serve` on the embedded default),
- add CLI commands,
- import its SQLAlchemy models (so migrations and the drift test see its tables).
"""

from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hub.container import Hub

# Module paths, each exposing `feature`. Order is the order of installation.
FEATURES: list[str] = [
    "outbox.feature",
    "integration_kit.feature",
    "adapters.county.feature",
    "adapters.province.feature",
    "knowledge.feature",
    "supervision.feature",
    "adapters.legacy_hotlines.feature",
    "records.feature",
    "sandbox.feature",
]


class Worker(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Feature(Protocol):
    name: str

    def install(self, hub: "Hub") -> None:
        """Add sinks (hub.cases.sinks), routers (hub.routers) and workers (hub.workers)."""
        ...

    def add_cli(self, sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
        """Add subcommands to `hotline-hub`; each sets `func(args) -> int`."""
        ...


def load_features() -> list[Feature]:
    return [importlib.import_module(path).feature for path in FEATURES]
