"""The template the guide starts from passes the kit as it is (so a copy starts green).

It is not installed into the hub's environment (its entry point would register a
placeholder adapter), so the test imports it from its folder and hands the class to the kit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hub.integration.kit import HttpPeerControl, run_kit
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
        report = run_kit("my_system", {"base_url": f"{live.url}/api", "api_token": "sandbox-token"},
                         HttpPeerControl(live.url), available={"my_system": cls})
    assert report.complete, report.render(verbose=True)


def test_the_template_declares_its_entry_point() -> None:
    import tomllib

    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["hotline_hub.adapters"] == {"my_system": "my_adapter.adapter:MyAdapter"}
