"""moto's server standing in for AWS: start it on loopback, point boto3 and PynamoDB at it, create the resources.

The app code is not told it runs locally: it reads the standard AWS variables (endpoint, credentials, region),
so the very same boto3 and PynamoDB calls reach moto instead of AWS.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from chalicelib.config import Settings
from local import moto_dynamodb_json, moto_partition_query, moto_sqs
from local.provision import create_resources

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 5000
FAKE_ACCOUNT_ID = "123456789012"
FAKE_CREDENTIALS = dict.fromkeys(("aws_access_key_id", "aws_secret_access_key", "aws_session_token"), "testing")

# Service-specific endpoint variables win over AWS_ENDPOINT_URL in botocore, so they are set too: a developer's
# shell that points one service elsewhere must not leak into the local stack.
_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_KMS",
)


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time.

    DynamoDB applies a conditional write atomically. moto's DynamoDB backend takes no lock between evaluating a
    condition and applying the write, so behind its threaded server that atomicity rests on when the interpreter
    happens to switch threads. Batch claims, token-refresh locks and dedupe markers all rely on "exactly one winner",
    so DynamoDB calls are serialised here to make it a guarantee. Other services stay concurrent (an SQS long poll
    must not block the rest).
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


class AtomicMotoServer(ThreadedMotoServer):
    """moto's threaded server with DynamoDB's write atomicity restored (see `SerialDynamoDB`)."""

    def _server_entry(self) -> None:
        moto_partition_query.install()
        moto_partition_query.install_transactions()
        moto_dynamodb_json.install()
        moto_sqs.install()
        app = SerialDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    def stop(self) -> None:
        super().stop()
        moto_partition_query.uninstall()
        moto_dynamodb_json.uninstall()
        moto_sqs.uninstall()


def start_moto_server(port: int = 0, host: str = LOOPBACK) -> tuple[ThreadedMotoServer, str]:
    """Start moto's threaded server (port 0 picks a free one); returns it and its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call drowns the app's logs
    server = AtomicMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


class MotoProcess:
    """`AtomicMotoServer` in a child process: moto's work (request parsing, storage, serialisation) then runs on
    another core than the app's handlers, as AWS does, instead of competing with them for one interpreter."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self.host = host
        self.port = port
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start the child and return its endpoint once it accepts requests."""
        self.launch()
        return self.endpoint()

    def launch(self) -> None:
        """Start the child without waiting for it (several servers can then start side by side)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "local.aws", "--host", self.host, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )

    def endpoint(self) -> str:
        """The launched child's endpoint, once it accepts requests."""
        assert self._process is not None
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"moto did not start: {line!r}")
        return line

    def cpu_seconds(self) -> float | None:
        """CPU time the child has used (user + system), from /proc; None where there is no /proc or no child.
        Benches compare it with wall time: a share near 1.0 means moto, one request at a time, was the bottleneck."""
        if self._process is None:
            return None
        try:
            fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None


def aws_environment(endpoint: str, region: str, sqs_endpoint: str | None = None) -> dict[str, str]:
    """The environment variables that send boto3 and PynamoDB to `endpoint` (SQS to `sqs_endpoint` when given)
    with fake credentials."""
    env = dict.fromkeys(_ENDPOINT_VARIABLES, endpoint)
    env["AWS_ENDPOINT_URL_SQS"] = sqs_endpoint or endpoint
    env.update({name.upper(): value for name, value in FAKE_CREDENTIALS.items()})
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
    return env


def client(service: str, endpoint: str, region: str, max_pool_connections: int = 10) -> Any:
    """A boto3 client bound explicitly to `endpoint`, whatever the process environment says."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        **FAKE_CREDENTIALS,
        config=BotoConfig(max_pool_connections=max_pool_connections, retries={"mode": "standard"}),
    )


def provision(endpoint: str, settings: Settings, sqs_endpoint: str | None = None) -> dict[str, str]:
    """Create every declared table on the server at `endpoint` and every queue at `sqs_endpoint` (default: the
    same); returns queue name → URL."""
    dynamodb = client("dynamodb", endpoint, settings.region)
    sqs = client("sqs", sqs_endpoint or endpoint, settings.region)
    try:
        return create_resources(dynamodb, sqs, settings)
    finally:
        dynamodb.close()
        sqs.close()


def main() -> None:
    """Serve `AtomicMotoServer` until terminated; the first line printed is its endpoint."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server, endpoint = start_moto_server(args.port, args.host)
    print(endpoint, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
