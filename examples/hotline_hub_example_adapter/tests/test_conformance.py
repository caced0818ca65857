"""The package's own check: the conformance kit against the sandbox peer on loopback.

Run from the hub's checkout: .venv/bin/pytest examples/hotline_hub_example_adapter/tests -q
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from hotline_hub_example_adapter.peer import create_app

from integration_kit import HttpPeerControl, run_kit


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
        report = run_kit("example_waterworks", {"base_url": f"{url}/api/v2", "app_key": "sandbox-key"}, HttpPeerControl(url))
        assert report.complete, report.render(verbose=True)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
