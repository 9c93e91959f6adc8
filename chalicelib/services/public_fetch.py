"""HTTP clients that only ever connect to public addresses: the guard against fetches into the cloud's own network.

`PublicOnlyTransport` resolves the request's host once, refuses it unless every address is public (`is_public`), and
sends the request to the checked address itself: the URL names the IP (so nothing resolves the name a second time and
a DNS answer cannot change between check and connect), the Host header keeps the name, and TLS is verified against the
name through httpx's `sni_hostname` extension. Every request through the client is checked, whatever sends it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

import httpx

from chalicelib.domain.public_address import Address, host_literal, is_public

Resolver = Callable[[str, int], Iterable[str]]
DEFAULT_PORTS = {"https": 443, "http": 80}


class AddressRefused(Exception):
    """The host is, or resolves to, an address that is not public."""


class HostUnreachable(Exception):
    """The host name does not resolve."""


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses getaddrinfo gives for `host` (ASCII, as in the URL), in its order; OSError when none."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host.encode("ascii"), port, type=socket.SOCK_STREAM)]


def public_address(host: str, port: int, resolver: Resolver = system_resolver) -> Address:
    """The address to connect to for `host`: the first it resolves to, when all of them are public.

    One non-public address refuses the host, rather than connecting to the public ones only: a name that mixes
    public and internal addresses is a rebinding attempt or a misconfiguration, and neither is a source to trust.
    Raises AddressRefused or HostUnreachable; neither message names an address."""
    try:
        literal = host_literal(host)
    except ValueError:
        raise AddressRefused("not a public address") from None
    if literal is not None:
        answers: Iterable[str] = [str(literal)]
    else:
        try:
            answers = list(resolver(host, port))
        except (OSError, ValueError):
            raise HostUnreachable("host does not resolve") from None
    try:
        addresses = [ipaddress.ip_address(answer) for answer in answers]
    except ValueError:
        raise AddressRefused("not a public address") from None
    if not addresses:
        raise HostUnreachable("host does not resolve")
    if not all(is_public(address) for address in addresses):
        raise AddressRefused("not a public address")
    return addresses[0]


class PublicOnlyTransport(httpx.BaseTransport):
    """Sends each request through `inner` to an address `public_address` checked, never to the name itself."""

    def __init__(self, inner: httpx.BaseTransport, resolver: Resolver = system_resolver) -> None:
        self._inner = inner
        self._resolver = resolver

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or DEFAULT_PORTS.get(request.url.scheme, 443)
        address = public_address(host, port, self._resolver)
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=str(address)),
            headers=request.headers,
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return self._inner.handle_request(pinned)

    def close(self) -> None:
        self._inner.close()


def public_client(
    transport: httpx.BaseTransport | None = None, *, resolver: Resolver = system_resolver, timeout: float
) -> httpx.Client:
    """A client whose every request is guarded by `PublicOnlyTransport` around `transport` (a real network transport
    by default); no redirects followed, no proxy or .netrc from the environment, no connection kept for reuse (a
    pooled connection to an IP verified for one name must not carry a request for another)."""
    inner = transport or httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0), trust_env=False)
    return httpx.Client(
        transport=PublicOnlyTransport(inner, resolver),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout),
    )
