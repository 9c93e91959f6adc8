"""The embedded local stack: moto's server for AWS, the event-source pump for Lambda, Chalice's gateway for the API.

`LocalStack` brings the three up, provisions the declared tables and queues, and points the process environment at
them so the unchanged app code runs against it; stop() undoes all of it. For the project's app every part runs apart,
as on AWS: moto in two child processes (SQS in one, DynamoDB and the rest in the other: on AWS a table's write
burst does not slow a queue down, and the welcome path is all SQS), the API in another, and each function's
invocations in worker processes of its own (`local.function_processes`), so the pump's pollers are all that runs in
the caller's process. A custom app (a
test's) is served and pumped on threads of this process instead, since other processes cannot import it.
"""

from __future__ import annotations

import os
import pkgutil
from types import TracebackType
from typing import Any

from chalice.app import Chalice
from chalice.config import Config

import chalicelib.workers
from chalicelib.config import Settings, get_settings
from chalicelib.store.tables import bind_models
from chalicelib.store.tenants import forget_cached_tenants
from local import aws
from local.api_server import PUBLIC_BASE_URL, ApiProcess, ApiServer, chalice_config
from local.function_processes import process_context
from local.pump import EventSourcePump, LambdaLimits, ProcessIsolation

DEFAULT_REGION = "cn-north-1"
DEFAULT_API_PORT = 8000
PROJECT_APP = "app:app"
# Imported once in the forkserver the function workers start from (app.py imports them only inside its handlers),
# with the local modules a bench's or a test's main module imports, which every worker imports again as __mp_main__.
WORKER_MODULES = (
    *(f"chalicelib.workers.{m.name}" for m in pkgutil.iter_modules(chalicelib.workers.__path__)),
    "local.burst",
    "local.environment",
    "local.mass_message",
)


def function_limits(config: Config, stage: str, function_name: str) -> LambdaLimits:
    """A function's timeout and memory as `chalice package` would deploy them (per-function settings win)."""
    scoped = config.scope(stage, function_name)
    return LambdaLimits(scoped.lambda_timeout or 30, scoped.lambda_memory_size or 256)


def caller_log_level() -> dict[str, str]:
    """The caller's LOG_LEVEL, when it set one, over the stage's: `make run` quiets every process's INFO lines so its
    progress bars stay readable; the API and the workers are other processes and read it from their environment."""
    level = os.environ.get("LOG_LEVEL")
    return {"LOG_LEVEL": level} if level else {}


class LocalStack:
    """moto server + provisioned resources + HTTP API + event-source pump."""

    def __init__(
        self,
        app: Chalice | None = None,
        *,
        aws_port: int = 0,
        api_port: int = 0,
        stage: str = "local",
        region: str = DEFAULT_REGION,
        speed: float = 1.0,
        run_pump: bool = True,
        access_log: bool = True,
        environment: dict[str, str] | None = None,
        isolated: bool | None = None,
    ) -> None:
        """`app` defaults to the project's app; ports 0 pick free ones; `environment` adds or overrides variables
        (for example WECOM_BASE_URL pointing at the simulator); `speed` divides schedule periods; `isolated` (default:
        for the project's app) runs the API and each function in processes of their own, False keeps them on
        threads of this process (for a caller that observes the handlers' AWS calls through its botocore)."""
        self._app = app
        self.isolated = app is None if isolated is None else isolated
        self.aws_port = aws_port
        self.api_port = api_port
        self.stage = stage
        self.region = region
        self.speed = speed
        self.run_pump = run_pump
        self.access_log = access_log
        self.extra_environment = environment or {}
        self.aws_endpoint = ""
        self.sqs_endpoint = ""
        self.queue_urls: dict[str, str] = {}
        self._settings: Settings | None = None
        self._moto: aws.MotoProcess | None = None
        self._moto_sqs: aws.MotoProcess | None = None
        self._api: ApiServer | ApiProcess | None = None
        self._pump: EventSourcePump | None = None
        self._clients: dict[str, Any] = {}
        self._saved_environment: dict[str, str | None] = {}

    @property
    def app(self) -> Chalice:
        if self._app is None:
            from app import app as project_app

            self._app = project_app
        return self._app

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("the local stack is not started")
        return self._settings

    @property
    def api_url(self) -> str:
        if self._api is None:
            raise RuntimeError("the local stack is not started")
        return self._api.url

    @property
    def pump(self) -> EventSourcePump | None:
        return self._pump

    def moto_cpu_seconds(self) -> float | None:
        """CPU seconds the DynamoDB (and SSM) moto server has used so far; None when it is not a child process."""
        return self._moto.cpu_seconds() if self._moto is not None else None

    def client(self, service: str) -> Any:
        """A boto3 client for `service` on the stack's moto server (cached; closed on stop)."""
        if service not in self._clients:
            endpoint = self.sqs_endpoint if service == "sqs" else self.aws_endpoint
            self._clients[service] = aws.client(service, endpoint, self.region, max_pool_connections=50)
        return self._clients[service]

    def start(self) -> LocalStack:
        """Bring everything up; on failure, whatever was started is stopped again."""
        try:
            self._moto = aws.MotoProcess(port=self.aws_port)
            self._moto_sqs = aws.MotoProcess()
            self._moto.launch()
            self._moto_sqs.launch()
            self.aws_endpoint = self._moto.endpoint()
            self.sqs_endpoint = self._moto_sqs.endpoint()
            config = chalice_config(self.app, self.stage)
            self._set_environment(
                {
                    **config.environment_variables,
                    **caller_log_level(),
                    "STAGE": self.stage,
                    **aws.aws_environment(self.aws_endpoint, self.region, self.sqs_endpoint),
                    **self.extra_environment,
                }
            )
            self._settings = get_settings()
            self.queue_urls = aws.provision(self.aws_endpoint, self._settings, self.sqs_endpoint)
            bind_models(self._settings)
            # This process may have served an earlier stack: what it cached of that stack's tenants (same ids, other
            # companies) is not in this one's store.
            forget_cached_tenants()
            context = process_context([PROJECT_APP.partition(":")[0], *WORKER_MODULES]) if self.isolated else None
            # The API's own URL is where the stack's tenants are told to send callbacks, unless the caller says.
            publish_url = PUBLIC_BASE_URL not in self.extra_environment
            if context is not None:
                self._api = ApiProcess(
                    PROJECT_APP,
                    dict(os.environ),
                    context,
                    port=self.api_port,
                    stage=self.stage,
                    access_log=self.access_log,
                    publish_url=publish_url,
                )
            else:
                self._api = ApiServer(self.app, port=self.api_port, stage=self.stage, access_log=self.access_log)
            self._api.start()
            if publish_url:
                self._set_environment({PUBLIC_BASE_URL: self._api.url})
            if self.run_pump:
                self._pump = EventSourcePump(
                    self.app,
                    self._settings,
                    self.client("sqs"),
                    stage=self.stage,
                    speed=self.speed,
                    limits=lambda name: function_limits(config, self.stage, name),
                    isolation=ProcessIsolation(PROJECT_APP, dict(os.environ), context) if context else None,
                )
                self._pump.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the pump (after its running batches), the API and moto; restore the environment."""
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
        if self._api is not None:
            self._api.stop()
            self._api = None
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for moto in (self._moto, self._moto_sqs):
            if moto is not None:
                moto.stop()
        self._moto = self._moto_sqs = None
        self._restore_environment()

    def _set_environment(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
