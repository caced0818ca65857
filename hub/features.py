"""Features plug into the hub here, so the core never imports them.

A feature is found through the entry-point group `hotline_hub.features` (pyproject.toml),
the way adapters are found through `hotline_hub.adapters`: the hub's own features and an
integrator's, installed from its own package, alike. Its object may
- add event sinks (called inside the case transaction, e.g. the outbox writing messages),
- add API routers, background workers (started by `serve` on the embedded default) and
  typed handles for other features (`hub.handles`),
- import its SQLAlchemy models (so migrations and the drift test see its tables),
- add CLI commands, which open the hub through the `HubOpener` they are given,
- offer sandbox peers to `hotline-hub sandbox`.
Every hook is declared in `Feature` and has a no-op default in `FeatureBase`: nothing is
looked up by name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    # Only for the annotations: hub.container imports the services, which would make this
    # module (read by every feature at import) drag the whole core in before the features.
    from hub.container import Hub
    from hub.settings import Settings

GROUP = "hotline_hub.features"
DEFAULT_ORDER = 100  # an integrator's feature installs after the hub's own unless it says otherwise


class Worker(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


# -- what a feature may offer the sandbox (`hotline-hub sandbox`) --------------------------
@dataclass(frozen=True)
class PeerUnit:
    """A unit whose work a sandbox peer's system takes (a county's unit): the demo dispatches some cases there."""

    unit: str
    division: str
    area: str  # where its cases are, for the demo's addresses


@dataclass
class Peer:
    """A sandbox peer: its app, where it listens, and the destination config that points the hub at it."""

    name: str
    port: int
    app_factory: Callable[[], Any]
    destination: dict[str, Any] | None = None
    describe: str = ""
    # What the peer's own system does by itself, once per demo round: answer what the hub sent
    # it, push a ticket, take a call. It logs what crossed and returns the cases it brought into
    # the hub as (case number, unit to dispatch it to or None for the demo's usual choice).
    act: Callable[[], list[tuple[str, str | None]]] | None = None
    units: tuple[PeerUnit, ...] = ()
    # Settings the hub needs to talk to this peer, put in the sandbox process's environment only
    # (a signing county's HMAC secret); a variable already set is kept.
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Any], None] | None = None  # called with the built hub before its workers start


class HubOpener(Protocol):
    """A CLI command's way to the hub (hub.runtime.HubOpener, the composition root): built on
    call with the features already loaded, so a command never loads every feature again."""

    def __call__(self, settings: Settings | None = None) -> Hub:
        """Built and, on the embedded SQLite default, migrated (as `serve` does)."""
        ...

    def build(self, settings: Settings | None = None) -> Hub:
        """Built only: the caller migrates if it needs to."""
        ...


@runtime_checkable
class Feature(Protocol):
    name: str
    # Install order, lowest first; ties by name. The hub's own use 10-90 (the outbox first:
    # its routing sink and metrics are there before any other feature adds to them).
    order: int

    def install(self, hub: Hub) -> None:
        """Add sinks (hub.cases.sinks), routers (hub.routers), workers (hub.workers), handles (hub.handles)."""
        ...

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        """Add subcommands to `hotline-hub`; each sets `func(args) -> int` and opens the hub with `hubs()`."""
        ...

    def sandbox_peers(self, base_port: int) -> list[Peer]:
        """Peers `hotline-hub sandbox` starts beside the hub, on ports from base_port."""
        ...


class FeatureBase:
    """Every hook of `Feature` as a no-op: a feature overrides the ones it offers."""

    name: str = ""
    order: int = DEFAULT_ORDER

    def install(self, hub: Hub) -> None:
        return None

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        return None

    def sandbox_peers(self, base_port: int) -> list[Peer]:
        return []


class FeatureError(Exception):
    """A feature entry point that cannot be used: said with its name, so the start stops plainly."""


def load_features(distribution: str | None = None) -> list[Feature]:
    """Every installed feature, in install order (order, then name: deterministic); with
    `distribution`, only those that package ships (the hub's own: "hotline-hub")."""
    found: list[Feature] = []
    for ep in entry_points(group=GROUP):
        if distribution is not None and (ep.dist is None or ep.dist.name != distribution):
            continue
        try:
            feature = ep.load()
        except ImportError as exc:
            raise FeatureError(f"feature entry point {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
        if not isinstance(feature, Feature):
            raise FeatureError(
                f"feature entry point {ep.name!r} ({ep.value}) is not a Feature "
                "(name, order, install, add_cli, sandbox_peers; subclass hub.features.FeatureBase)"
            )
        found.append(feature)
    return sorted(found, key=lambda f: (f.order, f.name))
