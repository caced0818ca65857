"""The conformance kit against the sandbox peer on loopback, with the settings of
settings.example.yaml (the file `kit check --settings` reads): keep this test as it is. When
you change the settings model, change settings.example.yaml with it; the test follows."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from my_soap_adapter.peer import create_app

from integration_kit import HttpPeerControl, load_settings_file, run_kit

ADAPTER = "my_soap_system"  # the entry-point name in pyproject.toml
EXAMPLE = Path(__file__).resolve().parents[1] / "settings.example.yaml"
EXAMPLE_PEER = "http://127.0.0.1:9100"  # where settings.example.yaml expects the sandbox peer (`--port 9100`)


def example_settings(peer_url: str) -> Any:
    """settings.example.yaml with the sandbox peer's address made this run's."""

    def moved(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [moved(v) for v in value]
        return value.replace(EXAMPLE_PEER, peer_url) if isinstance(value, str) else value

    return moved(load_settings_file(EXAMPLE)[0])


def test_passes_the_kit() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        url = f"http://127.0.0.1:{port}"
        report = run_kit(ADAPTER, example_settings(url), HttpPeerControl(url))
        assert report.complete, report.render(verbose=True)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
