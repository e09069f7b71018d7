"""Safe webhook targets (contract "Webhook targets"): the service must not be turned into a way to reach what
only it can reach.

A target URL is `http` or `https` without credentials. Its host is resolved and every address it resolves to
must be allowed: loopback, link-local (169.254/16, fe80::/10: cloud metadata lives there), unspecified,
multicast and broadcast addresses are refused, and so is every address of the machine the service runs on and
the service's own public address (`YMT_PUBLIC_BASE_URL` or the profile's). `YMT_WEBHOOK_ALLOW` (CIDRs or host
names, comma-separated) permits them. The check runs when a subscription is created and again before every
delivery (DNS can change between the two: a name that resolved outside may later resolve inside), and the
delivery then connects to the address that was checked, never resolving again (no DNS rebinding window).

Errors are recorded as a category only (`connect_error`, `timeout`, …): the deliveries list must not tell a
caller which internal ports answer, so no error text of the remote side is kept.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import lru_cache

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

RESOLVE_TIMEOUT_SECONDS = 3.0
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ymt-resolve")


class TargetRefused(Exception):
    """A target that may not be contacted. `category` is what the deliveries list records; the message (in
    Chinese) is for the person creating the subscription."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message


@dataclass(frozen=True)
class Allow:
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    def permits_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def permits(self, ip: IPAddress) -> bool:
        return any(ip.version == n.version and ip in n for n in self.networks)


def parse_allow(text: str | None) -> Allow:
    """`YMT_WEBHOOK_ALLOW`: comma-separated CIDRs (`127.0.0.0/8`, `::1/128`, a bare address) or host names."""
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            hosts.add(item.lower().rstrip("."))
    return Allow(tuple(networks), frozenset(hosts))


@dataclass(frozen=True)
class Target:
    """A checked target: where to connect (`address`) and what to say to it (`host` for Host and TLS SNI)."""

    url: httpx.URL
    host: str
    port: int
    address: str

    def request_url(self) -> httpx.URL:
        """The URL with the checked address in place of the name: the connection goes exactly there."""
        return self.url.copy_with(host=self.address)

    def host_header(self) -> str:
        default = 443 if self.url.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str) -> httpx.URL:
    """The URL as httpx will request it; refused when it is not plain http(s) without credentials."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise TargetRefused("bad_url", "地址中不能含空白或控制字符")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise TargetRefused("bad_url", "不是合法的 URL") from None
    if parsed.scheme not in ("http", "https"):
        raise TargetRefused("bad_url", "只支持 http 或 https 地址")
    if parsed.userinfo:
        raise TargetRefused("bad_url", "地址中不能包含用户名或密码")
    if not parsed.host or "%" in parsed.host:
        raise TargetRefused("bad_url", "地址缺少主机名或主机名无效")
    return parsed


def resolve(host: str, port: int, timeout: float = RESOLVE_TIMEOUT_SECONDS) -> list[IPAddress]:
    """Every address the host resolves to (a literal address is itself), within a time limit."""
    try:
        return [_plain(ipaddress.ip_address(host))]
    except ValueError:
        pass
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout:
        raise TargetRefused("dns_error", f"解析主机名 {host} 超时") from None
    except (OSError, UnicodeError):
        raise TargetRefused("dns_error", f"无法解析主机名 {host}") from None
    addresses = []
    for info in infos:
        ip = _plain(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise TargetRefused("dns_error", f"无法解析主机名 {host}")
    return addresses


def _plain(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is checked as the IPv4 address it reaches."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def refusal(ip: IPAddress, port: int, own: frozenset[tuple[IPAddress, int]]) -> str | None:
    """Why this address may not be a target by default, or None."""
    if ip.is_unspecified:
        return "未指定地址"
    if ip.is_loopback:
        return "回环地址"
    if ip.is_link_local:
        return "链路本地地址"
    if ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "组播或广播地址"
    if (ip, port) in own:
        return "本服务自身的地址"
    if _is_local(ip):
        return "本机地址"
    return None


def _is_local(ip: IPAddress) -> bool:
    """An address of this machine: binding to it succeeds only if one of our interfaces has it."""
    return _is_local_cached(str(ip), int(time.monotonic() // 60))  # re-checked every minute


@lru_cache(maxsize=256)
def _is_local_cached(ip: str, _minute: int) -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((ip, 0))
        return True
    except OSError:
        return False


def own_endpoints(public_base_url: str | None) -> frozenset[tuple[IPAddress, int]]:
    """The service's own public address (what `YMT_PUBLIC_BASE_URL` names): never a webhook target."""
    if not public_base_url:
        return frozenset()
    return _own_endpoints(public_base_url, int(time.monotonic() // 60))  # resolved again every minute


@lru_cache(maxsize=8)
def _own_endpoints(public_base_url: str, _minute: int) -> frozenset[tuple[IPAddress, int]]:
    try:
        url = httpx.URL(public_base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        return frozenset((ip, port) for ip in resolve(url.raw_host.decode("ascii"), port))
    except (TargetRefused, httpx.InvalidURL, ValueError):
        return frozenset()


def check(url: str, allow: Allow, own: frozenset[tuple[IPAddress, int]] = frozenset()) -> Target:
    """Parse, resolve and check a target; the first allowed address is the one to connect to. A host with any
    refused address is refused as a whole (a name that points both outside and inside is not trusted)."""
    parsed = parse_url(url)
    host = parsed.raw_host.decode("ascii")  # IDNA (punycode) form: what DNS and TLS see
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = resolve(host, port)
    if not allow.permits_host(host):
        for ip in addresses:
            why = refusal(ip, port, own)
            if why and not allow.permits(ip):
                raise TargetRefused("blocked_target",
                                    f"目标 {host} 解析到{why}（{ip}），默认不允许；如确需使用，请在 YMT_WEBHOOK_ALLOW 中放行")
    return Target(parsed, host, port, str(addresses[0]))


def error_category(exc: Exception) -> str:
    """What an attempt's failure is recorded as: a category, never the remote side's words."""
    if isinstance(exc, TargetRefused):
        return exc.category
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        return "tls_error" if "ssl" in text or "certificate" in text else "connect_error"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError | httpx.DecodingError):
        return "protocol_error"
    if isinstance(exc, httpx.TooManyRedirects):
        return "redirect"
    return "network_error"
