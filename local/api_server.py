"""The app's HTTP API on loopback, served by Chalice's own local gateway (the API Gateway stand-in of `chalice local`).

Chalice's threaded server handles requests concurrently, and its app class swap makes `app.current_request`
thread-local, so concurrent requests do not see each other's request. `ApiProcess` serves it from a process of its
own, as API Gateway's function runs apart from the queue workers on AWS.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing.context
import os
import threading
import warnings
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.constants import DEFAULT_APIGATEWAY_STAGE_NAME, DEFAULT_ENDPOINT_TYPE
from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer, create_local_server

from local.aws import LOOPBACK
from local.function_processes import load_app

PROJECT_DIR = Path(__file__).resolve().parents[1]
PUBLIC_BASE_URL = "PUBLIC_BASE_URL"

# The ops routes use IAM when deployed; locally Chalice cannot enforce IAM and says so on every request. The local
# stack stands in with the ops key (OPS_KEY_SHA256), so the warning is noise here.
warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")


def chalice_config(app: Chalice, stage: str, project_dir: Path = PROJECT_DIR) -> Config:
    """The stage's Chalice configuration from `.chalice/config.json`, for `app`, with the chalice CLI's defaults."""
    config_file = project_dir / ".chalice" / "config.json"
    from_disk = json.loads(config_file.read_text()) if config_file.exists() else {}
    return Config(
        chalice_stage=stage,
        user_provided_params={"chalice_app": app},
        config_from_disk=from_disk,
        default_params={
            "project_dir": str(project_dir),
            "api_gateway_stage": DEFAULT_APIGATEWAY_STAGE_NAME,
            "api_gateway_endpoint_type": DEFAULT_ENDPOINT_TYPE,
            "autogen_policy": True,
        },
    )


class QuietRequestHandler(ChaliceRequestHandler):
    """Chalice's request handler without its access log line per request (for `make run`'s progress bars)."""

    def log_message(self, format: str, *args: object) -> None:
        return


class ApiServer:
    """Serves `app`'s routes over HTTP in a background thread."""

    def __init__(
        self, app: Chalice, *, port: int = 0, host: str = LOOPBACK, stage: str = "local", access_log: bool = True
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.host = host
        self.port = port
        self.stage = stage
        self._server: LocalDevServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the API, without a trailing slash."""
        if self._server is None:
            raise RuntimeError("the API server is not started")
        host, port = self._server.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Bind the port and serve in a background thread."""
        config = chalice_config(self.app, self.stage)
        if isinstance(self.app, LocalChalice):
            # Already converted by an earlier server in this process; converting twice would make the class
            # inherit from itself.
            self._server = LocalDevServer(self.app, config, self.host, self.port)
        else:
            self._server = create_local_server(self.app, config, self.host, self.port)
        if not self.access_log:
            handler = self._server.server.RequestHandlerClass
            self._server.server.RequestHandlerClass = functools.partial(QuietRequestHandler, **handler.keywords)
        self._thread = threading.Thread(target=self._server.server.serve_forever, name="api-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server.server_close()
        self._thread.join()
        self._server = None
        self._thread = None


def _serve_api(
    connection: Connection,
    app_ref: str,
    host: str,
    port: int,
    stage: str,
    access_log: bool,
    environment: dict[str, str],
    publish_url: bool,
) -> None:
    """The API process: serve until the parent closes its end of the pipe; with `publish_url`, its own URL is the
    PUBLIC_BASE_URL it shows (known only once the port is bound)."""
    os.environ.clear()
    os.environ.update(environment)
    server = ApiServer(load_app(app_ref), host=host, port=port, stage=stage, access_log=access_log)
    try:
        server.start()
    except OSError as error:
        connection.send(("error", str(error)))
        return
    if publish_url:
        os.environ[PUBLIC_BASE_URL] = server.url
    connection.send(("ready", server.url))
    with contextlib.suppress(EOFError, OSError):
        connection.recv()
    server.stop()


class ApiProcess:
    """`ApiServer` for the app named by `app_ref` ('module:attribute'), in a process of its own started from
    `context` (the forkserver the function workers start from); `publish_url` makes its URL the PUBLIC_BASE_URL of
    that process."""

    def __init__(
        self,
        app_ref: str,
        environment: dict[str, str],
        context: multiprocessing.context.ForkServerContext,
        *,
        port: int = 0,
        host: str = LOOPBACK,
        stage: str = "local",
        access_log: bool = True,
        publish_url: bool = False,
    ) -> None:
        self.app_ref = app_ref
        self.environment = dict(environment)
        self._context = context
        self.host = host
        self.port = port
        self.stage = stage
        self.access_log = access_log
        self.publish_url = publish_url
        self._url = ""
        self._process: Any = None
        self._connection: Connection | None = None

    @property
    def url(self) -> str:
        """Base URL of the API, without a trailing slash."""
        if not self._url:
            raise RuntimeError("the API server is not started")
        return self._url

    def start(self) -> None:
        """Start the process; returns once it serves. OSError when it cannot bind."""
        self._connection, child_end = self._context.Pipe()
        self._process = self._context.Process(
            target=_serve_api,
            args=(
                child_end,
                self.app_ref,
                self.host,
                self.port,
                self.stage,
                self.access_log,
                self.environment,
                self.publish_url,
            ),
            name="api-server",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        try:
            status, detail = self._connection.recv()
        except EOFError:
            status, detail = "error", "the API process exited before serving"
        if status != "ready":
            self.stop()
            raise OSError(f"the API server could not start on {self.host}:{self.port}: {detail}")
        self._url = detail

    def stop(self) -> None:
        """Stop serving and end the process."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
            self._process = None
        self._url = ""
