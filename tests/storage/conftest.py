"""Storage-only fixtures; the S3-protocol server and bucket fixtures live in tests/conftest.py."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def unreachable_s3_endpoint() -> str:
    """An http URL on a local port where nothing listens, as for a stopped S3 server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
