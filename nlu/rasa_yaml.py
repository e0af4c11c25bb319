"""Reading and writing gridbot's training data.

Two formats are understood:

* Rasa 3.1 ``nlu.yml``: ``version: "3.1"`` and an ``nlu:`` list of ``intent``, ``synonym``,
  ``regex`` and ``lookup`` items, each with an ``examples: |`` block of ``- text`` lines.
  Entities are annotated inline in Rasa markup, ``[3号楼](building)`` or
  ``[3号楼]{"entity": "building", "value": "3"}``.
* JSON Lines, one ``{"text": ..., "intent": ...}`` object per line.

Errors in either format raise :class:`DataError` naming the file and line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RASA_VERSION = "3.1"

# Rasa's inline entity markup: [text](entity), [text](entity:value),
# [text]{"entity": ..., "value": ...} and [text][{...}, {...}].
ENTITY_MARKUP = re.compile(
    r"\[(?P<text>[^\]\[]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)"
    r"|\{(?P<dict>[^}]+?)\}"
    r"|\[(?P<list>\{.*?\}(?:\s*,\s*\{.*?\})*)\])"
)

_ENTITY_KEYS = ("entity", "value", "role", "group")
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]")


class DataError(ValueError):
    """Training or evaluation data that cannot be read."""


@dataclass
class Example:
    """One labelled message; ``entities`` hold spans into the plain ``text``."""

    text: str
    intent: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainingData:
    """Everything an ``nlu.yml`` file holds."""

    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        seen: dict[str, None] = {}
        for ex in self.examples:
            seen.setdefault(ex.intent, None)
        return list(seen)


def parse_markup(marked: str) -> tuple[str, list[dict[str, Any]]]:
    """Strip Rasa entity markup from one example, returning the plain text and its entities."""
    plain: list[str] = []
    entities: list[dict[str, Any]] = []
    pos = 0
    length = 0
    for m in ENTITY_MARKUP.finditer(marked):
        before = marked[pos : m.start()]
        plain.append(before)
        length += len(before)
        span_text = m.group("text")
        start = length
        end = start + len(span_text)
        plain.append(span_text)
        length = end
        pos = m.end()
        specs: list[dict[str, Any]]
        if m.group("entity") is not None:
            spec: dict[str, Any] = {"entity": m.group("entity").strip()}
            if m.group("value") is not None:
                spec["value"] = m.group("value").strip()
            specs = [spec]
        elif m.group("dict") is not None:
            specs = [_json_spec("{" + m.group("dict") + "}", marked)]
        else:
            loaded = _json_spec("[" + m.group("list") + "]", marked)
            specs = loaded if isinstance(loaded, list) else [loaded]
        for spec in specs:
            if not isinstance(spec, dict) or not isinstance(spec.get("entity"), str):
                raise DataError(f"entity annotation without an entity name in {marked!r}")
            ent: dict[str, Any] = {
                "entity": spec["entity"],
                "value": str(spec.get("value", span_text)),
                "start": start,
                "end": end,
            }
            for key in ("role", "group"):
                if spec.get(key) is not None:
                    ent[key] = str(spec[key])
            entities.append(ent)
    plain.append(marked[pos:])
    return "".join(plain), entities


def _json_spec(raw: str, marked: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"bad entity annotation {raw!r} in {marked!r}: {exc.msg}") from None


def render_markup(text: str, entities: list[dict[str, Any]]) -> str:
    """Write ``text`` with its entities in Rasa markup; the inverse of :func:`parse_markup`."""
    out: list[str] = []
    pos = 0
    spans: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for ent in entities:
        spans.setdefault((int(ent["start"]), int(ent["end"])), []).append(ent)
    for (start, end), group in sorted(spans.items()):
        if start < pos or end > len(text) or start >= end:
            continue  # overlapping or out-of-range spans cannot be written inline
        span_text = text[start:end]
        out.append(text[pos:start])
        specs = []
        for ent in group:
            spec = {k: ent[k] for k in _ENTITY_KEYS if ent.get(k) is not None}
            if spec.get("value") == span_text:
                del spec["value"]
            specs.append(spec)
        if len(specs) == 1 and set(specs[0]) == {"entity"}:
            out.append(f"[{span_text}]({specs[0]['entity']})")
        elif len(specs) == 1:
            out.append(f"[{span_text}]{json.dumps(specs[0], ensure_ascii=False)}")
        else:
            out.append(f"[{span_text}]{json.dumps(specs, ensure_ascii=False)}")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _block_lines(value: Any, where: str) -> list[str]:
    """The ``- item`` lines of an ``examples: |`` block (or a YAML list of them)."""
    if isinstance(value, list):
        items: list[str] = []
        for item in value:
            if isinstance(item, dict) and "text" in item:
                items.append(str(item["text"]))
            elif isinstance(item, str | int | float):
                items.append(str(item))
            else:
                raise DataError(f"{where}: examples must be text lines")
        return [i.strip() for i in items if i.strip()]
    if not isinstance(value, str):
        raise DataError(f"{where}: 'examples' must be a block of '- text' lines")
    lines = []
    for raw in value.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("-"):
            raise DataError(f"{where}: example line {line!r} does not start with '- '")
        item = line[1:].strip()
        if item:
            lines.append(item)
    return lines


class _LineLoader(yaml.SafeLoader):
    """A safe loader that records the line of every mapping."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def loads_rasa(content: str, source: str = "<string>") -> TrainingData:
    """Parse the text of a Rasa 3.1 ``nlu.yml`` file."""
    try:
        doc = yaml.load(content, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if isinstance(exc, yaml.scanner.ScannerError) and exc.context_mark is not None:
            # The scanner notices a missing ':' or quote where the next token starts; the
            # line to mend is the one where the broken key or scalar began.
            mark = exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise DataError(f"{where}: malformed YAML: {problem}") from None
    if not isinstance(doc, dict):
        raise DataError(f"{source}: expected a mapping with an 'nlu' list")
    items = doc.get("nlu")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise DataError(f"{source}:{doc.get('__line__', 1)}: 'nlu' must be a list")
    data = TrainingData()
    for item in items:
        if not isinstance(item, dict):
            raise DataError(f"{source}: every 'nlu' item must be a mapping")
        line = item.get("__line__", "?")
        where = f"{source}:{line}"
        if "intent" in item:
            intent = str(item["intent"]).strip()
            if not intent:
                raise DataError(f"{where}: empty intent name")
            for marked in _block_lines(item.get("examples", ""), where):
                try:
                    text, entities = parse_markup(marked)
                except DataError as exc:
                    raise DataError(f"{where}: {exc}") from None
                data.examples.append(Example(text=text, intent=intent, entities=entities))
        elif "synonym" in item:
            name = str(item["synonym"])
            data.synonyms.setdefault(name, []).extend(
                _block_lines(item.get("examples", ""), where)
            )
        elif "regex" in item:
            name = str(item["regex"])
            patterns = _block_lines(item.get("examples", ""), where)
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise DataError(f"{where}: bad regex {pattern!r}: {exc}") from None
            data.regexes.setdefault(name, []).extend(patterns)
        elif "lookup" in item:
            name = str(item["lookup"])
            data.lookups.setdefault(name, []).extend(
                _block_lines(item.get("examples", ""), where)
            )
        else:
            keys = sorted(k for k in item if k != "__line__")
            raise DataError(f"{where}: unknown nlu item with keys {keys}")
    return data


def _read_text(p: Path) -> str:
    """The UTF-8 text of ``p``; DataError saying why it cannot be read."""
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read: {exc}") from None


def load_rasa(path: str | Path) -> TrainingData:
    """Read a Rasa 3.1 ``nlu.yml`` file."""
    p = Path(path)
    return loads_rasa(_read_text(p), str(p))


def _block(items: list[str]) -> list[str]:
    return ["    - " + _LINE_BREAKS.sub(" ", i) for i in items]


def dumps_rasa(data: TrainingData) -> str:
    """Write ``data`` as a Rasa 3.1 ``nlu.yml`` document."""
    lines = [f'version: "{RASA_VERSION}"', "", "nlu:"]
    by_intent: dict[str, list[Example]] = {}
    for ex in data.examples:
        by_intent.setdefault(ex.intent, []).append(ex)
    for intent, examples in by_intent.items():
        lines.append(f"- intent: {_scalar(intent)}")
        lines.append("  examples: |")
        lines.extend(_block([render_markup(ex.text, ex.entities) for ex in examples]))
        lines.append("")
    for kind, table in (("synonym", data.synonyms), ("regex", data.regexes),
                        ("lookup", data.lookups)):
        for name, items in table.items():
            lines.append(f"- {kind}: {_scalar(name)}")
            lines.append("  examples: |")
            lines.extend(_block(items))
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _scalar(value: str) -> str:
    """A YAML scalar that reads back as the same string."""
    dumped = yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=10_000)
    return dumped.strip().removesuffix("...").strip()


def dump_rasa(data: TrainingData, path: str | Path) -> None:
    """Write ``data`` to ``path`` as a Rasa 3.1 ``nlu.yml`` file."""
    Path(path).write_text(dumps_rasa(data), encoding="utf-8")


def load_jsonl(path: str | Path) -> list[Example]:
    """Read JSON Lines of ``{"text": ..., "intent": ...}``; blank lines are skipped."""
    p = Path(path)
    content = _read_text(p)
    examples: list[Example] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{number}: malformed JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise DataError(f"{p}:{number}: expected an object with 'text' and 'intent'")
        text, intent = row.get("text"), row.get("intent")
        if not isinstance(text, str) or not isinstance(intent, str) or not intent:
            raise DataError(f"{p}:{number}: 'text' and 'intent' must both be strings")
        examples.append(Example(text=text, intent=intent))
    return examples


def load_examples(path: str | Path) -> list[Example]:
    """Read labelled examples from a Rasa ``.yml``/``.yaml`` file or from JSON Lines."""
    p = Path(path)
    if p.suffix.lower() in {".yml", ".yaml"}:
        return load_rasa(p).examples
    if p.suffix.lower() in {".jsonl", ".json", ".ndjson"}:
        return load_jsonl(p)
    try:
        head = p.read_text(encoding="utf-8").lstrip()[:1]
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read: {exc}") from None
    return load_jsonl(p) if head == "{" else load_rasa(p).examples
