"""The org file: the grid map of one street as YAML, parsed, checked and imported.

`parse_org(text)` turns the YAML of `gridbot org import FILE` into plain dataclasses
(`OrgFile`). Every problem found is reported with the line it is on, and all of them are
reported together: `OrgFileError.errors` is a list of `(line, message)`. A key the format
does not have is one of them (a misspelt `departmens:` left unread would have the import
remove the departments).

`import_org(session_factory, org)` writes an `OrgFile` into the database in one transaction.
It is idempotent: importing the same file twice changes nothing. Before it writes anything
it refuses a file that lists a chat group of another street's building (`OrgConflictError`)
and, for a scoped import (a street admin's, `scope=` their streets), one that would change a
person who holds a role in a street outside the scope (`OrgScopeError`); both are
`OrgFileError`s with the line of each problem.

How an import treats what is already in the database:

- Streets, districts, grids and buildings are matched by name (a building by its number
  within its district) and created when missing. Chat groups are matched by
  `(channel, chat_id)` and moved to the building the file gives them, within the file's
  street. Nothing of the map is ever deleted: tickets refer to it. What of the street the
  file leaves out is named in the summary's `notes` as kept.
- People are matched by `wecom_userid`, else by `wechat_id`. Optional fields the file leaves
  out (an id, a phone, a group name, a webhook key) keep the value already stored; an id the
  file gives to someone is taken away from whoever else held it.
- Roles are the file's truth: in every scope the file mentions (its street and each of its
  districts, grids and buildings), roles the file no longer gives are removed. The people
  themselves are kept, and so are their tickets: the notes name whoever loses a role yet is
  still assigned open tickets that no role left to them covers (hand them over with 转派).
- Departments are the file's truth too, per street, matched by name: their webhook key and
  `respond` time are what the file says, and a department the file no longer lists is
  removed (tickets whistled to it keep no department). A department with a `wecom_userid`
  is also a person (merged with the file's other mentions of that id) holding the role
  `department` over the street.
- The street's SLA table (in seconds) and points are stored on the street.

Durations are written "90s", "30m", "4h", "2d" (or combined, "1h30m"), at most 365 days. The
SLA table has accept deadlines per urgency and resolve deadlines per category; besides the
four ticket categories, `resolve` holds `emergency`, the resolve deadline of an emergency of
any category; `confirm` is how long a resolved ticket waits for a rating before it is closed.
Defaults: accept emergency 10m, normal 2h; resolve repair 24h, complaint 48h, wish 7d,
dispute 7d, emergency 4h; confirm 3d. Points default to wish 10.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from domain.org import DEFAULT_POINTS, POINT_KINDS, STAFF_ROLES
from domain.sla import DEFAULT_ACCEPT, DEFAULT_CONFIRM, DEFAULT_RESOLVE, Sla
from domain.tickets import OPEN_STATUSES, TIERS
from storage.db import SessionFactory
from storage.models import (
    Building,
    ChatGroup,
    Department,
    District,
    Grid,
    Person,
    Role,
    Setting,
    Street,
    Ticket,
)

CHANNELS = ("bridge", "wecom_bot", "wechat", "wecom_app", "simulator")
# The roles an org file hands out; other roles (residents) are never touched by an import.
FILE_ROLES = STAFF_ROLES

ORG_VERSION_KEY = "org_version"

# The keys each part of the file may have; any other key is an error (see `_Reader.only`).
TOP_KEYS = ("street", "admins", "departments", "points", "sla", "districts")
DEPARTMENT_KEYS = ("name", "wecom_userid", "webhook_key", "respond")
SLA_KEYS = ("accept", "resolve", "confirm")
DISTRICT_KEYS = ("name", "admins", "staff", "mediators", "grids")
GRID_KEYS = ("name", "worker", "leader", "volunteers", "buildings")
BUILDING_KEYS = ("number", "captain", "groups", "webhook_key")
GROUP_KEYS = ("channel", "chat_id", "name")
PERSON_KEYS = ("name", "wecom_userid", "wechat_id", "phone")


# ---------------------------------------------------------------- the parsed file


@dataclass(frozen=True, slots=True)
class PersonSpec:
    name: str
    wecom_userid: str | None = None
    wechat_id: str | None = None
    phone: str | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class GroupSpec:
    channel: str
    chat_id: str
    name: str | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class BuildingSpec:
    number: str
    captain: PersonSpec | None = None
    groups: tuple[GroupSpec, ...] = ()
    webhook_key: str | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class GridSpec:
    name: str
    worker: PersonSpec
    leader: PersonSpec | None = None
    volunteers: tuple[PersonSpec, ...] = ()
    buildings: tuple[BuildingSpec, ...] = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class DistrictSpec:
    name: str
    grids: tuple[GridSpec, ...] = ()
    # Dispute tier (micro, small, medium, big) -> the mediators of that tier.
    mediators: Mapping[str, tuple[PersonSpec, ...]] = field(default_factory=dict)
    # District staff: admins over this district.
    admins: tuple[PersonSpec, ...] = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class DepartmentSpec:
    """An outside department the street can whistle: reached on WeCom as `wecom_userid`, or
    through the robot `webhook_key` (or both); it must report within `respond_seconds`."""

    name: str
    respond_seconds: int
    wecom_userid: str | None = None
    webhook_key: str | None = None
    line: int = field(default=0, compare=False)

    def person(self) -> PersonSpec | None:
        """The department as a person on WeCom, named as the department."""
        if not self.wecom_userid:
            return None
        return PersonSpec(name=self.name, wecom_userid=self.wecom_userid, line=self.line)


@dataclass(frozen=True, slots=True)
class OrgFile:
    street: str
    districts: tuple[DistrictSpec, ...] = ()
    sla: Sla = field(default_factory=Sla)
    # Street staff: admins over the whole street.
    admins: tuple[PersonSpec, ...] = ()
    departments: tuple[DepartmentSpec, ...] = ()
    # Points a volunteer earns per kind of work ("wish").
    points: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_POINTS))

    def iter_people(self) -> Iterator[tuple[str, PersonSpec]]:
        """Every mention of a person, with a description of where it is."""
        for person in self.admins:
            yield "admin", person
        for district in self.districts:
            for person in district.admins:
                yield f"admin of {district.name}", person
            for tier, people in district.mediators.items():
                for person in people:
                    yield f"{tier} mediator of {district.name}", person
            for grid in district.grids:
                yield f"worker of {grid.name}", grid.worker
                if grid.leader is not None:
                    yield f"leader of {grid.name}", grid.leader
                for person in grid.volunteers:
                    yield f"volunteer of {grid.name}", person
                for building in grid.buildings:
                    if building.captain is not None:
                        yield f"captain of building {building.number}", building.captain

    def department_people(self) -> Iterator[tuple[str, PersonSpec]]:
        """The departments reached on WeCom, as people, with where they are."""
        for department in self.departments:
            person = department.person()
            if person is not None:
                yield f"department {department.name}", person

    def people(self) -> list[PersonSpec]:
        """The distinct people of the file, departments on WeCom included: mentions sharing
        an id merged into one."""
        mentions = [*self.iter_people(), *self.department_people()]
        return _merge_people([person for _, person in mentions])[0]


class OrgFileError(Exception):
    """An org file that cannot be imported; `errors` lists `(line, message)`."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = sorted(errors, key=lambda error: error[0])
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(f"line {line}: {message}" for line, message in self.errors)


class OrgConflictError(OrgFileError):
    """A well-formed file that contradicts what the database holds: it lists a chat group
    that belongs to a building of another street. Refused for every importer."""


class OrgScopeError(OrgFileError):
    """A scoped import (a street admin's) that would change a person who holds a role in a
    street outside its scope. The admin token and the CLI may make such a change."""


# ---------------------------------------------------------------- durations

_DURATION_PART = re.compile(r"(\d+)([smhd])")
_DURATION = re.compile(r"(?:\d+[smhd])+")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The longest duration a file may give (a deadline must stay a date gridbot can compute).
MAX_DURATION = 365 * 86400
_WHOLE_NUMBER = re.compile(r"[-+]?[0-9]+")
#: The most points one piece of work may earn.
MAX_POINTS = 1_000_000


def parse_duration(text: str) -> int:
    """Seconds in "90s", "30m", "4h", "2d" or a combination such as "1h30m"."""
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION.fullmatch(compact):
        raise ValueError(f'bad duration {text!r}: write a number and s, m, h or d, e.g. "30m"')
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"bad duration {text!r}: must be longer than zero")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest of "2d", "4h", "30m", "90s" that says exactly `seconds`."""
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------- reading YAML nodes

_TAG = "tag:yaml.org,2002:"
_TEXT_TAGS = (_TAG + "str", _TAG + "int")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null")


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    short = node.tag.removeprefix(_TAG)
    return {"bool": "true/false", "float": "a number", "int": "a number"}.get(
        short, repr(node.value)
    )


class _Fields(dict[str, yaml.Node]):
    """A mapping's values by key, with the node of each key (the line of a bad key)."""

    def __init__(self) -> None:
        super().__init__()
        self.keys_at: dict[str, yaml.Node] = {}

    def add(self, name: str, key: yaml.Node, value: yaml.Node) -> None:
        self[name] = value
        self.keys_at[name] = key


class _Reader:
    """Walks the composed YAML tree, building dataclasses and collecting errors."""

    def __init__(self) -> None:
        self.errors: list[tuple[int, str]] = []
        self._merging: set[int] = set()
        # Where the reader is ("district 第一居民区", "grid 第1网格", "building 3"), for the
        # path of an unknown key.
        self.places: list[str] = []

    def error(self, node: yaml.Node, message: str) -> None:
        self.errors.append((_line(node), message))

    def fields(self, node: yaml.Node, what: str) -> _Fields | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping, not {_kind(node)}")
            return None
        merged = _Fields()
        own = _Fields()
        for key, value in node.value:
            if key.tag == _TAG + "merge":
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for source in sources:
                    if id(source) in self._merging:
                        self.error(key, f"{what}: a mapping cannot be merged into itself")
                        continue
                    self._merging.add(id(source))
                    try:
                        found = self.fields(source, f"{what} (merged)") or _Fields()
                        for name, item in found.items():
                            if name not in merged:
                                merged.add(name, found.keys_at[name], item)
                    finally:
                        self._merging.discard(id(source))
                continue
            if not isinstance(key, yaml.ScalarNode) or key.tag not in _TEXT_TAGS:
                self.error(key, f"{what}: keys must be words, not {_kind(key)}")
                continue
            if key.value in own:
                self.error(key, f"{what}: {key.value} is given twice")
                continue
            own.add(key.value, key, value)
        for name, item in own.items():
            merged.add(name, own.keys_at[name], item)
        return merged

    def only(self, fields: _Fields, allowed: tuple[str, ...], what: str) -> None:
        """Refuse every key the format does not have, on the key's line: a misspelt key
        (`departmens`) would otherwise be passed over, and the import would then remove
        what the file meant to keep."""
        places = [place for place in self.places if not what.startswith(place)]
        where = " › ".join([*places, what])
        for key in fields:
            if key in allowed:
                continue
            guess = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {guess[0]}?" if guess else ""
            self.error(
                fields.keys_at[key],
                f"{where}: unknown key {key!r}{hint} (keys: {', '.join(allowed)})",
            )

    def items(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list, not {_kind(node)}")
            return []
        return list(node.value)

    def text(
        self,
        fields: dict[str, yaml.Node],
        key: str,
        owner: yaml.Node,
        what: str,
        required: bool = True,
    ) -> str | None:
        node = fields.get(key)
        if _is_null(node):
            if required:
                self.error(owner, f"{what}: {key} is missing")
            return None
        assert node is not None
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _TEXT_TAGS:
            self.error(node, f"{what}: {key} must be text, not {_kind(node)}")
            return None
        value = str(node.value).strip()
        if not value:
            if required:
                self.error(node, f"{what}: {key} is empty")
            return None
        return value

    # ------------------------------------------------------------ the parts of the file

    def org(self, root: yaml.Node) -> OrgFile | None:
        top = self.fields(root, "the org file")
        if top is None:
            return None
        self.only(top, TOP_KEYS, "the org file")
        street = self.text(top, "street", root, "the org file")
        districts: list[DistrictSpec] = []
        if _is_null(top.get("districts")):
            self.error(root, "the org file: districts is missing")
        else:
            nodes = self.items(top["districts"], "districts")
            if isinstance(top["districts"], yaml.SequenceNode) and not nodes:
                self.error(top["districts"], "districts is empty")
            for node in nodes:
                district = self.district(node)
                if district is not None:
                    districts.append(district)
        admins = self.people(top.get("admins"), "admins")
        sla = self.sla(top["sla"]) if not _is_null(top.get("sla")) else Sla()
        departments = self.departments(top.get("departments"))
        points = self.points(top["points"]) if not _is_null(top.get("points")) else {}
        return OrgFile(
            street=street or "",
            districts=tuple(districts),
            sla=sla,
            admins=admins,
            departments=departments,
            points=dict(DEFAULT_POINTS) | points,
        )

    def departments(self, node: yaml.Node | None) -> tuple[DepartmentSpec, ...]:
        found = (self.department(item) for item in self.items(node, "departments"))
        return tuple(department for department in found if department is not None)

    def department(self, node: yaml.Node) -> DepartmentSpec | None:
        fields = self.fields(node, "department")
        if fields is None:
            return None
        name = self.text(fields, "name", node, "department")
        what = f"department {name}" if name else "department"
        self.only(fields, DEPARTMENT_KEYS, what)
        respond = None
        if _is_null(fields.get("respond")):
            self.error(node, f"{what}: respond is missing (how soon it must report, e.g. 4h)")
        else:
            respond = self.duration(fields["respond"], f"{what}: respond")
        return DepartmentSpec(
            name=name or "",
            respond_seconds=respond or 0,
            wecom_userid=self.text(fields, "wecom_userid", node, what, required=False),
            webhook_key=self.text(fields, "webhook_key", node, what, required=False),
            line=_line(node),
        )

    def points(self, node: yaml.Node) -> dict[str, int]:
        points: dict[str, int] = {}
        for kind, value in (self.fields(node, "points") or {}).items():
            if kind not in POINT_KINDS:
                self.error(value, f"points: unknown key {kind!r} (keys: {', '.join(POINT_KINDS)})")
                continue
            number = self.whole_number(value, f"points: {kind}")
            if number is not None:
                points[kind] = number
        return points

    def whole_number(self, node: yaml.Node, what: str) -> int | None:
        """A positive whole number of at most MAX_POINTS."""
        text = str(node.value).strip() if isinstance(node, yaml.ScalarNode) else ""
        if node.tag not in _TEXT_TAGS or not _WHOLE_NUMBER.fullmatch(text):
            self.error(node, f"{what} must be a whole number such as 10, not {_kind(node)}")
            return None
        number = int(text)
        if not 0 < number <= MAX_POINTS:
            self.error(node, f"{what} must be between 1 and {MAX_POINTS}, not {number}")
            return None
        return number

    @contextmanager
    def inside(self, what: str) -> Iterator[None]:
        """Reading the part `what` of the file (an unknown key's message says where it is)."""
        self.places.append(what)
        try:
            yield
        finally:
            self.places.pop()

    def district(self, node: yaml.Node) -> DistrictSpec | None:
        fields = self.fields(node, "district")
        if fields is None:
            return None
        name = self.text(fields, "name", node, "district")
        what = f"district {name}" if name else "district"
        self.only(fields, DISTRICT_KEYS, what)
        with self.inside(what):
            return self._district(node, fields, name, what)

    def _district(
        self, node: yaml.Node, fields: _Fields, name: str | None, what: str
    ) -> DistrictSpec:
        mediators: dict[str, tuple[PersonSpec, ...]] = {}
        if not _is_null(fields.get("mediators")):
            tiers = self.fields(fields["mediators"], f"{what}: mediators") or {}
            for tier, tier_node in tiers.items():
                if tier not in TIERS:
                    self.error(
                        tier_node,
                        f"{what}: unknown mediator tier {tier!r} (tiers: {', '.join(TIERS)})",
                    )
                    continue
                people = self.people(tier_node, f"{what}: {tier} mediator", single_ok=True)
                if people:
                    mediators[tier] = people
        admins = self.people(fields.get("admins"), f"{what}: admins") + self.people(
            fields.get("staff"), f"{what}: staff"
        )
        grids: list[GridSpec] = []
        if _is_null(fields.get("grids")):
            self.error(node, f"{what}: grids is missing")
        for grid_node in self.items(fields.get("grids"), f"{what}: grids"):
            grid = self.grid(grid_node, what)
            if grid is not None:
                grids.append(grid)
        return DistrictSpec(
            name=name or "",
            grids=tuple(grids),
            mediators=mediators,
            admins=admins,
            line=_line(node),
        )

    def grid(self, node: yaml.Node, where: str) -> GridSpec | None:
        fields = self.fields(node, f"{where}: grid")
        if fields is None:
            return None
        name = self.text(fields, "name", node, f"{where}: grid")
        what = f"grid {name}" if name else f"{where}: grid"
        self.only(fields, GRID_KEYS, what)
        with self.inside(what):
            return self._grid(node, fields, name, what)

    def _grid(self, node: yaml.Node, fields: _Fields, name: str | None, what: str) -> GridSpec:
        worker = None
        if _is_null(fields.get("worker")):
            self.error(node, f"{what}: worker is missing")
        else:
            worker = self.person(fields["worker"], f"{what}: worker")
        leader = None
        if not _is_null(fields.get("leader")):
            leader = self.person(fields["leader"], f"{what}: leader")
        volunteers = self.people(fields.get("volunteers"), f"{what}: volunteers")
        buildings: list[BuildingSpec] = []
        for building_node in self.items(fields.get("buildings"), f"{what}: buildings"):
            building = self.building(building_node, what)
            if building is not None:
                buildings.append(building)
        return GridSpec(
            name=name or "",
            worker=worker or PersonSpec(name="", line=_line(node)),
            leader=leader,
            volunteers=volunteers,
            buildings=tuple(buildings),
            line=_line(node),
        )

    def building(self, node: yaml.Node, where: str) -> BuildingSpec | None:
        fields = self.fields(node, f"{where}: building")
        if fields is None:
            return None
        number = self.text(fields, "number", node, f"{where}: building")
        what = f"building {number}" if number else f"{where}: building"
        self.only(fields, BUILDING_KEYS, what)
        captain = None
        if not _is_null(fields.get("captain")):
            captain = self.person(fields["captain"], f"{what}: captain")
        groups: list[GroupSpec] = []
        for group_node in self.items(fields.get("groups"), f"{what}: groups"):
            group = self.group(group_node, what)
            if group is not None:
                groups.append(group)
        webhook_key = self.text(fields, "webhook_key", node, what, required=False)
        return BuildingSpec(
            number=number or "",
            captain=captain,
            groups=tuple(groups),
            webhook_key=webhook_key,
            line=_line(node),
        )

    def group(self, node: yaml.Node, where: str) -> GroupSpec | None:
        what = f"{where}: group"
        fields = self.fields(node, what)
        if fields is None:
            return None
        self.only(fields, GROUP_KEYS, what)
        channel = self.text(fields, "channel", node, what)
        chat_id = self.text(fields, "chat_id", node, what)
        name = self.text(fields, "name", node, what, required=False)
        return GroupSpec(channel=channel or "", chat_id=chat_id or "", name=name, line=_line(node))

    def person(self, node: yaml.Node, what: str) -> PersonSpec | None:
        fields = self.fields(node, what)
        if fields is None:
            return None
        self.only(fields, PERSON_KEYS, what)
        name = self.text(fields, "name", node, what)
        wecom_userid = self.text(fields, "wecom_userid", node, what, required=False)
        wechat_id = self.text(fields, "wechat_id", node, what, required=False)
        phone = self.text(fields, "phone", node, what, required=False)
        return PersonSpec(
            name=name or "",
            wecom_userid=wecom_userid,
            wechat_id=wechat_id,
            phone=phone,
            line=_line(node),
        )

    def people(
        self, node: yaml.Node | None, what: str, single_ok: bool = False
    ) -> tuple[PersonSpec, ...]:
        if _is_null(node):
            return ()
        assert node is not None
        if single_ok and isinstance(node, yaml.MappingNode):
            nodes = [node]
        else:
            nodes = self.items(node, what)
        people = (self.person(item, what) for item in nodes)
        return tuple(person for person in people if person is not None)

    def sla(self, node: yaml.Node) -> Sla:
        fields = self.fields(node, "sla") or _Fields()
        self.only(fields, SLA_KEYS, "sla")
        tables = []
        for part, defaults in (("accept", DEFAULT_ACCEPT), ("resolve", DEFAULT_RESOLVE)):
            table = dict(defaults)
            if not _is_null(fields.get(part)):
                for key, value in (self.fields(fields[part], f"sla: {part}") or {}).items():
                    if key not in defaults:
                        self.error(
                            value,
                            f"sla: {part}: unknown key {key!r} (keys: {', '.join(defaults)})",
                        )
                        continue
                    seconds = self.duration(value, f"sla: {part}: {key}")
                    if seconds is not None:
                        table[key] = seconds
            tables.append(table)
        confirm = None
        if not _is_null(fields.get("confirm")):
            confirm = self.duration(fields["confirm"], "sla: confirm")
        return Sla(accept=tables[0], resolve=tables[1], confirm=confirm or DEFAULT_CONFIRM)

    def duration(self, node: yaml.Node, what: str) -> int | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _TEXT_TAGS:
            self.error(node, f"{what}: a duration must be text such as 30m, not {_kind(node)}")
            return None
        try:
            seconds = parse_duration(str(node.value))
        except ValueError as exc:
            self.error(node, f"{what}: {exc}")
            return None
        if seconds > MAX_DURATION:
            self.error(node, f"{what}: {node.value} is longer than {format_duration(MAX_DURATION)}")
            return None
        return seconds


def parse_org(text: str) -> OrgFile:
    """Parse and check an org file; raises `OrgFileError` listing every error with its line."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(part for part in (exc.context, exc.problem) if part)
        raise OrgFileError([(line, f"YAML syntax error: {problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise OrgFileError([(1, f"YAML error: {exc}")]) from None
    if root is None:
        raise OrgFileError([(1, "the org file is empty")])
    reader = _Reader()
    org = reader.org(root)
    errors = list(reader.errors)
    if org is not None:
        errors += _check(org, partial=bool(reader.errors))
    if errors or org is None:
        raise OrgFileError(errors or [(1, "the org file could not be read")])
    return org


def load_org_file(path: str | Path) -> OrgFile:
    """Read and parse the org file at `path` (UTF-8, with or without a byte order mark)."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise OrgFileError([(line, "the file is not UTF-8 text")]) from None
    return parse_org(text)


# ---------------------------------------------------------------- checks across the file


def check_org(org: OrgFile) -> list[tuple[int, str]]:
    """Errors in an `OrgFile` that only show across its parts (duplicates, conflicts)."""
    return _check(org, partial=False)


def _check(org: OrgFile, partial: bool) -> list[tuple[int, str]]:
    """The cross checks. With `partial`, the file was read with errors already reported and
    empty names, numbers and ids stand for what was missing: those are passed over."""
    errors: list[tuple[int, str]] = []

    def blank(value: str, line: int, what: str) -> bool:
        if value.strip():
            return False
        if not partial:
            errors.append((line, f"{what} is empty"))
        return True

    blank(org.street, 1, "street")
    districts: dict[str, int] = {}
    chats: dict[tuple[str, str], int] = {}
    for district in org.districts:
        if not blank(district.name, district.line, "a district's name"):
            if district.name in districts:
                errors.append(
                    (
                        district.line,
                        f"district {district.name} is given twice (first on line "
                        f"{districts[district.name]})",
                    )
                )
            districts.setdefault(district.name, district.line)
        for tier in district.mediators:
            if tier not in TIERS:
                errors.append((district.line, f"district {district.name}: unknown tier {tier!r}"))
        grids: dict[str, int] = {}
        numbers: dict[str, int] = {}
        for grid in district.grids:
            if not blank(grid.name, grid.line, "a grid's name"):
                if grid.name in grids:
                    errors.append(
                        (
                            grid.line,
                            f"grid {grid.name} is given twice in district "
                            f"{district.name} (first on line {grids[grid.name]})",
                        )
                    )
                grids.setdefault(grid.name, grid.line)
            for building in grid.buildings:
                if not blank(building.number, building.line, "a building's number"):
                    if building.number in numbers:
                        errors.append(
                            (
                                building.line,
                                f"building {building.number} is given twice in "
                                f"district {district.name} (first on line "
                                f"{numbers[building.number]})",
                            )
                        )
                    numbers.setdefault(building.number, building.line)
                for group in building.groups:
                    if blank(group.channel, group.line, "a group's channel") | blank(
                        group.chat_id, group.line, "a group's chat_id"
                    ):
                        continue
                    if group.channel not in CHANNELS:
                        errors.append(
                            (
                                group.line,
                                f"building {building.number}: unknown channel "
                                f"{group.channel!r} (channels: {', '.join(CHANNELS)})",
                            )
                        )
                    key = (group.channel, group.chat_id)
                    if key in chats:
                        errors.append(
                            (
                                group.line,
                                f"chat {group.channel} {group.chat_id} is given twice "
                                f"(first on line {chats[key]})",
                            )
                        )
                    chats.setdefault(key, group.line)
    errors += _check_sla(org.sla)
    errors += _check_points(org.points)
    errors += _check_departments(org.departments, partial)
    errors += _check_lengths(org)
    mentions = []
    for where, person in org.iter_people():
        if blank(person.name, person.line, f"the name of the {where}"):
            continue
        mentions.append(person)
        if not person.wecom_userid and not person.wechat_id:
            errors.append(
                (person.line, f"{where}: {person.name} has neither wecom_userid nor wechat_id")
            )
    mentions += [person for _, person in org.department_people() if person.name.strip()]
    errors += _merge_people(mentions)[1]
    return errors


def _is_seconds(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_DURATION


def _check_sla(sla: Sla) -> list[tuple[int, str]]:
    """What a file read from YAML cannot get wrong but a programmatic `OrgFile` can."""
    errors: list[tuple[int, str]] = []
    for part, table, defaults in (
        ("accept", sla.accept, DEFAULT_ACCEPT),
        ("resolve", sla.resolve, DEFAULT_RESOLVE),
    ):
        for key, seconds in table.items():
            if key not in defaults:
                errors.append((1, f"sla: {part}: unknown key {key!r}"))
            elif not _is_seconds(seconds):
                errors.append((1, f"sla: {part}: {key} must be a positive number of seconds"))
    if not _is_seconds(sla.confirm):
        errors.append((1, "sla: confirm must be a positive number of seconds"))
    return errors


def _check_points(points: Mapping[str, int]) -> list[tuple[int, str]]:
    errors: list[tuple[int, str]] = []
    for kind, number in points.items():
        if kind not in POINT_KINDS:
            errors.append((1, f"points: unknown key {kind!r}"))
        elif isinstance(number, bool) or not isinstance(number, int):
            errors.append((1, f"points: {kind} must be a whole number"))
        elif not 0 < number <= MAX_POINTS:
            errors.append((1, f"points: {kind} must be between 1 and {MAX_POINTS}"))
    return errors


def _check_departments(
    departments: tuple[DepartmentSpec, ...], partial: bool
) -> list[tuple[int, str]]:
    """Names given once, a way to reach each department, a respond time. With `partial`,
    empty names and missing respond times were reported while reading."""
    errors: list[tuple[int, str]] = []
    first: dict[str, int] = {}
    for department in departments:
        name, line = department.name, department.line
        if not name.strip():
            if not partial:
                errors.append((line, "a department's name is empty"))
            continue
        if name in first:
            errors.append((line, f"department {name} is given twice (first on line {first[name]})"))
        first.setdefault(name, line)
        if not department.wecom_userid and not department.webhook_key:
            errors.append((line, f"department {name} has neither wecom_userid nor webhook_key"))
        if not _is_seconds(department.respond_seconds) and not partial:
            errors.append((line, f"department {name}: respond must be a positive duration"))
    return errors


# Column sizes of storage.models, so that a value too long is an error with its line.
_NAME, _NUMBER, _ID, _PHONE, _CHAT = 100, 20, 100, 30, 200


def _check_lengths(org: OrgFile) -> list[tuple[int, str]]:
    errors: list[tuple[int, str]] = []

    def check(value: str | None, limit: int, line: int, what: str) -> None:
        if value is not None and len(value) > limit:
            errors.append((line, f"{what} {value[:20]}… is longer than {limit} characters"))

    check(org.street, _NAME, 1, "street")
    for district in org.districts:
        check(district.name, _NAME, district.line, "district name")
        for grid in district.grids:
            check(grid.name, _NAME, grid.line, "grid name")
            for building in grid.buildings:
                check(building.number, _NUMBER, building.line, "building number")
                check(building.webhook_key, _CHAT, building.line, "webhook_key")
                for group in building.groups:
                    check(group.chat_id, _CHAT, group.line, "chat_id")
                    check(group.name, _CHAT, group.line, "group name")
    for department in org.departments:
        check(department.name, _NAME, department.line, "department name")
        check(department.wecom_userid, _ID, department.line, "wecom_userid")
        check(department.webhook_key, _CHAT, department.line, "webhook_key")
    for _, person in org.iter_people():
        check(person.name, _NAME, person.line, "name")
        check(person.wecom_userid, _ID, person.line, "wecom_userid")
        check(person.wechat_id, _ID, person.line, "wechat_id")
        check(person.phone, _PHONE, person.line, "phone")
    return errors


def _merge_people(mentions: list[PersonSpec]) -> tuple[list[PersonSpec], list[tuple[int, str]]]:
    """Merge mentions that share a wecom_userid or wechat_id; report what contradicts."""
    errors: list[tuple[int, str]] = []
    first: dict[tuple[str, str], PersonSpec] = {}
    for person in mentions:
        for id_field in ("wecom_userid", "wechat_id"):
            value = getattr(person, id_field)
            if not value:
                continue
            seen = first.setdefault((id_field, value), person)
            if seen is person:
                continue
            if seen.name != person.name:
                errors.append(
                    (
                        person.line,
                        f"{id_field} {value} is given to {seen.name} on line "
                        f"{seen.line} and here to {person.name}",
                    )
                )
            for other in ("wecom_userid", "wechat_id", "phone"):
                mine, theirs = getattr(person, other), getattr(seen, other)
                if other != id_field and mine and theirs and mine != theirs:
                    errors.append(
                        (
                            person.line,
                            f"{id_field} {value} has {other} {theirs} on line "
                            f"{seen.line} and here {mine}",
                        )
                    )

    # Union-find over the ids, so that chains of shared ids make one person.
    parent = list(range(len(mentions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for index, person in enumerate(mentions):
        for id_field in ("wecom_userid", "wechat_id"):
            value = getattr(person, id_field)
            if value:
                other = owner.setdefault((id_field, value), index)
                a, b = root(index), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[PersonSpec]] = {}
    for index, person in enumerate(mentions):
        groups.setdefault(root(index), []).append(person)
    merged = []
    for members in groups.values():
        head = members[0]
        merged.append(
            PersonSpec(
                name=head.name,
                wecom_userid=next((p.wecom_userid for p in members if p.wecom_userid), None),
                wechat_id=next((p.wechat_id for p in members if p.wechat_id), None),
                phone=next((p.phone for p in members if p.phone), None),
                line=head.line,
            )
        )
    return merged, errors


# ---------------------------------------------------------------- writing YAML


def _person_dict(person: PersonSpec) -> dict[str, str]:
    out = {"name": person.name}
    for key in ("wecom_userid", "wechat_id", "phone"):
        value = getattr(person, key)
        if value is not None:
            out[key] = value
    return out


def org_to_dict(org: OrgFile) -> dict[str, Any]:
    """The org file as plain data, in the shape `parse_org` reads."""
    districts = []
    for district in org.districts:
        item: dict[str, Any] = {"name": district.name}
        if district.mediators:
            item["mediators"] = {
                tier: _person_dict(people[0])
                if len(people) == 1
                else [_person_dict(p) for p in people]
                for tier, people in district.mediators.items()
            }
        if district.admins:
            item["admins"] = [_person_dict(p) for p in district.admins]
        grids = []
        for grid in district.grids:
            grid_item: dict[str, Any] = {"name": grid.name, "worker": _person_dict(grid.worker)}
            if grid.leader is not None:
                grid_item["leader"] = _person_dict(grid.leader)
            if grid.volunteers:
                grid_item["volunteers"] = [_person_dict(p) for p in grid.volunteers]
            buildings = []
            for building in grid.buildings:
                building_item: dict[str, Any] = {"number": building.number}
                if building.captain is not None:
                    building_item["captain"] = _person_dict(building.captain)
                if building.groups:
                    building_item["groups"] = [
                        {"channel": g.channel, "chat_id": g.chat_id}
                        | ({"name": g.name} if g.name is not None else {})
                        for g in building.groups
                    ]
                if building.webhook_key is not None:
                    building_item["webhook_key"] = building.webhook_key
                buildings.append(building_item)
            grid_item["buildings"] = buildings
            grids.append(grid_item)
        item["grids"] = grids
        districts.append(item)
    out: dict[str, Any] = {"street": org.street}
    if org.admins:
        out["admins"] = [_person_dict(p) for p in org.admins]
    if org.departments:
        out["departments"] = [_department_dict(d) for d in org.departments]
    out["points"] = dict(org.points)
    out["sla"] = _sla_dict(org.sla)
    out["districts"] = districts
    return out


def _department_dict(department: DepartmentSpec) -> dict[str, str]:
    out = {"name": department.name}
    for key in ("wecom_userid", "webhook_key"):
        value = getattr(department, key)
        if value is not None:
            out[key] = value
    out["respond"] = format_duration(department.respond_seconds)
    return out


def _sla_dict(sla: Sla) -> dict[str, Any]:
    out: dict[str, Any] = {
        part: {key: format_duration(seconds) for key, seconds in table.items()}
        for part, table in (("accept", sla.accept), ("resolve", sla.resolve))
    }
    out["confirm"] = format_duration(sla.confirm)
    return out


def dump_org(org: OrgFile) -> str:
    """The org file as YAML that `parse_org` reads back to an equal `OrgFile`."""
    return yaml.safe_dump(
        org_to_dict(org), allow_unicode=True, sort_keys=False, default_flow_style=None, width=120
    )


# ---------------------------------------------------------------- import

KINDS = ("streets", "districts", "grids", "buildings", "groups", "people", "roles", "departments")

#: How many names a note lists before it says "and N more".
_NOTE_NAMES = 20


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


_CJK_END = re.compile(r"[\u4e00-\u9fff]$")


def _building(number: str) -> str:
    """A building as people say it: 5号楼; a number that says what it is (A栋) as it is."""
    return number if _CJK_END.search(number) else f"{number}号楼"


def _listed(names: list[str]) -> str:
    more = len(names) - _NOTE_NAMES
    shown = ", ".join(names[:_NOTE_NAMES])
    return f"{shown} and {more} more" if more > 0 else shown


@dataclass
class ImportSummary:
    """How many rows of each kind an import created, updated, left unchanged or removed,
    and `notes`: what it keeps that the file leaves out, and what is left to people (open
    tickets of those who lose their role, of departments removed)."""

    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            count
            for table in (self.created, self.updated, self.removed)
            for count in table.values()
        )

    def note(self, kind: str, outcome: str, count: int = 1) -> None:
        table: dict[str, int] = getattr(self, outcome)
        table[kind] = table.get(kind, 0) + count

    def _parts(self, kind: str, outcomes: tuple[str, ...]) -> list[str]:
        return [f"{getattr(self, o)[kind]} {o}" for o in outcomes if getattr(self, o).get(kind)]

    def __str__(self) -> str:
        """One line, "nothing changed" or what changed, e.g. "people 2 created, 1 updated;
        roles 1 removed (230 rows unchanged)", then the notes, one a line."""
        changes = [
            f"{kind} {', '.join(parts)}"
            for kind in KINDS
            if (parts := self._parts(kind, ("created", "updated", "removed")))
        ]
        unchanged = sum(self.unchanged.values())
        if not changes:
            head = f"nothing changed ({unchanged} rows unchanged)"
        else:
            head = f"{'; '.join(changes)} ({unchanged} rows unchanged)"
        return "\n".join([head, *self.notes])

    def lines(self) -> list[str]:
        """Per kind of row: "people: 2 created, 1 updated, 230 unchanged"; then the notes."""
        counts = [
            f"{kind}: {', '.join(parts)}"
            for kind in KINDS
            if (parts := self._parts(kind, ("created", "updated", "unchanged", "removed")))
        ]
        return [*counts, *self.notes]


async def read_org_version(session: AsyncSession) -> int:
    """The grid map's version, raised by every change made through `bump_org_version`."""
    row = await session.get(Setting, ORG_VERSION_KEY)
    return int(row.value.get("version", 0)) if row is not None else 0


async def bump_org_version(session: AsyncSession) -> int:
    """Mark the grid map as changed, in the caller's transaction, so caches reload it.

    Anything that writes streets, districts, grids, buildings, chat groups, people or roles
    calls this before committing.
    """
    row = await session.get(Setting, ORG_VERSION_KEY, with_for_update=True)
    if row is None:
        session.add(Setting(key=ORG_VERSION_KEY, value={"version": 1}))
        return 1
    version = int(row.value.get("version", 0)) + 1
    row.value = {"version": version}
    return version


async def import_org(
    session_factory: SessionFactory,
    org: OrgFile,
    *,
    dry_run: bool = False,
    scope: Collection[int] | None = None,
) -> ImportSummary:
    """Write `org` into the database in one transaction; see the module docstring. With
    `dry_run` the transaction is rolled back: the summary says what the import would do.

    `scope` holds the ids of the streets the importer is an admin of (a street admin in
    the console): such an import may not change a person who holds a role in any other
    street (`OrgScopeError`). None, for the admin token and `gridbot org import`, may.
    Every refusal is raised before anything is written."""
    errors = check_org(org)
    if errors:
        raise OrgFileError(errors)
    summary = ImportSummary()
    async with session_factory() as session:
        transaction = await session.begin()
        try:
            await _Importer(session, org, summary, scope).run()
        except BaseException:
            await transaction.rollback()
            raise
        if dry_run:
            await transaction.rollback()
        else:
            await transaction.commit()
    return summary


# A person's (name, wecom_userid, wechat_id, phone).
_Values = tuple[str, str | None, str | None, str | None]


def _values(row: Person) -> _Values:
    return (row.name, row.wecom_userid, row.wechat_id, row.phone)


def _account(row: Person) -> str:
    return row.wecom_userid or row.wechat_id or f"person {row.id}"


@dataclass
class _PeoplePlan:
    """What an import does to the people already stored, worked out before anything is
    written (the scope check reads it)."""

    # The file's distinct people, and the row each is matched to (None: someone new).
    merged: list[PersonSpec]
    match: list[Person | None]
    # Every person row, with its values before and after the import.
    rows: list[Person]
    before: dict[int, _Values]
    after: dict[int, _Values]

    @property
    def claimed(self) -> set[int]:
        return {row.id for row in self.match if row is not None}

    def changed(self) -> list[Person]:
        return [row for row in self.rows if self.after[row.id] != self.before[row.id]]

    def line_of(self, row: Person) -> int:
        """The line of the mention that changes `row`: its own, else that of whoever the
        file gives one of its ids."""
        for spec, matched in zip(self.merged, self.match, strict=True):
            if matched is row:
                return spec.line
        _, wecom, wechat, _ = self.before[row.id]
        for spec in self.merged:
            if (wecom and spec.wecom_userid == wecom) or (wechat and spec.wechat_id == wechat):
                return spec.line
        return 1


def _what_changes(before: _Values, after: _Values) -> str:
    """What the import would do to a person: "rename them to 张三 and change their phone"."""
    parts = []
    if after[0] != before[0]:
        parts.append(f"rename them to {after[0]}")
    for index, what in ((1, "wecom_userid"), (2, "wechat_id"), (3, "phone")):
        if after[index] != before[index]:
            parts.append(f"take away their {what}" if after[index] is None
                         else f"change their {what}")
    return " and ".join(parts)


async def _streets_of_people(
    session: AsyncSession, person_ids: Collection[int]
) -> dict[int, dict[int, str]]:
    """Person id -> the streets (id -> name) they hold a role in, at any scope."""
    found: dict[int, dict[int, str]] = {}
    if not person_ids:
        return found
    base = select(Role.person_id, Street.id, Street.name)
    queries = [
        base.join(Street, (Role.scope == "street") & (Street.id == Role.scope_id)),
        base.join(District, (Role.scope == "district") & (District.id == Role.scope_id))
        .join(Street, Street.id == District.street_id),
        base.join(Grid, (Role.scope == "grid") & (Grid.id == Role.scope_id))
        .join(District, District.id == Grid.district_id)
        .join(Street, Street.id == District.street_id),
        base.join(Building, (Role.scope == "building") & (Building.id == Role.scope_id))
        .join(District, District.id == Building.district_id)
        .join(Street, Street.id == District.street_id),
    ]
    for query in queries:
        rows = await session.execute(query.where(Role.person_id.in_(list(person_ids))))
        for person_id, street_id, name in rows.all():
            found.setdefault(person_id, {})[street_id] = name
    return found


class _Importer:
    def __init__(
        self,
        session: AsyncSession,
        org: OrgFile,
        summary: ImportSummary,
        scope: Collection[int] | None = None,
    ) -> None:
        self.session = session
        self.org = org
        self.summary = summary
        self.scope = frozenset(scope) if scope is not None else None

    def _set(self, row: Any, **values: Any) -> bool:
        changed = False
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
                changed = True
        return changed

    def _count(self, kind: str, created: bool, changed: bool) -> None:
        outcome = "created" if created else "updated" if changed else "unchanged"
        self.summary.note(kind, outcome)

    async def run(self) -> None:
        people = await self._refusals()
        street = await self._import_street()
        districts, grids, buildings = await self._import_map(street)
        person_ids = await self._import_people(people)
        losing = await self._import_roles(street, districts, grids, buildings, person_ids)
        await self._import_departments(street, person_ids)
        await self._note_open_tickets(losing)
        if self.summary.changed:
            await bump_org_version(self.session)

    # ------------------------------------------------------------ refusals, before writing

    async def _refusals(self) -> _PeoplePlan:
        """Check the file against the database; nothing is written yet. Returns what the
        import will do to people."""
        errors = await self._groups_of_other_streets()
        if errors:
            raise OrgConflictError(errors)
        people = await self._plan_people()
        if self.scope is not None:
            errors = await self._people_outside_scope(people)
            if errors:
                raise OrgScopeError(errors)
        return people

    async def _groups_of_other_streets(self) -> list[tuple[int, str]]:
        """The file's chat groups that belong to a building of another street: an import
        moves a group only between the buildings of its own street."""
        listed = {
            (group.channel, group.chat_id): group
            for district in self.org.districts
            for grid in district.grids
            for building in grid.buildings
            for group in building.groups
        }
        if not listed:
            return []
        query = (
            select(ChatGroup.channel, ChatGroup.chat_id, Street.name, District.name,
                   Building.number)
            .join(Building, Building.id == ChatGroup.building_id)
            .join(District, District.id == Building.district_id)
            .join(Street, Street.id == District.street_id)
            .where(Street.name != self.org.street)
            .where(ChatGroup.chat_id.in_(sorted({chat_id for _, chat_id in listed})))
        )
        errors = []
        for channel, chat_id, street, district, number in (await self.session.execute(query)):
            group = listed.get((channel, chat_id))
            if group is not None:
                errors.append((group.line, (
                    f"chat {channel} {chat_id} already belongs to {street} {district} "
                    f"{_building(number)}; an import moves a group only between the buildings of "
                    f"its own street ({self.org.street})")))
        return errors

    async def _people_outside_scope(self, people: _PeoplePlan) -> list[tuple[int, str]]:
        """People the file would change who hold a role in a street outside the scope."""
        assert self.scope is not None
        changed = people.changed()
        streets = await _streets_of_people(self.session, [row.id for row in changed])
        errors = []
        for row in changed:
            outside = sorted(name for street_id, name in streets.get(row.id, {}).items()
                             if street_id not in self.scope)
            if not outside:
                continue
            before, after = people.before[row.id], people.after[row.id]
            errors.append((people.line_of(row), (
                f"{before[0]} ({_account(row)}) holds a role in {'、'.join(outside)}, "
                f"{'a street' if len(outside) == 1 else 'streets'} outside this import's: "
                f"the file would {_what_changes(before, after)}."
                f" Write them as they are, or have the admin token or `gridbot org import` "
                f"make the change")))
        return errors

    # ------------------------------------------------------------ the map

    async def _import_street(self) -> Street:
        """The file's street, with its SLA table and points."""
        session, org = self.session, self.org
        values = {"sla": org.sla.to_dict(), "points": dict(org.points)}
        street = (
            await session.execute(select(Street).where(Street.name == org.street))
        ).scalar_one_or_none()
        if street is None:
            street = Street(name=org.street, **values)
            session.add(street)
            self._count("streets", True, False)
        else:
            self._count("streets", False, self._set(street, **values))
        await session.flush()
        return street

    async def _import_map(
        self, street: Street
    ) -> tuple[dict[str, District], dict[tuple[str, str], Grid], dict[tuple[str, str], Building]]:
        """The street's districts, grids, buildings and chat groups; returns the file's
        districts by name, grids and buildings by (district name, grid name or number)."""
        session, org = self.session, self.org
        existing_districts = {
            d.name: d
            for d in (
                await session.execute(select(District).where(District.street_id == street.id))
            ).scalars()
        }
        districts: dict[str, District] = {}
        for spec in org.districts:
            district = existing_districts.get(spec.name)
            self._count("districts", district is None, False)
            if district is None:
                district = District(street_id=street.id, name=spec.name)
                session.add(district)
            districts[spec.name] = district
        await session.flush()
        district_ids = [d.id for d in districts.values()]

        existing_grids = {
            (g.district_id, g.name): g
            for g in (
                await session.execute(select(Grid).where(Grid.district_id.in_(district_ids)))
            ).scalars()
        }
        grids: dict[tuple[str, str], Grid] = {}
        for spec in org.districts:
            district = districts[spec.name]
            for grid_spec in spec.grids:
                grid = existing_grids.get((district.id, grid_spec.name))
                self._count("grids", grid is None, False)
                if grid is None:
                    grid = Grid(district_id=district.id, name=grid_spec.name)
                    session.add(grid)
                grids[(spec.name, grid_spec.name)] = grid
        await session.flush()

        existing_buildings = {
            (b.district_id, b.number): b
            for b in (
                await session.execute(
                    select(Building).where(Building.district_id.in_(district_ids))
                )
            ).scalars()
        }
        buildings: dict[tuple[str, str], Building] = {}
        for spec in org.districts:
            district = districts[spec.name]
            for grid_spec in spec.grids:
                grid = grids[(spec.name, grid_spec.name)]
                for b_spec in grid_spec.buildings:
                    building = existing_buildings.get((district.id, b_spec.number))
                    created, changed = building is None, False
                    if building is None:
                        building = Building(
                            district_id=district.id,
                            grid_id=grid.id,
                            number=b_spec.number,
                            webhook_key=b_spec.webhook_key,
                        )
                        session.add(building)
                    else:
                        changed = self._set(building, grid_id=grid.id)
                        if b_spec.webhook_key is not None:
                            changed |= self._set(building, webhook_key=b_spec.webhook_key)
                    self._count("buildings", created, changed)
                    buildings[(spec.name, b_spec.number)] = building
        await session.flush()

        existing_groups = {
            (g.channel, g.chat_id): g for g in (await session.execute(select(ChatGroup))).scalars()
        }
        listed: set[tuple[str, str]] = set()
        for spec in org.districts:
            for grid_spec in spec.grids:
                for b_spec in grid_spec.buildings:
                    building = buildings[(spec.name, b_spec.number)]
                    for g_spec in b_spec.groups:
                        listed.add((g_spec.channel, g_spec.chat_id))
                        group = existing_groups.get((g_spec.channel, g_spec.chat_id))
                        changed = False
                        if group is None:
                            session.add(
                                ChatGroup(
                                    channel=g_spec.channel,
                                    chat_id=g_spec.chat_id,
                                    name=g_spec.name,
                                    building_id=building.id,
                                )
                            )
                        else:
                            changed = self._set(group, building_id=building.id)
                            if g_spec.name is not None:
                                changed |= self._set(group, name=g_spec.name)
                        self._count("groups", group is None, changed)
        await session.flush()

        # What the file leaves out is kept: say so, or "nothing changed" would hide it.
        district_name = {d.id: d.name for d in existing_districts.values()}
        district_name |= {d.id: d.name for d in districts.values()}
        filed_grids = {g.id for g in grids.values()}
        filed_buildings = {b.id for b in buildings.values()}
        building_of = {b.id: b for b in [*existing_buildings.values(), *buildings.values()]}
        self._note_left_out("district", [
            d.name for d in sorted(existing_districts.values(), key=lambda d: d.id)
            if d.name not in districts])
        self._note_left_out("grid", [
            f"{district_name[g.district_id]} {g.name}"
            for g in sorted(existing_grids.values(), key=lambda g: g.id)
            if g.id not in filed_grids])
        self._note_left_out("building", [
            f"{district_name[b.district_id]} {_building(b.number)}"
            for b in sorted(existing_buildings.values(), key=lambda b: b.id)
            if b.id not in filed_buildings])
        left_groups = [
            f"{g.channel} {g.chat_id} ({district_name[building_of[g.building_id].district_id]} "
            f"{_building(building_of[g.building_id].number)})"
            for g in sorted(existing_groups.values(), key=lambda g: g.id)
            if g.building_id in filed_buildings and (g.channel, g.chat_id) not in listed
        ]
        if left_groups:
            self.summary.notes.append(
                f"kept on their buildings, though the file leaves out "
                f"{_plural(len(left_groups), 'chat group')}: {_listed(left_groups)}")
        return districts, grids, buildings

    def _note_left_out(self, noun: str, names: list[str]) -> None:
        if names:
            self.summary.notes.append(
                f"kept as they are (an import deletes no part of the map), though the file "
                f"leaves out {_plural(len(names), noun)}: {_listed(names)}")

    # ------------------------------------------------------------ people and roles

    async def _plan_people(self) -> _PeoplePlan:
        """Match the file's people to the rows stored (by wecom_userid first for everyone,
        then by wechat_id for the rest) and work out every row's values after the import."""
        merged = self.org.people()
        rows = list(
            (await self.session.execute(select(Person).options(raiseload(Person.roles))))
            .scalars()
        )
        by_wecom = {p.wecom_userid: p for p in rows if p.wecom_userid}
        by_wechat = {p.wechat_id: p for p in rows if p.wechat_id}

        match: list[Person | None] = [None] * len(merged)
        claimed: set[int] = set()
        for index, spec in enumerate(merged):
            row = by_wecom.get(spec.wecom_userid) if spec.wecom_userid else None
            if row is not None:
                match[index] = row
                claimed.add(row.id)
        for index, spec in enumerate(merged):
            if match[index] is None and spec.wechat_id:
                row = by_wechat.get(spec.wechat_id)
                if row is not None and row.id not in claimed:
                    match[index] = row
                    claimed.add(row.id)

        # The ids each row ends with: the file's, else the row's own unless the file gives
        # that id to someone else. Optional fields the file leaves out keep their value.
        file_wecom = {spec.wecom_userid for spec in merged if spec.wecom_userid}
        file_wechat = {spec.wechat_id for spec in merged if spec.wechat_id}
        after: dict[int, _Values] = {}
        for row in rows:
            after[row.id] = (
                row.name,
                row.wecom_userid if row.wecom_userid not in file_wecom else None,
                row.wechat_id if row.wechat_id not in file_wechat else None,
                row.phone,
            )
        for spec, row in zip(merged, match, strict=True):
            if row is not None:
                _, wecom, wechat, _ = after[row.id]
                after[row.id] = (
                    spec.name,
                    spec.wecom_userid or wecom,
                    spec.wechat_id or wechat,
                    spec.phone if spec.phone is not None else row.phone,
                )
        before = {row.id: _values(row) for row in rows}
        return _PeoplePlan(merged, match, rows, before, after)

    async def _import_people(self, people: _PeoplePlan) -> dict[tuple[str, str], int]:
        """Write the people as planned; returns ("wecom_userid"|"wechat_id", id) -> person
        id."""
        session = self.session
        # Release every id that moves before handing it out, so that no statement ever
        # sees one id on two rows.
        released = False
        for row in people.rows:
            _, wecom, wechat, _ = people.after[row.id]
            if row.wecom_userid is not None and row.wecom_userid != wecom:
                row.wecom_userid = None
                released = True
            if row.wechat_id is not None and row.wechat_id != wechat:
                row.wechat_id = None
                released = True
        if released:
            await session.flush()

        for spec, row in zip(people.merged, people.match, strict=True):
            if row is None:
                session.add(
                    Person(
                        name=spec.name,
                        wecom_userid=spec.wecom_userid,
                        wechat_id=spec.wechat_id,
                        phone=spec.phone,
                    )
                )
                self.summary.note("people", "created")
        claimed = people.claimed
        for row in people.rows:
            name, wecom, wechat, phone = people.after[row.id]
            self._set(row, name=name, wecom_userid=wecom, wechat_id=wechat, phone=phone)
            if people.after[row.id] != people.before[row.id]:
                self.summary.note("people", "updated")
            elif row.id in claimed:
                self.summary.note("people", "unchanged")
        await session.flush()

        ids: dict[tuple[str, str], int] = {}
        for row in (
            await session.execute(select(Person).options(raiseload(Person.roles)))
        ).scalars():
            if row.wecom_userid:
                ids[("wecom_userid", row.wecom_userid)] = row.id
            if row.wechat_id:
                ids[("wechat_id", row.wechat_id)] = row.id
        return ids

    async def _import_roles(
        self,
        street: Street,
        districts: dict[str, District],
        grids: dict[tuple[str, str], Grid],
        buildings: dict[tuple[str, str], Building],
        person_ids: dict[tuple[str, str], int],
    ) -> set[int]:
        """Make the roles in the file's scopes what the file says; returns the ids of the
        people who lost one."""
        session, org = self.session, self.org

        def pid(person: PersonSpec) -> int:
            if person.wecom_userid:
                return person_ids[("wecom_userid", person.wecom_userid)]
            return person_ids[("wechat_id", person.wechat_id or "")]

        wanted: set[tuple[int, str, str, int, str]] = set()
        scopes: set[tuple[str, int]] = {("street", street.id)}
        for person in org.admins:
            wanted.add((pid(person), "admin", "street", street.id, ""))
        for _, person in org.department_people():
            wanted.add((pid(person), "department", "street", street.id, ""))
        for spec in org.districts:
            district = districts[spec.name]
            scopes.add(("district", district.id))
            for person in spec.admins:
                wanted.add((pid(person), "admin", "district", district.id, ""))
            for tier, people in spec.mediators.items():
                for person in people:
                    wanted.add((pid(person), "mediator", "district", district.id, tier))
            for grid_spec in spec.grids:
                grid = grids[(spec.name, grid_spec.name)]
                scopes.add(("grid", grid.id))
                wanted.add((pid(grid_spec.worker), "grid_worker", "grid", grid.id, ""))
                if grid_spec.leader is not None:
                    wanted.add((pid(grid_spec.leader), "grid_leader", "grid", grid.id, ""))
                for person in grid_spec.volunteers:
                    wanted.add((pid(person), "volunteer", "grid", grid.id, ""))
                for b_spec in grid_spec.buildings:
                    building = buildings[(spec.name, b_spec.number)]
                    scopes.add(("building", building.id))
                    if b_spec.captain is not None:
                        wanted.add((pid(b_spec.captain), "captain", "building", building.id, ""))

        existing = (await session.execute(select(Role).where(Role.role.in_(FILE_ROLES)))).scalars()
        have: set[tuple[int, str, str, int, str]] = set()
        losing: set[int] = set()
        for role in existing:
            key = (role.person_id, role.role, role.scope, role.scope_id, role.tier or "")
            if (role.scope, role.scope_id) not in scopes:
                continue
            if key in wanted:
                have.add(key)
                self.summary.note("roles", "unchanged")
            else:
                await session.delete(role)
                losing.add(role.person_id)
                self.summary.note("roles", "removed")
        for person_id, role_name, scope, scope_id, tier in sorted(wanted - have):
            session.add(
                Role(person_id=person_id, role=role_name, scope=scope, scope_id=scope_id, tier=tier)
            )
            self.summary.note("roles", "created")
        await session.flush()
        return losing

    async def _note_open_tickets(self, losing: set[int]) -> None:
        """Name the people who lost a role yet are assigned open tickets that no role left
        to them covers. The import does not hand tickets over (that goes through 转派 and
        its events); it says who still holds which."""
        if not losing:
            return
        session = self.session
        query = (
            select(Ticket.id, Ticket.assignee_id, Ticket.grid_id, Ticket.building_id,
                   District.id, District.street_id)
            .outerjoin(Grid, Grid.id == Ticket.grid_id)
            .outerjoin(Building, Building.id == Ticket.building_id)
            .outerjoin(District, District.id == func.coalesce(Grid.district_id,
                                                              Building.district_id))
            .where(Ticket.assignee_id.in_(sorted(losing)), Ticket.status.in_(OPEN_STATUSES))
            .order_by(Ticket.id)
        )
        tickets = (await session.execute(query)).all()
        if not tickets:
            return
        kept: dict[int, set[tuple[str, int | None]]] = {}
        roles = select(Role).where(Role.person_id.in_(sorted(losing)), Role.role.in_(FILE_ROLES))
        for role in (await session.execute(roles)).scalars():
            kept.setdefault(role.person_id, set()).add((role.scope, role.scope_id))
        stranded: dict[int, list[int]] = {}
        for ticket_id, person_id, grid_id, building_id, district_id, street_id in tickets:
            places: set[tuple[str, int | None]] = {
                ("grid", grid_id), ("building", building_id), ("district", district_id),
                ("street", street_id)}
            roles_left = kept.get(person_id, set())
            covered = bool(places & roles_left) if district_id is not None else bool(roles_left)
            if not covered:
                stranded.setdefault(person_id, []).append(ticket_id)
        for person_id, ticket_ids in stranded.items():
            person = await session.get(Person, person_id, options=[raiseload(Person.roles)])
            assert person is not None
            self.summary.notes.append(
                f"{person.name} ({_account(person)}) loses their role but still holds "
                f"{_plural(len(ticket_ids), 'open ticket')} "
                f"({_listed([f'#{i}' for i in ticket_ids])}): hand them over with 转派 "
                f"or in the console")

    # ------------------------------------------------------------ departments

    async def _import_departments(
        self, street: Street, person_ids: dict[tuple[str, str], int]
    ) -> None:
        """Upsert the street's departments by name; remove those the file no longer lists."""
        session = self.session
        query = select(Department).where(Department.street_id == street.id)
        existing = {d.name: d for d in (await session.execute(query)).scalars()}
        for spec in self.org.departments:
            values = {
                "person_id": person_ids[("wecom_userid", spec.wecom_userid)]
                if spec.wecom_userid
                else None,
                "webhook_key": spec.webhook_key,
                "respond_seconds": spec.respond_seconds,
            }
            row = existing.pop(spec.name, None)
            if row is None:
                session.add(Department(street_id=street.id, name=spec.name, **values))
                self._count("departments", True, False)
            else:
                self._count("departments", False, self._set(row, **values))
        await self._remove_departments(list(existing.values()))
        await session.flush()

    async def _remove_departments(self, gone: list[Department]) -> None:
        """Tickets whistled to a department that is removed keep no department (the
        foreign key sets it to NULL); the open ones are named in a note."""
        for department in gone:
            query = (
                select(Ticket.id)
                .where(Ticket.department_id == department.id, Ticket.status.in_(OPEN_STATUSES))
                .order_by(Ticket.id)
            )
            open_ids = list((await self.session.execute(query)).scalars())
            if open_ids:
                self.summary.notes.append(
                    f"department {department.name} is removed: "
                    f"{_plural(len(open_ids), 'open ticket')} whistled to it "
                    f"({_listed([f'#{i}' for i in open_ids])}) will have no department")
            await self.session.delete(department)
            self.summary.note("departments", "removed")
