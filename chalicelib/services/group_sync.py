"""The group-chat sync: every customer group of a tenant read from WeCom and stored, resumable like the customer sync
(`services.sync`), as a chain of `groups.sync` messages on the sync queue, each one bounded invocation.

Owners are the employees with customer-contact permission (`get_follow_user_list`) and every employee stored as
departed: WeCom lists a departed owner's chats (waiting for inheritance) only through the owner filter, and an
unfiltered `groupchat/list` fails with 81017 when more than 1,000 people are in the app's range, so the sync always
filters, 100 owners a call (GROUPCHAT_OWNER_FILTER_MAX_USERIDS), in userid order. Each listed page (limit 1,000)
is followed by one `groupchat/get` per chat, written through `group_chats.store_view`: a chat whose version and
profile are unchanged writes nothing, so a nightly run after the first load writes only what changed (events keep
the store current in between). After a chunk of owners has been listed completely, a run that follows a completed
one reconciles: a stored live chat of these owners that WeCom no longer lists is read again (dismissed, or moved to
another owner).

Before each chat but the first, the invocation checks its remaining time; when the next chat might not fit it
publishes a continuation carrying the cursor (`domain.group_chats.GroupSyncCursor`) and returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from chalicelib import queues, resources
from chalicelib.config import Settings, get_settings
from chalicelib.domain import sync as rules
from chalicelib.domain.group_chats import DailyFigures, GroupSyncCursor
from chalicelib.domain.wecom_limits import GROUPCHAT_LIST_MAX_LIMIT, GROUPCHAT_OWNER_FILTER_MAX_USERIDS
from chalicelib.observability import logger
from chalicelib.services.group_chats import fetch_chat, store_view
from chalicelib.services.tenant_wecom import configured_wecom
from chalicelib.store.customers import CustomerStore
from chalicelib.store.groups import GroupStore
from chalicelib.store.sync_runs import GROUP_RUN, SyncRun, SyncRuns
from chalicelib.wecom.client import WeComClient
from chalicelib.wecom.errors import ConcurrencyLimited, RateLimited

GROUP_SYNC_MESSAGE = "groups.sync"
VERSION = 1
LIST_API = "externalcontact/groupchat/list"
FOLLOW_USERS_API = "externalcontact/get_follow_user_list"

Clock = Callable[[], float]
Remaining = Callable[[], int]


def request_group_sync(
    tenant_id: str, trigger: str, now: int | None = None, settings: Settings | None = None
) -> SyncRun:
    """Start a group sync of this tenant (raises SyncRunning when one is in progress) and queue its first message."""
    settings = settings or get_settings()
    runs = SyncRuns(tenant_id, settings, GROUP_RUN)
    previous = runs.current()
    run = runs.start(trigger, int(now if now is not None else time.time()))
    message = {
        "type": GROUP_SYNC_MESSAGE,
        "v": VERSION,
        "tenant_id": tenant_id,
        "run_id": run.run_id,
        "started_at": run.started_at,
        "reconcile": rules.needs_reconciliation(previous.status if previous else None),
        "cursor": GroupSyncCursor().as_dict(),
    }
    queues.publish(resources.SYNC, message, tenant_id=tenant_id, settings=settings)
    return run


class GroupSync:
    """One invocation's share of one tenant's group sync."""

    def __init__(
        self, tenant_id: str, message: Mapping[str, Any], remaining: Remaining, clock: Clock, settings: Settings
    ) -> None:
        self.tenant_id = tenant_id
        self.message = dict(message)
        self.run_id = str(message["run_id"])
        self.remaining = remaining
        self.clock = clock
        self.settings = settings
        self.runs = SyncRuns(tenant_id, settings, GROUP_RUN)
        self.groups = GroupStore(tenant_id, settings)
        self.figures = DailyFigures()
        self.slowest_chat_ms = 0.0
        self.chats_read = 0
        self.calls = 0
        self._wecom: WeComClient | None = None

    def now(self) -> int:
        return int(self.clock())

    @property
    def wecom(self) -> WeComClient:
        if self._wecom is None:
            self._wecom = configured_wecom(self.tenant_id, self.settings)
        return self._wecom

    def post(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        return self.wecom.post(api, body, retry_safe=True)

    def progress(self, **counts: int) -> bool:
        counts["item_writes"] = counts.get("item_writes", 0) + self.groups.add_figures(self.figures)
        moved = self.runs.progress(self.run_id, self.now(), wecom_calls=self.calls, **counts)
        self.calls = 0
        return moved

    def run(self) -> None:
        if not self.progress(invocations=1):
            logger.info("group sync message of a replaced or finished run ignored", extra={"run_id": self.run_id})
            return
        try:
            self.sync(GroupSyncCursor.from_dict(self.message.get("cursor")))
        except (RateLimited, ConcurrencyLimited):
            self.progress()
            raise
        except LookupError as error:
            self.runs.finish(self.run_id, self.now(), error=str(error))

    def owners(self) -> list[str]:
        """Employees with customer contact, and every employee stored as departed (their chats wait for
        inheritance and are listed only by name)."""
        self.calls += 1
        follow = [str(u) for u in self.wecom.get(FOLLOW_USERS_API).get("follow_user", [])]
        departed = [e.userid for e in CustomerStore(self.tenant_id, self.settings).list_employees() if not e.active]
        owners = sorted(set(follow) | set(departed))
        self.runs.set_counts(self.run_id, self.now(), owners=len(owners))
        return owners

    def sync(self, cursor: GroupSyncCursor) -> None:
        owners: list[str] | None = None
        while True:
            if not cursor.chunk:
                owners = owners if owners is not None else self.owners()
                chunk = rules.next_chunk(owners, cursor.after, GROUPCHAT_OWNER_FILTER_MAX_USERIDS)
                if not chunk:
                    self.progress()
                    self.runs.finish(self.run_id, self.now())
                    logger.info("group sync finished", extra={"run_id": self.run_id})
                    return
                cursor = GroupSyncCursor(cursor.after, tuple(chunk))
            cursor = self.read_page(cursor)
            if cursor.done < 0:
                return
            if not cursor.wecom_cursor:
                if self.message.get("reconcile", True):
                    self.reconcile(cursor.chunk)
                done = len(cursor.chunk)
                cursor = GroupSyncCursor(after=cursor.chunk[-1])
                self.progress(owners_done=done)

    def list_page(self, chunk: tuple[str, ...], wecom_cursor: str) -> tuple[list[tuple[str, int]], str]:
        answer = self.post(
            LIST_API,
            {
                "status_filter": 0,
                "owner_filter": {"userid_list": list(chunk)},
                "cursor": wecom_cursor,
                "limit": GROUPCHAT_LIST_MAX_LIMIT,
            },
        )
        listed = [(str(c["chat_id"]), int(c.get("status") or 0)) for c in answer.get("group_chat_list", [])]
        return listed, str(answer.get("next_cursor") or "")

    def read_page(self, cursor: GroupSyncCursor) -> GroupSyncCursor:
        """One list page and a groupchat/get for each of its chats not done yet. Returns the cursor of the next
        page, or, when the time ran out, publishes the continuation and returns a cursor with done = -1."""
        listed, next_cursor = self.list_page(cursor.chunk, cursor.wecom_cursor)
        todo = listed[cursor.done :]
        stored = self.groups.get_chats(c for c, _ in todo)
        chats = written = members = writes = 0
        for offset, (chat_id, status) in enumerate(todo):
            if self.chats_read and not rules.may_start_page(self.remaining(), self.slowest_chat_ms):
                self.progress(chats=chats, chats_written=written, members=members, item_writes=writes)
                self.continue_later(replace(cursor, done=cursor.done + offset))
                return replace(cursor, done=-1)
            started = time.perf_counter()
            view = fetch_chat(self.post, chat_id, self.now(), status)
            if view is None:
                written += self.groups.dismiss(chat_id, self.now(), self.figures)
            else:
                write = store_view(self.groups, view[0], view[1], stored.get(chat_id), self.figures)
                written += bool(write.items)
                writes += write.items
                members += len(view[1])
            chats += 1
            self.chats_read += 1
            self.slowest_chat_ms = max(self.slowest_chat_ms, (time.perf_counter() - started) * 1000)
        self.progress(pages=1, chats=chats, chats_written=written, members=members, item_writes=writes)
        return GroupSyncCursor(cursor.after, cursor.chunk, next_cursor, 0)

    def reconcile(self, chunk: tuple[str, ...]) -> None:
        """Read again the stored live chats of these owners that WeCom's list no longer gives them."""
        listed: set[str] = set()
        wecom_cursor = ""
        while True:
            page, wecom_cursor = self.list_page(chunk, wecom_cursor)
            listed.update(c for c, _ in page)
            if not wecom_cursor:
                break
        dismissed = 0
        for owner in chunk:
            for chat_id in self.groups.chats_owned_by(owner):
                if chat_id in listed:
                    continue
                view = fetch_chat(self.post, chat_id, self.now())
                if view is None:
                    dismissed += self.groups.dismiss(chat_id, self.now(), self.figures)
                else:
                    store_view(self.groups, view[0], view[1], self.groups.get_chat(chat_id), self.figures)
        if dismissed:
            self.progress(dismissed=dismissed)

    def continue_later(self, cursor: GroupSyncCursor) -> None:
        message = {**self.message, "cursor": cursor.as_dict()}
        queues.publish(resources.SYNC, message, tenant_id=self.tenant_id, settings=self.settings)
        logger.info("group sync continues in a new invocation", extra={"run_id": self.run_id})
