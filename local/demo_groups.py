"""Customer groups end to end on the local stack, through the admin API as a tenant's admin would: the group sync, a
group welcome template from the material library, a join way that new customers scan (their callbacks go through
the stack and are attributed to the way), and a group mass message to the way's groups, followed to its results per
group. `make run` calls `run_group_demo` once; the e2e test runs it on a small company.

Promises checked: every chat synced, every join through the way counted for it, every planned group put into
exactly one WeCom task and reported per group.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from local.environment import DemoEnvironment
from local.mass_message import fast_forward_follow, planned_recipients, wait_dispatched, wecom_view

GROUP_MESSAGE_TEXT = "本周群福利：到店领水果"
WELCOME_TEXT = "欢迎 %NICKNAME% 加入门店福利群！"
JOINS = 5
WAIT_SECONDS = 120.0
FOLLOW_WAIT_SECONDS = 300.0
"""Joins and follow passes: a killed first invocation comes back after the queue's visibility timeout."""
POLL_SECONDS = 0.5


def _until(check: Any, what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(POLL_SECONDS)


def sync_groups(env: DemoEnvironment, admin: httpx.Client) -> dict[str, Any]:
    """The group sync through the admin API, followed to its end; its counters."""
    admin.post("/v1/groups/sync").raise_for_status()

    def finished() -> dict[str, Any] | None:
        run = admin.get("/v1/groups/sync").raise_for_status().json()["run"]
        return run if run["status"] in ("done", "failed") else None

    run = _until(finished, "group sync", timeout=1800.0)
    if run["status"] != "done":
        raise RuntimeError(f"group sync failed: {run['error']}")
    return dict(run["counts"])


def run_group_demo(env: DemoEnvironment, joins: int = JOINS) -> dict[str, Any]:
    """Sync groups, add a welcome template, open a join way, let `joins` customers scan it, send a group mass message
    to the way's groups; figures, with `promises_broken` in words."""
    assert env.tenant is not None
    company = env.company
    tenant = env.tenant.tenant_id
    broken: list[str] = []
    with env.admin() as admin:
        in_wecom = len(company.chats)
        counts = sync_groups(env, admin)
        if counts["chats"] < in_wecom:
            broken.append(f"{in_wecom - counts['chats']} group chats not synced")

        link = {"type": "link", "title": "入群福利", "url": "https://shop.example.com/group"}
        material = admin.post("/v1/materials", json=link).raise_for_status().json()["material"]["material_id"]
        template = admin.post(
            "/v1/group-welcome-templates", json={"name": "门店福利群", "text": WELCOME_TEXT, "material_id": material}
        )
        template_id = template.raise_for_status().json()["template"]["template_id"]

        active = company.active_userids()
        chat_id = min(c.chat_id for c in company.chats.values() if c.owner in active)
        owner = company.chats[chat_id].owner
        body = {"name": "门店福利群码", "chat_ids": [chat_id], "room_base_name": "门店福利群", "room_base_id": 2}
        way = admin.post("/v1/join-ways", json=body).raise_for_status().json()["join_way"]
        env.sim.emitter(company).group_joined_by_way(way["join_way_id"], customers=joins).wait(WAIT_SECONDS)

        def joined() -> dict[str, Any] | None:
            figures = admin.get(f"/v1/join-ways/{way['join_way_id']}/figures").raise_for_status().json()
            return figures if figures["total"]["joins"] >= joins else None

        try:
            way_figures = _until(joined, "joins counted for the join way", timeout=FOLLOW_WAIT_SECONDS)
        except TimeoutError:
            way_figures = admin.get(f"/v1/join-ways/{way['join_way_id']}/figures").json()
            broken.append(f"{joins - way_figures['total']['joins']} joins not counted for the join way")

        message = {
            "text": GROUP_MESSAGE_TEXT,
            "chat_type": "group",
            "sender": owner,
            "audience": {"owners": [owner], "state": way["state"]},
        }
        audience = {key: message[key] for key in ("chat_type", "sender", "audience")}
        preview = admin.post("/v1/broadcasts/preview", json=audience).raise_for_status().json()["preview"]
        broadcast = admin.post("/v1/broadcasts", json=message).raise_for_status().json()["broadcast"]
        broadcast_id = broadcast["broadcast_id"]
        wait_dispatched(tenant, broadcast_id, timeout=WAIT_SECONDS)
        done = fast_forward_follow(env.sim, tenant, broadcast_id, timeout=FOLLOW_WAIT_SECONDS)
        planned = planned_recipients(tenant, broadcast_id)
        seen = wecom_view(env.sim, company, GROUP_MESSAGE_TEXT)
        results = admin.get(f"/v1/broadcasts/{broadcast_id}/customers").raise_for_status().json()
    way_chats = {c.chat_id for c in company.chats.values() if any(m.state == way["state"] for m in c.members)}
    if planned != way_chats:
        broken.append(f"group mass message planned for {sorted(planned)}, the way's groups are {sorted(way_chats)}")
    if seen.duplicates:
        broken.append(f"{seen.duplicates} groups put into more than one WeCom task")
    missing = planned - set(seen.tasks_per_customer)
    if missing:
        broken.append(f"{len(missing)} planned groups never created in WeCom")
    reported = {r["recipient"] for r in results["customers"]}
    if reported != planned:
        broken.append("the group mass message's results do not list every planned group")
    return {
        "groups_in_wecom": in_wecom,
        "groups_synced": counts["chats"],
        "group_members_synced": counts["members"],
        "group_sync_wecom_calls": counts["wecom_calls"],
        "group_welcome_template": template_id in company.group_welcome_templates,
        "join_way_joins": way_figures["total"]["joins"],
        "join_way_rooms": len(company.join_ways[way["join_way_id"]].chat_id_list),
        "group_message_preview": preview["recipients"],
        "group_message_groups": len(planned),
        "group_message_status": str(done.status),
        "group_message_received": seen.statuses[1],
        "promises_broken": broken,
    }
