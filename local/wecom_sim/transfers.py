"""Customer transfers (在职继承 / 离职继承): takeover after a delay, seeded refusals, 2 per customer per 90 days."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

from . import errors
from .config import SimConfig
from .rand import unit

WINDOW = 90 * 86_400.0
MAX_PER_WINDOW = 2
WAITING, DONE, REFUSED = 2, 1, 3


@dataclass(slots=True)
class TransferRecord:
    """One customer moving from ``handover`` to ``takeover``; status 1 done, 2 waiting, 3 refused."""

    kind: str
    handover: str
    takeover: str
    external_userid: str
    started_at: float
    takeover_at: float
    status: int = WAITING


class Transfers:
    """Transfer records of one corp, their history per customer and the queue of pending takeovers."""

    def __init__(self, config: SimConfig, corpid: str) -> None:
        self._config = config
        self._corpid = corpid
        self.by_pair: dict[tuple[str, str, str], dict[str, TransferRecord]] = {}
        self._history: dict[str, list[float]] = {}
        self._pending: dict[str, TransferRecord] = {}
        self._due: list[tuple[float, int, TransferRecord]] = []
        self._seq = 0

    def check(self, external_userid: str, now: float) -> int:
        """The per-customer errcode a new transfer would get: 0, 40129 in progress, 40128 too frequent."""
        if external_userid in self._pending:
            return errors.TRANSFER_IN_PROGRESS
        recent = [moment for moment in self._history.get(external_userid, []) if now - moment < WINDOW]
        if len(recent) >= MAX_PER_WINDOW:
            return errors.TRANSFER_TOO_FREQUENT
        return errors.OK

    def start(self, kind: str, handover: str, takeover: str, external_userid: str, now: float) -> TransferRecord:
        """Begin a transfer; the takeover happens ``transfer_delay`` simulated seconds later."""
        record = TransferRecord(kind, handover, takeover, external_userid, now, now + self._config.transfer_delay)
        self.by_pair.setdefault((kind, handover, takeover), {})[external_userid] = record
        self._history.setdefault(external_userid, []).append(now)
        self._pending[external_userid] = record
        self._seq += 1
        heapq.heappush(self._due, (record.takeover_at, self._seq, record))
        return record

    def settle(self, now: float, apply: Callable[[TransferRecord], bool]) -> None:
        """Finish every takeover due by ``now``: a seeded share of customers refuse; ``apply`` moves the relation
        and answers False when it can no longer happen (the handover relation is gone), which counts as refused."""
        while self._due and self._due[0][0] <= now:
            _, _, record = heapq.heappop(self._due)
            self._pending.pop(record.external_userid, None)
            refused = unit(self._config.seed, self._corpid, "refuse", record.external_userid, record.started_at)
            if refused < self._config.transfer_refuse_share or not apply(record):
                record.status = REFUSED
            else:
                record.status = DONE

    def records(self, kind: str, handover: str, takeover: str) -> list[TransferRecord]:
        return list(self.by_pair.get((kind, handover, takeover), {}).values())
