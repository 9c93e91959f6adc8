"""The demo environment: the WeCom simulator, the local stack pointed at it, and a tenant provisioned for its
demo company through the ops API, exactly as an operator would onboard one."""

from __future__ import annotations

import hashlib
import signal
import threading
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

import httpx

from local.stack import LocalStack
from local.wecom_sim import Company, SimConfig, Simulator

LOCAL_OPS_KEY = "local-ops-key"
DEMO_TENANT_ID = "demo"
ADMIN_TIMEOUT_SECONDS = 120.0
"""The first request of a function process imports the app; on a loaded machine that alone can take tens of seconds."""


@dataclass
class DemoTenant:
    """The provisioned tenant: its id and the admin key shown once at creation."""

    tenant_id: str
    admin_key: str


class DemoEnvironment:
    """Simulator + local stack + a demo tenant; ports 0 pick free ones."""

    def __init__(
        self,
        *,
        api_port: int = 0,
        wecom_port: int = 0,
        aws_port: int = 0,
        employees: int = 50,
        customers: int = 2_000,
        group_chats: int | None = None,
        group_members: int | None = None,
        sim_config: SimConfig | None = None,
        environment: dict[str, str] | None = None,
        access_log: bool = True,
        isolated: bool | None = None,
    ) -> None:
        self.sim = Simulator(sim_config or SimConfig())
        self.company: Company = self.sim.add_company(
            employees=employees,
            customers=customers,
            group_chats=group_chats,
            group_members=group_members,
            name="Demo Fruit Co.",
        )
        self._wecom_port = wecom_port
        self._stack_args = {"api_port": api_port, "aws_port": aws_port, "access_log": access_log, "isolated": isolated}
        self._environment = environment or {}
        self.stack: LocalStack | None = None
        self.tenant: DemoTenant | None = None
        self.http = httpx.Client(timeout=httpx.Timeout(ADMIN_TIMEOUT_SECONDS))
        self._previous_sigterm: Any = None

    def start(self) -> DemoEnvironment:
        try:
            wecom_url = self.sim.start(port=self._wecom_port)
            self.stack = LocalStack(
                **self._stack_args,
                environment={
                    "WECOM_BASE_URL": wecom_url,
                    "WECHAT_OPEN_BASE_URL": wecom_url,
                    "WECHAT_API_BASE_URL": wecom_url,
                    "OPS_KEY_SHA256": hashlib.sha256(LOCAL_OPS_KEY.encode()).hexdigest(),
                    **self._environment,
                },
            ).start()
            self.tenant = self.provision_tenant()
            self.company.callback_url = f"{self.stack.api_url}/wecom/{self.tenant.tenant_id}/callback"
        except BaseException:
            self.stop()
            raise
        return self

    def provision_tenant(self, company: Company | None = None, tenant_id: str = DEMO_TENANT_ID) -> DemoTenant:
        """Create a tenant (the demo tenant by default) with a simulator company's (the demo company's by default) corp
        id, app secret and callback keys."""
        company = company or self.company
        response = self.http.post(
            f"{self.api_url}/ops/tenants",
            headers={"X-Ops-Key": LOCAL_OPS_KEY},
            json={
                "tenant_id": tenant_id,
                "name": company.name,
                "corp_id": company.corpid,
                "agent_id": company.agent_id,
                "app_secret": company.secret,
                "callback_token": company.token,
                "encoding_aes_key": company.aes_key,
                "plan": "pro",
                "paid_days": 365,
            },
        )
        response.raise_for_status()
        created = response.json()
        return DemoTenant(tenant_id=created["tenant"]["tenant_id"], admin_key=created["admin_key"]["token"])

    @property
    def api_url(self) -> str:
        assert self.stack is not None
        return self.stack.api_url

    def admin(self) -> httpx.Client:
        """An HTTP client for the demo tenant's admin API."""
        assert self.tenant is not None
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.tenant.admin_key}"},
            timeout=httpx.Timeout(ADMIN_TIMEOUT_SECONDS),
        )

    def credentials_line(self) -> str:
        """The one line `make serve` prints so a person can point tools at the demo company."""
        assert self.tenant is not None
        c = self.company
        return (
            f"demo corp tenant={self.tenant.tenant_id} corpid={c.corpid} secret={c.secret} "
            f"token={c.token} aeskey={c.aes_key}"
        )

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        self.sim.stop()
        self.http.close()

    def __enter__(self) -> DemoEnvironment:
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            self.stop()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """A bench or demo stopped with SIGTERM leaves through its `with` block, so the stack's children (moto servers,
    function processes) are stopped with it instead of running on as orphans."""
    raise SystemExit(128 + signum)
