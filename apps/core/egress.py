"""The egress guard: every HTTP request the server makes goes through `guarded_request`.

A chat server that fetches URLs for its users (webhooks, link previews, slash commands) is a
ready-made server-side request forgery tool: "preview http://169.254.169.254/latest/meta-data/"
or a webhook aimed at the admin's own Redis. The guard:

- resolves the host itself and refuses any address that is not globally routable (loopback,
  link-local and the cloud metadata address, RFC 1918 and other private ranges, CGNAT,
  multicast, unspecified, reserved, and their IPv6 forms, IPv4-mapped included), unless an
  administrator allow-listed the host or the network (`ENCLAVE_EGRESS_ALLOWED_HOSTS` and the
  organisation's list an app registers with `register_allow_list_provider`);
- connects to the very address it checked (the socket is opened to the IP, the Host header and
  TLS SNI carry the name), so a second DNS answer cannot swap in another address in between;
- follows redirects only by checking every hop the same way;
- caps the response size (`max_bytes`) and the total time (`timeout`, the whole exchange,
  not per read, so a server dripping a byte a second is cut off as well).

Link-local addresses (169.254.0.0/16, fe80::/10: the metadata service lives there) are
allowed only by a network entry that covers them, never by a host name: an allow-listed name
whose DNS is changed to point at the metadata service is still refused.

No proxy variables are read (`http.client` ignores them): requests leave directly.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 16 * 1024
USER_AGENT = "Enclave (+self-hosted chat)"


class EgressError(DomainError):
    """An outbound request the guard refused or that failed; `code` says which."""

    code = "egress_failed"
    http_status = 502
    default_message = _("The remote server could not be reached.")


class EgressRefused(EgressError):
    code = "egress_refused"
    http_status = 400
    default_message = _("This address may not be contacted from the server.")


class EgressTooLarge(EgressError):
    code = "egress_too_large"
    default_message = _("The remote server's answer is too large.")


class EgressTimeout(EgressError):
    code = "egress_timeout"
    http_status = 504
    default_message = _("The remote server did not answer in time.")


@dataclass(frozen=True)
class EgressResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    url: str  # after redirects

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class AllowList:
    """Hosts (exact, or `*.suffix`) and networks an administrator trusts."""

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry or entry.startswith("#"):
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                suffixes.append(entry[1:])  # ".example.com"
            else:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    def __or__(self, other: AllowList) -> AllowList:
        return AllowList(
            self.hosts | other.hosts,
            self.suffixes + other.suffixes,
            self.networks + other.networks,
        )

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self.hosts or any(host.endswith(suffix) for suffix in self.suffixes):
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return self.allows_address(address)

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


_providers: list[Callable[[], Iterable[str]]] = []


def register_allow_list_provider(provider: Callable[[], Iterable[str]]) -> None:
    """Add a source of allow-list entries (the organisation's list; apps.integrations does)."""
    if provider not in _providers:
        _providers.append(provider)


def admin_allow_list() -> AllowList:
    """What the administrator allowed: the setting plus every registered provider's entries."""
    entries: list[str] = list(getattr(settings, "ENCLAVE_EGRESS_ALLOWED_HOSTS", []))
    for provider in _providers:
        entries.extend(provider())
    return AllowList.parse(entries)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (the one place DNS is asked; tests patch it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EgressError(
            _("The host name could not be resolved."), code="egress_dns_failed"
        ) from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def address_category(address: IPAddress) -> str | None:
    """Why `address` is not a public destination (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return address_category(mapped)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return None


def check_address(*, host: str, address: IPAddress, allow: AllowList) -> None:
    """Raise EgressRefused unless `address` (one of `host`'s) may be contacted."""
    category = address_category(address)
    if category is None:
        return
    if allow.allows_address(address):
        return  # a network entry covers it: the admin named this range
    if category in ("link_local", "unspecified", "multicast"):
        pass  # a host name alone never opens these (see the module docstring)
    elif allow.allows_host(host):
        return
    raise EgressRefused(
        _("The server may not contact %(host)s (%(category)s address).")
        % {"host": host, "category": category},
        details={"host": host, "category": category},
    )


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    address: IPAddress


def _target(url: str, *, allow: AllowList, only_allowed: bool) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EgressRefused(_("This is not a valid URL."), code="egress_bad_url") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused(_("Only http and https URLs are allowed."), code="egress_bad_url")
    if parts.username or parts.password:
        raise EgressRefused(_("URLs with credentials are not allowed."), code="egress_bad_url")
    host = parts.hostname.lower()
    if only_allowed and not allow.allows_host(host):
        raise EgressRefused(
            _("%(host)s is not on the administrator's list of allowed hosts.") % {"host": host},
            code="egress_host_not_allowed",
            details={"host": host},
        )
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    if not addresses:
        raise EgressError(_("The host name could not be resolved."), code="egress_dns_failed")
    # Every answer must pass: the connection goes to the first, but a mixed answer is a sign of
    # rebinding games and refusing it is cheap.
    for address in addresses:
        check_address(host=host, address=address, allow=allow)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(parts.scheme, host, port, path, addresses[0])


def _connection(target: _Target, timeout: float) -> http.client.HTTPConnection:
    pinned = (str(target.address), target.port)

    def connect_pinned(
        _address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        return socket.create_connection(pinned, timeout, source_address)

    conn: http.client.HTTPConnection
    if target.scheme == "https":
        context = ssl.create_default_context(
            cafile=getattr(settings, "ENCLAVE_EGRESS_CA_FILE", None) or None
        )
        conn = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    # http.client opens its socket with this attribute; pointing it at the checked address
    # keeps the name for the Host header and SNI while DNS is never asked a second time.
    conn._create_connection = connect_pinned  # type: ignore[attr-defined]
    return conn


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise EgressTimeout()
    return left


def _exchange(
    target: _Target,
    method: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    deadline: float,
    max_bytes: int,
) -> tuple[int, dict[str, str], bytes]:
    conn = _connection(target, _remaining(deadline))
    try:
        sent_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers}
        conn.request(method, target.path, body=body, headers=sent_headers)
        if conn.sock is not None:
            conn.sock.settimeout(_remaining(deadline))
        response = conn.getresponse()
        received = {name.lower(): value for name, value in response.getheaders()}
        declared = received.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise EgressTooLarge(details={"max_bytes": max_bytes})
        chunks: list[bytes] = []
        size = 0
        while True:
            if conn.sock is not None:
                conn.sock.settimeout(_remaining(deadline))
            chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise EgressTooLarge(details={"max_bytes": max_bytes})
            chunks.append(chunk)
            _remaining(deadline)
        return response.status, received, b"".join(chunks)
    except TimeoutError as exc:
        raise EgressTimeout() from exc
    except (OSError, http.client.HTTPException) as exc:
        raise EgressError(details={"reason": type(exc).__name__}) from exc
    finally:
        conn.close()


def guarded_request(
    method: str,
    url: str,
    *,
    allow_hosts: Iterable[str] | None = None,
    only_allowed: bool = False,
    max_bytes: int,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    max_redirects: int = 3,
) -> EgressResponse:
    """Make one outbound HTTP request under the guard's rules (see the module docstring).

    `allow_hosts`: extra entries (host, `*.suffix`, CIDR) trusted for this call only, on top of
    the administrator's list. `only_allowed`: refuse every host that is not on the lists at all
    (link previews fetch only what the admin named). `timeout` bounds the whole call,
    redirects included. Redirects (at most `max_redirects`) are followed for GET and HEAD only;
    another method gets the 3xx answer back. Raises EgressError and its subclasses.
    """
    method = method.upper()
    allow = admin_allow_list()
    if allow_hosts:
        allow = allow | AllowList.parse(allow_hosts)
    deadline = time.monotonic() + timeout
    current = url
    for _hop in range(max_redirects + 1):
        target = _target(current, allow=allow, only_allowed=only_allowed)
        status, received, content = _exchange(
            target, method, headers or {}, body, deadline=deadline, max_bytes=max_bytes
        )
        location = received.get("location")
        if status in REDIRECT_STATUSES and location and method in ("GET", "HEAD"):
            current = urljoin(current, location)
            continue
        return EgressResponse(status=status, headers=received, body=content, url=current)
    raise EgressError(_("Too many redirects."), code="egress_too_many_redirects")
