"""Two streets for the end-to-end tests of whistling, disputes and escalation.

宜川路街道 is the contract's example grown to the whole loop: a street admin, departments
(房管所 on WeCom, 派出所 through its robot), a district admin and the full dispute ladder.
曹杨新村街道 is a second street with its own admins, its own 房管所 and a faster SLA.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import Spine, load_org

STREET_A = """\
street: 宜川路街道
admins: [{name: 王建国, wecom_userid: admin}]
departments:
  - {name: 房管所, wecom_userid: fgs, respond: 4h}
  - {name: 派出所, webhook_key: "key-pcs", respond: 30m}
districts:
  - name: 第一居民区
    admins: [{name: 居委会孙书记, wecom_userid: sunsj}]
    mediators:
      small: {name: 居委会赵主任, wecom_userid: zhaozr}
      medium: {name: 第三方调解李老师, wecom_userid: litj}
      big: {name: 社区解纷员周法官, wecom_userid: zhoufg}
    grids:
      - name: 第1网格
        worker: {name: 张网格, wecom_userid: zhangwg}
        leader: {name: 陈网格长, wecom_userid: chenwgz}
        volunteers:
          - {name: 党员刘师傅, wechat_id: wxid_liu}
        buildings:
          - number: "3"
            captain: {name: 王楼长, wechat_id: wxid_wang, wecom_userid: wanglz}
            groups:
              - {channel: bridge, chat_id: "b3@chatroom", name: 3号楼业主群}
              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}
            webhook_key: "key-b3"
sla:
  accept: {emergency: 10m, normal: 2h}
  resolve: {repair: 24h, complaint: 48h, wish: 7d, dispute: 7d}
"""

STREET_B = """\
street: 曹杨新村街道
admins: [{name: 曹杨街道管理员, wecom_userid: caoyang}]
departments:
  - {name: 房管所, wecom_userid: cyfgs, respond: 1h}
districts:
  - name: 曹杨第一居民区
    admins: [{name: 居委会钱书记, wecom_userid: qiansj}]
    grids:
      - name: 曹杨第1网格
        worker: {name: 李网格, wecom_userid: liwg}
        leader: {name: 周网格长, wecom_userid: zhouwgz}
        buildings:
          - number: "8"
            groups:
              - {channel: bridge, chat_id: "b8@chatroom", name: 8号楼业主群}
sla:
  accept: {emergency: 5m, normal: 30m}
  resolve: {repair: 12h}
"""


async def with_two_streets(spine: Spine, db_url: str) -> Spine:
    """The spine with both streets imported (for a test module's fixture)."""
    await load_org(db_url, STREET_A)
    await load_org(db_url, STREET_B)
    spine.runtime.org.invalidate()
    return spine


def ticket_id_in(text: str) -> int:
    match = re.search(r"#(\d+)", text)
    assert match, text
    return int(match.group(1))


def move_clocks(spine: Spine, ahead: timedelta) -> Callable[[], datetime]:
    """Timers and the outbox see the time `ahead` of now (messages keep the real time)."""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC) + ahead  # noqa: E731
    spine.runtime.scheduler.clock = clock
    spine.runtime.outbox.clock = clock
    return clock


def pushes_to(spine: Spine, userid: str) -> list[dict[str, Any]]:
    return [p for p in spine.pushes() if p["touser"] == userid]


def cards_to(spine: Spine, userid: str) -> list[dict[str, Any]]:
    return [p["textcard"] for p in pushes_to(spine, userid) if p["msgtype"] == "textcard"]


def answers_to(spine: Spine, userid: str) -> list[str]:
    return [p["text"]["content"] for p in pushes_to(spine, userid) if p["msgtype"] == "text"]


async def events(spine: Spine, ticket_id: int) -> list[dict[str, Any]]:
    return (await spine.api(f"/api/v1/tickets/{ticket_id}"))["events"]


async def report(spine: Spine, text: str, chat: str = "b3@chatroom") -> int:
    """A resident reports `text` in the building group; the new ticket's id."""
    before = len(spine.group_posts(chat))
    await spine.bridge_say(text, chat=chat)
    await spine.settle()
    posts = spine.group_posts(chat)
    assert len(posts) == before + 1, posts
    return ticket_id_in(posts[-1]["text"])
