"""The simulated-tenant factory: a tenant onboarded for a company of a WeCom simulator, the app pointed at it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.audience import Employee
from chalicelib.services.welcome import forget_lookups
from chalicelib.store.customers import CustomerStore
from chalicelib.store.relations import FollowRelation
from chalicelib.store.tenants import invalidate_credentials
from local.wecom_sim import Company, SimConfig, Simulator
from tests.tenancy import SimTenant, app_client, create_tenant, local_stage_project


def store_customers(tenant_id: str, company: Company) -> None:
    """Put the company's employees and live follow relations in the store, as a full sync would leave them."""
    customers = CustomerStore(tenant_id)
    customers.put_employees(Employee(u, active=e.active) for u, e in company.employees.items())
    now = int(time.time())
    customers.put_follows(
        FollowRelation(f.external_userid, f.userid, f.createtime, now, tag_ids=frozenset(f.tag_ids))
        for ext in company.book.customers
        for f in company.book.follows_of_customer(ext)
        if not f.deleted_by_customer
    )


@pytest.fixture
def sim_tenant_factory(aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., SimTenant]]:
    """Onboard a tenant for a new simulated WeCom company; one simulator (ephemeral port) per call, stopped after
    the test.

    The simulator's URL reaches the app through the public test client: a per-test copy of the Chalice config whose
    local stage names it (what the client applies during each request), and the process environment (workers and
    stores called in-process). Each test has its own copy, so parallel workers never share one."""
    started: list[tuple[Simulator, str]] = []

    def onboard(
        tenant_id: str = "sim-corp",
        *,
        config: SimConfig | None = None,
        employees: int = 12,
        customers: int = 300,
        tags: int = 20,
        departments: int | None = None,
        plan: str = "pro",
        paid_days: int | None = 30,
        customers_in_store: bool = False,
    ) -> SimTenant:
        """`config` defaults to SimConfig(seed=23); `customers_in_store` also stores the company's customers."""
        sim = Simulator(config or SimConfig(seed=23))
        company = sim.add_company(employees=employees, customers=customers, tags=tags, departments=departments)
        url = sim.start(port=0)
        started.append((sim, tenant_id))
        for name in ("WECOM_BASE_URL", "WECHAT_OPEN_BASE_URL", "WECHAT_API_BASE_URL"):
            monkeypatch.setenv(name, url)
        project = local_stage_project(
            tmp_path / f"project-{len(started)}", WECOM_BASE_URL=url, WECHAT_OPEN_BASE_URL=url, WECHAT_API_BASE_URL=url
        )
        client = app_client(monkeypatch, project)
        invalidate_credentials(tenant_id)
        forget_lookups()
        fields: dict[str, Any] = {"plan": plan} | ({} if paid_days is None else {"paid_days": paid_days})
        created = create_tenant(
            client.http,
            tenant_id=tenant_id,
            corp_id=company.corpid,
            agent_id=company.agent_id,
            app_secret=company.secret,
            **fields,
        )
        if customers_in_store:
            store_customers(tenant_id, company)
        return SimTenant(sim, company, tenant_id, created["admin_key"]["token"], client)

    yield onboard
    for sim, tenant_id in started:
        invalidate_credentials(tenant_id)
        sim.stop()


@pytest.fixture
def sim_tenant(sim_tenant_factory: Callable[..., SimTenant]) -> SimTenant:
    """Tenant `sim-corp` (pro) for a company of 12 employees, 300 customers and 20 tags."""
    return sim_tenant_factory()


@pytest.fixture
def wecom_tenant(sim_tenant_factory: Callable[..., SimTenant]) -> SimTenant:
    """Tenant `evt-corp` (pro) for a company of 8 employees, 60 customers, 10 tags and one department; transfers
    settle after 60 simulated s and nobody refuses. Its emitter has no callback URL: scenarios change the simulator's
    state and the tests queue the events themselves."""
    return sim_tenant_factory(
        "evt-corp",
        config=SimConfig(seed=41, transfer_delay=60.0, transfer_refuse_share=0.0),
        employees=8,
        customers=60,
        tags=10,
        departments=1,
    )
