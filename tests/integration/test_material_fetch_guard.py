"""Material fetches never reach an internal address: a real listener on loopback stays untouched, through the admin
API, the fetch itself and media renewal, for every numeric, dotted, IPv6 and DNS-rebinding form of the host; the
checked address is the one connected to, with TLS verified against the URL's name."""

from __future__ import annotations

import contextlib
import datetime
import http.server
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.domain import materials as rules
from chalicelib.domain.wecom_limits import MEDIA_TTL_SECONDS
from chalicelib.services import materials, public_fetch
from chalicelib.services.materials import MaterialLibrary, MaterialUnavailable, fetch_source
from chalicelib.services.public_fetch import PublicOnlyTransport, public_client, system_resolver
from tests.tenancy import call, create_tenant

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

PUBLIC = "93.184.215.14"
PNG = rules.PNG_MAGIC + b"\x07" * 256
REBINDING = {
    "rebind.example.com": ["127.0.0.1"],
    "mixed.example.com": [PUBLIC, "127.0.0.1"],
    "v6.example.com": ["::1"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "zero.example.com": ["0.0.0.0"],  # noqa: S104 - an answer to refuse, nothing binds it
    "shared.example.com": ["100.64.0.1"],
}
LITERAL_FORMS = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
    "0x7f.1",
    "0",
    "127.0.0.1.",
    "localhost",
    "localhost.",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[0:0:0:0:0:ffff:7f00:1]",
    "[fe80::1]",
]
LIVE_FORMS = ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "0", "localhost"]


class Listener:
    """A TCP listener on 127.0.0.1 (and ::1 on the same port when free) counting the connections it accepts."""

    def __init__(self) -> None:
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        with contextlib.suppress(OSError):
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        self._peers: list[tuple] = []
        self._markers: set[tuple] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select(self.sockets, [], [], 0.05)
            for server in ready:
                connection, peer = server.accept()
                self._peers.append(peer[:2])
                connection.close()

    def accepted(self) -> int:
        """Connections accepted so far, every one already queued included: a marker connection on each socket is
        accepted after all that came before it, and is not counted."""
        for server in self.sockets:
            with socket.create_connection(server.getsockname()[:2], timeout=2) as marker:
                mine = marker.getsockname()[:2]
                self._markers.add(mine)
                deadline = time.monotonic() + 5
                while mine not in self._peers and time.monotonic() < deadline:
                    time.sleep(0.005)
            assert mine in self._peers, "the listener did not accept its marker connection"
        return sum(peer not in self._markers for peer in self._peers)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for server in self.sockets:
            server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def resolver(host: str, port: int) -> list[str]:
    """The rebinding names from the table, everything else from the system resolver."""
    return REBINDING[host] if host in REBINDING else system_resolver(host, port)


@pytest.fixture
def guarded(monkeypatch) -> httpx.Client:
    """The material fetches' client on the real network transport, its resolver serving the rebinding names."""
    client = public_client(resolver=resolver, timeout=2)
    monkeypatch.setattr(materials, "source_http", lambda: client)
    return client


@pytest.mark.parametrize("host", LIVE_FORMS)
def test_the_listener_is_reachable_by_these_forms_without_the_guard(listener, host) -> None:
    with socket.create_connection((host, listener.port), timeout=2):
        pass
    assert listener.accepted() == 1


@pytest.mark.parametrize("host", LITERAL_FORMS + list(REBINDING))
def test_the_admin_api_refuses_internal_sources_and_never_connects(api, listener, guarded, host) -> None:
    token = create_tenant(api, tenant_id="shop")["admin_key"]["token"]
    body = {"type": "image", "title": "x", "source_url": f"https://{host}:{listener.port}/a.png"}
    response = call(api, "POST", "/v1/materials", token, body)
    assert response.status_code in (400, 422), response.body
    assert response.json_body["Code"] in ("BadRequestError", "UnprocessableEntityError")
    assert response.json_body["Message"] in (
        "source_url: must name a public host",
        "source_url refused: not a public address",
    )
    assert call(api, "GET", "/v1/materials", token).json_body["materials"] == []
    assert listener.accepted() == 0


@pytest.mark.parametrize("host", LITERAL_FORMS + list(REBINDING))
def test_the_fetch_refuses_internal_sources_without_the_url_check(listener, guarded, host) -> None:
    with pytest.raises((rules.InvalidMaterial, rules.SourceUnavailable)) as raised:
        fetch_source(guarded, f"https://{host}:{listener.port}/a.png", 1 << 20)
    assert str(raised.value) in (
        "source_url refused: not a public address",
        "source_url unreachable",
        "source_url: not a valid URL",
    )
    assert listener.accepted() == 0


@pytest.mark.parametrize("url", ["https://xn--/a.png", "https://a..b/a.png", "https://" + "a" * 64 + ".cn/a.png"])
def test_odd_urls_are_refused_not_crashed_on(guarded, url) -> None:
    with pytest.raises((rules.InvalidMaterial, rules.SourceUnavailable)):
        fetch_source(guarded, url, 1 << 20)


class Media:
    """A WeCom app whose uploads succeed."""

    def __init__(self) -> None:
        self.uploads = 0

    def upload(self, api: str, params: dict, files: dict) -> dict:
        self.uploads += 1
        return {"media_id": f"media-{self.uploads}"}


def test_renewal_refuses_a_source_that_rebinds_to_an_internal_address(aws, listener, monkeypatch) -> None:
    answers = {"cdn.example.com": [PUBLIC]}
    served = public_client(
        httpx.MockTransport(lambda request: httpx.Response(200, content=PNG)),
        resolver=lambda host, port: answers[host],
        timeout=2,
    )
    monkeypatch.setattr(materials, "source_http", lambda: served)
    now = [1_700_000_000.0]
    library = MaterialLibrary("shop", wecom=Media, clock=lambda: now[0])
    created = library.create(
        rules.MaterialSpec(type="image", title="x", source_url=f"https://cdn.example.com:{listener.port}/a.png")
    )
    answers["cdn.example.com"] = ["127.0.0.1"]
    monkeypatch.setattr(materials, "source_http", lambda: public_client(resolver=lambda h, p: answers[h], timeout=2))
    now[0] += MEDIA_TTL_SECONDS - rules.REFRESH_MARGIN_SECONDS + 60
    assert library.attachments([created.material_id])[created.material_id]["image"]["media_id"] == "media-1"
    now[0] += rules.REFRESH_MARGIN_SECONDS
    with pytest.raises(MaterialUnavailable, match=r"source_url refused: not a public address$"):
        library.attachments([created.material_id])
    assert listener.accepted() == 0


def certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for `name` and its key, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[int, str, list[tuple[str | None, str | None]]]]:
    """An HTTPS server on 127.0.0.1 for cdn.example.com; yields its port, the certificate (PEM) and the (SNI name,
    Host header) of each request."""
    cert, key = certificate("cdn.example.com")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    seen: list[tuple[str | None, str | None]] = []
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda _socket, name, _context: names.append(name)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((names[-1], self.headers["host"]))
            self.send_response(200)
            self.send_header("content-length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], cert.decode(), seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_checked_address_is_connected_to_and_tls_checks_the_urls_name(tls_server, monkeypatch) -> None:
    port, cert, seen = tls_server
    monkeypatch.setattr(public_fetch, "is_public", lambda address: True)  # let loopback stand in for a public host
    looked_up: list[object] = []
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, *a, **k: looked_up.append(host) or real_getaddrinfo(host, *a, **k)
    )
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    inner = httpx.HTTPTransport(verify=ssl.create_default_context(cadata=cert))
    with httpx.Client(transport=PublicOnlyTransport(inner, resolve), trust_env=False, timeout=5) as client:
        response = client.get(f"https://cdn.example.com:{port}/a.png")
        assert response.status_code == 200
        assert response.content == PNG
        assert seen == [("cdn.example.com", f"cdn.example.com:{port}")]
        with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED"):
            client.get(f"https://other.example.com:{port}/a.png")
    assert asked == ["cdn.example.com", "other.example.com"]
    assert all(host in ("127.0.0.1", b"127.0.0.1") for host in looked_up), looked_up
