"""JSON Lines: one JSON object per record (the shape is documented in docs/json.md).

Common fields are named and typed (``time``, ``event``, ``subject``, ``return``, ``argv``,
``env``, ``paths``); every other token kind is a list of typed objects under its own key,
present only when the record has such tokens.  Tokens kept as raw bytes (a second
subject, an unknown id, ...) are decoded again and listed under ``extra_tokens``.

Example::

    >>> from knox_analytics.schema import SCHEMA
    >>> render_jsonl(SCHEMA.empty_table(), resolve=False)
    b''
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.bsm import columns as C
from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.tokenreader import RawToken, iter_lenient
from knox_analytics.render.names import IdNames, event_errno_text

#: JSON keys of list columns whose name would be cryptic in a JSON object
_JSON_KEYS = {"attrs": "attributes", "args": "arguments", "privs": "privileges"}
#: list columns copied as they are (key in the JSON object -> schema column); paths is a
#: common field, opaques are written as hex strings
_LISTS = {_JSON_KEYS.get(g, g): g for g in C.LIST_GROUPS if g not in ("paths", "opaques")}
#: the subject's ids; its terminal is an object of its own
_SUBJECT = tuple(f for f in C.SUBJECT_FIELDS if f not in C.TERMINAL_FIELDS)
#: list columns whose ``mode`` is a file mode: written as praudit prints it, octal digits
#: in a string ("100644"), since the decimal 33188 of st_mode reads as nothing
_MODES = ("attrs", "ipc_perms")


class _Namer:
    def __init__(self, ids: IdNames | None) -> None:
        self.ids = ids

    def ids_of(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Add ``<field>_name`` next to each uid/gid field that has a name."""
        if self.ids is None:
            return obj
        out = dict(obj)
        for key, value in obj.items():
            if value is None:
                continue
            if key in ("auid", "euid", "ruid", "uid", "puid"):
                name = self.ids.user(value)
            elif key in ("egid", "rgid", "gid", "pgid"):
                name = self.ids.group(value)
            else:
                continue
            if name is not None:
                out[f"{key}_name"] = name
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _subject(row: dict[str, Any], namer: _Namer) -> dict[str, Any] | None:
    if row["pid"] is None:
        return None
    obj = {k: row[k] for k in _SUBJECT}
    obj["terminal"] = {"port": row["tid_port"], "addr": row["tid_addr"]}
    return namer.ids_of(obj)


def _process(p: dict[str, Any], namer: _Namer) -> dict[str, Any]:
    obj = {k: p[k] for k in _SUBJECT}
    obj["terminal"] = {"port": p["tid_port"], "addr": p["tid_addr"]}
    return namer.ids_of(obj)


def _return(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["success"] is None:
        return None
    return {"errno": row["errno_name"], "errno_number": row["return_errno"],
            "value": row["return_value"], "success": row["success"]}


def _raw_token(tok: RawToken) -> dict[str, Any]:
    name = "unknown" if tok.invalid else T.token_name(tok.id)
    values = {k: (v.decode("utf-8", "backslashreplace") if isinstance(v, bytes)
                  and k not in ("hex", "data", "raw", "cdhash") else v)
              for k, v in tok.values.items()}
    if isinstance(values.get("argv") or values.get("envp"), list):
        key = "argv" if "argv" in values else "envp"
        values[key] = [s.decode("utf-8", "backslashreplace") for s in values[key]]
    return {"type": name, "id": tok.id, **_jsonable(_octal_mode(values))}


def _octal_mode(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with its ``mode`` (attribute, ipc_perm) as praudit's octal digits."""
    if isinstance(obj.get("mode"), int):
        return {**obj, "mode": f"{obj['mode']:o}"}
    return obj


def _extra(row: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for raw in row["raw_tokens"] or []:
        if raw["typed"]:
            continue  # the typed columns hold it (best effort) already
        data = raw["data"]
        out += [_raw_token(t) for t in iter_lenient(data)] if data else []
    return out


def record_object(row: dict[str, Any], time_text: str | None, namer: _Namer,
                  description: str | None = None) -> dict[str, Any]:
    """The JSON object of one row (a dict as ``Table.to_pylist`` gives it)."""
    if row["header_token"] == T.AUT_OTHER_FILE32:
        return {"time": time_text, "type": "file", "file": row["file_name"],
                "source": row["source"], "offset": row["offset"]}
    obj: dict[str, Any] = {
        "time": time_text,
        "event": {"number": row["event"], "name": row["event_name"],
                  "description": description,
                  "classes": (row["event_classes"] or "").split(",") if row["event_classes"]
                  else [], "modifier": row["modifier"]},
        "version": row["version"], "host": row["host"],
        "source": row["source"], "offset": row["offset"], "length": row["length"],
        "subject": _subject(row, namer), "return": _return(row),
        "argv": row["argv"], "env": row["envp"], "paths": row["paths"] or [],
    }
    _add_optional(obj, row, namer)
    return obj


def _add_optional(obj: dict[str, Any], row: dict[str, Any], namer: _Namer) -> None:
    if row["exit_status"] is not None:
        obj["exit"] = {"status": row["exit_status"], "return": row["exit_return"]}
    for key, col in _LISTS.items():
        items = row[col]
        if items:
            if col == "processes":
                items = [_process(p, namer) for p in items]
            elif col in _MODES:
                items = [namer.ids_of(_octal_mode(a)) for a in items]
            obj[key] = _jsonable(items)
    if row["file_name"] is not None:
        obj["file"] = row["file_name"]
    for key in ("groups", "seq", "zonename"):
        if row[key] is not None:
            obj[key] = row[key]
    if row["opaques"]:
        obj["opaques"] = [b.hex() for b in row["opaques"]]
    if row["identity"] is not None:
        obj["identity"] = _jsonable(row["identity"])
    extra = _extra(row)
    if extra:
        obj["extra_tokens"] = extra


def render_jsonl(table: pa.Table, *, resolve: bool = True, ids: IdNames | None = None,
                 tables: str = "auto") -> bytes:
    """One JSON object per row, newline-terminated, UTF-8."""
    if table.num_rows == 0:
        return b""
    namer = _Namer((ids or IdNames()) if resolve else None)
    times = pc.strftime(table.column("time"), format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    events = table.column("event").fill_null(0).combine_chunks()
    descs = event_errno_text(tables).event_desc.take(events.cast(pa.int64())).to_pylist()
    rows = table.to_pylist()
    lines = [json.dumps(record_object(r, t, namer, d), ensure_ascii=False,
                        separators=(",", ":"))
             for r, t, d in zip(rows, times, descs, strict=True)]
    return ("\n".join(lines) + "\n").encode("utf-8", errors="surrogateescape")
