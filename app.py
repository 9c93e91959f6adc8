"""Qiwei Reach: the Chalice app. It only registers blueprints and event handlers; the logic lives in chalicelib.

Worker bodies are imported inside their handlers so that the API function's cold start does not pay for them.
"""

from typing import Any

from chalice import Chalice, Rate

from chalicelib import resources
from chalicelib.api.admin_access import admin_access
from chalicelib.api.admin_materials import admin_materials
from chalicelib.api.auth import auth
from chalicelib.api.callbacks import callbacks
from chalicelib.api.health import health
from chalicelib.api.openapi import docs
from chalicelib.api.ops import ops
from chalicelib.observability import invocation_context_middleware

app = Chalice(app_name="qiwei-reach")
app.register_middleware(invocation_context_middleware())
app.register_blueprint(health)
app.register_blueprint(auth)
app.register_blueprint(ops)
app.register_blueprint(admin_access)
app.register_blueprint(admin_materials)
app.register_blueprint(docs)
app.register_blueprint(callbacks)


@app.on_sqs_message(
    queue=resources.PLAN.name,
    batch_size=resources.PLAN.batch_size,
    maximum_batching_window_in_seconds=resources.PLAN.batching_window,
    maximum_concurrency=resources.PLAN.max_concurrency,
)
def plan_broadcast(event: Any) -> dict[str, Any]:
    from chalicelib.workers.plan import handle_plan_event

    context = getattr(event, "context", None)
    remaining = (lambda: context.get_remaining_time_in_millis() / 1000) if context else None
    return handle_plan_event(event.to_dict(), remaining)


@app.on_sqs_message(
    queue=resources.DISPATCH.name,
    batch_size=resources.DISPATCH.batch_size,
    maximum_batching_window_in_seconds=resources.DISPATCH.batching_window,
    maximum_concurrency=resources.DISPATCH.max_concurrency,
)
def dispatch_broadcast(event: Any) -> dict[str, Any]:
    from chalicelib.workers.dispatch import handle_dispatch_event

    return handle_dispatch_event(event.to_dict())


@app.schedule(Rate(1, unit=Rate.MINUTES))
def broadcast_schedule(event: Any) -> None:
    from chalicelib.workers.schedule import run_schedule

    run_schedule()
