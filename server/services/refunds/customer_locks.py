"""One asyncio lock per customer reference, held by the refund worker from counting the customer's recent refunds
to recording the new one: the velocity check and the refund it lets through are one step, so two concurrent
refunds for one customer cannot both count the same past. Locks exist only while someone holds or awaits them.

In-process: one server process runs the worker (the database's one writer is in-process too)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator


class CustomerLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # customer ref -> its lock, holders and waiters

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, customer_ref: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(customer_ref, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[customer_ref] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[customer_ref]
            if users == 1:
                del self._locks[customer_ref]
            else:
                self._locks[customer_ref] = (lock, users - 1)
