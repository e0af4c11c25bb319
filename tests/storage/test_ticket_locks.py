"""Reports from one building are decided one transaction at a time across processes."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.tickets import lock_buildings


async def test_one_building_is_decided_by_one_transaction_at_a_time(
    sessions: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    async with sessions() as first, first.begin():
        await lock_buildings(first, [5, 3, 3])

        async def second_takes(building_id: int) -> None:
            async with sessions() as second, second.begin():
                await lock_buildings(second, [building_id])

        # another building is not held up
        await asyncio.wait_for(second_takes(4), timeout=5)
        same = asyncio.create_task(second_takes(3))
        await asyncio.sleep(0.3)
        if db_url.startswith("postgresql"):
            assert not same.done(), "a second transaction took a building that is held"
    await asyncio.wait_for(same, timeout=5)  # released with the first transaction
