"""The full customer sync, for a tenant's admins: start one now, and read the progress of the current run.

Available whatever the plan (a tenant's customers must be loadable on any plan). The worker is imported when a sync
is requested, not when the API function starts.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, ConflictError, Response

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.domain.access import ADMINS

admin_sync = Blueprint(__name__)


@admin_route(
    admin_sync,
    "/v1/sync",
    methods=["POST"],
    roles=ADMINS,
    summary="Load every employee, tag and customer from WeCom now and reconcile (202; one run at a time)",
    tag="sync",
    audit="sync.start",
    success_status=202,
)
def start_sync(call: AdminCall) -> Response:
    from chalicelib.services.sync import request_sync
    from chalicelib.store.sync_runs import SyncRunning

    try:
        run = request_sync(call.principal.tenant_id, trigger=f"admin:{call.principal.key_id}")
    except SyncRunning as running:
        raise ConflictError(f"sync {running.run.run_id} is {running.run.status}; wait for it to finish") from None
    call.target = run.run_id
    return Response({"run": run.as_dict()}, status_code=202)


@admin_route(
    admin_sync, "/v1/sync", methods=["GET"], roles=ADMINS, summary="The current (or last) sync run", tag="sync"
)
def get_sync(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store.sync_runs import SyncRuns

    run = SyncRuns(call.principal.tenant_id).current()
    return {"run": run.as_dict() if run else None}
