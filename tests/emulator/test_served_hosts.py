"""Which Host headers and Origins a running emulator accepts, for each kind of address it can be bound to."""

from __future__ import annotations

import socket

import pytest

from runcomfy.emulator.hosts import ServedHosts, split_authority


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("127.0.0.1:8188", ("127.0.0.1", 8188)),
        ("LocalHost:8188", ("localhost", 8188)),
        ("[::1]:8188", ("::1", 8188)),
        ("[::1]", ("::1", 80)),
        ("example.com", ("example.com", 80)),
        ("example.com:", None),
        ("example.com:http", None),
        ("example.com:99999", None),
        ("example.com:0", None),
        ("::1:8188", None),
        ("[::1", None),
        ("[::1]x", None),
        (":8188", None),
        ("", None),
        ("ex ample.com:1\r\n", None),
        ("exämple.com:1", None),
        ("example.com:¹", None),
    ],
)
def test_split_authority(authority: str, expected: tuple[str, int] | None) -> None:
    assert split_authority(authority) == expected


def test_a_loopback_bind_serves_only_loopback_names_on_its_port() -> None:
    served = ServedHosts("127.0.0.1", 8188)
    for host in ("127.0.0.1:8188", "localhost:8188", "[::1]:8188", "LOCALHOST:8188"):
        assert served.accepts(host), host
    for host in ("127.0.0.1:8189", "127.0.0.1", "evil.example:8188", "192.168.1.5:8188", "", None):
        assert not served.accepts(host), host


def test_a_non_loopback_bind_also_serves_its_own_host() -> None:
    served = ServedHosts("192.168.1.5", 9000)
    assert served.accepts("192.168.1.5:9000") and served.accepts("localhost:9000")
    assert not served.accepts("192.168.1.6:9000") and not served.accepts("evil.example:9000")
    assert ServedHosts("::1", 9000).accepts("[::1]:9000")
    assert ServedHosts("[fd00::5]", 9000).accepts("[FD00::5]:9000")


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_a_wildcard_bind_serves_ip_literals_and_the_host_name_but_no_other_name(wildcard: str) -> None:
    served = ServedHosts(wildcard, 8188)
    for host in ("10.1.2.3:8188", "[fd00::1]:8188", "localhost:8188", f"{socket.gethostname()}:8188"):
        assert served.accepts(host), host
    # A DNS name other than the machine's own could be re-pointed at it by anyone who owns that name.
    assert not served.accepts("evil.example:8188")
    assert not served.accepts("10.1.2.3:8189")


def test_same_origin_means_the_origin_the_request_reached() -> None:
    served = ServedHosts("127.0.0.1", 8188)
    assert served.same_origin("http://127.0.0.1:8188", "127.0.0.1:8188")
    assert served.same_origin("HTTP://LOCALHOST:8188", "localhost:8188")
    assert not served.same_origin("http://localhost:8188", "127.0.0.1:8188")  # another origin in a browser
    assert not served.same_origin("http://evil.example", "evil.example")  # a rebound name is never ours
    assert not served.same_origin("https://127.0.0.1:8188", "127.0.0.1:8188")
    assert not served.same_origin("null", "127.0.0.1:8188")
    assert not served.same_origin("http://127.0.0.1:8188/path", "127.0.0.1:8188")
