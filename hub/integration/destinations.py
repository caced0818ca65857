"""The destinations, checked when the hub starts: every enabled one's adapter is found by its
entry point, its settings validated and the adapter built (which loads its mapping files),
then closed again. A bad destination stops the start with one message that names it, the
settings file and line, the field and why, instead of surfacing hours later in the relay
as failed deliveries. A disabled destination is not checked: `enabled: false` is how an
operator starts the hub without a destination that is being fixed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hub.domain.clock import Clock
from hub.integration.contract import Adapter, AdapterContext, ConfigurationError, PermanentError, TransientError
from hub.integration.registry import build_adapter, discover
from hub.mappings import MappingError
from hub.settings import Settings, config_file

log = logging.getLogger("hub.integration")


class DestinationErrors(ConfigurationError):
    """Every misconfigured destination at once, so an operator fixes them in one pass."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        return f"{len(self.problems)} destinations are misconfigured:\n" + "\n".join(f"  {p}" for p in self.problems)


def check_destinations(settings: Settings, clock: Clock, *, config: Path | None = None,
                       available: dict[str, type[Adapter]] | None = None) -> None:
    """Build and close every enabled destination's adapter; raise DestinationErrors naming
    each one that cannot be built. `config` is the settings file the destinations were read
    from (default: HUB_CONFIG_FILE), for file and line in the messages."""
    enabled = {name: d for name, d in settings.destinations.items() if d.enabled}
    if not enabled:
        return
    source, lines = _file_lines(config if config is not None else config_file())
    try:
        available = available if available is not None else discover()
    except ConfigurationError as exc:  # an installed adapter package that fails to import
        raise DestinationErrors([str(exc)]) from None
    problems: list[str] = []
    for name, destination in enabled.items():
        in_file = lines is not None and ("destinations", name) in lines
        context = AdapterContext(destination=name, clock=clock, mappings_dir=settings.mappings_dir)
        try:
            adapter = build_adapter(name, destination.adapter, destination.settings, context, available,
                                    source=source if in_file else None, lines=lines if in_file else None)
        except TransientError as exc:
            # The contract says not to call the peer while building; a peer that is down must
            # not stop the hub either. The relay retries it like any delivery.
            log.warning("destination %s: its adapter could not reach the peer while being built: %s", name, exc)
            continue
        except ConfigurationError as exc:
            problems.append(str(exc) if str(exc).startswith(f"destination {name!r}") else f"destination {name!r}: {exc}")
            continue
        except (MappingError, PermanentError) as exc:
            problems.append(f"destination {name!r}: adapter {destination.adapter!r} could not be built: {exc}")
            continue
        adapter.close()
    if problems:
        raise DestinationErrors(problems)


def _file_lines(path: Path | None) -> tuple[str | None, dict[tuple, int] | None]:
    if path is None or not path.is_file():
        return None, None
    from hub.integration.kit.runner import load_settings_file  # the kit reads settings files the same way

    _, lines = load_settings_file(path)
    return str(path), lines
