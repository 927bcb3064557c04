"""Async checkpoints (protocol.md §5.11) reach the process whose call they belong to.

An SDK posts a call's finished steps to its configured server URL, which in a scale-out is any
of the processes sharing the database, often not the one that made the call. Only that one may
store them: it holds the run's queue item under its lease and keeps the run's memo in memory for
the calls still to come. So a process that does not hold the call looks up who leases the queue
item the checkpoint names (``qi_id``) and forwards the steps there over the relay that also
carries Connect requests; the holder answers whether it took them. A holder that died or lost
the lease meanwhile takes nothing, and the SDK answers the steps in its call instead.
"""

from __future__ import annotations

import json
import logging

from stepwell.drivers.connect.driver import ConnectDriver, Relay
from stepwell.drivers.http import HttpDriver
from stepwell.ports.store import EngineStore
from stepwell.protocol.ops import Op

log = logging.getLogger("stepwell.server.checkpoints")

FORWARD_TAG = b"\x00checkpoint\n"
"""Starts a forwarded checkpoint; a Connect request (protobuf) never starts with a zero byte."""
TAKEN, REFUSED = b"1", b"0"


class Checkpoints:
    def __init__(
        self,
        http: HttpDriver,
        connect: ConnectDriver,
        store: EngineStore,
        *,
        relay: Relay | None,
        owner: str,
    ) -> None:
        self._http = http
        self._connect = connect
        self._store = store
        self._relay = relay
        self._owner = owner

    async def take(
        self, run_id: str, ops: list[Op], request_id: str | None, item_id: str | None
    ) -> bool:
        """Store the steps here or where their call runs; False when no process holds a call
        of that run (or that ``request_id``)."""
        if await self._local(run_id, ops, request_id):
            return True
        if self._relay is None or item_id is None:
            return False
        item = await self._store.get_item(item_id)
        holder = item.lease_owner if item is not None and item.run_id == run_id else None
        if holder is None or holder == self._owner:
            return False
        body = {"run_id": run_id, "request_id": request_id, "steps": [op.to_wire() for op in ops]}
        forward = FORWARD_TAG + json.dumps(body, separators=(",", ":")).encode("utf-8")
        reply = await self._relay.call(holder, forward)
        return reply == TAKEN

    async def serve_forwarded(self, forward: bytes) -> bytes | None:
        """What the relay hands us: a checkpoint for one of our calls, or a Connect request."""
        if not forward.startswith(FORWARD_TAG):
            return await self._connect.serve_forwarded(forward)
        try:
            body = json.loads(forward[len(FORWARD_TAG) :])
            ops = [Op.from_wire(raw) for raw in body["steps"]]
            run_id, request_id = str(body["run_id"]), body.get("request_id")
        except (ValueError, KeyError, TypeError):
            log.warning("a forwarded checkpoint could not be read")
            return REFUSED
        taken = await self._local(run_id, ops, request_id if isinstance(request_id, str) else None)
        return TAKEN if taken else REFUSED

    async def _local(self, run_id: str, ops: list[Op], request_id: str | None) -> bool:
        # The call in progress is over HTTP or over a Connect worker's socket.
        return await self._http.checkpoint_async(
            run_id, ops, request_id
        ) or await self._connect.checkpoint_async(run_id, ops, request_id)
