"""The monthly review as an HTML page in Chinese, with its charts as inline SVG.

Served by gridbot, the page takes its style from `/static/report.css` (the console's policy
allows no inline style); written to a file (`gridbot report --out`), it carries the same
style inside, so that it opens anywhere.
"""

from __future__ import annotations

from html import escape
from typing import Any

from bot.reports.svg import line_chart, stacked_bars
from bot.reports.tables import Table, beijing_time, percent, review_tables, stars
from bot.simulator import STATIC

CSS = STATIC / "report.css"


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    if table.rows:
        body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
                       for row in table.rows)
    else:
        body = f'<tr><td colspan="{len(table.headers)}" class="empty">无</td></tr>'
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (f'<section id="{table.key}"><h2>{escape(table.title)}</h2>{note}'
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div></section>")


def _cards(review: dict[str, Any]) -> str:
    cards = [("受理", str(review["received"])), ("办结", str(review["closed"])),
             ("办结率", percent(review["closure_rate"])),
             ("平均办结(小时)", "—" if review["average_cycle_hours"] is None
              else f"{review['average_cycle_hours']:.1f}"),
             ("按时办结率", percent(review["within_sla_rate"])),
             ("满意度", stars(review["satisfaction"]))]
    return '<div class="cards">' + "".join(
        f'<div class="card"><span>{escape(k)}</span><b>{escape(v)}</b></div>'
        for k, v in cards) + "</div>"


def charts(review: dict[str, Any]) -> dict[str, str]:
    """The review's charts, keyed by the table each stands above."""
    days = [d["day"][5:] for d in review["daily"]]
    disputes = review["disputes"]["by_tier"]
    drawn = {
        "daily": line_chart("每日受理与办结", days, [
            ("受理", [d["received"] for d in review["daily"]]),
            ("办结", [d["closed"] for d in review["daily"]])]),
        "categories": stacked_bars("按类别：已办结与未办结", [c["name"] for c in review["categories"]], [
            ("已办结", [c["closed"] for c in review["categories"]]),
            ("未办结", [c["received"] - c["closed"] for c in review["categories"]])]),
        "disputes": stacked_bars("矛盾纠纷：按层级与结果", [t["name"] for t in disputes], [
            ("已化解", [t["resolved"] for t in disputes]),
            ("调解中", [t["open"] for t in disputes]),
            ("已撤销", [t["cancelled"] for t in disputes])]),
    }
    grids = review.get("grids")  # none over several streets: a table of streets instead
    if grids:
        drawn["grids"] = stacked_bars("按网格：已办结与未办结",
                                      [g["grid"].replace("网格", "") for g in grids], [
            ("已办结", [g["closed"] for g in grids]),
            ("未办结", [g["received"] - g["closed"] for g in grids])])
    return drawn


def render_html(review: dict[str, Any], *, standalone: bool = False) -> str:
    """The page; `standalone` puts the style inside instead of linking it."""
    style = (f"<style>{CSS.read_text(encoding='utf-8')}</style>" if standalone
             else '<link rel="stylesheet" href="/static/report.css">')
    drawn = charts(review)
    sections = []
    for table in review_tables(review):
        chart = drawn.get(table.key)
        if chart:
            sections.append(f'<figure class="chart-box">{chart}</figure>')
        sections.append(_table(table))
    title = escape(review["title"])
    generated = escape(beijing_time(review["generated_at"]))
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>{style}</head>"
        f'<body class="report"><header><h1>{title}</h1>'
        f'<p class="note">统计口径：{escape(review["month"])} 受理的工单（北京时间），'
        f"生成于 {generated}（北京时间）。</p></header>"
        f"<main>{_cards(review)}{''.join(sections)}</main></body></html>\n"
    )
