"""A real S3 HTTP server on loopback for the `s3` attachment store: moto's server mode
(ThreadedMotoServer, from the test extras), spoken to over HTTP by boto3 as a bucket in
production would be. Outside CI without moto the tests skip saying so; under CI they fail."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.support.databases import UNDER_CI


def skip_or_fail_without_moto() -> None:
    missing = [name for name in ("moto", "boto3", "flask") if importlib.util.find_spec(name) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed (pip install -e '.[test]'): no S3 server to test the s3 store against"
    if UNDER_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class S3Server:
    endpoint: str
    server: object

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="hub-test", aws_secret_access_key="hub-test-secret")

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]


@contextmanager
def s3_server() -> Iterator[S3Server]:
    skip_or_fail_without_moto()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}", server)
    finally:
        server.stop()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go): a store that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
