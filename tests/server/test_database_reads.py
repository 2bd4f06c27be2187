"""The hot reader is shared by every coroutine: a long read's snapshot must not swallow the short reads of others."""

import asyncio

from server.storage.database import Database


async def test_a_read_during_anothers_snapshot_sees_what_was_committed_since(db: Database) -> None:
    await db.execute("CREATE TABLE counter (value INTEGER NOT NULL)")
    await db.execute("INSERT INTO counter (value) VALUES (1)")
    async with db.reading() as conn:
        assert list((await conn.execute_fetchall("SELECT value FROM counter"))[0]) == [1]
        await db.execute("UPDATE counter SET value = 2")  # committed by the writer while the snapshot is open
        # Another coroutine's short read, started while the snapshot is still open.
        other = asyncio.create_task(db.fetchone("SELECT value FROM counter"))
        await asyncio.sleep(0.05)
        # The snapshot itself still sees its own moment.
        assert list((await conn.execute_fetchall("SELECT value FROM counter"))[0]) == [1]
    row = await other
    assert row is not None and row["value"] == 2
