"""Fixtures of the integration tier."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.api.app import create_app
from sandbox.webhook_sink import SinkState, create_sink
from tests.support.live import LiveServer


@pytest.fixture
def sink():
    """The sandbox webhook sink on loopback: (its state, its base URL). A file that needs a
    sink that behaves otherwise defines its own `sink`, which takes precedence."""
    state = SinkState()
    with LiveServer(create_sink(state)) as live:
        yield state, live.url


@pytest.fixture
def client(hub):
    """The hub's API in process; a 500 comes back as a response (the test sees it), not raised."""
    with TestClient(create_app(hub), raise_server_exceptions=False) as c:
        yield c
