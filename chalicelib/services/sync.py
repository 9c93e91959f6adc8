"""The customer sync: a tenant's directory and customers loaded in full from WeCom, and the nightly reconciliation.

A run (`request_sync`) is a set of chains of `sync.tenant` messages on the sync queue (`workers.sync`), each message
handled by one bounded invocation:

1. directory: departments (`department/list`), employees with their leadership (`user/list` of each top visible
   department with `fetch_child=1`), the corp tag catalogue (`get_corp_tag_list`). Employees stored as active that
   WeCom no longer lists are marked departed, and a `change_contact/delete_user` event is queued for each, as WeCom's
   callback would have, so the event worker's transfer flow hands their customers over. Then the employees with
   customer-contact permission (`get_follow_user_list`) are split into `lanes` userid ranges
   (`domain.sync.lane_bounds`, recorded once on the run) and one message per lane is queued.
2. customers, per lane and in parallel: the lane's employees in userid order, 100 at a time, through
   `externalcontact/batch/get_by_user` (limit 100, cursor). Each page is compared with what is stored and only what
   changed is written, with batch writes (`CustomerStore.put_follows`, `CustomerDirectory.put_profiles` and
   `put_find_items`): an unchanged tenant's nightly run writes almost nothing. After an employee chunk has been read
   completely, its stored active relations that WeCom did not return in this run (the set of pairs the run read,
   kept across invocations by `SyncRuns.save_seen`) and no event touched since the run started are marked lost.
   When a lane has no more employees it counts itself done; the lane that completes the set finishes the run, once
   (`SyncRuns.lane_done`).

Lanes run in parallel invocations of the sync function, at most the sync queue's maximum concurrency at once
(`resources.SYNC`), which is also the cap on one corp's calls of one API in flight (WeCom's 45033,
`DEFAULT_INFLIGHT_CAP`): a tenant's run never has more batch calls in flight than that. At WeCom's 10,000 calls a
minute per corp and API, a lane's page every 0.3 s or more keeps five lanes far below the limit (README, cost and
scale).

Before each page but its first, the invocation checks `context.get_remaining_time_in_millis()`; when the next page
might not fit, it publishes a continuation carrying the cursor (`domain.sync.SyncCursor`) and returns. WeCom's
45009/45033 put the message back with a delay. The nightly schedule publishes one `sync.fanout` message, which pages
through the tenants (FANOUT_PAGE per message) and starts a run and a group-chat sync (`services.group_sync`) for each
tenant in good standing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from chalicelib import queues, resources
from chalicelib.config import Settings, get_settings
from chalicelib.domain import sync as rules
from chalicelib.domain.plans import Standing, standing
from chalicelib.domain.tag_catalogue import catalogue_from
from chalicelib.domain.wecom_limits import BATCH_GET_BY_USER_MAX_LIMIT, BATCH_GET_BY_USER_MAX_USERIDS
from chalicelib.observability import logger
from chalicelib.services.group_sync import request_group_sync
from chalicelib.services.tenant_wecom import configured_wecom
from chalicelib.store.customer_directory import CustomerDirectory
from chalicelib.store.customer_profiles import CustomerProfile
from chalicelib.store.customers import CustomerStore
from chalicelib.store.rate_limits import DEFAULT_INFLIGHT_CAP
from chalicelib.store.relations import FollowRelation, WriteStats
from chalicelib.store.sync_runs import SyncRun, SyncRunning, SyncRuns
from chalicelib.store.tenants import list_tenants
from chalicelib.wecom.client import WeComClient
from chalicelib.wecom.errors import ConcurrencyLimited, RateLimited
from chalicelib.wecom.events import CHANGE_CONTACT, ContactEvent

SYNC_MESSAGE = "sync.tenant"
FANOUT_MESSAGE = "sync.fanout"
VERSION = 1
DIRECTORY, CUSTOMERS = "directory", "customers"
FANOUT_PAGE = 100
THROTTLED_DELAY_SECONDS = 60
LOST_BY_SYNC = "sync"
HANDOVER_QUEUED = "queued: a change_contact/delete_user event per departed employee, for the transfer flow"
LANES = min(resources.SYNC.max_concurrency or 1, DEFAULT_INFLIGHT_CAP)
"""Lanes of a run: as many as the sync function runs at once, and no more than one corp's calls of an API in flight."""

Clock = Callable[[], float]
Remaining = Callable[[], int]


def sync_message(tenant_id: str, run: SyncRun, reconcile: bool, lanes: int) -> dict[str, Any]:
    """A run's first message (the directory phase)."""
    return {
        "type": SYNC_MESSAGE,
        "v": VERSION,
        "tenant_id": tenant_id,
        "run_id": run.run_id,
        "started_at": run.started_at,
        "phase": DIRECTORY,
        "reconcile": reconcile,
        "lanes": lanes,
        "cursor": rules.SyncCursor().as_dict(),
    }


def request_sync(
    tenant_id: str,
    trigger: str,
    now: int | None = None,
    settings: Settings | None = None,
    lanes: int | None = None,
) -> SyncRun:
    """Start a run of this tenant reading its customers in `lanes` parallel lanes (by default the stage's
    `sync_lanes`, at most LANES; raises SyncRunning when one is in progress) and queue its first message."""
    settings = settings or get_settings()
    lanes = min(settings.sync_lanes, LANES) if lanes is None else lanes
    if not 1 <= lanes <= LANES:
        raise ValueError(f"lanes must be between 1 and {LANES}")
    runs = SyncRuns(tenant_id, settings)
    previous = runs.current()
    run = runs.start(trigger, int(now if now is not None else time.time()))
    reconcile = rules.needs_reconciliation(previous.status if previous else None)
    message = sync_message(tenant_id, run, reconcile, lanes)
    queues.publish(resources.SYNC, message, tenant_id=tenant_id, settings=settings)
    return run


def request_nightly(settings: Settings | None = None) -> str:
    """The nightly trigger: one fan-out message that pages through the tenants."""
    return queues.publish(resources.SYNC, {"type": FANOUT_MESSAGE, "v": VERSION, "cursor": None}, settings=settings)


def fan_out(cursor: str | None, remaining: Remaining, clock: Clock, settings: Settings) -> None:
    """Start a nightly run for each tenant in good standing, FANOUT_PAGE tenants per message."""
    while True:
        tenants, cursor = list_tenants(FANOUT_PAGE, cursor)
        now = int(clock())
        for tenant in tenants:
            if standing(tenant.status, tenant.expires_at, now) is not Standing.ACTIVE:
                continue
            for start in (request_sync, request_group_sync):
                try:
                    start(tenant.tenant_id, "nightly", now, settings)
                except SyncRunning:
                    logger.info("nightly sync skipped: a run is in progress", extra={"tenant_id": tenant.tenant_id})
        if cursor is None:
            return
        if not rules.may_start_page(remaining(), 0):
            queues.publish(resources.SYNC, {"type": FANOUT_MESSAGE, "v": VERSION, "cursor": cursor}, settings=settings)
            return


class TenantSync:
    """One invocation's share of one tenant's run: the directory phase, or a stretch of one lane."""

    def __init__(
        self, tenant_id: str, message: Mapping[str, Any], remaining: Remaining, clock: Clock, settings: Settings
    ) -> None:
        self.tenant_id = tenant_id
        self.message = dict(message)
        self.run_id = str(message["run_id"])
        self.started_at = int(message["started_at"])
        self.reconciling = bool(message.get("reconcile", True))
        self.remaining = remaining
        self.clock = clock
        self.settings = settings
        self.runs = SyncRuns(tenant_id, settings)
        self.store = CustomerStore(tenant_id, settings)
        self.directory = CustomerDirectory(tenant_id, settings)
        self.slowest_page_ms = 0.0
        self.pages_read = 0
        self.calls = 0
        self.seen: list[tuple[str, str]] = []
        self.seen_from: str | None = None
        self._wecom: WeComClient | None = None

    def now(self) -> int:
        return int(self.clock())

    @property
    def wecom(self) -> WeComClient:
        if self._wecom is None:
            self._wecom = configured_wecom(self.tenant_id, self.settings)
        return self._wecom

    def call(self, method: str, api: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self.calls += 1
        if method == "GET":
            return self.wecom.get(api, payload)
        return self.wecom.post(api, payload or {}, retry_safe=True)

    def progress(self, **counts: int) -> bool:
        moved = self.runs.progress(self.run_id, self.now(), wecom_calls=self.calls, **counts)
        self.calls = 0
        return moved

    def run(self) -> None:
        if not self.progress(invocations=1):
            logger.info("sync message of a replaced or finished run ignored", extra={"run_id": self.run_id})
            return
        try:
            if self.message.get("phase") == DIRECTORY:
                self.sync_directory()
                self.start_lanes()
            else:
                self.sync_lane(rules.SyncCursor.from_dict(self.message.get("cursor")))
        except (RateLimited, ConcurrencyLimited):
            self.progress()
            raise
        except LookupError as error:
            self.runs.finish(self.run_id, self.now(), error=str(error))

    # phase 1

    def sync_directory(self) -> None:
        departments = [rules.department_from(d) for d in self.call("GET", "department/list").get("department", [])]
        self.store.put_departments(departments)
        employees = {}
        for top in rules.top_departments(departments):
            answer = self.call("GET", "user/list", {"department_id": top, "fetch_child": 1})
            for user in answer.get("userlist", []):
                employees[str(user["userid"])] = rules.employee_from_user(user)
        gone = rules.departed(self.store.list_employees(), employees)
        self.store.put_employees([*employees.values(), *(replace(e, active=False) for e in gone)])
        if gone:
            self.hand_over([e.userid for e in gone])
        self.store.put_tag_catalogue(catalogue_from(self.call("POST", "externalcontact/get_corp_tag_list")))
        self.progress(employees=len(employees), departments=len(departments), departed=len(gone))

    def hand_over(self, userids: list[str]) -> None:
        """Departed employees' customers go to the transfer flow: the sync queues the very `change_contact/delete_user`
        event WeCom's callback would have queued, for the event worker to hand their customers over."""
        now = self.now()
        messages = [
            {
                **ContactEvent(
                    corp_id=self.wecom.corp_id,
                    create_time=now,
                    event=CHANGE_CONTACT,
                    change_type="delete_user",
                    user_id=userid,
                ).to_message(),
                "tenant_id": self.tenant_id,
                "received_at": now,
            }
            for userid in userids
        ]
        queues.publish_batch(resources.EVENTS, messages, tenant_id=self.tenant_id, settings=self.settings)
        logger.warning("sync found departed employees", extra={"departed": len(userids)})
        self.runs.record_departed(self.run_id, userids, HANDOVER_QUEUED)

    def follow_users(self) -> list[str]:
        return [str(u) for u in self.call("GET", "externalcontact/get_follow_user_list").get("follow_user", [])]

    def start_lanes(self) -> None:
        """Split the follow users into lanes (once per run: a redelivered message queues the recorded lanes again)
        and queue a message per lane."""
        users = self.follow_users()
        self.runs.set_counts(self.run_id, self.now(), follow_users=len(set(users)))
        lanes = int(self.message.get("lanes") or 1)
        bounds = self.runs.plan_lanes(self.run_id, rules.lane_bounds(users, lanes))
        messages = [
            {**self.message, "phase": CUSTOMERS, "lane": lane, "cursor": rules.SyncCursor(after, upto=upto).as_dict()}
            for lane, (after, upto) in enumerate(bounds)
        ]
        queues.publish_batch(resources.SYNC, messages, tenant_id=self.tenant_id, settings=self.settings)
        self.progress()

    # phase 2

    def sync_lane(self, cursor: rules.SyncCursor) -> None:
        follow_users: list[str] | None = None
        if cursor.chunk:
            self.seen_from = cursor.wecom_cursor
        while True:
            if not cursor.chunk:
                follow_users = follow_users if follow_users is not None else self.follow_users()
                chunk = rules.next_chunk(follow_users, cursor.after, BATCH_GET_BY_USER_MAX_USERIDS, cursor.upto)
                if not chunk:
                    self.progress()
                    if self.runs.lane_done(self.run_id, int(self.message.get("lane") or 0), self.now()):
                        logger.info("sync finished", extra={"run_id": self.run_id})
                    return
                cursor = rules.SyncCursor(cursor.after, tuple(chunk), upto=cursor.upto)
            if self.pages_read and not rules.may_start_page(self.remaining(), self.slowest_page_ms):
                self.continue_later(cursor)
                return
            started = time.perf_counter()
            cursor = self.read_page(cursor)
            self.pages_read += 1
            if not cursor.wecom_cursor:
                if self.reconciling:
                    self.reconcile(cursor.chunk)
                cursor = rules.chunk_done(cursor)
                self.seen, self.seen_from = [], None
            self.slowest_page_ms = max(self.slowest_page_ms, (time.perf_counter() - started) * 1000)

    def read_page(self, cursor: rules.SyncCursor) -> rules.SyncCursor:
        """One page of the batch API: what changed of its relations, profiles and find items written; the cursor
        inside the chunk moves on."""
        fetched_at = self.now()
        answer = self.call(
            "POST",
            "externalcontact/batch/get_by_user",
            {"userid_list": list(cursor.chunk), "cursor": cursor.wecom_cursor, "limit": BATCH_GET_BY_USER_MAX_LIMIT},
        )
        relations, profiles = [], {}
        for entry in answer.get("external_contact_list", []):
            contact, follow = entry.get("external_contact") or {}, entry.get("follow_info") or {}
            ext = str(contact["external_userid"])
            profiles[ext] = CustomerProfile(
                external_userid=ext,
                event_time=fetched_at,
                name=str(contact.get("name") or ""),
                type=int(contact.get("type") or 0),
                gender=int(contact.get("gender") or 0),
                unionid=str(contact.get("unionid") or ""),
                corp_name=str(contact.get("corp_name") or ""),
                avatar=str(contact.get("avatar") or ""),
            )
            relations.append(
                FollowRelation(
                    external_userid=ext,
                    userid=str(follow["userid"]),
                    createtime=int(follow.get("createtime") or 0),
                    event_time=fetched_at,
                    remark=str(follow.get("remark") or ""),
                    description=str(follow.get("description") or ""),
                    remark_mobiles=tuple(str(m) for m in follow.get("remark_mobiles") or ()),
                    tag_ids=frozenset(str(t) for t in follow.get("tag_id") or ()),
                    add_way=int(follow.get("add_way") or 0),
                    state=str(follow.get("state") or ""),
                )
            )
        stats = self.store.put_follows(relations)
        profile_stats = self.directory.put_profiles(profiles.values())
        find_stats = self.directory.put_find_items(relations, {e: p.name for e, p in profiles.items()})
        if self.reconciling:
            if self.seen_from is None:
                self.seen_from = cursor.wecom_cursor
            self.seen.extend((r.external_userid, r.userid) for r in relations)
        next_cursor = str(answer.get("next_cursor") or "")
        done_users = 0 if next_cursor else len(cursor.chunk)
        self.progress(
            pages=1,
            relations=stats.written + stats.unchanged,
            customers=len(profiles),
            skipped_older=stats.skipped_older,
            unchanged=stats.unchanged,
            users_done=done_users,
            **page_items(stats, profile_stats, find_stats),
        )
        return replace(cursor, wecom_cursor=next_cursor)

    def reconcile(self, chunk: tuple[str, ...]) -> None:
        """Mark lost the stored active relations of a completely read chunk that WeCom did not return in this run
        (this invocation's pages, and those earlier invocations stored) and no event touched since it started."""
        seen = set(self.seen)
        if self.seen_from:
            seen |= self.runs.seen(self.run_id, chunk[0])
        lost = read = 0
        for userid in chunk:
            for relation in list(self.directory.employee_relations(userid)):
                read += 1
                pair = (relation.external_userid, relation.userid)
                if pair not in seen and rules.is_missing(relation.active, relation.event_time, self.started_at):
                    lost += self.directory.mark_lost(relation, self.started_at, LOST_BY_SYNC)
        self.progress(lost=lost, items_read=read)

    def continue_later(self, cursor: rules.SyncCursor) -> None:
        """Hand the lane over to a new invocation; the relations read of an unfinished chunk are stored first."""
        written = 0
        if self.reconciling and cursor.chunk and self.seen:
            written = self.runs.save_seen(self.run_id, cursor.chunk[0], self.seen_from or "", self.seen, self.now())
        message = {**self.message, "phase": CUSTOMERS, "cursor": cursor.as_dict()}
        queues.publish(resources.SYNC, message, tenant_id=self.tenant_id, settings=self.settings)
        self.progress(items_written=written)
        logger.info("sync continues in a new invocation", extra={"run_id": self.run_id, "after": cursor.after})


def page_items(*stats: WriteStats) -> dict[str, int]:
    """Items a page read and wrote on the data table, for the run's counters."""
    return {"items_read": sum(s.read for s in stats), "items_written": sum(s.items for s in stats)}
