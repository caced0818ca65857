"""The template the guide starts from passes the kit as it is (so a copy starts green).

It is not installed into the hub's environment (its entry point would register a
placeholder adapter), so the test imports it from its folder and hands the class to the kit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from integration_kit import HttpPeerControl, run_kit
from tests.support.live import LiveServer

TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "templates" / "adapter"


@pytest.fixture
def template():
    sys.path.insert(0, str(TEMPLATE))
    try:
        from my_adapter.adapter import MyAdapter
        from my_adapter.peer import create_app

        yield MyAdapter, create_app
    finally:
        sys.path.remove(str(TEMPLATE))
        for name in [m for m in sys.modules if m == "my_adapter" or m.startswith("my_adapter.")]:
            del sys.modules[name]


def test_the_template_passes_the_kit(template) -> None:
    cls, create_app = template
    with LiveServer(create_app()) as live:
        report = run_kit("my_system", {"base_url": f"{live.url}/api", "api_token": "sandbox-token"}, HttpPeerControl(live.url), available={"my_system": cls})
    assert report.complete, report.render(verbose=True)


def test_the_template_declares_its_entry_point() -> None:
    import tomllib

    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["hotline_hub.adapters"] == {"my_system": "my_adapter.adapter:MyAdapter"}


def test_the_template_maps_a_409_for_a_duplicate_to_success_with_the_peers_id(template) -> None:
    """A4.3: many systems answer a repeated idempotency key with 409 "already have it". The
    contract treats a duplicate as delivered, so the template's peer answers so and its wire
    client maps it to success, not to a dead letter."""
    import httpx

    from hub.domain.clock import SystemClock
    from hub.integration.contract import AdapterContext
    from hub.mappings import load_catalogue
    from hub.settings import REPO_ROOT
    from integration_kit.scenarios import SampleCases

    cls, create_app = template
    catalogue = load_catalogue(REPO_ROOT / "mappings")
    message = SampleCases(catalogue, SystemClock().now(), "kit").message("5120002025092600001", 0)
    with LiveServer(create_app()) as live:
        settings = cls.settings_model.model_validate({"base_url": f"{live.url}/api", "api_token": "sandbox-token"})
        adapter = cls(settings, AdapterContext("kit", SystemClock(), REPO_ROOT / "mappings"))
        try:
            first = adapter.deliver(message)
            again = httpx.post(
                f"{live.url}/api/cases",
                json={"case_no": message.case_number},
                headers={"Authorization": "Bearer sandbox-token", "Idempotency-Key": message.idempotency_key},
            )
            second = adapter.deliver(message.model_copy(update={"attempt": 2}))
        finally:
            adapter.close()
    assert again.status_code == 409 and again.json() == {"error": "duplicate", "id": "MY-5120002025092600001"}
    assert first.external_ref is not None and second.external_ref == first.external_ref
    assert first.external_ref.external_id == "MY-5120002025092600001"


RENAMED_FIELDS = {  # a template, its package, and fields renamed as A4.1 / B5.2 would rename them
    "adapter": ("my_adapter", {"settings.base_url": "settings.endpoint", "settings.api_token": "settings.key", "base_url:": "endpoint:", "api_token:": "key:"}),
    "soap_adapter": ("my_soap_adapter", {"settings.endpoint": "settings.service_url", "    endpoint:": "    service_url:", "\nendpoint:": "\nservice_url:"}),
}


@pytest.mark.parametrize("template_name", sorted(RENAMED_FIELDS))
def test_the_templates_own_test_reads_the_example_settings_so_it_survives_a_renamed_field(tmp_path: Path, template_name: str) -> None:
    """A4.1 (B5.2) changes the settings model; the conformance test must follow
    settings.example.yaml (which `kit check --settings` reads too) instead of the template's
    own field names."""
    import os
    import shutil
    import subprocess
    import tomllib

    package, renames = RENAMED_FIELDS[template_name]
    copy = tmp_path / template_name
    shutil.copytree(TEMPLATE.parent / template_name, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for name in (f"{package}/settings.py", f"{package}/adapter.py", "settings.example.yaml"):
        path = copy / name
        text = before = path.read_text(encoding="utf-8")
        for old, new in renames.items():
            text = text.replace(old, new)
        assert text != before, f"{name}: nothing renamed"
        path.write_text(text, encoding="utf-8")
    project = tomllib.loads((copy / "pyproject.toml").read_text(encoding="utf-8"))
    info = copy / f"{package}-0.0.0.dist-info"  # what `pip install -e .` gives: the entry point, discoverable
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[hotline_hub.adapters]\n" + "".join(f"{k} = {v}\n" for k, v in project["project"]["entry-points"]["hotline_hub.adapters"].items()), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(TEMPLATE.parents[2])])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"], cwd=copy, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
