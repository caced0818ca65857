"""The destinations, checked when the hub starts: every enabled one's adapter is found by its
entry point, its settings validated and the adapter built (which loads its mapping files),
then closed again. A bad destination stops the start with one message that names it, the
settings file and line, the field and why, instead of surfacing hours later in the relay
as failed deliveries. A disabled destination is not checked: `enabled: false` is how an
operator starts the hub without a destination that is being fixed.
"""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path

from hub.domain.clock import Clock
from hub.domain.events import EVENT_TYPES
from hub.integration.contract import Adapter, AdapterContext, ConfigurationError, PermanentError, TransientError
from hub.integration.registry import _where, build_adapter, discover
from hub.mappings import Catalogue, MappingError
from hub.settings import Settings, config_file, load_settings_file

log = logging.getLogger("hub.integration")

EMITTED = sorted(EVENT_TYPES.values())


class DestinationErrors(ConfigurationError):
    """Every misconfigured destination at once, so an operator fixes them in one pass."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        return f"{len(self.problems)} destinations are misconfigured:\n" + "\n".join(f"  {p}" for p in self.problems)


def check_destinations(
    settings: Settings, clock: Clock, *, config: Path | None = None, available: dict[str, type[Adapter]] | None = None, catalogue: Catalogue | None = None
) -> None:
    """Build and close every enabled destination's adapter; raise DestinationErrors naming
    each one that cannot be built or whose `cases.categories` names a code the catalogue
    lacks (when `catalogue` is given). `config` is the settings file the destinations were
    read from (default: HUB_CONFIG_FILE), for file and line in the messages."""
    enabled = {name: d for name, d in settings.destinations.items() if d.enabled}
    if not enabled:
        return
    for warning in subscription_warnings(settings):
        log.warning("%s", warning)
    source, lines = _file_lines(config if config is not None else config_file())
    try:
        available = available if available is not None else discover()
    except ConfigurationError as exc:  # an installed adapter package that fails to import
        raise DestinationErrors([str(exc)]) from None
    problems: list[str] = []
    if catalogue is not None:
        problems.extend(scope_problems(settings, catalogue, source, lines))
    for name, destination in enabled.items():
        in_file = lines is not None and ("destinations", name) in lines
        context = AdapterContext(destination=name, clock=clock, mappings_dir=settings.mappings_dir)
        try:
            adapter = build_adapter(
                name, destination.adapter, destination.settings, context, available, source=source if in_file else None, lines=lines if in_file else None
            )
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


def scope_problems(settings: Settings, catalogue: Catalogue, source: str | None = None, lines: dict[tuple, int] | None = None) -> list[str]:
    """Each category in an enabled destination's `cases:` scope that the catalogue lacks, with
    file and line when the destination is in the settings file (`source`, `lines`)."""
    out: list[str] = []
    for name, destination in settings.destinations.items():
        if destination.enabled:
            in_file = lines is not None and ("destinations", name) in lines
            out.extend(_unknown_categories(name, destination.cases.categories, catalogue, source if in_file else None, lines if in_file else None))
    return out


def _unknown_categories(name: str, codes: list[str], catalogue: Catalogue, source: str | None, lines: dict[tuple, int] | None) -> list[str]:
    out = []
    for i, code in enumerate(codes):
        if code not in catalogue.categories:
            at = _where(source, lines, ("destinations", name, "cases", "categories", i))
            out.append(
                f"destination {name!r}: {at}destinations.{name}.cases.categories[{i}]: no category {code!r} "
                "in mappings/categories.yaml (give an item code such as '0105' or a group such as '01')"
            )
    return out


def subscription_warnings(settings: Settings) -> list[str]:
    """What an operator must hear about an enabled destination's subscriptions at the start:
    no `events:` at all (it receives nothing from the outbox; a destination the hub only
    pulls from may mean it), and each pattern that matches no event type the hub emits
    (`cases.*`, `case.dispatch`), which routes nothing."""
    out: list[str] = []
    for name, destination in settings.destinations.items():
        if not destination.enabled:
            continue
        if not destination.events and name == settings.channels.sms_destination:
            continue  # the channels feature queues the citizen's SMS itself (channels/sms.py), not by subscription
        wechat = settings.channels.wechat
        if not destination.events and wechat is not None and name == wechat.destination:
            continue  # nor its WeChat template messages (channels/wechat_push.py)
        if not destination.events:
            out.append(
                f"destination {name!r} subscribes to no events (no `events:`): the outbox sends it nothing. "
                f'Add e.g. `events: ["case.*"]` (every case event) unless the hub only pulls from it'
            )
            continue
        for pattern in destination.events:
            if not any(fnmatch.fnmatchcase(t, pattern) for t in EMITTED):
                out.append(
                    f"destination {name!r}: events pattern {pattern!r} matches no event type the hub emits "
                    f"(hub.domain.events.EVENT_TYPES: {', '.join(EMITTED)})"
                )
    return out


def _file_lines(path: Path | None) -> tuple[str | None, dict[tuple, int] | None]:
    if path is None or not path.is_file():
        return None, None
    _, lines = load_settings_file(path)
    return str(path), lines
