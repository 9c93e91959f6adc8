"""The app's HTTP API on loopback, served by Chalice's own local gateway (the API Gateway stand-in of `chalice local`).

Chalice's threaded server handles requests concurrently, and its app class swap makes `app.current_request`
thread-local, so concurrent requests do not see each other's request.
"""

from __future__ import annotations

import functools
import json
import threading
import warnings
from pathlib import Path

from chalice.app import Chalice
from chalice.config import Config
from chalice.constants import DEFAULT_APIGATEWAY_STAGE_NAME, DEFAULT_ENDPOINT_TYPE
from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer, create_local_server

from local.aws import LOOPBACK

PROJECT_DIR = Path(__file__).resolve().parents[1]

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
