"""The SOAP template the guide starts from (section B): a copy renamed with the guide's own
commands passes the kit against its sandbox SOAP peer, zeep reads its saved WSDL as the
guide shows, and the code and the failures the guide quotes are the template's.

The copy is not installed into the hub's environment (its entry point would register a
placeholder adapter), so the test imports it from its folder and hands the class to the kit.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import yaml

from integration_kit import HttpPeerControl, load_settings_file, run_kit
from tests.support.live import LiveServer

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "docs" / "templates" / "soap_adapter"
GUIDE = ROOT / "docs" / "integrator-guide.md"
NAME, PACKAGE = "neighbour", "hub_adapter_neighbour"  # what the guide's B2 renames to


def _section_b() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    return text[text.index("## B. A new SOAP system") : text.index("## C. A new county")]


def _step(heading: str) -> str:
    section = _section_b()
    start = section.index(f"### {heading}")
    following = section.find("\n### ", start + 1)
    return section[start : following if following != -1 else None]


def _blocks(text: str, lang: str) -> list[str]:
    """The fenced blocks of one language ("" for plain), with the list-item indentation taken off."""
    found, current, indent, kind = [], None, 0, ""
    for line in text.splitlines():
        fence = re.match(r"^( *)```(\w*)\s*$", line)
        if current is None and fence:
            current, indent, kind = [], len(fence.group(1)), fence.group(2)
        elif current is not None and fence and len(fence.group(1)) == indent and not fence.group(2):
            if kind == lang:
                found.append(textwrap.dedent("\n".join(current)) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return found


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    """B1 and B2, as the guide says them: copy the template, run the rename commands."""
    copy = tmp_path_factory.mktemp("soap") / "hub-adapter-neighbour"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    [commands] = _blocks(_step("B2."), "sh")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=copy, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(copy))
    try:
        from hub_adapter_neighbour import wire
        from hub_adapter_neighbour.adapter import MySoapAdapter
        from hub_adapter_neighbour.peer import PeerState, create_app

        yield copy, MySoapAdapter, create_app, PeerState, wire
    finally:
        sys.path.remove(str(copy))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _example_settings(copy: Path, live: LiveServer) -> dict:
    raw = yaml.safe_load((copy / "settings.example.yaml").read_text(encoding="utf-8"))
    return {**raw, "endpoint": raw["endpoint"].replace("http://127.0.0.1:9100", live.url)}


def test_the_renamed_template_passes_the_kit(renamed) -> None:
    copy, cls, create_app, PeerState, _ = renamed
    leftovers = [
        str(p.relative_to(copy))
        for p in copy.rglob("*")
        if "my_soap" in p.name or (p.is_file() and re.search("my_soap|my-soap", p.read_text(encoding="utf-8")))
    ]
    assert leftovers == []
    project = tomllib.loads((copy / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == "hub-adapter-neighbour"
    assert project["project"]["entry-points"]["hotline_hub.adapters"] == {NAME: f"{PACKAGE}.adapter:MySoapAdapter"}
    assert cls.name == NAME
    state = PeerState()
    with LiveServer(create_app(state)) as live:
        report = run_kit(NAME, _example_settings(copy, live), HttpPeerControl(live.url), available={NAME: cls})
    assert report.complete, report.render(verbose=True)
    first = state.received[state.order[0]]  # as the peer parsed it from the SOAP envelope
    assert (first["Status"], first["Type"], first["Seq"]) == ("new", "3", "1")


def test_zeep_reads_the_saved_wsdl_as_the_guide_shows(renamed) -> None:
    copy, _, _, _, wire = renamed
    [command] = _blocks(_step("B4."), "sh")
    [shown] = _blocks(_step("B4."), "")
    done = subprocess.run(command.replace("../hub/.venv/bin/python", sys.executable), shell=True, cwd=copy, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed = [line.strip() for line in done.stdout.splitlines()]
    assert [line.strip() for line in shown.strip().splitlines() if line.strip() not in printed] == []
    assert f"Soap11Binding: {wire.BINDING}" in printed


def test_the_sandbox_serves_the_wsdl_zeep_can_read(renamed) -> None:
    copy, _, create_app, _, wire = renamed
    with LiveServer(create_app()) as live:
        done = subprocess.run([sys.executable, "-m", "zeep", f"{live.url}/CaseService?wsdl"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"Soap11Binding: {wire.BINDING}" in done.stdout and "SubmitCase(RequestId: xsd:string" in done.stdout


def test_result_codes_from_the_yaml_are_classified(renamed) -> None:
    copy, cls, create_app, PeerState, wire = renamed
    from hub.integration.contract import PermanentError, TransientError

    state = PeerState()
    with LiveServer(create_app(state)) as live:
        settings = cls.settings_model.model_validate(_example_settings(copy, live))
        client = wire.MySoapClient(
            wsdl=settings.wsdl,
            endpoint=str(settings.endpoint),
            username="sandbox",
            password="sandbox-secret",
            results=wire.ResultPolicy(frozenset({"0"}), frozenset({"2001"})),
            timeout=2,
            connect_timeout=1,
        )
        request = {
            "RequestId": "r1",
            "Case": {"CaseNo": "1", "Seq": 1, "Status": "new", "Type": "3", "Title": "t", "Division": "512002", "OccurredAt": "2025-09-26T02:00:00Z"},
        }
        try:
            for mode, error in [("result:2001", TransientError), ("result:1001", PermanentError), ("result:4242", PermanentError)]:
                state.faults.append(mode)
                with pytest.raises(error, match=f"SubmitCase: result code {mode[7:]}"):
                    client.submit_case(request)
            assert client.submit_case(request)["CaseId"]
        finally:
            client.close()


def test_the_failures_the_guide_shows_are_what_the_kit_says(renamed, tmp_path: Path, monkeypatch) -> None:
    copy, cls, create_app, _, wire = renamed
    shown = [line.rstrip() for line in _blocks(_step("B6."), "")[0].splitlines() if line.strip()]
    said = []
    with LiveServer(create_app()) as live:
        # a settings file with a wrong type, as `kit check --settings settings.example.yaml` reads it
        monkeypatch.chdir(tmp_path)
        Path("settings.example.yaml").write_text((copy / "settings.example.yaml").read_text(encoding="utf-8") + "timeout: soon\n", encoding="utf-8")
        raw, lines = load_settings_file(Path("settings.example.yaml"))
        said.append(run_kit(NAME, raw, None, available={NAME: cls}, settings_source="settings.example.yaml", settings_lines=lines).render())
        # a WSDL that is not where the settings say
        settings = {**_example_settings(copy, live), "wsdl": "/etc/hub/neighbour/CaseService.wsdl"}
        said.append(run_kit(NAME, settings, HttpPeerControl(live.url), available={NAME: cls}).render())
        # a wire client that forgot a soap:Server fault is worth a retry
        monkeypatch.setattr(wire, "TRANSIENT_FAULTS", set())
        said.append(run_kit(NAME, _example_settings(copy, live), HttpPeerControl(live.url), available={NAME: cls}).render())
    rendered = "\n".join(said)
    assert [line for line in shown if line not in rendered] == [], rendered


def test_the_code_the_guide_quotes_is_the_templates() -> None:
    source = [line.strip() for p in sorted(TEMPLATE.rglob("*.py")) for line in p.read_text(encoding="utf-8").splitlines()]
    quoted = _blocks(_section_b(), "python")
    assert len(quoted) >= 4
    for block in quoted:
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        assert any(source[i : i + len(lines)] == lines for i in range(len(source))), block


def test_the_template_declares_its_entry_point() -> None:
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["hotline_hub.adapters"] == {"my_soap_system": "my_soap_adapter.adapter:MySoapAdapter"}
