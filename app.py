"""Qiwei Reach: the Chalice app. It only registers blueprints and event handlers; the logic lives in chalicelib.

Worker bodies are imported inside their handlers so that the API function's cold start does not pay for them.
"""

from typing import Any

from chalice import Chalice, Cron, Rate

from chalicelib import resources
from chalicelib.api.admin_access import admin_access
from chalicelib.api.admin_acquisition import admin_acquisition
from chalicelib.api.admin_broadcast_policy import admin_broadcast_policy
from chalicelib.api.admin_broadcasts import admin_broadcasts
from chalicelib.api.admin_channels import admin_channels
from chalicelib.api.admin_customers import admin_customers
from chalicelib.api.admin_employees import admin_employees
from chalicelib.api.admin_group_welcome import admin_group_welcome
from chalicelib.api.admin_groups import admin_groups
from chalicelib.api.admin_join_ways import admin_join_ways
from chalicelib.api.admin_lifecycle import admin_lifecycle
from chalicelib.api.admin_materials import admin_materials
from chalicelib.api.admin_moments import admin_moments
from chalicelib.api.admin_sync import admin_sync
from chalicelib.api.admin_tags import admin_tags
from chalicelib.api.admin_tracking import admin_tracking
from chalicelib.api.admin_wechat import admin_wechat
from chalicelib.api.auth import auth
from chalicelib.api.beacons import beacons
from chalicelib.api.callbacks import callbacks
from chalicelib.api.health import health
from chalicelib.api.openapi import docs
from chalicelib.api.ops import ops
from chalicelib.api.path_params import check_path_params
from chalicelib.api.sales_pages import sales_pages
from chalicelib.api.share_pages import share_pages
from chalicelib.observability import invocation_context_middleware
from chalicelib.workers import remaining_seconds

app = Chalice(app_name="qiwei-reach")


def on_queue(queue: resources.Queue) -> Any:
    """Register an SQS handler with the batch size, window and concurrency its queue declares."""
    return app.on_sqs_message(
        queue=queue.name,
        batch_size=queue.batch_size,
        maximum_batching_window_in_seconds=queue.batching_window,
        maximum_concurrency=queue.max_concurrency,
    )


app.register_middleware(invocation_context_middleware())
app.register_middleware(check_path_params, "http")
app.register_blueprint(health)
app.register_blueprint(auth)
app.register_blueprint(ops)
app.register_blueprint(admin_access)
app.register_blueprint(admin_materials)
app.register_blueprint(docs)
app.register_blueprint(callbacks)
app.register_blueprint(admin_channels)
app.register_blueprint(admin_acquisition)
app.register_blueprint(admin_moments)
app.register_blueprint(admin_lifecycle)
app.register_blueprint(admin_broadcasts)
app.register_blueprint(admin_broadcast_policy)
app.register_blueprint(admin_customers)
app.register_blueprint(admin_tags)
app.register_blueprint(admin_employees)
app.register_blueprint(admin_sync)
app.register_blueprint(admin_groups)
app.register_blueprint(admin_join_ways)
app.register_blueprint(admin_group_welcome)
app.register_blueprint(admin_tracking)
app.register_blueprint(beacons)
app.register_blueprint(admin_wechat)
app.register_blueprint(share_pages)
app.register_blueprint(sales_pages)


@on_queue(resources.EVENTS_REALTIME)
def on_wecom_new_friend(event: Any) -> dict[str, Any]:
    from chalicelib.workers.events import handle_events

    return handle_events(event.to_dict(), resources.EVENTS_REALTIME)


@on_queue(resources.EVENTS)
def on_wecom_event(event: Any) -> dict[str, Any]:
    from chalicelib.workers.events import handle_events

    return handle_events(event.to_dict(), resources.EVENTS, remaining_seconds(event))


@app.schedule(Rate(1, unit=Rate.MINUTES))
def check_customer_transfers(event: Any) -> None:
    from chalicelib.workers.events import handle_transfer_schedule

    handle_transfer_schedule()


@on_queue(resources.PLAN)
def plan_broadcast(event: Any) -> dict[str, Any]:
    from chalicelib.workers.plan import handle_plan_event

    return handle_plan_event(event.to_dict(), remaining_seconds(event))


@on_queue(resources.DISPATCH)
def dispatch_broadcast(event: Any) -> dict[str, Any]:
    from chalicelib.workers.dispatch import handle_dispatch_event

    return handle_dispatch_event(event.to_dict(), remaining_seconds=remaining_seconds(event))


@on_queue(resources.BEACONS)
def ingest_beacons(event: Any) -> dict[str, Any]:
    from chalicelib.workers.beacons import handle_beacon_event

    return handle_beacon_event(event.to_dict())


@on_queue(resources.BEACON_ALERTS)
def alert_sharers(event: Any) -> dict[str, Any]:
    from chalicelib.workers.beacons import handle_alert_event

    return handle_alert_event(event.to_dict())


@app.schedule(Rate(1, unit=Rate.MINUTES))
def broadcast_schedule(event: Any) -> None:
    from chalicelib.workers.schedule import run_schedule

    run_schedule()


@on_queue(resources.SYNC)
def on_sync(event: Any) -> dict[str, Any]:
    from chalicelib.workers.sync import handle_sync_event

    return handle_sync_event(event.to_dict(), event.context.get_remaining_time_in_millis)


@app.schedule(Cron(0, 18, "*", "*", "?", "*"))
def nightly_sync(event: Any) -> None:
    """02:00 in Asia/Shanghai: reconcile every tenant's customers with WeCom."""
    from chalicelib.services.sync import request_nightly

    request_nightly()
