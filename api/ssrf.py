"""Where a webhook may be sent: the receiver address rule, checked when a subscription is saved and again
at every delivery.

A subscription's URL is typed in by shop staff and the worker POSTs to it from inside the merchant's
network, then shows ops what it answered: without a rule, `http://169.254.169.254/…` or
`http://127.0.0.1:6379/` would turn the worker into a reader of internal services. The rule:

- https only; http only when `WEBHOOK_ALLOW_HTTP` is on (default: on in development, off in production);
- every address the host name resolves to must be public: loopback, private, link-local (the cloud
  metadata address), CGNAT, multicast, unspecified and reserved ranges are refused, also in their
  IPv4-mapped / NAT64 IPv6 forms; a receiver on the intranet is let through only when ops name it in
  `WEBHOOK_ALLOWED_PRIVATE_HOSTS` (a host name, an address or a network). Unspecified and multicast
  addresses are never a receiver, even when listed;
- an IPv4 address must be written the usual way (`a.b.c.d`): `2130706433`, `0177.0.0.1`, `127.1` and
  `0x7f.1` all mean 127.0.0.1 to some resolver and are refused as odd spellings, whatever they spell.

`webhook_target()` resolves once and returns the checked address: the sender connects to that address
(api/webhooks.py), so a name that answers a public address to the check and a private one to the
connection (DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx
from django.conf import settings

FIELD = "接收地址"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Any host made only of numeric (decimal, octal, 0x-hex) dot-separated parts is an address spelling,
# never a DNS name (no top-level domain is numeric).
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*\.?", re.IGNORECASE)

_LOOPBACK = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128")]
_PRIVATE = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")
]
_LINK_LOCAL = [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10")]
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = [ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48")]


class UnsafeWebhookUrl(ValueError):
    """The address is refused; `message` says why, in words for the person who typed it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Problem:
    label: str
    never: bool = False  # not a receiver at all: refused even when listed in WEBHOOK_ALLOWED_PRIVATE_HOSTS


@dataclass(frozen=True)
class WebhookTarget:
    url: httpx.URL
    host: str  # ASCII (IDNA) host or IP literal: the Host header and the TLS name (SNI, certificate)
    port: int
    address: IPAddress  # checked; the request connects here and nowhere else


def resolve(host: str, port: int) -> list[str]:
    """The one DNS lookup of a delivery (tests replace it): every address the name has, in order."""
    found = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP):
        address = sockaddr[0].split("%", 1)[0]  # an IPv6 scope (fe80::1%eth0): the address is enough
        if address not in found:
            found.append(address)
    return found


def address_problem(address: IPAddress) -> Problem | None:
    """Why an address is not a public receiver, or None when it is one."""
    if address.version == 6:
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if any(address in n for n in _NAT64) else None
        )
        if embedded is not None:
            # ::ffff:127.0.0.1 reaches 127.0.0.1; a NAT64 address stands for the IPv4 address it embeds.
            problem = address_problem(embedded)
            return Problem(f"{problem.label}（IPv6 写法）", problem.never) if problem else None
        if address.sixtofour is not None or address.teredo is not None:
            # 6to4 / Teredo: tunnels to an IPv4 address through a relay; no receiver needs them.
            return Problem("保留地址（IPv4 隧道地址）")
    if address.is_unspecified or address in _THIS_NETWORK:
        return Problem("未指定地址", never=True)
    if address.is_multicast or address == ipaddress.IPv4Address("255.255.255.255"):
        return Problem("组播/广播地址", never=True)
    if any(address in n for n in _LOOPBACK if n.version == address.version):
        return Problem("本机回环地址")
    if any(address in n for n in _PRIVATE if n.version == address.version):
        return Problem("内网地址")
    if any(address in n for n in _LINK_LOCAL if n.version == address.version):
        return Problem("链路本地地址（含云主机元数据地址 169.254.169.254）")
    if address.version == 4 and address in _CGNAT:
        return Problem("运营商级 NAT 地址（100.64.0.0/10）")
    # Documentation, benchmarking, IPv4-compatible IPv6, 240/4 …: not a place on the internet.
    if address.is_private or address.is_reserved or not address.is_global:
        return Problem("保留地址")
    return None


def _allowed_entries() -> tuple[set[str], list]:
    names, networks = set(), []
    for entry in getattr(settings, "WEBHOOK_ALLOWED_PRIVATE_HOSTS", []):
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.rstrip(".").lower())
    return names, networks


def _in_networks(address: IPAddress, networks) -> bool:
    candidates = [address]
    if address.version == 6 and address.ipv4_mapped:
        candidates.append(address.ipv4_mapped)
    return any(a in n for a in candidates for n in networks if n.version == a.version)


def _odd_spelling(host: str) -> UnsafeWebhookUrl:
    try:
        meaning = f"（即 {socket.inet_ntoa(socket.inet_aton(host.rstrip('.')))}）"
    except OSError:
        meaning = ""
    return UnsafeWebhookUrl(
        f"{FIELD}的主机 {host} 是 IP 地址的非标准写法{meaning}，已拒绝：IPv4 地址请写成 a.b.c.d 的形式。"
    )


def _parse(raw: str) -> httpx.URL:
    raw = (raw or "").strip()
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        try:
            host = unquote(urlsplit(raw).hostname or "")
        except ValueError:
            host = ""
        if host and _NUMERIC_HOST.fullmatch(host):
            raise _odd_spelling(host) from exc
        raise UnsafeWebhookUrl(f"{FIELD}不是有效的网址（{exc}）。") from exc
    if url.scheme not in ("https", "http") or not url.raw_host:
        raise UnsafeWebhookUrl(
            f"{FIELD}须为以 https:// 开头的完整网址，例如 https://wms.example.com/hooks/erp。"
        )
    if url.scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        raise UnsafeWebhookUrl(
            f"{FIELD}须使用 https://：本系统未开启 WEBHOOK_ALLOW_HTTP，不向明文 http 地址发送事件。"
        )
    return url


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(unquote(host).split("%", 1)[0])
    except ValueError:
        return None


def webhook_target(raw_url: str) -> WebhookTarget:
    """Check a receiver URL and resolve its host once; raises UnsafeWebhookUrl with the reason."""
    url = _parse(raw_url)
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    names, networks = _allowed_entries()
    literal = _ip_literal(host)
    name = host.rstrip(".").lower()
    if literal is None and _NUMERIC_HOST.fullmatch(host):
        raise _odd_spelling(host)
    listed_name = literal is None and name in names
    if literal is not None:
        addresses = [literal]
    elif name == "localhost" or name.endswith(".localhost"):
        # Always this machine (RFC 6761), whatever the resolver says.
        addresses = [ipaddress.IPv4Address("127.0.0.1")]
    else:
        try:
            addresses = [ipaddress.ip_address(a) for a in resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise UnsafeWebhookUrl(
                f"{FIELD}的主机名 {host} 无法解析（{exc}），请检查拼写，或确认该域名已生效。"
            ) from exc
        if not addresses:
            raise UnsafeWebhookUrl(f"{FIELD}的主机名 {host} 没有可用的地址。")
    # Every address is checked, not just the first: a name answering one public and one internal
    # address would reach the internal one the day the order changes.
    for address in addresses:
        problem = address_problem(address)
        if problem is None:
            continue
        where = f"是{problem.label}" if literal is not None else f"解析到{problem.label} {address}"
        if problem.never:
            raise UnsafeWebhookUrl(f"{FIELD}的主机 {host} {where}，不能作为接收地址。")
        if not (listed_name or _in_networks(address, networks)):
            raise UnsafeWebhookUrl(
                f"{FIELD}的主机 {host} {where}，已拒绝：Webhook 只发往公网地址。"
                "接收方确在内网时，请运维在 WEBHOOK_ALLOWED_PRIVATE_HOSTS 中放行该主机。"
            )
    return WebhookTarget(url=url, host=host, port=port, address=addresses[0])
