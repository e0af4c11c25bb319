"""The console and the simulator name every outcome gridbot records in Chinese."""

from __future__ import annotations

import re
from pathlib import Path

from bot.simulator import STATIC

ROOT = Path(__file__).resolve().parents[2]
# Where decisions are made: the handlers, and the domain's own helpers for them.
DECIDERS = (ROOT / "handlers", ROOT / "domain")


def js_keys(name: str) -> set[str]:
    """The keys of `const NAME = { key: "…", … }` in labels.js."""
    source = (STATIC / "labels.js").read_text()
    block = re.search(rf"const {name} = \{{(.*?)\}};", source, re.DOTALL)
    assert block, name
    return set(re.findall(r"(\w+):\s*\"[^\"]*[\u4e00-\u9fff][^\"]*\"", block.group(1)))


def recorded(pattern: str) -> set[str]:
    found: set[str] = set()
    for folder in DECIDERS:
        for path in folder.glob("*.py"):
            found |= set(re.findall(pattern, path.read_text()))
    return found


def test_every_outcome_has_a_chinese_label() -> None:
    outcomes = recorded(r'Decision\(\s*"(\w+)"') | recorded(r'outcome="(\w+)"')
    assert outcomes >= {"ticket_created", "ignored", "refused", "answered"}
    assert outcomes <= js_keys("OUTCOMES")


def test_every_command_outcome_has_a_chinese_label() -> None:
    kinds = recorded(r'kind="(\w+)"') | recorded(r'ChangeTicket\(\s*[\w.]+,\s*"(\w+)"')
    assert {"accepted", "progress", "resolved", "claimed"} <= kinds
    assert kinds <= js_keys("COMMANDS")
    source = (STATIC / "simulator.js").read_text() + (STATIC / "admin.js").read_text()
    assert '"命令 "' not in source and "outcomeLabel(d.outcome)" in source
