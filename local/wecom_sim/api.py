"""The WeCom API pipeline: route, token, frequency and concurrency limits, injected faults, handler, answer."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable

from . import errors
from .clock import SimClock
from .company import Company
from .errors import WeComError
from .faults import BUSY, LOST, NONE, Faults
from .handlers import ROUTES
from .handlers.common import POST, Call, Route
from .limits import ApiLimits
from .server import Request, Response
from .stats import Stats
from .tokens import TokenStore

PREFIX = "/cgi-bin/"


def json_response(body: dict, status: int = 200) -> Response:
    return Response(status, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def answer(code: int, detail: str = "") -> Response:
    return json_response(WeComError(code, detail).body())


class WeComApi:
    """Answers /cgi-bin/... like WeCom, for every company of a simulator."""

    def __init__(
        self,
        companies: dict[str, Company],
        clock: SimClock,
        lock: threading.RLock,
        tokens: TokenStore,
        limits: ApiLimits,
        faults: Faults,
        stats: Stats,
    ) -> None:
        self._companies = companies
        self._clock = clock
        self._lock = lock
        self._tokens = tokens
        self._limits = limits
        self._faults = faults
        self._stats = stats

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        api = request.path[len(PREFIX) :]
        if api == "gettoken":
            return self._gettoken(request)
        route = ROUTES.get(api)
        if route is None:
            return json_response({"errcode": 404, "errmsg": f"invalid api path /cgi-bin/{api}"}, 404)
        with self._lock:
            now = self._clock.now()
            corpid, code = self._tokens.check(request.query.get("access_token", ""), now)
            if code == errors.OK:
                code = self._limits.admit(corpid, api, request.client_ip, now)
            if code == errors.OK and not self._limits.enter(corpid, api):
                code = errors.CONCURRENCY_LIMIT
            if code != errors.OK:
                self._stats.answered(corpid, api, code)
                return answer(code)
            plan = self._faults.plan(corpid, api)
        if plan.kind == NONE and plan.latency_real_seconds == 0:
            try:
                return self._run(corpid, api, route, request)
            finally:
                with self._lock:
                    self._limits.leave(corpid, api)
        return self._faulty(corpid, api, route, request, plan.kind, plan.latency_real_seconds)

    async def _faulty(
        self, corpid: str, api: str, route: Route, request: Request, kind: str, latency: float
    ) -> Response:
        try:
            if latency:
                await asyncio.sleep(latency)
            if kind == BUSY:
                with self._lock:
                    self._stats.corp(corpid).faults["busy"] += 1
                    self._stats.answered(corpid, api, errors.SYSTEM_BUSY)
                return answer(errors.SYSTEM_BUSY)
            response = self._run(corpid, api, route, request)
            if kind == LOST:
                with self._lock:
                    self._stats.corp(corpid).faults["lost"] += 1
                await asyncio.sleep(self._faults.hold_real_seconds)
                return Response(lost=True)
            return response
        finally:
            with self._lock:
                self._limits.leave(corpid, api)

    def _run(self, corpid: str, api: str, route: Route, request: Request) -> Response:
        with self._lock:
            company = self._companies[corpid]
            stats = self._stats.corp(corpid)
            now = self._clock.now()
            try:
                body = self._body(route, request)
                company.settle(now, stats)
                result = route.handler(Call(company, request.query, body, now, stats))
            except WeComError as exc:
                self._stats.answered(corpid, api, exc.code)
                return json_response(exc.body())
            self._stats.answered(corpid, api, errors.OK)
        return json_response({"errcode": 0, "errmsg": "ok", **result})

    @staticmethod
    def _body(route: Route, request: Request) -> dict:
        if route.method != POST:
            return {}
        if request.method != POST:
            raise WeComError(errors.INVALID_PARAMETER, "POST required")
        if route.parse is not None:
            return route.parse(request)
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise WeComError(errors.INVALID_PARAMETER, "request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise WeComError(errors.INVALID_PARAMETER, "request body must be a JSON object")
        return body

    def _gettoken(self, request: Request) -> Response:
        corpid = request.query.get("corpid", "")
        secret = request.query.get("corpsecret", "")
        with self._lock:
            now = self._clock.now()
            company = self._companies.get(corpid)
            if not corpid:
                code = errors.CORPID_MISSING
            elif company is None:
                code = errors.INVALID_CORPID
            elif not secret:
                code = errors.SECRET_MISSING
            else:
                code = self._limits.admit(corpid, "gettoken", request.client_ip, now)
                if code == errors.OK and secret != company.secret:
                    code = errors.INVALID_SECRET
            self._stats.answered(corpid if company else "", "gettoken", code)
            if code != errors.OK:
                return answer(code)
            token = self._tokens.issue(corpid, now)
        return json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": int(self._tokens.ttl)})
