"""The monthly review as CSV for spreadsheets: UTF-8 with a byte-order mark, so that Excel
opens the Chinese as Chinese. Each table follows the one before after an empty line: a row
with its title (【按网格】), its header row, its rows."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.reports.tables import review_tables

BOM = "\ufeff"


def render_csv(review: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([review["title"]])
    writer.writerow(["月份", review["month"], "生成于(UTC)", review["generated_at"]])
    for table in review_tables(review):
        writer.writerow([])
        writer.writerow([f"【{table.title}】"])
        writer.writerow(table.headers)
        writer.writerows(table.rows)
    return BOM + out.getvalue()
