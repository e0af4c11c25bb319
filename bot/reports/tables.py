"""The monthly review as titled tables of text, the same for the HTML, the PDF and the CSV:
each figure is formatted once, here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

METRICS = ("受理", "办结", "办结率", "平均办结时长(小时)", "办结时长中位数(小时)", "按时办结率",
           "满意度", "评价数")
CASE_HEADERS = ("工单", "类别", "楼栋", "网格", "状态", "经办", "已等(天)", "升级次数", "关注人数",
                "内容")


@dataclass(frozen=True, slots=True)
class Table:
    key: str
    title: str
    headers: tuple[str, ...]
    rows: list[list[str]]
    note: str = ""


def number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def stars(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def metrics(row: dict[str, Any]) -> list[str]:
    return [number(row["received"]), number(row["closed"]), percent(row["closure_rate"]),
            number(row["average_cycle_hours"]), number(row["median_cycle_hours"]),
            percent(row["within_sla_rate"]), stars(row["satisfaction"]), number(row["rated"])]


def overview(review: dict[str, Any]) -> Table:
    breaches = review["breaches"]
    rows = [
        ["受理", number(review["received"])],
        ["办结", number(review["closed"])],
        ["办结率", percent(review["closure_rate"])],
        ["平均办结时长(小时)", number(review["average_cycle_hours"])],
        ["办结时长中位数(小时)", number(review["median_cycle_hours"])],
        ["按时办结率", f"{percent(review['within_sla_rate'])}（{review['within_sla']}/"
                      f"{review['sla_judged']}）"],
        ["满意度(5分制)", f"{stars(review['satisfaction'])}（{review['rated']} 条评价）"],
        ["未办结", number(review["open"])],
        ["已取消", number(review["cancelled"])],
        ["超时次数", f"{breaches['total']}（接单超时 {breaches['accept']}，办结超时 "
                     f"{breaches['resolve']}，部门报到超时 {breaches['respond']}）"],
    ]
    return Table("overview", "总体情况", ("指标", "数值"), rows,
                 "按受理月份统计（北京时间），状态截至生成时。")


def case_rows(cases: list[dict[str, Any]]) -> list[list[str]]:
    return [[f"#{c['id']}", c["category_name"] + (f"·{c['tier_name']}" if c["tier_name"] else ""),
             f"{c['building']}号楼" if c["building"] else "—", c["grid"] or "—", c["status_name"],
             c["holder"] or "—", number(c["age_days"]), number(c["escalation_level"]),
             number(c["followers"]), c["text"] or "（纠纷内容不在报告中列出）"]
            for c in cases]


def place_tables(review: dict[str, Any]) -> list[Table]:
    """By street for a review over several streets; else by district, grid and worker."""
    if "streets" in review:
        return [Table("streets", "按街道", ("街道", *METRICS, "超时次数"),
                      [[s["street"], *metrics(s), number(s["breaches"])]
                       for s in review["streets"]],
                      "跨多个街道的点评按街道统计；各街道的网格与经办人见该街道的点评。")]
    return [
        Table("districts", "按居民区", ("居民区", *METRICS),
              [[d["district"], *metrics(d)] for d in review["districts"]]),
        Table("grids", "按网格", ("网格", "居民区", *METRICS, "超时次数"),
              [[g["grid"], g["district"] or "—", *metrics(g), number(g["breaches"])]
               for g in review["grids"]]),
        Table("workers", "按经办人", ("经办人", "角色", *METRICS),
              [[w["name"] or w["account"], w["role"] or "—", *metrics(w)]
               for w in review["workers"]],
              "按工单当前经办人统计。"),
    ]


def review_tables(review: dict[str, Any]) -> list[Table]:
    """Every table of the review, in the order the reports show them."""
    hard = review["hardest_open"]
    wishes = review["wishes"]
    disputes = review["disputes"]
    return [
        overview(review),
        Table("daily", "每日受理与办结", ("日期", "受理", "办结"),
              [[d["day"], number(d["received"]), number(d["closed"])] for d in review["daily"]],
              "办结：当日办结的工单数（含此前受理的）。"),
        Table("categories", "按类别", ("类别", *METRICS),
              [[c["name"], *metrics(c)] for c in review["categories"]]),
        *place_tables(review),
        Table("oldest", "最久未办结", CASE_HEADERS, case_rows(hard["oldest"]),
              f"截至生成时共有 {hard['open']} 件未办结。"),
        Table("most_escalated", "升级次数最多", CASE_HEADERS, case_rows(hard["most_escalated"])),
        Table("most_followers", "关注居民最多", CASE_HEADERS, case_rows(hard["most_followers"])),
        Table("wishes", "微心愿与积分", ("指标", "数值"), [
            ["受理微心愿", number(wishes["received"])],
            ["志愿者认领", number(wishes["claimed"])],
            ["已完成", number(wishes["fulfilled"])],
            ["发放积分", number(wishes["points_earned"])],
            ["兑换积分", number(wishes["points_redeemed"])],
        ], "积分按记账时间统计。"),
        Table("volunteers", "志愿者积分榜", ("志愿者", "本月积分"),
              [[v["name"] or v["account"], number(v["points"])] for v in wishes["volunteers"]]),
        Table("disputes", "矛盾纠纷（按层级与结果）",
              ("层级", "受理", "已化解", "调解中", "已撤销", "曾升级"),
              [[t["name"], number(t["received"]), number(t["resolved"]), number(t["open"]),
                number(t["cancelled"]), number(t["escalated"])] for t in disputes["by_tier"]],
              "层级为纠纷当前所在层级。"),
    ]


def beijing_time(iso: str) -> str:
    """An ISO moment as Beijing time, to the minute ("2026-12-01 09:30")."""
    from datetime import datetime

    from domain.notices import SHANGHAI

    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
