"""The estate, messages and tickets the handler tests decide about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.org import BuildingInfo, DistrictInfo, GroupInfo, OrgMap, RoleInfo, StreetInfo
from handlers import Context, Message, TicketView

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

# Person ids
WORKER, LEADER, CAPTAIN, VOLUNTEER, MED_SMALL, MED_BIG, ADMIN, OTHER_WORKER, VOLUNTEER_2 = range(1, 10)
DISTRICT_ADMIN, OTHER_STREET_ADMIN = 10, 11


def org() -> OrgMap:
    return OrgMap.build(
        streets=[StreetInfo(1, "宜川路街道"), StreetInfo(2, "曹杨新村街道")],
        districts=[DistrictInfo(1, "第一居民区", 1)],
        grids=[(1, "第1网格", 1), (2, "第2网格", 1)],
        buildings=[BuildingInfo(10, "3", 1, 1, "key-b3"), BuildingInfo(11, "5", 1, 1, None),
                   BuildingInfo(12, "7", 2, 1, None)],
        groups=[GroupInfo(100, "bridge", "b3@chatroom", "3号楼业主群", 10),
                GroupInfo(101, "wecom_bot", "wrOgAAAA3", None, 10),
                GroupInfo(102, "bridge", "b5@chatroom", "5号楼业主群", 11)],
        people=[
            (WORKER, "张网格", "zhangwg", None, None),
            (LEADER, "陈网格长", "chenwgz", None, None),
            (CAPTAIN, "王楼长", "wanglz", "wxid_wang", None),
            (VOLUNTEER, "党员刘师傅", None, "wxid_liu", None),
            (MED_SMALL, "居委会赵主任", "zhaozr", None, None),
            (MED_BIG, "社区解纷员周法官", "zhoufg", None, None),
            (ADMIN, "街道管理员", "admin1", None, None),
            (OTHER_WORKER, "李网格", "liwg", None, None),
            (VOLUNTEER_2, "志愿者小李", None, "wxid_xiaoli", None),
            (DISTRICT_ADMIN, "居委会孙书记", "sunsj", None, None),
            (OTHER_STREET_ADMIN, "曹杨街道管理员", "caoyang", None, None),
        ],
        roles=[
            (WORKER, RoleInfo("grid_worker", "grid", 1)),
            (LEADER, RoleInfo("grid_leader", "grid", 1)),
            (CAPTAIN, RoleInfo("captain", "building", 10)),
            (VOLUNTEER, RoleInfo("volunteer", "grid", 1)),
            (MED_SMALL, RoleInfo("mediator", "district", 1, "small")),
            (MED_BIG, RoleInfo("mediator", "district", 1, "big")),
            (ADMIN, RoleInfo("admin", "street", 1)),
            (OTHER_WORKER, RoleInfo("grid_worker", "grid", 2)),
            (VOLUNTEER_2, RoleInfo("volunteer", "grid", 1)),
            (DISTRICT_ADMIN, RoleInfo("admin", "district", 1)),
            (OTHER_STREET_ADMIN, RoleInfo("admin", "street", 2)),
        ],
    )


ORG = org()


def ctx(text: str, *, sender: str = "wxid_res1", name: str | None = "王阿姨",
        channel: str = "bridge", chat_id: str | None = "b3@chatroom",
        person: int | None = None, mentions: bool = False) -> Context:
    group = ORG.group_for(channel, chat_id) if chat_id else None
    return Context(
        message=Message(1, channel, sender, name, text, chat_id, mentions),
        org=ORG, now=NOW, group_id=group.id if group else None,
        building_id=group.building_id if group else None, person_id=person,
    )


def nlu(intent: str, confidence: float = 0.95, entities: list | None = None,
        urgency: str | None = None, tier: str | None = None, ranking: list | None = None,
        danger: str | None = None) -> dict:
    return {"text": "", "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
            "entities": entities or [], "urgency": urgency, "tier": tier, "danger": danger}


def ticket(**over) -> TicketView:
    base = dict(id=128, category="repair", status="new", urgency="normal", tier=None,
                facility="lift", building_id=10, grid_id=1, group_id=100, assignee_id=WORKER,
                reporter_channel="bridge", reporter_id="wxid_res1", reporter_name="王阿姨",
                text="3号楼电梯坏了 联系我13812345678", escalation_level=0,
                accept_due_at=NOW + timedelta(hours=2), resolve_due_at=NOW + timedelta(hours=24),
                created_at=NOW - timedelta(hours=1))
    base.update(over)
    return TicketView(**base)


def staff_ctx(text: str, person: int, userid: str) -> Context:
    return ctx(text, sender=userid, name=None, channel="wecom_app", chat_id=None, person=person)
