"""The monthly review as a PDF that prints on A4: its figures, charts and tables in Chinese,
set in an embedded subset of a CJK font (`bot.reports.fonts`), written with fpdf2."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fpdf import FPDF
from fpdf.enums import TextEmphasis, WrapMode, XPos, YPos
from fpdf.fonts import FontFace

from bot.reports.fonts import cjk_font
from bot.reports.svg import PALETTE
from bot.reports.tables import CASE_HEADERS, Table, beijing_time, percent, review_tables, stars

FONT = "cjk"
# fontTools tells every table it subsets at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)
MARGIN = 14
#: Relative column widths of the wider tables (the rest share the width evenly).
WIDTHS = {
    CASE_HEADERS: (9, 12, 9, 11, 12, 11, 8, 8, 8, 36),
}


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


class _Review(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.review_title = title
        font = str(cjk_font())
        number = {"collection_font_number": 0} if font.lower().endswith(".ttc") else {}
        self.add_font(FONT, fname=font, **number)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN)
        self.set_title(title)
        self.set_creator("gridbot")
        self.set_lang("zh-CN")

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FONT, size=8)
        self.set_text_color(120, 120, 120)
        self.cell(0, 5, f"{self.review_title} · 第 {self.page_no()} 页", align="C")
        self.set_text_color(0, 0, 0)


def _heading(pdf: _Review, text: str, note: str = "") -> None:
    if pdf.get_y() > pdf.h - 60:
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(FONT, size=12)
    pdf.cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if note:
        pdf.set_font(FONT, size=8)
        pdf.set_text_color(100, 100, 100)
        pdf.multi_cell(0, 4, note, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)


def _table(pdf: _Review, table: Table) -> None:
    _heading(pdf, table.title, table.note)
    pdf.set_font(FONT, size=7.5 if len(table.headers) > 6 else 9)
    rows = table.rows or [["无", *[""] * (len(table.headers) - 1)]]
    pdf.set_fill_color(247, 249, 252)
    widths = WIDTHS.get(table.headers)
    if widths is None and len(table.headers) > 2:
        widths = (18, *[10] * (len(table.headers) - 1))
    with pdf.table(col_widths=widths, text_align="CENTER", wrapmode=WrapMode.CHAR,
                   line_height=4.2, padding=1, repeat_headings=1,
                   width=pdf.epw if len(table.headers) > 2 else pdf.epw * 0.7,
                   headings_style=FontFace(emphasis=TextEmphasis.NONE,
                                            fill_color=(229, 236, 246)),
                   cell_fill_color=(247, 249, 252), cell_fill_mode="ROWS") as grid:
        grid.row(list(table.headers))
        for row in rows:
            grid.row(row)


def _cards(pdf: _Review, review: dict[str, Any]) -> None:
    cards = [("受理", str(review["received"])), ("办结", str(review["closed"])),
             ("办结率", percent(review["closure_rate"])),
             ("平均办结(小时)", "—" if review["average_cycle_hours"] is None
              else f"{review['average_cycle_hours']:.1f}"),
             ("按时办结率", percent(review["within_sla_rate"])),
             ("满意度", stars(review["satisfaction"]))]
    width = pdf.epw / len(cards)
    top = pdf.get_y() + 2
    for i, (label, value) in enumerate(cards):
        x = MARGIN + i * width
        pdf.set_fill_color(239, 244, 255)
        pdf.rect(x + 1, top, width - 2, 17, style="F")
        pdf.set_xy(x + 1, top + 2)
        pdf.set_font(FONT, size=8)
        pdf.cell(width - 2, 4, label, align="C")
        pdf.set_xy(x + 1, top + 7)
        pdf.set_font(FONT, size=14)
        pdf.cell(width - 2, 8, value, align="C")
    pdf.set_xy(MARGIN, top + 20)


def _chart(pdf: _Review, title: str, labels: Sequence[str],
           series: Sequence[tuple[str, Sequence[float]]], *, lines: bool = False) -> None:
    """Stacked bars (or lines) with a legend, 60 mm high, across the page."""
    if pdf.get_y() > pdf.h - 90:
        pdf.add_page()
    _heading(pdf, title)
    left, top, width, height = MARGIN + 10, pdf.get_y() + 6, pdf.epw - 10, 50
    totals = [max(vs[i] for _, vs in series) if lines else sum(vs[i] for _, vs in series)
              for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    pdf.set_font(FONT, size=7)
    x = left
    for n, (name, _) in enumerate(series):
        pdf.set_fill_color(*_rgb(PALETTE[n % len(PALETTE)]))
        pdf.rect(x, top - 5, 3, 3, style="F")
        pdf.set_xy(x + 4, top - 5.6)
        pdf.cell(pdf.get_string_width(name) + 2, 4, name)
        x += pdf.get_string_width(name) + 10
    pdf.set_draw_color(210, 214, 220)
    for i in range(5):
        y = top + height * i / 4
        pdf.line(left, y, left + width, y)
        pdf.set_xy(MARGIN, y - 2)
        pdf.cell(9, 4, f"{peak * (4 - i) / 4:.0f}", align="R")
    slot = width / max(1, len(labels))
    step = max(1, len(labels) // 10)
    for i, label in enumerate(labels):
        if i % step == 0:
            pdf.set_xy(left + slot * i, top + height + 1)
            pdf.cell(slot * step, 4, label, align="L")
    if lines:
        for n, (_, values) in enumerate(series):
            pdf.set_draw_color(*_rgb(PALETTE[n % len(PALETTE)]))
            pdf.set_line_width(0.5)
            pdf.polyline([(left + slot * (i + 0.5), top + height * (1 - v / peak))
                          for i, v in enumerate(values)])
        pdf.set_line_width(0.2)
    else:
        for i in range(len(labels)):
            base = 0.0
            for n, (_, values) in enumerate(series):
                if values[i] <= 0:
                    continue
                pdf.set_fill_color(*_rgb(PALETTE[n % len(PALETTE)]))
                bar_h = height * values[i] / peak
                pdf.rect(left + slot * i + slot * 0.15, top + height * (1 - base / peak) - bar_h,
                         slot * 0.7, bar_h, style="F")
                base += values[i]
    pdf.set_draw_color(0, 0, 0)
    pdf.set_xy(MARGIN, top + height + 7)


def render_pdf(review: dict[str, Any]) -> bytes:
    pdf = _Review(review["title"])
    pdf.add_page()
    pdf.set_font(FONT, size=17)
    pdf.cell(0, 10, review["title"], align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=8)
    pdf.cell(0, 5, f"统计口径：{review['month']} 受理的工单（北京时间），生成于 "
                   f"{beijing_time(review['generated_at'])}", align="C",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _cards(pdf, review)
    tables = review_tables(review)
    daily = review["daily"]
    disputes = review["disputes"]["by_tier"]
    for table in tables:
        if table.key == "daily":
            _chart(pdf, "每日受理与办结", [d["day"][5:] for d in daily],
                   [("受理", [d["received"] for d in daily]),
                    ("办结", [d["closed"] for d in daily])], lines=True)
            continue  # the chart says it; the CSV and HTML keep the table
        if table.key == "grids":
            _chart(pdf, "按网格：已办结与未办结",
                   [g["grid"].replace("网格", "").lstrip("第") for g in review["grids"]],
                   [("已办结", [g["closed"] for g in review["grids"]]),
                    ("未办结", [g["received"] - g["closed"] for g in review["grids"]])])
        if table.key == "disputes":
            _chart(pdf, "矛盾纠纷：按层级与结果", [t["name"] for t in disputes],
                   [("已化解", [t["resolved"] for t in disputes]),
                    ("调解中", [t["open"] for t in disputes]),
                    ("已撤销", [t["cancelled"] for t in disputes])])
        _table(pdf, table)
    return bytes(pdf.output())
