"""run_kit: the whole conformance run for one adapter, as a Python API (pytest) and for the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from hub.domain.clock import Clock, SystemClock
from hub.integration.contract import Adapter, AdapterContext, AdapterError, ConfigurationError
from hub.integration.registry import discover
from hub.mappings import MappingError, MappingErrors, load_catalogue
from hub.settings import REPO_ROOT, CaseScope, Settings, load_settings_file  # noqa: F401  (the kit's public name: integration_kit.load_settings_file)
from integration_kit.peer import PeerControl
from integration_kit.report import KitReport
from integration_kit.scenarios import SampleCases, Scenarios
from integration_kit.static import check_contract, check_mappings, settings_errors

DESTINATION = "kit"


def default_mappings_dir() -> Path:
    """The mappings the hub itself would load: HUB_MAPPINGS_DIR or the config file's
    `mappings_dir` when set, else the installed hub's mappings/. The kit checks a new county
    file in the folder the hub will read it from, not in a copy beside it."""
    configured = os.environ.get("HUB_MAPPINGS_DIR")
    if configured:
        return Path(configured)
    if os.environ.get("HUB_CONFIG_FILE"):
        return Settings().mappings_dir
    return REPO_ROOT / "mappings"


def run_kit(
    adapter_name: str,
    settings: dict[str, Any],
    peer: PeerControl | None,
    *,
    mappings_dir: Path | None = None,
    clock: Clock | None = None,
    available: dict[str, type[Adapter]] | None = None,
    settings_source: str = "settings",
    settings_lines: dict[tuple, int] | None = None,
    events: list[str] | None = None,
    division: str | None = None,
    unit: str | None = None,
    category: str | None = None,
    cases: CaseScope | dict[str, Any] | None = None,
) -> KitReport:
    """Check the adapter registered as `adapter_name` and, with a peer, drive the scenarios.

    `available` replaces entry-point discovery (a test's own classes); `peer=None` runs
    only the static checks. `events`, `division`, `unit` and `category` shape the sample
    cases for an adapter that routes (e.g. a county takes only its own units' cases and some
    event types; a repair desk only its categories). `cases` is the destination's `cases:`
    scope: the samples then are cases the hub would route to it (its first category, unit
    and division, unless given). Never raises for anything the adapter does: it is all in
    the report.
    """
    report = KitReport(adapter_name)
    mappings_dir = mappings_dir or default_mappings_dir()
    contract = report.check("contract")
    try:
        found = available if available is not None else discover()
    except ConfigurationError as exc:
        contract.fail(str(exc))
        return report
    cls = found.get(adapter_name)
    if cls is None:
        contract.fail(
            f"no adapter named {adapter_name!r} in entry-point group 'hotline_hub.adapters'; installed: "
            f"{', '.join(sorted(found)) or 'none'} (did you `pip install -e` your package?)"
        )
        return report
    check_contract(cls, contract)
    if not contract.ok:
        report.skip("settings", "not run: fix the contract first")
        return report

    settings_check = report.check("settings")
    errors = settings_errors(cls.settings_model, settings, settings_source, settings_lines)
    for problem in errors:
        settings_check.fail(problem)
    if errors:
        return report
    validated = cls.settings_model.model_validate(settings)

    mapping_check = report.check("mappings")
    try:
        catalogue = load_catalogue(mappings_dir)
    except MappingError as exc:
        for e in exc.errors if isinstance(exc, MappingErrors) else [exc]:
            mapping_check.fail(f"the hub's own catalogue: {MappingError.__str__(e)}")
        return report
    check_mappings(cls, validated, mappings_dir, catalogue, mapping_check)

    if peer is None:
        report.skip("scenarios", "not run: no peer given (CLI: --peer URL of a peer with the /_kit endpoints)")
        return report
    clock = clock or SystemClock()
    try:
        scope = CaseScope.model_validate(cases) if isinstance(cases, dict) else cases or CaseScope()
        division = division or next((d for p in scope.divisions for d in sorted(catalogue.divisions) if d.startswith(p)), None)
        samples = SampleCases(
            catalogue,
            clock.now(),
            DESTINATION,
            division=division,
            unit=unit or next(iter(scope.units), None),
            events=events,
            category=category or next(iter(scope.categories), None),
        )
    except (ValueError, StopIteration, ValidationError) as exc:
        report.check("scenarios").fail(f"cannot build sample cases: {exc}")
        return report
    build = report.check("build")
    try:
        adapter = cls(validated, AdapterContext(destination=DESTINATION, clock=clock, mappings_dir=mappings_dir))
    except AdapterError as exc:
        build.fail(f"{cls.__name__}(settings, context) raised {type(exc).__name__}: {exc}")
        return report
    except Exception as exc:  # noqa: BLE001 - the integrator's constructor may fail any way; name it
        build.fail(f"{cls.__name__}(settings, context) raised {type(exc).__name__}: {exc}; a bad setting or mapping must raise ConfigurationError")
        return report
    try:
        Scenarios(adapter, peer, samples, catalogue, report).run_all()
    finally:
        try:
            adapter.close()
        except Exception as exc:  # noqa: BLE001
            report.check("close").fail(f"close() raised {type(exc).__name__}: {exc}")
    return report


def address_mismatch(settings: Any, peer_url: str) -> str | None:
    """What to say when no http(s) address in the adapter's settings is the peer's (scheme,
    host, port): the adapter then sends somewhere the kit does not look, and every scenario
    fails for a reason the report cannot see. None when one matches or there is none."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            found.append(value)

    walk(settings)
    peer = httpx.URL(peer_url)

    def origin(url: httpx.URL) -> tuple[str, str, int | None]:
        return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)

    addresses = []
    for value in found:
        try:
            addresses.append((value, httpx.URL(value)))
        except httpx.InvalidURL:
            continue
    if not addresses or any(origin(url) == origin(peer) for _, url in addresses):
        return None
    shown = ", ".join(v for v, _ in addresses)
    return (
        f"the settings send to {shown} but --peer is {peer_url}: the kit controls and reads the peer at --peer, so "
        "the scenarios see nothing the adapter sent elsewhere (fine only if that address forwards to the peer)"
    )
