"""The kit's mapping coverage for the province and legacy bridge adapters: a shipped file
that loses a row, or names a code the hub does not know, is reported with file, line and
code, from the tables each adapter declares (mapping_tables)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from integration_kit import run_kit

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def mappings(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


def _drop(file: Path, fragment: str) -> None:
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if fragment not in line]
    assert len(kept) == len(lines) - 1, f"{fragment!r} is not on exactly one line of {file}"
    file.write_text("".join(kept), encoding="utf-8")


def _line_of(file: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1) if fragment in line)


def test_the_shipped_province_and_legacy_files_cover_the_hubs_codes() -> None:
    for adapter, settings in (
        ("province", {"endpoint": "http://127.0.0.1:9/soap"}),
        ("legacy_bridge", {"line": "12315", "base_url": "http://127.0.0.1:9"}),
        ("legacy_bridge", {"line": "12320", "base_url": "http://127.0.0.1:9"}),
    ):
        report = run_kit(adapter, settings, None)
        assert report.ok and report.get("mappings").status == "passed", report.render(verbose=True)


def test_province_gaps_and_unknown_codes_are_named(mappings: Path) -> None:
    folder = mappings / "province"
    _drop(folder / "units.yaml", "hub: ZY-GD,")
    _drop(folder / "categories.yaml", 'hub: "13"')
    _drop(folder / "statuses.yaml", "event: case.redo,")
    urgencies = folder / "codes.yaml"
    urgencies.write_text(urgencies.read_text(encoding="utf-8").replace("{hub: critical,", "{hub: dire,"), encoding="utf-8")
    report = run_kit("province", {"endpoint": "http://127.0.0.1:9/soap"}, None, mappings_dir=mappings)
    assert report.get("mappings").problems == [
        f"{folder / 'codes.yaml'}: no mapping for 1 urgencies code(s) (see hub.domain.model.Urgency): critical",
        f"{folder / 'codes.yaml'}:{_line_of(urgencies, 'dire')}: urgencies code 'dire' is not known to the hub (see hub.domain.model.Urgency)",
        f"{folder / 'statuses.yaml'}: no mapping for 1 event_types code(s) (see hub.domain.events.EVENT_TYPES): case.redo",
        f"{folder / 'categories.yaml'}: no mapping for 1 categories code(s) (see mappings/categories.yaml): 13",
        f"{folder / 'units.yaml'}: no mapping for 1 units code(s) (see mappings/units.yaml (active units)): ZY-GD",
    ]


def test_legacy_line_gaps_and_unknown_codes_are_named(mappings: Path) -> None:
    file = mappings / "legacy" / "12315.yaml"
    _drop(file, '"05": "0205"')
    file.write_text(file.read_text(encoding="utf-8").replace('"04": "0204"', '"04": "0299"'), encoding="utf-8")
    report = run_kit("legacy_bridge", {"line": "12315", "base_url": "http://127.0.0.1:9"}, None, mappings_dir=mappings)
    assert report.get("mappings").problems == [
        f"{file}: no mapping for 2 categories code(s) (see mappings/categories.yaml): 0204, 0205",
        f"{file}:{_line_of(file, '0299')}: entry '04': categories code '0299' is not known to the hub (see mappings/categories.yaml)",
    ]
    notes = report.get("mappings").notes
    assert (
        f"{file}: request_types via codes.request_type (values), 4 code(s) mapped; not mapped, allowed: help, praise, "
        "other (a request type the line has no code for is left out of what is sent)" in notes
    )


def test_a_bridge_for_a_line_that_is_not_configured_is_named(mappings: Path) -> None:
    report = run_kit("legacy_bridge", {"line": "12999", "base_url": "http://127.0.0.1:9"}, None, mappings_dir=mappings)
    assert report.get("mappings").problems == [
        f"LegacyBridgeAdapter.mapping_tables() raised ConfigurationError: {mappings / 'legacy' / 'lines.yaml'}: "
        "no line '12999'; configured: 12315, 12320, 12333, 12369"
    ]
