"""Parsing and checking org files, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.orgfile import (
    BuildingSpec,
    DepartmentSpec,
    DistrictSpec,
    GridSpec,
    GroupSpec,
    OrgFile,
    OrgFileError,
    PersonSpec,
    Sla,
    check_org,
    dump_org,
    format_duration,
    load_org_file,
    parse_duration,
    parse_org,
)


def line_of(text: str, marker: str) -> int:
    """1-based number of the only line of `text` containing `marker`."""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(lines) == 1, (marker, lines)
    return lines[0]


def errors_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(OrgFileError) as caught:
        parse_org(text)
    return caught.value.errors


def test_contract_example(contract_yaml: str) -> None:
    org = parse_org(contract_yaml)
    assert org.street == "宜川路街道"
    (district,) = org.districts
    assert district.name == "第一居民区"
    assert district.mediators == {
        "small": (PersonSpec("居委会赵主任", wecom_userid="zhaozr"),),
        "medium": (PersonSpec("第三方调解李老师", wecom_userid="litj"),),
        "big": (PersonSpec("社区解纷员周法官", wecom_userid="zhoufg"),),
    }
    (grid,) = district.grids
    assert grid.name == "第1网格"
    assert grid.worker == PersonSpec("张网格", wecom_userid="zhangwg")
    assert grid.leader == PersonSpec("陈网格长", wecom_userid="chenwgz")
    assert grid.volunteers == (PersonSpec("党员刘师傅", wechat_id="wxid_liu"),)
    (building,) = grid.buildings
    assert building == BuildingSpec(
        number="3",
        captain=PersonSpec("王楼长", wecom_userid="wanglz", wechat_id="wxid_wang"),
        groups=(
            GroupSpec("bridge", "b3@chatroom", "3号楼业主群"),
            GroupSpec("wecom_bot", "wrOgAAAA3", None),
        ),
        webhook_key="key-b3",
    )
    assert building.line == line_of(contract_yaml, 'number: "3"')
    assert grid.worker.line == line_of(contract_yaml, "张网格")
    assert org.sla.accept == {"emergency": 600, "normal": 7200}
    assert org.sla.resolve == {
        "repair": 86400,
        "complaint": 172800,
        "wish": 604800,
        "dispute": 604800,
        "emergency": 4 * 3600,
    }
    assert org.sla.confirm == 3 * 86400
    assert org.points == {"wish": 10}
    assert org.departments == () and org.admins == ()
    assert len(org.people()) == 7


def test_sla_defaults_when_absent() -> None:
    org = parse_org(
        "street: S\ndistricts:\n  - name: D\n    grids:\n"
        "      - {name: G, worker: {name: W, wecom_userid: w}}\n"
    )
    assert org.sla == Sla()
    assert org.sla.accept_seconds("emergency") == 600
    assert org.sla.accept_seconds("normal") == 7200
    assert org.sla.resolve_seconds("repair") == 86400
    assert org.sla.resolve_seconds("complaint") == 48 * 3600
    assert org.sla.resolve_seconds("wish") == 7 * 86400
    assert org.sla.resolve_seconds("dispute") == 7 * 86400
    assert org.sla.resolve_seconds("repair", "emergency") == 4 * 3600
    assert org.districts[0].grids[0].buildings == ()


def test_partial_sla_keeps_other_defaults() -> None:
    org = parse_org(
        "street: S\ndistricts:\n  - name: D\n    grids:\n"
        "      - {name: G, worker: {name: W, wecom_userid: w}}\n"
        "sla:\n  accept: {emergency: 90s}\n  resolve: {emergency: 1h30m}\n"
    )
    assert org.sla.accept == {"emergency": 90, "normal": 7200}
    assert org.sla.resolve["emergency"] == 5400
    assert org.sla.resolve["repair"] == 86400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("4h", 14400), ("2d", 172800), ("1h30m", 5400), (" 10M ", 600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "90", "4 hours", "h", "0m", "-5m", "1.5h", "2w"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (90, 1800, 14400, 172800, 5400)] == [
        "90s",
        "30m",
        "4h",
        "2d",
        "90m",
    ]


def test_optional_fields_staff_and_lists_of_mediators() -> None:
    text = """\
street: 宜川路街道
admins:
  - {name: 街道管理员, wecom_userid: jdadmin, phone: "021-5555"}
districts:
  - name: 第一居民区
    staff:
      - {name: 居民区书记, wecom_userid: shuji}
    mediators:
      micro: [{name: 楼内调解员, wechat_id: wxid_micro}]
      small:
        - {name: 赵主任, wecom_userid: zhaozr}
        - {name: 钱主任, wecom_userid: qianzr}
    grids:
      - name: 第1网格
        worker: {name: 张网格, wecom_userid: zhangwg, phone: 13900001111}
        buildings:
          - number: 3
            groups:
              - {channel: simulator, chat_id: sim-b3}
              - {channel: wecom_app, chat_id: wrAPP3, name: 3号楼通知群}
              - {channel: wechat, chat_id: gh_3}
"""
    org = parse_org(text)
    assert org.admins == (PersonSpec("街道管理员", wecom_userid="jdadmin", phone="021-5555"),)
    district = org.districts[0]
    assert district.admins == (PersonSpec("居民区书记", wecom_userid="shuji"),)
    assert district.mediators["micro"] == (PersonSpec("楼内调解员", wechat_id="wxid_micro"),)
    assert [p.name for p in district.mediators["small"]] == ["赵主任", "钱主任"]
    grid = district.grids[0]
    assert grid.worker.phone == "13900001111"
    assert grid.leader is None
    assert grid.buildings[0].number == "3"
    assert grid.buildings[0].captain is None
    assert [g.channel for g in grid.buildings[0].groups] == ["simulator", "wecom_app", "wechat"]


def test_same_person_in_several_places_is_merged() -> None:
    text = """\
street: S
districts:
  - name: D
    grids:
      - name: G1
        worker: {name: 张网格, wecom_userid: zhangwg}
        buildings:
          - number: "1"
            captain: {name: 张网格, wechat_id: wxid_zhang, wecom_userid: zhangwg}
      - name: G2
        worker: {name: 张网格, wechat_id: wxid_zhang}
"""
    org = parse_org(text)
    (person,) = org.people()
    assert person == PersonSpec("张网格", wecom_userid="zhangwg", wechat_id="wxid_zhang")


def test_many_errors_each_with_its_line() -> None:
    text = """\
street: 宜川路街道
districts:
  - name: 第一居民区
    mediators:
      small: {name: 赵主任}                                   # E-no-id
      huge: {name: 某人, wecom_userid: huge}                  # E-tier
    grids:
      - name: 第1网格
        leader: {name: 陈网格长, wecom_userid: chenwgz}        # E-no-worker (grid line)
        buildings:
          - number: "3"
            groups:
              - {channel: wechat_group, chat_id: x1}           # E-channel
              - {channel: bridge, chat_id: "b3@chatroom"}
          - number: "3"                                        # E-dup-building
            groups:
              - {channel: bridge, chat_id: "b3@chatroom"}      # E-dup-chat
              - {channel: bridge}                              # E-no-chat-id
      - name: 第2网格
        worker: {name: 张网格, wecom_userid: zhangwg}
        volunteers: {name: 不是列表, wechat_id: wxid_x}        # E-not-list
        buildings:
          - number: [4]                                        # E-number-type
            captain: {name: 李四, wecom_userid: zhangwg}       # E-two-names
sla:
  accept: {emergency: soon, normal: 2h}                        # E-duration
  resolve: {repair: 24}                                        # E-int-duration
"""
    errors = errors_of(text)
    lines = {line for line, _ in errors}
    expected = {
        "E-no-id": "neither wecom_userid nor wechat_id",
        "E-tier": "unknown mediator tier 'huge'",
        "E-channel": "unknown channel 'wechat_group'",
        "E-dup-building": "building 3 is given twice",
        "E-dup-chat": "chat bridge b3@chatroom is given twice",
        "E-no-chat-id": "chat_id is missing",
        "E-not-list": "volunteers must be a list",
        "E-number-type": "number must be text, not a list",
        "E-two-names": "wecom_userid zhangwg is given to 张网格",
        "E-duration": "bad duration 'soon'",
        "E-int-duration": "bad duration '24'",
    }
    for marker, message in expected.items():
        line = line_of(text, marker)
        assert any(n == line and message in m for n, m in errors), (marker, message, errors)
    grid_line = line_of(text, "name: 第1网格")
    assert (grid_line, "grid 第1网格: worker is missing") in errors
    assert lines <= {line_of(text, m) for m in expected} | {grid_line}
    assert errors == sorted(errors, key=lambda e: e[0])


def test_error_message_lists_lines() -> None:
    error = OrgFileError([(7, "b"), (3, "a")])
    assert str(error) == "line 3: a\nline 7: b"
    assert error.errors == [(3, "a"), (7, "b")]


def test_yaml_syntax_error_reports_its_line() -> None:
    text = "street: S\ndistricts:\n  - name: D\n    grids: [\n      {name: G\n  oops: : :\n"
    errors = errors_of(text)
    assert len(errors) == 1
    line, message = errors[0]
    assert message.startswith("YAML syntax error")
    assert 4 <= line <= 7


def test_yaml_syntax_error_bad_indentation() -> None:
    text = "street: S\ndistricts:\n  - name: D\n   grids: []\n"
    ((line, message),) = errors_of(text)
    assert line == 4
    assert "YAML syntax error" in message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "empty"),
        ("- a\n- b\n", 1, "the org file must be a mapping"),
        ("street: S\n", 1, "districts is missing"),
        ("districts:\n  - name: D\n    grids: []\n", 1, "street is missing"),
        ("street: S\ndistricts: []\n", 2, "districts is empty"),
        ("street: S\nstreet: T\ndistricts: []\n", 2, "street is given twice"),
        ("street: {a: 1}\ndistricts: []\n", 1, "street must be text"),
        ("street: S\ndistricts:\n  - name: D\n", 3, "grids is missing"),
        ("street: S\ndistricts:\n  - grids: []\n", 3, "name is missing"),
        (
            "street: S\ndistricts:\n  - name: D\n    grids:\n      - name: G\n        worker: x\n",
            6,
            "worker must be a mapping",
        ),
        (
            "street: S\ndistricts:\n  - name: D\n    grids:\n      - {name: G, worker: {name: W}}\n",
            5,
            "W has neither wecom_userid nor wechat_id",
        ),
        (
            "street: S\ndistricts:\n  - name: D\n    grids:\n      - {name: G, worker: {name: ''}}\n",
            5,
            "name is empty",
        ),
        (
            "street: S\ndistricts:\n  - name: D\n    grids:\n      - {name: G, worker: {name: W, "
            "wecom_userid: true}}\n",
            5,
            "wecom_userid must be text, not true/false",
        ),
        (
            "street: S\ndistricts:\n  - name: D\n    grids: []\n  - name: D\n    grids: []\n",
            5,
            "district D is given twice",
        ),
        (
            "street: S\ndistricts:\n  - name: D\n    grids: []\nsla:\n  accept: {urgent: 5m}\n",
            6,
            "unknown key 'urgent'",
        ),
    ],
)
def test_single_errors(text: str, line: int, message: str) -> None:
    errors = errors_of(text)
    assert any(n == line and message in m for n, m in errors), errors


def test_worker_missing_and_two_names_for_one_wechat_id() -> None:
    text = """\
street: S
districts:
  - name: D
    grids:
      - name: G1
        worker: {name: A, wechat_id: wx1}
      - name: G2
        worker: {name: B, wechat_id: wx1}
      - name: G3
"""
    errors = errors_of(text)
    assert (8, "wechat_id wx1 is given to A on line 6 and here to B") in errors
    assert (9, "grid G3: worker is missing") in errors


def test_conflicting_ids_for_one_person() -> None:
    text = """\
street: S
districts:
  - name: D
    grids:
      - name: G1
        worker: {name: A, wecom_userid: a, wechat_id: wx1}
      - name: G2
        worker: {name: A, wecom_userid: a, wechat_id: wx2}
"""
    errors = errors_of(text)
    assert (8, "wecom_userid a has wechat_id wx1 on line 6 and here wx2") in errors


def test_merge_keys_and_anchors() -> None:
    text = """\
street: S
districts:
  - name: D
    grids:
      - name: G1
        worker: &zhang {name: 张网格, wecom_userid: zhangwg}
        buildings:
          - &b1
            number: "1"
            webhook_key: k
          - <<: *b1
            number: "2"
      - name: G2
        worker: *zhang
"""
    org = parse_org(text)
    buildings = org.districts[0].grids[0].buildings
    assert [(b.number, b.webhook_key) for b in buildings] == [("1", "k"), ("2", "k")]
    assert len(org.people()) == 1


def test_check_org_on_programmatic_files() -> None:
    org = OrgFile(
        street="S",
        districts=(
            DistrictSpec(
                name="D",
                grids=(
                    GridSpec(
                        name="G",
                        worker=PersonSpec("W"),
                        buildings=(
                            BuildingSpec("1", groups=(GroupSpec("fax", "1"),)),
                            BuildingSpec("1"),
                        ),
                    ),
                ),
            ),
        ),
        sla=Sla(accept={"emergency": 0, "normal": 60}),
    )
    messages = [message for _, message in check_org(org)]
    assert any("neither wecom_userid nor wechat_id" in m for m in messages)
    assert any("unknown channel 'fax'" in m for m in messages)
    assert any("building 1 is given twice" in m for m in messages)
    assert any("emergency must be a positive number" in m for m in messages)


def test_dump_round_trip(contract_yaml: str) -> None:
    org = parse_org(contract_yaml)
    assert parse_org(dump_org(org)) == org


def test_values_longer_than_their_columns() -> None:
    text = f"""\
street: S
districts:
  - name: D
    grids:
      - name: G
        worker: {{name: W, wecom_userid: {"x" * 101}}}
        buildings:
          - number: "{"1" * 21}"
"""
    errors = errors_of(text)
    assert any(line == 6 and "wecom_userid" in m and "longer than 100" in m for line, m in errors)
    assert any(line == 8 and "building number" in m and "longer than 20" in m for line, m in errors)


def test_load_org_file(tmp_path: Path, contract_yaml: str) -> None:
    path = tmp_path / "org.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + contract_yaml.encode("utf-8"))
    assert load_org_file(path) == parse_org(contract_yaml)
    path.write_bytes(b"street: S\ndistricts:\n  - name: \xb5\xda\n")
    with pytest.raises(OrgFileError) as caught:
        load_org_file(path)
    assert caught.value.errors == [(3, "the file is not UTF-8 text")]


MORE_EXAMPLE = """\
street: 宜川路街道
admins: [{name: 王建国, wecom_userid: admin}]
departments:                         # outside departments the street can whistle (吹哨)
  - {name: 房管所, wecom_userid: fgs, respond: 4h}      # or webhook_key: "key-fgs"
  - {name: 派出所, wecom_userid: pcs, respond: 30m}
  - {name: 物业公司, webhook_key: "key-wy", respond: 1h30m}
  - name: 城管中队
    wecom_userid: cgzd
    webhook_key: key-cg
    respond: 2d
points: {wish: 15}                   # points a volunteer earns for a confirmed wish
sla:
  accept: {emergency: 10m, normal: 2h}
  resolve: {repair: 24h, complaint: 48h, wish: 7d, dispute: 7d}
  confirm: 5d                        # a resolved ticket nobody rates is closed after this
districts:
  - name: 第一居民区
    admins: [{name: 居委会孙书记, wecom_userid: sunsj}]   # the district rung of escalation
    grids:
      - name: 第1网格
        worker: {name: 张网格, wecom_userid: zhangwg}
"""

STREET_ONLY = "street: S\ndistricts:\n  - name: D\n    grids: []\n"


def test_departments_points_and_confirm() -> None:
    org = parse_org(MORE_EXAMPLE)
    assert org.departments == (
        DepartmentSpec("房管所", 4 * 3600, wecom_userid="fgs"),
        DepartmentSpec("派出所", 30 * 60, wecom_userid="pcs"),
        DepartmentSpec("物业公司", 90 * 60, webhook_key="key-wy"),
        DepartmentSpec("城管中队", 2 * 86400, wecom_userid="cgzd", webhook_key="key-cg"),
    )
    assert org.departments[2].line == line_of(MORE_EXAMPLE, "物业公司")
    assert org.departments[3].line == line_of(MORE_EXAMPLE, "name: 城管中队")
    assert org.points == {"wish": 15}
    assert org.sla.confirm == 5 * 86400
    assert org.sla.accept_seconds("normal") == 7200
    assert org.admins == (PersonSpec("王建国", wecom_userid="admin"),)
    assert org.districts[0].admins == (PersonSpec("居委会孙书记", wecom_userid="sunsj"),)
    # Departments on WeCom are people named as the department; the robot-only one is not.
    names = {p.wecom_userid: p.name for p in org.people()}
    assert {k: names[k] for k in ("fgs", "pcs", "cgzd")} == {
        "fgs": "房管所",
        "pcs": "派出所",
        "cgzd": "城管中队",
    }
    assert "物业公司" not in {p.name for p in org.people()}
    assert len(org.people()) == 6


def test_more_example_round_trips() -> None:
    org = parse_org(MORE_EXAMPLE)
    text = dump_org(org)
    assert parse_org(text) == org
    assert "confirm: 5d" in text and "points: {wish: 15}" in text
    assert "{name: 物业公司, webhook_key: key-wy, respond: 90m}" in text


def test_points_default_when_absent_or_empty() -> None:
    assert parse_org(STREET_ONLY).points == {"wish": 10}
    assert parse_org(STREET_ONLY + "points: {}\n").points == {"wish": 10}
    assert parse_org(STREET_ONLY + "points:\n  wish: 010\n").points == {"wish": 10}


def test_a_department_named_twice_by_its_userid_is_one_person() -> None:
    text = MORE_EXAMPLE.replace(
        "admins: [{name: 王建国, wecom_userid: admin}]",
        "admins: [{name: 王建国, wecom_userid: admin}, {name: 房管所, wecom_userid: fgs}]",
    )
    people = [p for p in parse_org(text).people() if p.wecom_userid == "fgs"]
    assert people == [PersonSpec("房管所", wecom_userid="fgs")]


def test_errors_of_the_new_keys_each_with_its_line() -> None:
    text = """\
street: S
departments:
  - {name: 房管所, wecom_userid: fgs, respond: soon}           # E-respond
  - {name: 派出所, respond: 30m}                               # E-no-way
  - {name: 房管所, webhook_key: k2, respond: 1h}               # E-dup
  - {name: 城管, wecom_userid: zhangwg, respond: 1h}           # E-two-names
  - {name: 司法所, webhook_key: k3}                            # E-no-respond
  - {name: 街道办, webhook_key: k4, respond: 400d}             # E-too-long
  - [房管所]                                                   # E-not-mapping
points:
  wish: 0                                                      # E-zero
  visit: 5                                                     # E-unknown
sla:
  confirm: never                                               # E-confirm
districts:
  - name: D
    grids:
      - {name: G, worker: {name: 张网格, wecom_userid: zhangwg}}
"""
    errors = errors_of(text)
    expected = {
        "E-respond": "department 房管所: respond: bad duration 'soon'",
        "E-no-way": "department 派出所 has neither wecom_userid nor webhook_key",
        "E-dup": "department 房管所 is given twice (first on line 3)",
        "E-two-names": "wecom_userid zhangwg is given to 张网格",
        "E-no-respond": "department 司法所: respond is missing",
        "E-too-long": "department 街道办: respond: 400d is longer than 365d",
        "E-not-mapping": "department must be a mapping, not a list",
        "E-zero": "points: wish must be between 1 and 1000000, not 0",
        "E-unknown": "points: unknown key 'visit' (keys: wish)",
        "E-confirm": "sla: confirm: bad duration 'never'",
    }
    for marker, message in expected.items():
        line = line_of(text, marker)
        assert any(n == line and message in m for n, m in errors), (marker, message, errors)
    assert {n for n, _ in errors} == {line_of(text, m) for m in expected}


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("{wish: -5}", "points: wish must be between 1 and 1000000, not -5"),
        ("{wish: ten}", "points: wish must be a whole number such as 10, not 'ten'"),
        ("{wish: 2.5}", "points: wish must be a whole number such as 10, not a number"),
        ("{wish: true}", "points: wish must be a whole number such as 10, not true/false"),
        ("{wish: [1]}", "points: wish must be a whole number such as 10, not a list"),
        ("{wish: 1000001}", "points: wish must be between 1 and 1000000, not 1000001"),
        ("[wish]", "points must be a mapping, not a list"),
    ],
)
def test_points_must_be_positive_whole_numbers(points: str, message: str) -> None:
    assert errors_of(STREET_ONLY + f"points: {points}\n") == [(5, message)]


def test_departments_must_be_a_list() -> None:
    text = STREET_ONLY + "departments: {name: 房管所, wecom_userid: fgs, respond: 4h}\n"
    assert errors_of(text) == [(5, "departments must be a list, not a mapping")]


def test_department_values_longer_than_their_columns() -> None:
    text = STREET_ONLY + (
        "departments:\n"
        f"  - {{name: {'部' * 101}, wecom_userid: fgs, respond: 4h}}\n"
        f"  - {{name: 派出所, webhook_key: {'k' * 201}, respond: 4h}}\n"
        f"  - {{name: 物业公司, wecom_userid: {'w' * 101}, respond: 4h}}\n"
    )
    errors = errors_of(text)
    assert any(n == 6 and "department name" in m and "longer than 100" in m for n, m in errors)
    assert any(n == 7 and "webhook_key" in m and "longer than 200" in m for n, m in errors)
    assert any(n == 8 and "wecom_userid" in m and "longer than 100" in m for n, m in errors)
    assert len(errors) == 3


def test_check_org_on_programmatic_departments_and_points() -> None:
    org = parse_org(STREET_ONLY)
    bad = OrgFile(
        street=org.street,
        districts=org.districts,
        departments=(
            DepartmentSpec("房管所", 0, wecom_userid="fgs"),
            DepartmentSpec("房管所", 60, webhook_key="k"),
            DepartmentSpec("派出所", 60),
            DepartmentSpec("", 60, webhook_key="k"),
        ),
        points={"wish": 0, "visit": 3},
        sla=Sla(confirm=0),
    )
    messages = [message for _, message in check_org(bad)]
    assert messages == [
        "sla: confirm must be a positive number of seconds",
        "points: wish must be between 1 and 1000000",
        "points: unknown key 'visit'",
        "department 房管所: respond must be a positive duration",
        "department 房管所 is given twice (first on line 0)",
        "department 派出所 has neither wecom_userid nor webhook_key",
        "a department's name is empty",
    ]
    assert check_org(parse_org(MORE_EXAMPLE)) == []
