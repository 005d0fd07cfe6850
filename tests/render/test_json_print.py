"""knox print --json: every line validates against the shape in docs/json.md, and the
values agree with the truth sidecars written with the synthetic trails.

Fixtures: tests/data/trails/*.bsm and synthetic-*.truth.jsonl (provenance in
tests/data/trails/README.md); the passwd/group files are written by the test itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from knoxtest import TRAILS

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.render.jsonl import render_jsonl
from knox_analytics.render.names import IdNames

NAMES = sorted(p.stem for p in TRAILS.glob("*.bsm"))
PASSWD = "root:*:0:0::/var/root:/bin/sh\nalice:*:501:20::/Users/alice:/bin/zsh\n" \
         "bob:*:502:20::/Users/bob:/bin/zsh\n"
GROUP = "wheel:*:0:root\nstaff:*:20:alice,bob\n"

_OPT = (type(None),)
REQUIRED: dict[str, tuple[type, ...]] = {
    "time": (str,), "event": (dict,), "version": (int,), "host": (str, *_OPT),
    "source": (str,), "offset": (int,), "length": (int,), "subject": (dict, *_OPT),
    "return": (dict, *_OPT), "argv": (list, *_OPT), "env": (list, *_OPT), "paths": (list,)}
OPTIONAL_LISTS = ("attributes", "arguments", "texts", "processes", "sockets", "in_addrs",
                  "iports", "ip_headers", "ipcs", "ipc_perms", "groups", "opaques", "data",
                  "uuids", "privileges", "extra_tokens")


def check_shape(obj: dict[str, Any]) -> None:
    """The documented shape (docs/json.md)."""
    if obj.get("type") == "file":
        assert set(obj) == {"time", "type", "file", "source", "offset"}
        return
    for key, types in REQUIRED.items():
        assert isinstance(obj[key], types), (key, obj[key])
    assert obj["time"].endswith("Z") and len(obj["time"]) == 24
    ev = obj["event"]
    assert set(ev) == {"number", "name", "description", "classes", "modifier"}
    assert isinstance(ev["classes"], list)
    if obj["subject"] is not None:
        assert set(obj["subject"]) >= {"auid", "euid", "egid", "ruid", "rgid", "pid", "sid",
                                       "terminal"}
    if obj["return"] is not None:
        assert set(obj["return"]) == {"errno", "errno_number", "value", "success"}
        assert obj["return"]["success"] == (obj["return"]["errno_number"] == 0)
    for key in OPTIONAL_LISTS:
        if key in obj:
            assert isinstance(obj[key], list) and obj[key], key
    known = set(REQUIRED) | set(OPTIONAL_LISTS) | {"exit", "seq", "zonename", "file",
                                                   "identity"}
    assert set(obj) <= known, set(obj) - known


def _objects(name: str, **kwargs: Any) -> list[dict[str, Any]]:
    table = decode_bytes((TRAILS / f"{name}.bsm").read_bytes(), f"{name}.bsm").table
    out = render_jsonl(table, **kwargs)
    assert out.endswith(b"\n")
    return [json.loads(line) for line in out.decode("utf-8").splitlines()]


@pytest.mark.parametrize("name", NAMES)
def test_every_line_has_the_documented_shape(name: str) -> None:
    objs = _objects(name, resolve=False)
    assert objs
    for obj in objs:
        check_shape(obj)


@pytest.mark.parametrize("name", ["synthetic-all-tokens", "synthetic-workload"])
def test_values_agree_with_truth_sidecar(name: str) -> None:
    ids = IdNames.from_files(passwd_text=PASSWD, group_text=GROUP)
    objs = _objects(name, ids=ids)
    truth = [json.loads(x) for x in (TRAILS / f"{name}.truth.jsonl").read_text().splitlines()]
    assert len(objs) == len(truth)
    for obj, t in zip(objs, truth, strict=True):
        assert (obj["offset"], obj["length"], obj["time"]) == (t["offset"], t["length"],
                                                               t["time"])
        assert (obj["event"]["number"], obj["event"]["name"]) == (t["event"], t["event_name"])
        subj = t["subject"]
        assert {k: obj["subject"][k] for k in ("auid", "euid", "pid", "sid")} == \
               {k: subj[k] for k in ("auid", "euid", "pid", "sid")}
        assert obj["subject"]["terminal"] == {"port": subj["tid_port"],
                                              "addr": subj["tid_addr"]}
        if t.get("user"):  # the sidecar names the acting user: login or effective
            names = {obj["subject"].get("auid_name"), obj["subject"].get("euid_name")}
            assert t["user"] in names
        ret = t["return"]
        assert obj["return"]["errno"] == (ret["errno_name"] or None)
        if "value" in ret:
            assert obj["return"]["value"] == ret["value"]
        else:  # a return64 value the sidecar gives unsigned
            assert obj["return"]["value"] % 2**64 == ret["value_u64"]
        assert obj["paths"] == t["paths"]
        assert obj["argv"] == t.get("argv")
        assert obj["env"] == t.get("env")


def test_argv_is_never_joined() -> None:
    first = _objects("synthetic-all-tokens", resolve=False)[0]
    assert first["argv"] == ["ls", "-la", "/tmp/dir with spaces", "", "naïve café ✓"]


def test_second_newgroups_token_is_an_extra_token() -> None:
    objs = _objects("synthetic-all-tokens", resolve=False)
    setgroups = next(o for o in objs if o["event"]["name"] == "AUE_SETGROUPS")
    assert setgroups["groups"] == [20, 12, 61, 79, 701]
    extra = setgroups["extra_tokens"]
    assert [e["type"] for e in extra] == ["newgroups"]
    assert extra[0]["groups"][:3] == [0, 1, 2]


def test_no_names_with_resolve_off() -> None:
    obj = _objects("synthetic-all-tokens", resolve=False)[0]
    assert not any(k.endswith("_name") for k in obj["subject"])


def test_modes_are_written_as_praudit_prints_them() -> None:
    """Issue 23 item 17: ``attributes.mode`` was the decimal st_mode (33188) where praudit
    prints ``mode="100644"``: the JSON holds praudit's octal digits, as a string."""
    import re

    objs = _objects("synthetic-all-tokens", resolve=False)
    xml = (TRAILS / "synthetic-all-tokens.praudit-xn.xml").read_text()
    got = [a["mode"] for o in objs for a in o.get("attributes", [])]
    assert got == re.findall(r'<attribute mode="([0-7]+)"', xml)
    truth = [json.loads(x) for x in
             (TRAILS / "synthetic-all-tokens.truth.jsonl").read_text().splitlines()]
    assert got == [a["mode"] for t in truth for a in t.get("attrs", [])] and "100644" in got
    perms = [p["mode"] for o in objs for p in o.get("ipc_perms", [])]
    assert perms == re.findall(r'<IPC_perm [^>]*mode="([0-7]+)"', xml) == ["600"]
