"""The public-address policy and the numeric host forms resolvers accept: every disguise of an internal address is
recognised, public addresses pass, and a source URL naming one of them is refused before anything is fetched."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import materials as rules
from chalicelib.domain.public_address import host_literal, is_public

LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
NOT_PUBLIC_NETWORKS = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "3fff::/20",
    "5f00::/16",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
]
PUBLIC = ["8.8.8.8", "93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "2002:808:808::1"]


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0", "0.0.0.0"),  # noqa: S104
        ("127.0.0.1.", "127.0.0.1"),
        ("10.0.0.8", "10.0.0.8"),
        ("169.254.169.254", "169.254.169.254"),
        ("::1", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1", "fe80::1"),
        ("fe80::1%25eth0", "fe80::1%25eth0"),
    ],
)
def test_numeric_hosts_are_read_as_the_resolver_reads_them_and_are_not_public(host: str, address: str) -> None:
    literal = host_literal(host)
    assert literal == ipaddress.ip_address(address)
    assert literal is not None
    assert not is_public(literal)


@pytest.mark.parametrize("host", ["cdn.example.com", "localhost", "localhost.", "1a", "a.0x1g", "xn--fiqs8s.cn"])
def test_names_are_left_to_resolution(host: str) -> None:
    assert host_literal(host) is None


@pytest.mark.parametrize("host", ["1.2.3.256", "1.2.3.4.5", "1.2.65536", "4294967296", "09", "1..2", "a.1", "::g"])
def test_hosts_ending_in_a_number_that_are_no_address_are_errors(host: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - ipaddress and int both raise plain ValueError
        host_literal(host)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "255.255.255.255",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "192.0.2.1",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "fec0::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "2002:7f00:1::1",
        "2002:a00:1::1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "2001:db8::1",
    ],
)
def test_internal_special_and_disguised_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_unicast_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@given(st.sampled_from(NOT_PUBLIC_NETWORKS).flatmap(lambda network: st.ip_addresses(network=network)))
def test_no_address_of_a_special_network_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert not is_public(address)


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_is_not_public_in_any_ipv6_disguise(inner: ipaddress.IPv4Address) -> None:
    value = int(inner)
    mapped = ipaddress.IPv6Address((0xFFFF << 32) | value)
    compatible = ipaddress.IPv6Address(value)
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1)
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | value)
    teredo = ipaddress.IPv6Address((0x20010000 << 96) | (value << 64) | (0xFFFFFFFF ^ value))
    assert not is_public(mapped)
    assert not is_public(compatible)
    assert not is_public(teredo)
    if not is_public(inner):
        assert not is_public(sixtofour)
        assert not is_public(nat64)


@given(st.ip_addresses())
def test_a_public_address_is_global_unicast(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if is_public(address):
        assert address.is_global
        assert not address.is_multicast
        assert not address.is_private
        assert not address.is_loopback


@given(st.integers(0, 2**32 - 1))
def test_every_numeric_spelling_of_an_ipv4_address_is_that_address(value: int) -> None:
    address = ipaddress.IPv4Address(value)
    a, b, c, d = address.packed
    for spelling in (
        str(value),
        hex(value),
        "0" + oct(value)[2:],
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"{a:#o}.{b:#x}.{c}.{d}.".replace("0o", "0"),
    ):
        assert host_literal(spelling) == address, spelling


@given(st.from_regex(r"\A[0-9xX.a-f]{1,20}\Z"))
def test_what_inet_aton_reads_as_an_address_is_that_address_or_refused(host: str) -> None:
    try:
        expected = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return
    with contextlib.suppress(ValueError):
        assert host_literal(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "0",
        "127.0.0.1.",
        "localhost.",
        "LOCALHOST",
        "metadata.google.internal.",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[fe80::1]",
        "[fe80::1%25eth0]",
        "[64:ff9b::a9fe:a9fe]",
        "[2002:a9fe:a9fe::]",
        "1.2.3.256",
        "0x7f.1",
    ],
)
def test_source_urls_naming_internal_hosts_are_refused_before_fetching(host: str) -> None:
    assert rules.https_url_problem(f"https://{host}/a.png") == "must name a public host"
    assert rules.https_url_problem(f"https://{host}:8443/a.png") == "must name a public host"


@pytest.mark.parametrize("host", ["cdn.example.com", "cdn.example.com.", "8.8.8.8", "[2606:4700:4700::1111]"])
def test_source_urls_naming_public_hosts_pass(host: str) -> None:
    assert rules.https_url_problem(f"https://{host}/a.png") is None
