"""Commands said aloud on the Official Account: speech recognition writes numbers as words
(查询十二。, 评价十二，五星。), and gridbot reads them as the typed command."""

from __future__ import annotations

from bot.channels import wechat_side
from tests.e2e.conftest import Spine
from tests.e2e.test_voice_and_photos import OA_RESIDENT, oa_post, ticket_id_in

# Eleven different matters from eleven neighbours, so that the resident's report is #12.
OTHER_REPORTS = [
    "3号楼2单元楼道灯坏了好几天了", "3号楼门禁坏了刷卡进不去", "3号楼地下室水管爆了",
    "3号楼楼道里堆满了杂物，消防通道都堵了", "3号楼下水道堵了，污水都反上来了",
    "3号楼外墙瓷砖掉下来了，差点砸到人", "3号楼旁边的大树被风刮倒了，挡住了路",
    "3号楼垃圾房好几天没人清运，臭得不行", "3号楼楼顶漏雨，顶楼墙面都霉了",
    "3号楼楼下井盖丢了，很危险", "3号楼楼下有人天天半夜在广场上跳舞放音乐",
]


async def test_a_query_and_a_rating_said_with_chinese_numerals(spine: Spine):
    for n, text in enumerate(OTHER_REPORTS):
        response = await spine.bridge_say(text, sender=f"wxid_neighbour{n}", name=f"邻居{n}")
        assert response.status == 200
    await spine.settle()
    assert (await spine.api("/api/v1/tickets"))["total"] == len(OTHER_REPORTS)

    await oa_post(spine, wechat_side.oa_voice_fields(
        OA_RESIDENT, "voice-n-1", recognition="3号楼电梯坏了，有人被困在里面。"))
    await spine.settle()
    assert ticket_id_in(spine.oa_messages()[-1]["text"]["content"]) == 12

    await oa_post(spine, wechat_side.oa_voice_fields(OA_RESIDENT, "voice-n-2",
                                                     recognition="查询十二。"))
    await spine.settle()
    assert spine.oa_messages()[-1]["text"]["content"].startswith("#12 报修")

    await spine.staff_say("zhangwg", "完成 12 已修好")
    await spine.settle()
    await oa_post(spine, wechat_side.oa_voice_fields(OA_RESIDENT, "voice-n-3",
                                                     recognition="评价十二，五星。"))
    await spine.settle()
    ticket = await spine.api("/api/v1/tickets/12")
    assert ticket["status"] == "closed" and ticket["rating"] == 5
