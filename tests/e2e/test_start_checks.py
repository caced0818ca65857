"""The hub's start as an operator meets it: a real `hotline-hub serve` or `relay` process with
a settings file that names a bad destination stops at once, exit 2, with one message naming
the destination, the file and line, the field and why; no traceback, no relay retrying a
configuration for hours."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import REPO_ROOT
from tests.support.live import free_port

pytestmark = pytest.mark.e2e

INSTALLED = "county, example_neighbour, example_waterworks, legacy_bridge, province, sms, webhook, wechat"


def _start(args: list[str], config: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HUB_CONFIG_FILE": str(config), **env},
    )


def _config(tmp_path: Path, destinations: str) -> Path:
    config = tmp_path / "hub.yaml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'hub.db'}\ndestinations:\n{destinations}", encoding="utf-8")
    return config


def _said(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_serve_stops_on_a_setting_of_the_wrong_type(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "  sink:\n    adapter: webhook\n    events: ['case.*']\n    settings:\n      url: http://127.0.0.1:9/events\n      timeout: soon\n"
    )
    result = _start(["serve", "--port", str(free_port())], config)
    assert result.returncode == 2
    assert _said(result) == (
        f"hotline-hub: bad configuration: destination 'sink': bad settings: {config}:8: "
        "destinations.sink.settings.timeout: Input should be a valid number, unable to parse "
        "string as a number (got 'soon')"
    )


def test_relay_stops_on_an_adapter_nobody_installed(tmp_path: Path) -> None:
    config = _config(tmp_path, "  sink:\n    adapter: nope\n    events: ['case.*']\n")
    result = _start(["relay"], config)
    assert result.returncode == 2
    assert _said(result) == (
        f"hotline-hub: bad configuration: destination 'sink': {config}:4: destinations.sink.adapter: no adapter named 'nope'; installed: {INSTALLED}"
    )


def test_relay_stops_on_a_bad_mapping_file_of_a_destination_naming_both(tmp_path: Path) -> None:
    """The province adapter loads mappings/province/ when built: the file and line of the
    mapping come with the destination that needs it."""
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", mappings)
    units = mappings / "province" / "units.yaml"
    shipped = units.read_text(encoding="utf-8")
    rows = sum(line.lstrip().startswith("- {hub:") for line in shipped.splitlines())
    text = shipped + '  - {hub: ZY-NOSUCH, province: "SC512000-NOSUCH"}\n'
    units.write_text(text, encoding="utf-8")
    config = _config(tmp_path, "  prov:\n    adapter: province\n    settings: {endpoint: 'http://127.0.0.1:9/soap'}\n")
    result = _start(["relay"], config, HUB_MAPPINGS_DIR=str(mappings))
    assert result.returncode == 2
    assert _said(result) == (
        f"hotline-hub: bad configuration: destination 'prov': {units}:{len(text.splitlines())}: entry 'units[{rows}]': hub: unknown hub code 'ZY-NOSUCH'"
    )


def test_several_bad_destinations_are_said_together_and_a_disabled_one_is_not_checked(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "  sink:\n"
        "    adapter: webhook\n"
        "    settings: {url: 'http://127.0.0.1:9/events', colour: red}\n"
        "  typo:\n"
        "    adapter: webhok\n"
        "  spare:\n"
        "    adapter: nope\n"
        "    enabled: false\n",
    )
    result = _start(["serve", "--port", str(free_port())], config)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-3:] == [
        "hotline-hub: bad configuration: 2 destinations are misconfigured:",
        f"  destination 'sink': bad settings: {config}:5: destinations.sink.settings.colour: unknown field; valid keys: "
        "url, token, connect_timeout, timeout, health_path, system, batch_url, batch_size",
        f"  destination 'typo': {config}:7: destinations.typo.adapter: no adapter named 'webhok'; installed: {INSTALLED}",
    ]


def test_a_hub_setting_of_the_wrong_type_is_named_with_file_and_line_too(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'hub.db'}\noutbox:\n  batch: many\n", encoding="utf-8")
    result = _start(["relay"], config, HUB_PORT="eighty")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-3:] == [
        "hotline-hub: bad settings:",
        "  port: Input should be a valid integer, unable to parse string as an integer (got 'eighty')",  # the environment's
        f"  {config}:3: outbox.batch: Input should be a valid integer, unable to parse string as an integer (got 'many')",
    ]


DESTINATION_KEYS = "adapter, enabled, settings, events, cases, personal_data"


def test_a_misspelt_key_in_a_destination_block_stops_the_start_with_file_line_and_the_valid_keys(tmp_path: Path) -> None:
    config = _config(tmp_path, "  sink:\n    adapter: webhook\n    evnets: ['case.*']\n    settings: {url: 'http://127.0.0.1:9/events'}\n")
    for command in (["serve", "--port", str(free_port())], ["mappings", "check"]):
        result = _start(command, config)
        assert result.returncode == 2, result.stderr
        assert _said(result) == (f"hotline-hub: bad settings: {config}:5: destinations.sink.evnets: unknown field; valid keys: {DESTINATION_KEYS}")


def test_a_destination_without_events_or_with_a_pattern_matching_nothing_is_said_at_the_start(tmp_path: Path) -> None:
    """Such a destination receives nothing: the hub still starts (a destination the hub only
    pulls from may mean it) but warns, and `outbox status` says it subscribes to nothing."""
    config = _config(
        tmp_path,
        "  silent:\n"
        "    adapter: webhook\n"
        "    settings: {url: 'http://127.0.0.1:9/events'}\n"
        "  typo:\n"
        "    adapter: webhook\n"
        "    events: ['cases.*', 'case.replied']\n"
        "    settings: {url: 'http://127.0.0.1:9/events'}\n",
    )
    result = _start(["outbox", "status"], config)
    assert result.returncode == 0, result.stderr
    assert ("destination 'silent' subscribes to no events (no `events:`): the outbox sends it nothing. Add e.g. `events: [\"case.*\"]`") in result.stderr
    assert "destination 'typo': events pattern 'cases.*' matches no event type the hub emits" in result.stderr
    assert "'case.replied'" not in result.stderr
    [silent] = [line for line in result.stdout.splitlines() if line.startswith("silent ")]
    assert "subscribes to nothing" in silent and "flowing" not in silent
    [typo] = [line for line in result.stdout.splitlines() if line.startswith("typo ")]
    assert "subscribes to nothing" not in typo and "flowing" in typo


def test_a_category_the_catalogue_lacks_in_a_scope_stops_the_start_and_mappings_check(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "  gas:\n    adapter: webhook\n    events: ['case.*']\n    cases: {categories: ['0105', '0199']}\n    settings: {url: 'http://127.0.0.1:9/events'}\n",
    )
    for command in (["serve", "--port", str(free_port())], ["mappings", "check"]):
        result = _start(command, config)
        assert result.returncode == 2, result.stderr
        assert _said(result) == (
            f"hotline-hub: bad configuration: destination 'gas': {config}:6: "
            "destinations.gas.cases.categories[1]: no category '0199' in mappings/categories.yaml "
            "(give an item code such as '0105' or a group such as '01')"
        )


def test_serve_stops_on_a_seal_key_that_cannot_open_the_stored_cases(tmp_path: Path) -> None:
    """The callers' names and phones are sealed under person_seal_key (docs/phone-at-rest.md):
    a hub started with another key would fail every read of a case; it refuses to start."""
    from hub.db.migrate import upgrade
    from hub.domain.access import Actor
    from hub.domain.model import CaseDraft, Role
    from hub.runtime import build_hub
    from hub.settings import Settings
    from tests.support.factories import draft

    config = _config(tmp_path, "  {}\n")
    hub = build_hub(Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", data_dir=tmp_path / "var", person_seal_key="the key it was sealed with"))
    try:
        upgrade(hub.db.writer)
        hub.cases.register(CaseDraft.model_validate(draft()), Actor(party="centre-agent", role=Role.AGENT))
    finally:
        hub.close()
    result = _start(["serve", "--port", str(free_port())], config, HUB_PERSON_SEAL_KEY="another key", HUB_DATA_DIR=str(tmp_path / "var"))
    assert result.returncode == 2
    said = _said(result)
    assert said.startswith("hotline-hub: bad configuration: the stored case documents cannot be opened with this person_seal_key")
    assert "hotline-hub db reseal" in said
