"""Servers the project starts itself (embedded PostgreSQL, the Kafka broker) as context managers."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class ManagedServer(ABC):
    """A server process with blocking ``start``/``stop``, usable with ``with`` and ``async with``
    (the async form runs them in a thread so an event loop is never blocked by a start-up)."""

    @abstractmethod
    def start(self) -> str:
        """Start and return the address clients use."""

    @abstractmethod
    def stop(self) -> object:
        """Stop cleanly."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)
