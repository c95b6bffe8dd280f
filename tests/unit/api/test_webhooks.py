"""Webhooks (docs/events.md, "Webhooks"): the URL rule at submission, the address rule at delivery
(DNS rebinding included), the signature against a reference implementation, the per-owner secret."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest
from pydantic import ValidationError

from avatar_api.adapters.owner_ids import OwnerIds
from avatar_api.adapters.webhooks import (
    URL_MAX_CHARS,
    WebhookRefused,
    WebhookSender,
    check_url,
    is_public,
    signature,
)
from avatar_api.routers.schemas import CreateTrainingRequest
from avatar_contract.names import Env
from tests.fixtures.api import OWNER_KEY, selfies

ACCEPTED = [
    "https://hooks.example.com/avatar",
    "https://hooks.example.com:443/avatar?token=abc&x=1",
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
    "https://hooks.example.com:8443/": "port 8443 is not allowed",  # 443 only unless configured
    "https://hooks.example.com:80/": "port 80",
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
    sender = WebhookSender(
        resolver=resolver, connect_timeout_seconds=0.01, read_timeout_seconds=0.01, ports=(8443,)
    )
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


# Issue 21 L9: what a resolver (getaddrinfo, inet_aton) reads as an IPv4 address, and IPv6 ranges that
# reach other networks or are not public, refused at submission exactly as at delivery.
NON_CANONICAL_IPV4 = ["0x7f.1", "2130706433", "017700000001", "127.1", "0x7f000001", "0177.0.0.1",
                      "127.0.0.01", "0X7F.0.0.1", "10.1", "hooks.example.123"]  # fmt: skip
TUNNELLED_OR_LOCAL_IPV6 = [
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:5db8:d822::1",  # 6to4 of a public address: still a tunnel
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "fec0::1",  # site-local
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "2001:db8::1",
]
SPECIAL_IPV4 = ["192.0.0.9", "192.0.0.170", "192.88.99.1", "198.18.0.1", "100.64.0.1", "192.0.2.1"]


@pytest.mark.parametrize("host", NON_CANONICAL_IPV4)
def test_non_canonical_ipv4_spellings_are_refused_at_submission_and_delivery(host: str) -> None:
    url = f"https://{host}/hook"
    with pytest.raises(ValueError, match="canonical dotted-decimal"):
        check_url(url)
    resolver = Resolver("127.0.0.1")
    with pytest.raises(WebhookRefused, match="canonical"):
        WebhookSender(resolver=resolver).post(url, b"{}", {})
    assert resolver.asked == []  # refused before any resolution


@pytest.mark.parametrize("address", TUNNELLED_OR_LOCAL_IPV6 + SPECIAL_IPV4)
def test_special_purpose_addresses_are_refused_at_submission_and_delivery(address: str) -> None:
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(ValueError, match="not a public address"):
        check_url(f"https://{literal}/hook")
    sender = WebhookSender(resolver=Resolver(address))
    with pytest.raises(WebhookRefused, match="non-public"):
        sender.post("https://hooks.example.com/hook", b"{}", {})


def test_the_verdict_does_not_depend_on_this_pythons_is_global(monkeypatch: pytest.MonkeyPatch) -> None:
    """3.11 calls 6to4, site-local and 192.0.0.9 global, 3.12/3.13 differ on others: the explicit
    table decides, so a Python whose `is_global` says yes to everything refuses the same addresses."""
    monkeypatch.setattr(ipaddress.IPv4Address, "is_global", property(lambda self: True))
    monkeypatch.setattr(ipaddress.IPv6Address, "is_global", property(lambda self: True))
    for address in TUNNELLED_OR_LOCAL_IPV6 + SPECIAL_IPV4 + ["10.0.0.1", "fd00::1", "::1"]:
        assert not is_public(ipaddress.ip_address(address)), address
    assert is_public(ipaddress.ip_address("93.184.216.34"))
    assert is_public(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))


def test_configured_ports_are_allowed_at_submission_and_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(Env.WEBHOOK_PORTS, "443,8443")
    assert check_url("https://hooks.example.com:8443/").port == 8443
    assert CreateTrainingRequest.model_validate(
        {"images": selfies(), "webhook_url": "https://hooks.example.com:8443/"}
    ).webhook_url
    resolver = Resolver("10.0.0.1")
    with pytest.raises(WebhookRefused, match="non-public"):  # past the port rule, refused for the address
        WebhookSender(resolver=resolver).post("https://hooks.example.com:8443/", b"{}", {})
    with pytest.raises(ValueError, match="port 9443"):
        check_url("https://hooks.example.com:9443/")
    monkeypatch.delenv(Env.WEBHOOK_PORTS)
    with pytest.raises(WebhookRefused, match="port 8443"):
        WebhookSender(resolver=resolver).post("https://hooks.example.com:8443/", b"{}", {})


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
    # Rotations (issue 21 L3): each generation is another secret; generation 0 is the original one.
    assert ids.webhook_key("a" * 32, 0) == alice
    assert len({alice, ids.webhook_key("a" * 32, 1), ids.webhook_key("a" * 32, 2)}) == 3
