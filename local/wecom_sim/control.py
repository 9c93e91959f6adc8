"""Control endpoints under /sim/ so a separate process can drive the simulator (stats, clock, scenarios)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .api import json_response
from .emitter import Scenario
from .server import Request, Response

if TYPE_CHECKING:
    from .simulator import Simulator

SCENARIOS = (
    "new_friends",
    "customer_deleted_employee",
    "employee_deleted_customer",
    "customer_edited",
    "tag_created",
    "tag_deleted",
    "group_created",
    "group_members_joined",
    "group_dismissed",
    "group_joined_by_way",
    "group_members_quit",
    "employee_left",
)


def _error(status: int, message: str) -> Response:
    return json_response({"Code": "BadRequestError" if status == 400 else "NotFoundError", "Message": message}, status)


class ControlApi:
    """GET /sim/stats, GET /sim/companies, GET|POST /sim/clock, POST /sim/callback_url, POST /sim/scenario,
    GET /sim/scenario/<id>, POST /sim/drift (change a share of a company's customers silently: `Company.drift`)."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._scenarios: dict[int, Scenario] = {}

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            return _error(400, "body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        sim = self._sim
        if path == "/sim/stats":
            corpid = request.query.get("corpid") or None
            return json_response(sim.stats(corpid, detail=request.query.get("detail") == "1"))
        if path == "/sim/companies":
            return json_response(
                {"companies": [{"corpid": c.corpid, "name": c.name, "agent_id": c.agent_id} for c in sim.companies]}
            )
        if path == "/sim/clock":
            if request.method == "POST":
                sim.clock.advance(float(body.get("advance_seconds", 0)))
            return json_response({"now": sim.clock.now(), "factor": sim.clock.factor})
        if path == "/sim/callback_url" and request.method == "POST":
            company = sim.find(str(body.get("corpid", "")))
            if company is None:
                return _error(404, "unknown corpid")
            company.callback_url = body.get("url") or None
            return json_response({"corpid": company.corpid, "callback_url": company.callback_url})
        if path == "/sim/drift" and request.method == "POST":
            return self._drift(body)
        if path == "/sim/scenario" and request.method == "POST":
            return self._start(body)
        if path.startswith("/sim/scenario/"):
            scenario = self._scenarios.get(int(path.rsplit("/", 1)[1]) if path.rsplit("/", 1)[1].isdigit() else -1)
            if scenario is None:
                return _error(404, "unknown scenario")
            return json_response(_scenario_view(scenario))
        return _error(404, f"no control endpoint {request.method} {path}")

    def _drift(self, body: dict) -> Response:
        company = self._sim.find(str(body.get("corpid", "")))
        if company is None:
            return _error(404, "unknown corpid")
        share, seed = body.get("share"), body.get("seed", 1)
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 1:
            return _error(400, "share must be a number in (0, 1]")
        if not isinstance(seed, int) or isinstance(seed, bool):
            return _error(400, "seed must be an integer")
        with self._sim.lock:
            changed = company.drift(float(share), seed)
        return json_response({"corpid": company.corpid, "changed": changed})

    def _start(self, body: dict) -> Response:
        company = self._sim.find(str(body.get("corpid", "")))
        if company is None:
            return _error(404, "unknown corpid")
        kind = body.get("kind")
        if kind not in SCENARIOS:
            return _error(400, f"kind must be one of {', '.join(SCENARIOS)}")
        args = body.get("args") or {}
        if not isinstance(args, dict):
            return _error(400, "args must be an object")
        try:
            scenario = getattr(self._sim.emitter(company), kind)(**args)
        except (TypeError, KeyError, ValueError) as exc:
            return _error(400, f"bad scenario arguments: {exc}")
        self._scenarios[scenario.id] = scenario
        return json_response(_scenario_view(scenario))


def _scenario_view(scenario: Scenario) -> dict:
    return {
        "scenario": scenario.id,
        "planned": scenario.planned,
        "emitted": len(scenario.emitted),
        "delivered": sum(1 for e in scenario.emitted if e.delivered),
        "done": scenario.done,
    }
