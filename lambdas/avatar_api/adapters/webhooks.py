"""Per-training webhooks (docs/events.md, "Webhooks"): the URL rule, the signature, and one HTTPS POST.

SSRF: a webhook URL is checked twice. At submission (`check_url`): https, a host and no credentials or
fragment, bounded length, a port from `AVATAR_WEBHOOK_PORTS` (cdk.json `webhookPorts`, default 443 only),
no IP literal outside the public internet, and no host that a resolver would read as an IPv4 address
unless it is one in canonical dotted-decimal form (`0x7f.1`, `2130706433`, `017700000001`, `127.1` are
refused: `socket.getaddrinfo` turns them into 127.0.0.1). Which addresses are public is decided by an
explicit table of the IANA special-purpose ranges (`NOT_PUBLIC`) as well as `ipaddress`, so the answer
is the same on every Python (the `is_global` of 3.11, 3.12 and 3.13 disagree on 6to4, 192.0.0.0/24,
parts of 2001::/23, ...). The same `check_url` runs again at delivery, with the consumer's ports. At delivery
(`WebhookSender.post`): the host is resolved once, every address it resolves to must be public
(a name pointing at 127.0.0.1 or 169.254.169.254 is refused), and the connection goes to a checked
address, not to a second resolution, with the name kept for TLS (SNI, certificate check) and `Host`.
Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError

from avatar_contract.names import Env

URL_MAX_CHARS = 2048
TIMESTAMP_HEADER = "X-Avatar-Timestamp"
SIGNATURE_HEADER = "X-Avatar-Signature"
SIGNATURE_PREFIX = "sha256="
DEFAULT_PORTS = (443,)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class WebhookRefused(Exception):
    """Not sent, and never to be retried: the URL or an address it resolves to is not allowed."""


class WebhookFailed(Exception):
    """Not delivered for a reason that may pass (DNS, connection, TLS, timeout): retried."""


# The IANA special-purpose ranges that are not on the public internet (or, like 6to4, Teredo and NAT64,
# reach an address embedded in them), whatever this Python's `ipaddress` thinks of them.
NOT_PUBLIC: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible addresses
        "64:ff9b::/96", "64:ff9b:1::/48",  # NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) among them
        "2001:db8::/32", "3fff::/20",  # documentation
        "2002::/16",  # 6to4
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)  # fmt: skip
# A host whose last label is a number (decimal, octal or 0x-hex) is an IPv4 address to a resolver.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def allowed_ports() -> tuple[int, ...]:
    """The ports a webhook URL may name (`AVATAR_WEBHOOK_PORTS`, comma-separated; default 443)."""
    configured = os.environ.get(Env.WEBHOOK_PORTS, "")
    ports = tuple(int(part) for part in configured.split(",") if part.strip())
    return ports or DEFAULT_PORTS


def is_public(address: IPAddress) -> bool:
    """False for every range of `NOT_PUBLIC` (loopback, private, shared, link-local — the instance
    metadata address —, site-local, multicast, reserved, documentation, 6to4, Teredo, NAT64, ...), for
    what `ipaddress` does not call global, and for IPv4 addresses mapped into IPv6 that are not public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    if any(address in network for network in NOT_PUBLIC if network.version == address.version):
        return False
    return address.is_global and not (
        address.is_multicast or address.is_loopback or address.is_link_local or address.is_reserved
    )


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: str, ports: tuple[int, ...] | None = None) -> SplitResult:
    """The URL's parts if it may be a webhook; ValueError (with the reason) otherwise. `ports`: those
    allowed (default: `allowed_ports()`)."""
    if len(url) > URL_MAX_CHARS:
        raise ValueError(f"at most {URL_MAX_CHARS} characters")
    if any(c.isspace() or ord(c) < 0x21 or ord(c) > 0x7E for c in url):
        raise ValueError("must be printable ASCII without spaces (encode international names as IDNA)")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise ValueError("must be an https:// URL")
    if "@" in parts.netloc:
        raise ValueError("must not carry credentials (user:password@)")
    if "#" in url:
        raise ValueError("must not have a fragment")
    host = parts.hostname
    if not host:
        raise ValueError("must name a host")
    try:
        port = parts.port or 443
    except ValueError as error:
        raise ValueError(f"invalid port ({error})") from None
    allowed = ports or allowed_ports()
    if port not in allowed:
        raise ValueError(f"port {port} is not allowed (allowed: {', '.join(map(str, allowed))})")
    address = ip_literal(host)
    if address is not None and not is_public(address):
        raise ValueError(f"{address} is not a public address")
    if address is None and (host.endswith(".") or ".." in host or len(host) > 253):
        raise ValueError("invalid host name")
    if address is None and _NUMERIC_LABEL.fullmatch(host.lower().rsplit(".", 1)[-1]):
        raise ValueError("an IPv4 address must be written in canonical dotted-decimal form (a.b.c.d)")
    if address is not None and address.version == 4 and host != str(address):
        raise ValueError("an IPv4 address must be written in canonical dotted-decimal form (a.b.c.d)")
    return parts


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 under the owner's secret of "<timestamp>.<body>">` (SIGNATURE_HEADER)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order, each once."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True)
class WebhookSender:
    """POSTs a webhook. The defaults are the product's; `allowed_networks` (addresses treated as public)
    and `ca_certs` (a CA bundle instead of the system's trust store) exist for tests with a local TLS
    server and are set only in code (no environment variable or setting reaches them)."""

    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 4.0
    allowed_networks: tuple[IPNetwork, ...] = ()
    ca_certs: str | None = None
    resolver: Resolver = resolve
    # The ports a URL may name; read from the environment when the sender is built (as at submission).
    ports: tuple[int, ...] = field(default_factory=allowed_ports)

    @property
    def attempt_seconds(self) -> float:
        """The longest one attempt can take (one connection; a name's further addresses are tried only
        when one refuses the connection, which is quick)."""
        return self.connect_timeout_seconds + self.read_timeout_seconds

    def allowed(self, address: IPAddress) -> bool:
        return is_public(address) or any(address in network for network in self.allowed_networks)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The response's status code. WebhookRefused: not allowed (no retry); WebhookFailed: retry."""
        try:
            parts = check_url(url, self.ports)
        except ValueError as error:
            raise WebhookRefused(f"webhook URL refused: {error}") from None
        host, port = parts.hostname or "", parts.port or 443
        literal = ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = self.resolver(host, port)
            except (OSError, UnicodeError) as error:
                raise WebhookFailed(f"could not resolve {host}: {error}") from None
        if not addresses:
            raise WebhookFailed(f"{host} resolves to no address")
        refused = [a for a in addresses if not self.allowed(ipaddress.ip_address(a))]
        if refused:
            raise WebhookRefused(f"{host} resolves to a non-public address ({', '.join(refused)})")
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        host_header = parts.netloc  # as written: the name (or bracketed literal) and any port
        last: Exception | None = None
        for address in addresses:
            try:
                return self._post_to(address, host, port, target, body, {**headers, "Host": host_header})
            except NewConnectionError as error:  # refused or unreachable: the next address, if any
                last = error
            except HTTPError as error:
                raise WebhookFailed(_describe(error)) from None
        raise WebhookFailed(_describe(last))

    def _post_to(
        self, address: str, host: str, port: int, target: str, body: bytes, headers: dict[str, str]
    ) -> int:
        ip_host = ip_literal(host) is not None
        with urllib3.HTTPSConnectionPool(
            address,
            port,
            maxsize=1,
            timeout=urllib3.Timeout(connect=self.connect_timeout_seconds, read=self.read_timeout_seconds),
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=self.ca_certs,
            server_hostname=None if ip_host else host,
            assert_hostname=host,
        ) as pool:
            response = pool.urlopen(
                "POST", target, body=body, headers=headers, redirect=False, preload_content=False
            )
            try:
                return int(response.status)
            finally:
                response.close()


def _describe(error: Exception | None) -> str:
    """A short reason without the URL (whose query may carry the receiver's own token)."""
    if error is None:
        return "not delivered"
    return f"{type(error).__name__}: {error}"[:300]
