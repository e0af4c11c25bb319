"""`gridbot report`: the monthly review (月度点评) as HTML, PDF, CSV or JSON.

    gridbot report --month 2026-11 [--street 宜川路街道] --format html|pdf|csv|json [--out FILE]

Without `--month`, last month (Beijing time); without `--out`, HTML, CSV and JSON go to
standard output and a PDF to gridbot-report-YYYY-MM.pdf here. The HTML carries its style
inside, so the file opens anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMATS = ("html", "pdf", "csv", "json")


async def _review(database_url: str, month: Any, street: str | None) -> dict[str, Any]:
    from bot.reports.monthly import monthly_review
    from bot.reports.scope import report_scope
    from storage.db import create_engine, session_factory
    from storage.orgmap import load_org_map
    from storage.stats import EVERYTHING

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            org = await load_org_map(session)
            scope, street_id = report_scope(org, EVERYTHING, street)
            return await monthly_review(session, org, month, scope, datetime.now(UTC),
                                        street_id)
    finally:
        await engine.dispose()


def render(review: dict[str, Any], chosen: str) -> bytes:
    """The review as the bytes of a file of the chosen format."""
    if chosen == "pdf":
        from bot.reports.pdf import render_pdf

        return render_pdf(review)
    if chosen == "html":
        from bot.reports.html import render_html

        return render_html(review, standalone=True).encode()
    if chosen == "csv":
        from bot.reports.csv_export import render_csv

        return render_csv(review).encode()
    import json

    return (json.dumps(review, ensure_ascii=False, indent=2) + "\n").encode()


def cmd_report(args: argparse.Namespace) -> int:
    from bot.cli import _database_error, _settings
    from bot.reports.fonts import FontMissing
    from bot.reports.monthly import Month
    from bot.reports.scope import UnknownStreet

    settings = _settings(args)
    try:
        month = Month.parse(args.month) if args.month else Month.of(datetime.now(UTC)).previous()
    except ValueError as exc:
        print(f"gridbot report: {exc}", file=sys.stderr)
        return 2
    try:
        review = asyncio.run(_review(settings.database_url, month, args.street))
    except UnknownStreet as exc:
        print(f"gridbot report: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        return _database_error(exc, settings)
    try:
        body = render(review, args.format)
    except FontMissing as exc:
        print(f"gridbot report: {exc}", file=sys.stderr)
        return 1
    out = args.out or (f"gridbot-report-{month}.pdf" if args.format == "pdf" else None)
    if out is None or out == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return 0
    try:
        Path(out).write_bytes(body)
    except OSError as exc:
        print(f"gridbot report: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"{review['title']}: {out}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    report = sub.add_parser(
        "report", help="the monthly review (月度点评) as HTML, PDF, CSV or JSON",
        description="The figures of the tickets received in one month (Asia/Shanghai): "
                    "received, closed, closure rate, cycle hours, within-SLA rate, "
                    "satisfaction, per district, grid and worker; the hardest open cases; "
                    "wishes and points; disputes by tier and outcome.")
    report.add_argument("--month", help="YYYY-MM, such as 2026-11 (default: last month)")
    report.add_argument("--street", help="only this street (its name, such as 宜川路街道)")
    report.add_argument("--format", choices=FORMATS, default="html",
                        help="html (default), pdf (A4), csv (for spreadsheets) or json")
    report.add_argument("--out", help="the file to write (default: standard output; a PDF "
                                      "goes to gridbot-report-YYYY-MM.pdf)")
    report.set_defaults(func=cmd_report)
