"""Tools of the hardening tests: ``lagezentrum serve`` as a subprocess (its RSS readable from
/proc), and an HTTP/1.1 client cheap enough to offer several times what the server sustains."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ops.serve_process import spawn_serve


class ServeProcess:
    """``lagezentrum serve --database-url URL --port 0`` until :meth:`stop`."""

    def __init__(self, database_url: str, env: Mapping[str, str] | None = None) -> None:
        values = {**os.environ, "LAGEZENTRUM_AUTH": "false", **(env or {})}
        self.process, self.url = spawn_serve(
            ["--port", "0", "--database-url", database_url], env=values
        )
        host, _, port = self.url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)

    def rss_mb(self) -> float:
        """Resident set size of the server process (VmRSS), in MiB."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


class Connection:
    """One keep-alive HTTP/1.1 connection; requests are sent one after the other."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> Response:
        if self._writer is None or self._reader is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            self._writer.write(head.encode() + body)
            await self._writer.drain()
            status_line = await self._reader.readuntil(b"\r\n")
            headers: dict[str, str] = {}
            while (line := await self._reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            payload = await self._reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(int(status_line.split()[1]), headers, payload)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass
class Tally:
    """What a load run got back: status codes, failures, acknowledged report ids."""

    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    shed: set[str] = field(default_factory=set)
    retry_after: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)

    def record(self, source_id: str, response: Response, latency: float) -> None:
        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        self.latencies.append(latency)
        if response.status == 202:
            self.acknowledged.add(source_id)
        elif response.status in (429, 503):
            self.shed.add(source_id)
            if "retry-after" in response.headers:
                self.retry_after.add(source_id)

    def error(self, error: BaseException) -> None:
        name = type(error).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]
