"""The bridge and sub-centre parts of mappings/legacy/lines.yaml, checked at start with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.legacy_hotlines.config import MergeMode, bridge_destination, bridge_gaps, load_legacy
from hub.mappings import MappingError, load_catalogue
from hub.settings import DestinationConfig

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "legacy").mkdir()
    for f in (MAPPINGS / "legacy").glob("*.yaml"):
        (tmp_path / "legacy" / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def _load_with(folder: Path, old: str, new: str):  # noqa: ANN202
    lines = folder / "legacy" / "lines.yaml"
    text = lines.read_text(encoding="utf-8")
    assert old in text
    lines.write_text(text.replace(old, new), encoding="utf-8")
    return load_legacy(folder, load_catalogue(MAPPINGS))


def test_the_sample_config_has_a_soap_line_and_a_rest_line(folder: Path) -> None:
    config = load_legacy(folder, load_catalogue(MAPPINGS))
    assert config.line("12320").bridge.transport == "soap" and config.line("12315").bridge.transport == "rest"
    assert [e.line for e in config.sub_centre_lines()] == ["12369"] and config.sub_centre.interval_seconds == 10


def test_every_shipped_parallel_line_hears_how_a_shared_case_goes_on(folder: Path) -> None:
    """A case the line holds (it came from the line, or went over on case.accepted) is shared:
    the line must hear who handles it, the answer, every way it can end, and a redo."""
    config = load_legacy(folder, load_catalogue(MAPPINGS))
    parallel = [e for e in config.lines.values() if e.mode is MergeMode.PARALLEL]
    assert {e.line for e in parallel} == {"12315", "12320"}
    needed = {
        "case.dispatched",
        "case.redispatched",
        "case.replied",
        "case.answered",
        "case.redo",
        "case.closed",
        "case.rejected",
        "case.transferred",
        "case.merged",
    }
    for entry in parallel:
        assert needed <= set(entry.bridge.status_events), entry.line
        assert entry.bridge.events == ["case.accepted"]
        # Not the units' inner steps nor the centre's supervision flags: the line does not run them.
        assert not {"case.signed_off", "case.progress_reported", "case.warned", "case.overdue"} & set(entry.bridge.status_events)


def test_a_parallel_line_without_a_bridge_destination_is_named(folder: Path) -> None:
    config = load_legacy(folder, load_catalogue(MAPPINGS))
    rest = DestinationConfig(adapter="legacy_bridge", settings={"line": "12315", "base_url": "http://line.invalid"})
    assert set(bridge_gaps(config, {})) == {"12315", "12320"}  # the embedded default: no destinations at all
    gaps = bridge_gaps(config, {"line12315": rest, "other": DestinationConfig(adapter="webhook", settings={"line": "12320"})})
    assert list(gaps) == ["12320"] and "no legacy_bridge destination with line '12320'" in gaps["12320"]
    off = bridge_gaps(config, {"line12315": rest, "line12320": DestinationConfig(adapter="legacy_bridge", enabled=False, settings={"line": "12320"})})
    assert off == {"12320": "its destination line12320 is disabled"}
    assert bridge_destination({"line12315": rest}, "12315") == "line12315"
    assert bridge_destination({"line12315": rest}, "12320") is None


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("transport: soap", "transport: ftp", "transport"),
        ("status_events: [case.dispatched,", "status_events: [case.teleported,", "unknown event type(s) case.teleported"),
        ("status_events: [case.dispatched,", "status_events: [case.accepted,", "cannot both send a case over and push"),
        ("interval_seconds: 10", "interval_seconds: 0", "interval_seconds"),
    ],
)
def test_bad_bridge_settings_stop_the_start_with_file_and_line(folder: Path, old: str, new: str, words: str) -> None:
    with pytest.raises(MappingError) as err:
        _load_with(folder, old, new)
    assert "lines.yaml" in str(err.value) and words in str(err.value) and err.value.line is not None


def test_two_sub_centres_cannot_share_a_category(folder: Path) -> None:
    extra = '  - line: "12319"\n    name_zh: 城管热线\n    mode: 设分中心\n    categories: ["0403"]\n    sub_centre_unit: ZY-ZJJ\n'
    (folder / "legacy" / "12319.yaml").write_text(
        (folder / "legacy" / "12369.yaml").read_text(encoding="utf-8").replace('line: "12369"', 'line: "12319"'), encoding="utf-8"
    )
    lines = folder / "legacy" / "lines.yaml"
    lines.write_text(lines.read_text(encoding="utf-8") + extra, encoding="utf-8")
    with pytest.raises(MappingError, match="0403 overlaps sub-centre line 12369"):
        load_legacy(folder, load_catalogue(MAPPINGS))
