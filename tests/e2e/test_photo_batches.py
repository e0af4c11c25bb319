"""A batch of messages holds a bounded amount of pictures: those beyond the bound wait for a
following batch, uncounted as failures, and none is lost (bot.photos.MAX_BATCH_BYTES)."""

from __future__ import annotations

from sqlalchemy import select

from bot.media import MAX_BYTES
from storage.models import InboundRecord
from tests.e2e.conftest import Spine
from tests.e2e.test_voice_and_photos import bridge_picture, pictures_of, ticket_id_in

MB = 1024 * 1024


def big_jpeg(seed: int) -> bytes:
    """A 6 MB JPEG: three of them are more than two fetches' room."""
    return b"\xff\xd8\xff\xe0" + bytes([seed]) * (6 * MB - 6) + b"\xff\xd9"


async def test_pictures_beyond_a_batchs_bound_wait_for_the_next_batch(spine: Spine):
    # Room for two fetches at once: two 6 MB pictures, then a third would go beyond.
    spine.runtime.photos.batch_bytes = 2 * MAX_BYTES
    # Four neighbours report the same broken light (the first opens the ticket, the others
    # join it), then each sends a picture: four senders, so one batch can hold all four.
    senders = [f"wxid_res{n}" for n in range(1, 5)]
    for sender in senders:
        await spine.bridge_say("3号楼2单元楼道灯坏了好几天了", sender=sender)
        await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[0]["text"])
    pictures = [big_jpeg(n) for n in range(1, 5)]
    for n, (sender, picture) in enumerate(zip(senders, pictures, strict=True)):
        await bridge_picture(spine, spine.wecom.picture_url(f"big{n}.jpg", picture),
                             sender=sender)
    batch = await spine.runtime.processor.pending()
    assert len(batch) == 4
    decided = await spine.runtime.processor.process_many(batch)
    assert sorted(decided) == batch[:2]
    assert await pictures_of(spine, ticket_id) == pictures[:2]
    async with spine.runtime.sessions() as session:
        waiting = (await session.execute(
            select(InboundRecord).where(InboundRecord.id.in_(batch[2:])))).scalars().all()
    assert [(m.status, m.failures) for m in waiting] == [("received", 0)] * 2
    assert all("wait for the next" in (m.error or "") for m in waiting)
    # Not fetched and put aside: the waiting pictures were not fetched at all yet.
    assert spine.wecom.count("/pictures/big2.jpg") == 0
    await spine.settle()
    # Each waited with its own backoff: the two may come in either order.
    attached = await pictures_of(spine, ticket_id)
    assert attached[:2] == pictures[:2] and sorted(attached[2:]) == sorted(pictures[2:])
    for n in range(4):
        assert spine.wecom.count(f"/pictures/big{n}.jpg") == 1


async def test_a_batch_always_takes_its_first_picture(spine: Spine):
    spine.runtime.photos.batch_bytes = 1  # less than any picture
    await spine.bridge_say("3号楼2单元楼道灯坏了好几天了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    small = [b"\xff\xd8\xff\xe0" + bytes([n]) * 100 + b"\xff\xd9" for n in range(3)]
    for n, picture in enumerate(small):
        await bridge_picture(spine, spine.wecom.picture_url(f"small{n}.jpg", picture))
    await spine.settle()
    assert await pictures_of(spine, ticket_id) == small
