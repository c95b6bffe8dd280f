"""Helpers of the client's unit tests."""

from __future__ import annotations

from avatar_client import AvatarClient
from avatar_client.client import Transport
from tests.fixtures.sigv4 import CREDENTIALS, ENDPOINT


def client_of(transport: Transport) -> AvatarClient:
    """A client of the API at `ENDPOINT` (us-east-1, the test credentials) whose calls go to `transport`."""
    return AvatarClient(ENDPOINT, "us-east-1", credentials=CREDENTIALS, transport=transport)
