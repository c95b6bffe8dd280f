"""Webhooks (docs/events.md, "Webhooks"): the URL rule at submission, the address rule at delivery
(DNS rebinding included), the signature against a reference implementation, the per-owner secret."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest
from pydantic import ValidationError

from avatar_api.identity import OwnerIds
from avatar_api.routers.schemas import CreateTrainingRequest
from avatar_api.webhooks import URL_MAX_CHARS, WebhookRefused, WebhookSender, check_url, signature
from tests.fixtures.api import OWNER_KEY, selfies

ACCEPTED = [
    "https://hooks.example.com/avatar",
    "https://hooks.example.com:8443/avatar?token=abc&x=1",
    "https://93.184.216.34/hook",  # a public IP literal
    "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
]
REFUSED = {
    "http://hooks.example.com/avatar": "https",
    "ftp://hooks.example.com/": "https",
    "https://user:secret@hooks.example.com/": "credentials",
    "https://token@hooks.example.com/": "credentials",
    "https://hooks.example.com/a#frag": "fragment",
    "https:///path-only": "host",
    "https://hooks.example.com:99999/": "port",
    "https://hooks.example.com/a b": "ASCII",
    "https://127.0.0.1/hook": "public",
    "https://10.1.2.3/": "public",
    "https://172.16.0.1/": "public",
    "https://192.168.1.1/": "public",
    "https://100.64.0.1/": "public",  # shared (carrier-grade NAT)
    "https://169.254.169.254/latest/meta-data/": "public",  # instance metadata
    "https://0.0.0.0/": "public",
    "https://224.0.0.1/": "public",  # multicast
    "https://240.0.0.1/": "public",  # reserved
    "https://[::1]/": "public",
    "https://[fe80::1]/": "public",
    "https://[fd00::1]/": "public",
    "https://[::ffff:127.0.0.1]/": "public",  # IPv4-mapped loopback
    "https://[ff02::1]/": "public",
    "https://hooks..example.com/": "host name",
    "https://" + "a" * URL_MAX_CHARS + ".com/": "characters",
}


@pytest.mark.parametrize("url", ACCEPTED)
def test_https_urls_of_public_hosts_are_accepted(url: str) -> None:
    assert check_url(url).scheme == "https"


@pytest.mark.parametrize(("url", "reason"), REFUSED.items())
def test_other_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_url(url)


def test_the_training_request_validates_the_webhook_url() -> None:
    images = selfies()
    ok = CreateTrainingRequest.model_validate({"images": images, "webhook_url": ACCEPTED[0]})
    assert ok.webhook_url == ACCEPTED[0]
    with pytest.raises(ValidationError, match="webhook_url"):
        CreateTrainingRequest.model_validate({"images": images, "webhook_url": "https://169.254.169.254/"})


class Resolver:
    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.addresses


@pytest.mark.parametrize(
    "addresses",
    [("127.0.0.1",), ("169.254.169.254",), ("10.0.0.7",), ("::1",), ("93.184.216.34", "192.168.0.2")],
)
def test_a_name_that_resolves_to_a_non_public_address_is_refused_before_connecting(
    addresses: tuple[str, ...],
) -> None:
    """DNS rebinding: the name passed the submission check; what it resolves to at delivery decides."""
    resolver = Resolver(*addresses)
    sender = WebhookSender(resolver=resolver, connect_timeout_seconds=0.01, read_timeout_seconds=0.01)
    with pytest.raises(WebhookRefused, match="non-public"):
        sender.post("https://rebind.example.com:8443/hook", b"{}", {})
    assert resolver.asked == [("rebind.example.com", 8443)]


def test_an_allowance_injected_in_code_admits_only_its_networks() -> None:
    sender = WebhookSender(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    assert sender.allowed(ipaddress.ip_address("127.0.0.1"))
    assert not sender.allowed(ipaddress.ip_address("127.0.0.2"))
    assert not sender.allowed(ipaddress.ip_address("169.254.169.254"))
    assert not WebhookSender().allowed(ipaddress.ip_address("127.0.0.1"))


def test_an_ip_literal_url_is_checked_again_at_delivery_without_resolving() -> None:
    resolver = Resolver("93.184.216.34")
    with pytest.raises(WebhookRefused, match="public"):
        WebhookSender(resolver=resolver).post("https://[::ffff:169.254.169.254]/", b"{}", {})
    assert resolver.asked == []


def reference_signature(secret: str, timestamp: str, body: bytes) -> str:
    """What a receiver computes (docs/events.md)."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode("ascii"), message, hashlib.sha256).hexdigest()


def test_the_signature_matches_a_reference_implementation() -> None:
    secret, timestamp, body = "ab" * 32, "1767261600", b'{"status":"completed"}'
    assert signature(secret, timestamp, body) == reference_signature(secret, timestamp, body)
    assert signature(secret, "1767261601", body) != signature(secret, timestamp, body)
    assert signature(secret, timestamp, body + b" ") != signature(secret, timestamp, body)


def test_each_owner_has_its_own_secret_derived_from_the_owner_key() -> None:
    ids = OwnerIds(OWNER_KEY)
    alice, bob = ids.webhook_key("a" * 32), ids.webhook_key("b" * 32)
    expected = hmac.new(OWNER_KEY, b"webhook:" + b"a" * 32, hashlib.sha256).hexdigest()
    assert alice == expected and len(alice) == 64 and alice != bob
    assert OwnerIds(OWNER_KEY + b"-other").webhook_key("a" * 32) != alice
