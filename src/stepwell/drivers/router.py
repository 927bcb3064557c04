"""Sends each execution to the driver that can reach its function."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stepwell.drivers.connect.urls import is_connect_url
from stepwell.drivers.http import HttpDriver
from stepwell.drivers.inprocess import InProcessDriver
from stepwell.ports.driver import Checkpoint, ExecutionRequest, Outcome

if TYPE_CHECKING:
    from stepwell.drivers.connect.driver import ConnectDriver


class RoutingDriver:
    """Functions of Connect workers (a ``ws(s)://`` URL) go over their sockets, the other
    functions with a URL over HTTP; the rest run in this process."""

    def __init__(
        self,
        *,
        inprocess: InProcessDriver | None,
        http: HttpDriver,
        connect: ConnectDriver | None = None,
    ) -> None:
        self.inprocess = inprocess
        self.http = http
        self.connect = connect

    async def execute(self, request: ExecutionRequest, checkpoint: Checkpoint) -> Outcome:
        if self.connect is not None and is_connect_url(request.url):
            return await self.connect.execute(request, checkpoint)
        if request.url is not None or self.inprocess is None:
            return await self.http.execute(request, checkpoint)
        return await self.inprocess.execute(request, checkpoint)

    def drain(self) -> None:
        self.http.drain()
        if self.connect is not None:
            self.connect.drain()
        if self.inprocess is not None:
            self.inprocess.drain()
