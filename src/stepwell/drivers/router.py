"""Sends each execution to the driver that can reach its function."""

from __future__ import annotations

from stepwell.drivers.http import HttpDriver
from stepwell.drivers.inprocess import InProcessDriver
from stepwell.ports.driver import Checkpoint, ExecutionRequest, Outcome


class RoutingDriver:
    """Functions with a URL are called over HTTP; the others run in this process."""

    def __init__(self, *, inprocess: InProcessDriver | None, http: HttpDriver) -> None:
        self.inprocess = inprocess
        self.http = http

    async def execute(self, request: ExecutionRequest, checkpoint: Checkpoint) -> Outcome:
        if request.url is not None or self.inprocess is None:
            return await self.http.execute(request, checkpoint)
        return await self.inprocess.execute(request, checkpoint)

    def drain(self) -> None:
        self.http.drain()
        if self.inprocess is not None:
            self.inprocess.drain()
