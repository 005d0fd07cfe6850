"""The Arrow schema of decoded BSM records: declared once, versioned, documented.

One row per record (and one row per stand-alone ``file`` token, which auditd writes at
the start and end of each trail, outside any record).  Tokens that a record carries at
most once in practice (header, subject, return, exit, exec args/env, ...) become flat
columns, filled from the *first* such token; tokens that repeat (paths, attributes,
arguments, texts, sockets, ...) become list columns that keep every occurrence in order.

Lossless by construction: ``token_ids`` keeps the token sequence, and ``raw_tokens`` keeps
the exact bytes of every token that the typed columns cannot reproduce byte for byte (a
second subject, a string that is not valid UTF-8 or not NUL-terminated, an unknown token
id, ...).  :func:`knox_analytics.bsm.encode.table_to_trail` rebuilds the original bytes.

``docs/schema.md`` is generated from the descriptions below (``python
tools/gen_schema_doc.py``) and a test keeps it in step.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 2

_U8, _U16, _U32, _U64 = pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()
_I32, _I64 = pa.int32(), pa.int64()
_STR = pa.string()
_DICT_STR = pa.dictionary(pa.int32(), pa.string())


def _f(name: str, type_: pa.DataType, doc: str, source: str) -> pa.Field:
    return pa.field(name, type_, metadata={"doc": doc, "source": source})


PROCESS_STRUCT = pa.struct(
    [
        ("auid", _U32), ("euid", _U32), ("egid", _U32), ("ruid", _U32), ("rgid", _U32),
        ("pid", _U32), ("sid", _U32), ("tid_port", _U64), ("tid_addr", _STR),
    ]
)
ATTR_STRUCT = pa.struct(
    [("mode", _U32), ("uid", _U32), ("gid", _U32), ("fsid", _U32), ("nodeid", _U64),
     ("dev", _U64)]
)
ARG_STRUCT = pa.struct([("num", _U8), ("value", _U64), ("name", _STR)])
SOCKET_STRUCT = pa.struct(
    [
        ("domain", _U16), ("type", _U16),
        ("local_addr", _STR), ("local_port", _U16),
        ("remote_addr", _STR), ("remote_port", _U16),
        ("path", _STR),
    ]
)
IP_STRUCT = pa.struct(
    [
        ("version", _U8), ("tos", _U8), ("length", _U16), ("id", _U16), ("offset", _U16),
        ("ttl", _U8), ("protocol", _U8), ("checksum", _U16), ("src", _STR), ("dst", _STR),
    ]
)
IPC_STRUCT = pa.struct([("type", _U8), ("id", _U32)])
IPC_PERM_STRUCT = pa.struct(
    [("uid", _U32), ("gid", _U32), ("puid", _U32), ("pgid", _U32), ("mode", _U32),
     ("seq", _U32), ("key", _U32)]
)
DATA_STRUCT = pa.struct(
    [("print_how", _U8), ("unit", _U8), ("count", _U8), ("raw", pa.binary())]
)
UUID_STRUCT = pa.struct([("num", _U8), ("uuid", _STR), ("text", _STR)])
PRIV_STRUCT = pa.struct([("status", _U8), ("set", _STR), ("privs", _STR)])
IDENTITY_STRUCT = pa.struct(
    [
        ("signer_type", _U32), ("signing_id", _STR), ("signing_id_truncated", pa.bool_()),
        ("team_id", _STR), ("team_id_truncated", pa.bool_()), ("cdhash", pa.binary()),
    ]
)
# typed: the typed columns also hold a (best-effort) value for this token, e.g. a path
# that is not valid UTF-8 appears in `paths` with backslash escapes *and* here verbatim.
RAW_TOKEN_STRUCT = pa.struct([("index", _U32), ("data", pa.binary()), ("typed", pa.bool_())])

_SUBJ = "first subject32/64/32_ex/64_ex token (0x24, 0x75, 0x7a, 0x7c)"

FIELDS: list[pa.Field] = [
    # provenance
    _f("source", _DICT_STR, "File (or stream name) the record was read from.", "input"),
    _f("offset", _I64, "Byte offset of the record (its header token) in the source.", "input"),
    _f("length", _U32, "Record length in bytes, header to trailer inclusive (for a stand-alone "
       "file token: the token's length).", "header byte count"),
    _f("record_id", pa.binary(16), "Record id, unique within the dataset: the MD5 of the "
       "record's bytes XOR the MD5 of its host (header_ex address, else the --host label), "
       "mixed with its occurrence number among identical records of one input "
       "(docs/dataset.md). Null in rows decoded from a trail, not read from a dataset.",
       "record bytes"),
    # header
    _f("header_token", _U8, "Token id that opens the row: 0x14 header32, 0x15 header32_ex, "
       "0x74 header64, 0x79 header64_ex, or 0x11 for a stand-alone file token.", "header"),
    _f("version", _U8, "Header version (10 = OpenBSM 1.0 / 2006, 11 = OpenBSM 1.1).", "header"),
    _f("event", _U16, "Event number (audit_event(5)).", "header e_type"),
    _f("event_name", _DICT_STR, "Event short name, e.g. AUE_EXECVE; null when unknown.",
       "audit_event table"),
    _f("event_classes", _DICT_STR, "Comma-separated audit classes of the event, e.g. "
       "'pc,ex'.", "audit_event + audit_class tables"),
    _f("modifier", _U16, "Event modifier bits.", "header e_mod"),
    _f("time", pa.timestamp("ms", tz="UTC"), "Record time (file token: its time).",
       "header seconds + msec"),
    _f("host", _STR, "Host address of a header32_ex/header64_ex (IPv4 or IPv6); null "
       "otherwise.", "header_ex address"),
    # subject
    _f("auid", _U32, "Audit (login) user id; 4294967295 = unset (praudit prints -1).", _SUBJ),
    _f("euid", _U32, "Effective user id.", _SUBJ),
    _f("egid", _U32, "Effective group id.", _SUBJ),
    _f("ruid", _U32, "Real user id.", _SUBJ),
    _f("rgid", _U32, "Real group id.", _SUBJ),
    _f("pid", _U32, "Process id of the subject.", _SUBJ),
    _f("sid", _U32, "Audit session id.", _SUBJ),
    _f("tid_port", _U64, "Terminal id: port (dev_t).", _SUBJ),
    _f("tid_addr", _STR, "Terminal id: machine address (IPv4 or IPv6).", _SUBJ),
    # return
    _f("return_errno", _U8, "BSM portable errno of the first return token (0 = success).",
       "return32/return64 (0x27, 0x72) status"),
    _f("return_value", _I64, "Return value (return32 sign-extended from 32 bits).",
       "return32/return64 value"),
    _f("errno_name", _DICT_STR, "Name of the BSM errno, e.g. ENOENT; null on success.",
       "audit_errno table"),
    _f("success", pa.bool_(), "True when the return errno is 0; null without a return "
       "token.", "return token"),
    # exit / exec
    _f("exit_status", _I32, "Exit status.", "exit token (0x52)"),
    _f("exit_return", _I32, "Exit return value.", "exit token (0x52)"),
    _f("argv", pa.list_(_STR), "Every exec argument, in order (praudit prints only 128).",
       "exec_args (0x3c)"),
    _f("envp", pa.list_(_STR), "Every exec environment string, in order.", "exec_env (0x3d)"),
    # repeated tokens
    _f("paths", pa.list_(_STR), "Every path token, in order.", "path (0x23)"),
    _f("attrs", pa.list_(ATTR_STRUCT), "Every file attribute token, in order (mode is the raw "
       "st_mode; praudit prints it in octal).",
       "attr (0x31), attr32 (0x3e), attr64 (0x73)"),
    _f("args", pa.list_(ARG_STRUCT), "Every system-call argument token, in order.",
       "arg32 (0x2d), arg64 (0x71)"),
    _f("texts", pa.list_(_STR), "Every text token, in order.", "text (0x28)"),
    _f("processes", pa.list_(PROCESS_STRUCT), "Every process (object) token, in order.",
       "process32/64/32_ex/64_ex (0x26, 0x77, 0x7b, 0x7d)"),
    _f("sockets", pa.list_(SOCKET_STRUCT), "Every socket token, in order. socket/socket_ex "
       "fill local and remote; sock_inet32/128 (a sockaddr argument) fill remote_*; "
       "sock_unix fills path. domain/type are as recorded (BSM numbers for socket_ex).",
       "socket (0x2e), socket_ex (0x7f), sock_inet32/128 (0x80, 0x81), sock_unix (0x82)"),
    _f("in_addrs", pa.list_(_STR), "Every in_addr token (IPv4 or IPv6), in order.",
       "in_addr (0x2a), in_addr_ex (0x7e)"),
    _f("ip_headers", pa.list_(IP_STRUCT), "Every ip token (IPv4 header), in order.",
       "ip (0x2b)"),
    _f("iports", pa.list_(_U16), "Every iport token (port number), in order.", "iport (0x2c)"),
    _f("ipcs", pa.list_(IPC_STRUCT), "Every ipc token, in order.", "ipc (0x22)"),
    _f("ipc_perms", pa.list_(IPC_PERM_STRUCT), "Every ipc_perm token, in order.",
       "ipc_perm (0x32)"),
    _f("groups", pa.list_(_U32), "Group list of the first newgroups token.",
       "newgroups (0x3b)"),
    _f("opaques", pa.list_(pa.binary()), "Every opaque token's bytes, in order.",
       "opaque (0x29)"),
    _f("data", pa.list_(DATA_STRUCT), "Every data token, in order; raw holds the values as "
       "written (in the writing host's byte order).", "data (0x21)"),
    _f("uuids", pa.list_(UUID_STRUCT), "Every arg_uuid / return_uuid token, in order.",
       "arg_uuid (0x84), return_uuid (0x85)"),
    _f("privs", pa.list_(PRIV_STRUCT), "Every privilege token, in order (upriv: status + "
       "privs; priv: set + privs).", "priv (0x38), upriv (0x39)"),
    _f("seq", _U32, "Sequence number.", "seq (0x2f)"),
    _f("zonename", _STR, "Zone name.", "zonename (0x60)"),
    _f("identity", IDENTITY_STRUCT, "macOS code-signing identity.", "identity (0xed)"),
    _f("file_name", _STR, "Name carried by a stand-alone file token (trail start/end).",
       "file (0x11)"),
    # losslessness
    _f("token_ids", pa.list_(_U8), "Token ids of the record in order, header and trailer "
       "included.", "all tokens"),
    _f("raw_tokens", pa.list_(RAW_TOKEN_STRUCT), "Exact bytes of the tokens (by index into "
       "token_ids) that the typed columns cannot reproduce byte for byte; usually empty.",
       "all tokens"),
]

SCHEMA: pa.Schema = pa.schema(
    FIELDS, metadata={"knox_analytics.schema_version": str(SCHEMA_VERSION)}
)

def schema_markdown() -> str:
    """Render the column reference that lives in ``docs/schema.md``."""
    lines = [
        "# Record schema",
        "",
        f"Schema version **{SCHEMA_VERSION}** (stored in the Parquet metadata as "
        "`knox_analytics.schema_version`). One row per record; generated from "
        "`knox_analytics/schema.py` by `python tools/gen_schema_doc.py`.",
        "",
        "| column | type | meaning | source token |",
        "|---|---|---|---|",
    ]
    for field in SCHEMA:
        meta = field.metadata or {}
        doc = meta.get(b"doc", b"").decode()
        src = meta.get(b"source", b"").decode()
        lines.append(f"| `{field.name}` | `{field.type}` | {doc} | {src} |")
    return "\n".join(lines) + "\n"


#: header_token of a stand-alone file token row (a trail's open/close marker)
FILE_TOKEN_ROW = 0x11


def file_tokens(table: pa.Table) -> int:
    """How many rows of ``table`` are stand-alone file tokens (0x11: a trail's open/close
    marker, not an audit record; the question views leave them out)."""
    import pyarrow.compute as pc

    return int(pc.sum(pc.equal(table.column("header_token"), FILE_TOKEN_ROW)).as_py() or 0)
