"""Chinese names of what the figures count, for the JSON, the dashboard and the reports."""

from __future__ import annotations

from domain.org import ROLE_NAMES
from handlers.texts import CATEGORY_NAMES, STATUS_NAMES, TIER_NAMES

__all__ = ["BREACH_NAMES", "CATEGORY_NAMES", "DISPUTE_OUTCOMES", "ROLE_NAMES", "STATUS_NAMES",
           "TIER_NAMES", "category_name", "status_name", "tier_name"]

BREACH_NAMES = {"accept": "接单超时", "resolve": "办结超时", "respond": "部门报到超时"}
#: What became of a dispute: talked out (化解), still being mediated, withdrawn.
DISPUTE_OUTCOMES = {"resolved": "已化解", "open": "调解中", "cancelled": "已撤销"}


def category_name(category: str) -> str:
    return CATEGORY_NAMES.get(category, category)


def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status)


def tier_name(tier: str | None) -> str:
    return TIER_NAMES.get(tier or "", "未分级")
