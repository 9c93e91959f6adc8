"""Simulator: the companies, the shared rules (tokens, limits, faults, clock), the HTTP server and the emitters."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from .api import PREFIX, WeComApi, json_response
from .clock import SimClock
from .company import Company
from .config import SimConfig
from .control import ControlApi
from .emitter import Delivery, Emitter
from .faults import Faults
from .generate import generate_company
from .limits import ApiLimits
from .server import HttpServer, Request
from .stats import Stats
from .tokens import TokenStore
from .wechat import WeChat, app_credentials

T = TypeVar("T")


class Simulator:
    """A local WeCom for several companies at once; see SimConfig for its rules."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.clock = SimClock(self.config.clock_start, self.config.clock_factor)
        self.lock = threading.RLock()
        self._companies: dict[str, Company] = {}
        self._stats = Stats()
        self._api = WeComApi(
            self._companies,
            self.clock,
            self.lock,
            TokenStore(self.config.token_ttl),
            ApiLimits(self.config),
            Faults(self.config),
            self._stats,
        )
        self._control = ControlApi(self)
        self.wechat = WeChat(self._companies, self.clock, self.lock)
        self._server: HttpServer | None = None
        self._pool = ThreadPoolExecutor(self.config.callback_workers, thread_name_prefix="wecom-sim-callback")
        self._client = httpx.Client(limits=httpx.Limits(max_connections=self.config.callback_workers))
        self._emitters: dict[str, Emitter] = {}
        self.base_url = ""

    @property
    def companies(self) -> list[Company]:
        return list(self._companies.values())

    def add_company(
        self,
        employees: int = 200,
        customers: int = 1000,
        departments: int | None = None,
        tags: int = 50,
        group_chats: int | None = None,
        group_members: int | None = None,
        seed: int | None = None,
        callback_url: str | None = None,
        name: str | None = None,
    ) -> Company:
        """Generate a company deterministically from ``seed`` (default: derived from the simulator's seed)."""
        index = len(self._companies)
        with self.lock:
            company = generate_company(
                self.config,
                seed=self.config.seed * 1_000_003 + index if seed is None else seed,
                index=index,
                now=self.clock.now(),
                employees=employees,
                customers=customers,
                departments=max(1, employees // 20) if departments is None else departments,
                tags=tags,
                group_chats=max(1, employees // 2) if group_chats is None else group_chats,
                group_members=group_members,
                callback_url=callback_url,
                name=name,
            )
            if company.corpid in self._companies:
                raise ValueError(f"a company with seed {seed} already exists")
            self._companies[company.corpid] = company
        return company

    def find(self, corpid: str) -> Company | None:
        return self._companies.get(corpid)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve WeCom's API and /sim/ control on ``host:port``; returns the base URL (no trailing slash)."""
        self._server = HttpServer(self._route)
        bound_host, bound_port = self._server.start(host, port)
        self.base_url = f"http://{bound_host}:{bound_port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def stats(self, corpid: str | None = None, detail: bool = False) -> dict[str, Any]:
        """Outcome counters (calls and answers per API, mass messages received, welcomes, app messages, callbacks)
        after bringing time-driven state up to now."""
        with self.lock:
            now = self.clock.now()
            for company in self._companies.values():
                company.settle(now, self._stats.corp(company.corpid))
            return self._stats.snapshot(corpid, detail)

    def answer_times(self) -> dict[str, Any]:
        """How fast the simulator answered (first byte read to answer written), over every request so far; a busy
        stack must not slow WeCom down, or the stack's own figures would be the simulator's."""
        seconds = sorted(self._server.answer_seconds) if self._server is not None else []
        if not seconds:
            return {"requests": 0}

        def at(share: float) -> float:
            return round(1000 * seconds[min(len(seconds) - 1, int(share * len(seconds)))], 2)

        return {"requests": len(seconds), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}

    def wechat_apps(self, company: Company) -> dict[str, tuple[str, str]]:
        """The (appid, secret) of the company's official account ("oa") and mini-program ("mp")."""
        return {kind: app_credentials(company.corpid, kind) for kind in ("oa", "mp")}

    def wechat_login_code(self, appid: str, person: str) -> str:
        """The code `wx.login` gives mini-program `appid` on `person`'s phone (person: a unionid or any name)."""
        return self.wechat.login_code(appid, person)

    def real_seconds(self, simulated_seconds: float) -> float:
        """How long `simulated_seconds` of the simulator's clock last in real time."""
        return self.clock.real_seconds(simulated_seconds)

    def apply(self, change: Callable[[float], T]) -> tuple[float, T]:
        """Apply `change` to the companies' state at the simulator's now, under its lock; (now, what it returned)."""
        with self.lock:
            now = self.clock.now()
            return now, change(now)

    def count_callback(self, corpid: str, what: str) -> None:
        """Count a callback delivery outcome (sent, retried, delivered, ...) for a company."""
        with self.lock:
            self._stats.corp(corpid).callbacks[what] += 1

    def emitter(self, company: Company) -> Emitter:
        """The callback emitter for ``company`` (scripted events, applied to state and sent to its callback URL)."""
        with self.lock:
            if company.corpid not in self._emitters:
                delivery = Delivery(self.config.callback_retries, self.config.callback_timeout_real_seconds)
                self._emitters[company.corpid] = Emitter(self, company, delivery, self._pool, self._client)
            return self._emitters[company.corpid]

    def _route(self, request: Request) -> Any:
        if request.path.startswith(PREFIX):
            return self._api.handle(request)
        if request.path.startswith("/sim/"):
            return self._control.handle(request)
        if self.wechat.handles(request.path):
            return self.wechat.handle(request)
        return json_response({"errcode": 404, "errmsg": "not found"}, 404)

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
