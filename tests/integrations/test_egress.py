"""The egress guard against real sockets: a loopback HTTP server of the tests, and the
resolver boundary (`apps.core.egress.resolve`) patched where a DNS answer is the attack."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from typing import Any

import pytest

from apps.core import egress
from apps.core.egress import EgressRefused, EgressTimeout, EgressTooLarge, guarded_request
from tests.integrations.http_server import LoopbackServer, Received

# The organisation's allow list (a database row) is part of every check.
pytestmark = pytest.mark.django_db


def _ok(_request: Received) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/plain"}, b"hello"


def test_loopback_is_refused_without_allow_list(loopback_server: LoopbackServer) -> None:
    loopback_server.route("/", _ok)
    with pytest.raises(EgressRefused) as caught:
        guarded_request("GET", loopback_server.url("/"), max_bytes=1000, timeout=2)
    assert caught.value.details["category"] == "loopback"
    assert loopback_server.requests == []


def test_ipv6_loopback_and_mapped_forms_are_refused() -> None:
    for url in ("http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/"):
        with pytest.raises(EgressRefused):
            guarded_request("GET", url, max_bytes=1000, timeout=2)


def test_metadata_address_is_refused() -> None:
    with pytest.raises(EgressRefused) as caught:
        guarded_request(
            "GET", "http://169.254.169.254/latest/meta-data/", max_bytes=1000, timeout=2
        )
    assert caught.value.details["category"] == "link_local"


def test_allow_listed_name_never_opens_the_metadata_address(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["wiki.corp.example"]
    monkeypatch.setattr(
        egress, "resolve", lambda host, port: [ipaddress.ip_address("169.254.169.254")]
    )
    with pytest.raises(EgressRefused):
        guarded_request("GET", "http://wiki.corp.example/", max_bytes=1000, timeout=2)


@pytest.fixture
def private_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`intranet.example` resolves to a private address; the names asked are recorded."""
    asked: list[str] = []

    def fake_resolve(host: str, port: int) -> list[Any]:
        asked.append(host)
        if host == "intranet.example":
            return [ipaddress.ip_address("10.1.2.3")]
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(egress, "resolve", fake_resolve)
    return asked


def test_name_resolving_to_private_address_is_refused(private_dns: list[str]) -> None:
    with pytest.raises(EgressRefused) as caught:
        guarded_request("GET", "http://intranet.example/page", max_bytes=1000, timeout=2)
    assert caught.value.details == {"host": "intranet.example", "category": "private"}
    assert private_dns == ["intranet.example"]


def test_mixed_dns_answer_with_one_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        egress,
        "resolve",
        lambda host, port: [
            ipaddress.ip_address("93.184.216.34"),
            ipaddress.ip_address("10.0.0.1"),
        ],
    )
    with pytest.raises(EgressRefused):
        guarded_request("GET", "http://example.com/", max_bytes=1000, timeout=2)


def test_connection_goes_to_the_checked_address_not_a_second_lookup(
    monkeypatch: pytest.MonkeyPatch, loopback_server: LoopbackServer, settings: Any
) -> None:
    """DNS is asked once per hop; the socket opens to that answer (no rebinding window)."""
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["pinned.example"]
    answers = iter([[ipaddress.ip_address("127.0.0.1")], [ipaddress.ip_address("10.9.9.9")]])
    monkeypatch.setattr(egress, "resolve", lambda host, port: next(answers))
    seen_host: list[str] = []

    def handler(request: Received) -> tuple[int, dict[str, str], bytes]:
        seen_host.append(request.headers["host"])
        return 200, {}, b"pinned"

    loopback_server.route("/", handler)
    response = guarded_request(
        "GET", f"http://pinned.example:{loopback_server.port}/", max_bytes=100, timeout=2
    )
    assert response.body == b"pinned"
    assert seen_host == [f"pinned.example:{loopback_server.port}"]


def test_redirect_to_private_address_is_refused(
    loopback_server: LoopbackServer, settings: Any
) -> None:
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    loopback_server.route("/go", lambda r: (302, {"Location": "http://10.0.0.5/admin"}, b""))
    with pytest.raises(EgressRefused) as caught:
        guarded_request("GET", loopback_server.url("/go"), max_bytes=1000, timeout=2)
    assert caught.value.details["host"] == "10.0.0.5"


def test_redirect_to_metadata_is_refused(loopback_server: LoopbackServer, settings: Any) -> None:
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    loopback_server.route(
        "/go", lambda r: (301, {"Location": "http://169.254.169.254/latest/"}, b"")
    )
    with pytest.raises(EgressRefused):
        guarded_request("GET", loopback_server.url("/go"), max_bytes=1000, timeout=2)


def test_allowed_redirect_is_followed(loopback_server: LoopbackServer, settings: Any) -> None:
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    loopback_server.route("/go", lambda r: (302, {"Location": "/final"}, b""))
    loopback_server.route("/final", _ok)
    response = guarded_request("GET", loopback_server.url("/go"), max_bytes=1000, timeout=2)
    assert (response.status, response.body) == (200, b"hello")
    assert response.url.endswith("/final")


def test_redirect_loop_stops(loopback_server: LoopbackServer, settings: Any) -> None:
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    loopback_server.route("/loop", lambda r: (302, {"Location": "/loop"}, b""))
    with pytest.raises(egress.EgressError) as caught:
        guarded_request("GET", loopback_server.url("/loop"), max_bytes=1000, timeout=2)
    assert caught.value.code == "egress_too_many_redirects"


def test_declared_size_over_limit_is_refused(
    loopback_server: LoopbackServer, settings: Any
) -> None:
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    loopback_server.route("/big", lambda r: (200, {}, b"x" * 5000))
    with pytest.raises(EgressTooLarge):
        guarded_request("GET", loopback_server.url("/big"), max_bytes=4096, timeout=2)


def test_undeclared_size_over_limit_is_cut_off(
    loopback_server: LoopbackServer, settings: Any
) -> None:
    """A chunked answer without Content-Length is counted while it is read."""
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]

    def endless(_r: Received) -> tuple[int, dict[str, str], Any]:
        chunk = b"y" * 1024
        piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        return 200, {"Transfer-Encoding": "chunked"}, iter([piece] * 100 + [b"0\r\n\r\n"])

    loopback_server.route("/stream", endless)
    with pytest.raises(EgressTooLarge):
        guarded_request("GET", loopback_server.url("/stream"), max_bytes=10_000, timeout=5)


def test_slow_server_hits_the_total_timeout(loopback_server: LoopbackServer, settings: Any) -> None:
    """A server dripping bytes (each read is quick) is cut off by the total deadline."""
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]

    def drip() -> Iterator[bytes]:
        for _ in range(20):
            time.sleep(0.2)
            yield b"1\r\nz\r\n"
        yield b"0\r\n\r\n"

    loopback_server.route("/slow", lambda r: (200, {"Transfer-Encoding": "chunked"}, drip()))
    started = time.monotonic()
    with pytest.raises(EgressTimeout):
        guarded_request("GET", loopback_server.url("/slow"), max_bytes=10_000, timeout=1.0)
    assert time.monotonic() - started < 2.5


def test_silent_server_times_out(loopback_server: LoopbackServer, settings: Any) -> None:
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]

    def silent(_r: Received) -> tuple[int, dict[str, str], bytes]:
        time.sleep(2)
        return 200, {}, b"late"

    loopback_server.route("/silent", silent)
    with pytest.raises(EgressTimeout):
        guarded_request("GET", loopback_server.url("/silent"), max_bytes=100, timeout=0.5)


def test_network_allow_list_entry_opens_a_range(
    loopback_server: LoopbackServer, settings: Any
) -> None:
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.0/8"]
    loopback_server.route("/", _ok)
    response = guarded_request("GET", loopback_server.url("/"), max_bytes=100, timeout=2)
    assert response.body == b"hello"


def test_only_allowed_refuses_public_hosts_not_on_the_list() -> None:
    with pytest.raises(EgressRefused) as caught:
        guarded_request("GET", "http://example.com/", only_allowed=True, max_bytes=100, timeout=2)
    assert caught.value.code == "egress_host_not_allowed"


def test_non_http_schemes_are_refused() -> None:
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "http://user:pw@example.com/"):
        with pytest.raises(EgressRefused) as caught:
            guarded_request("GET", url, max_bytes=100, timeout=2)
        assert caught.value.code == "egress_bad_url"
