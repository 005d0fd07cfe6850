"""BSM token ids and their byte layouts, as data.

Source: OpenBSM ``bsm/audit_record.h`` (token ids) and ``libbsm/bsm_io.c`` (how praudit
fetches each token), both BSD-licensed (see ``knox_analytics/data/LICENSE.openbsm``); the
Apple identity token (0xed) follows the layout macOS 10.15+ writes.

Every multi-byte field is big-endian.  A layout is a tuple of ``(kind, name)`` pairs read
in order after the one-byte token id.  Field kinds:

========  ===================================================================
u8..u64   unsigned big-endian integer
ip4       4 raw address bytes (network order)
ip6       16 raw address bytes
addr      u32 address type (4 = IPv4, 16 = IPv6) then that many address bytes
str16     u16 length n (NUL included), then n bytes: a NUL-terminated string
bytes16   u16 length n, then n raw bytes
strings   u32 count, then count NUL-terminated strings (exec args / env)
u32list   u16 count, then count u32 values (newgroups)
data      the data token's unit (u8) x count (u8) values: size = unit size x count
cstr      a NUL-terminated string of at most 104 bytes (sock_unix path)
uuid      16 raw bytes (a big-endian UUID)
========  ===================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

# --- token ids (audit_record.h) ------------------------------------------------------
AUT_OTHER_FILE32 = 0x11
AUT_TRAILER = 0x13
AUT_HEADER32 = 0x14
AUT_HEADER32_EX = 0x15
AUT_DATA = 0x21
AUT_IPC = 0x22
AUT_PATH = 0x23
AUT_SUBJECT32 = 0x24
AUT_PROCESS32 = 0x26
AUT_RETURN32 = 0x27
AUT_TEXT = 0x28
AUT_OPAQUE = 0x29
AUT_IN_ADDR = 0x2A
AUT_IP = 0x2B
AUT_IPORT = 0x2C
AUT_ARG32 = 0x2D
AUT_SOCKET = 0x2E
AUT_SEQ = 0x2F
AUT_ATTR = 0x31
AUT_IPC_PERM = 0x32
AUT_PRIV = 0x38
AUT_UPRIV = 0x39
AUT_NEWGROUPS = 0x3B
AUT_EXEC_ARGS = 0x3C
AUT_EXEC_ENV = 0x3D
AUT_ATTR32 = 0x3E
AUT_EXIT = 0x52
AUT_ZONENAME = 0x60
AUT_ARG64 = 0x71
AUT_RETURN64 = 0x72
AUT_ATTR64 = 0x73
AUT_HEADER64 = 0x74
AUT_SUBJECT64 = 0x75
AUT_PROCESS64 = 0x77
AUT_HEADER64_EX = 0x79
AUT_SUBJECT32_EX = 0x7A
AUT_PROCESS32_EX = 0x7B
AUT_SUBJECT64_EX = 0x7C
AUT_PROCESS64_EX = 0x7D
AUT_IN_ADDR_EX = 0x7E
AUT_SOCKET_EX = 0x7F
AUT_SOCKINET32 = 0x80
AUT_SOCKINET128 = 0x81
AUT_SOCKUNIX = 0x82
AUT_ARG_UUID = 0x84
AUT_RETURN_UUID = 0x85
AUT_IDENTITY = 0xED

TRAILER_MAGIC = 0xB105
TRAILER_SIZE = 7  # id + u16 magic + u32 length
#: The smallest possible record: header32 (18 bytes) + trailer (7 bytes).
MIN_RECORD = 25
#: The fixed part of a stand-alone file token: id, u32 sec, u32 msec, u16 name length.
FILE_TOKEN_FIXED = 11
HEADER_IDS = (AUT_HEADER32, AUT_HEADER32_EX, AUT_HEADER64, AUT_HEADER64_EX)
AU_IPV4 = 4
AU_IPV6 = 16
#: The audit user id of a process no user logged in to (daemons): AU_DEFAUDITID, -1 as
#: the u32 the subject token holds (bsm/audit.h).  praudit prints it as -1.
UNSET_AUID = 0xFFFFFFFF
SOCKUNIX_PATH_MAX = 104  # sizeof(au_socketunix_t.path)
#: Basic unit sizes of the data token (audit_record.h AUR_*): unit code -> bytes.
DATA_UNIT_SIZES = {0: 1, 1: 2, 2: 4, 3: 8}
#: praudit prints at most this many exec args / env strings (AUDIT_MAX_ARGS / _ENV).
AUDIT_MAX_ARGS = 128

Layout = tuple[tuple[str, str], ...]

_HEADER_COMMON: Layout = (("u32", "length"), ("u8", "version"), ("u16", "event"),
                          ("u16", "modifier"))
_IDS7: Layout = (("u32", "auid"), ("u32", "euid"), ("u32", "egid"), ("u32", "ruid"),
                 ("u32", "rgid"), ("u32", "pid"), ("u32", "sid"))
_SUBJ32: Layout = (*_IDS7, ("u32", "tid_port"), ("ip4", "tid_addr"))
_SUBJ64: Layout = (*_IDS7, ("u64", "tid_port"), ("ip4", "tid_addr"))
_SUBJ32_EX: Layout = (*_IDS7, ("u32", "tid_port"), ("addr", "tid_addr"))
_SUBJ64_EX: Layout = (*_IDS7, ("u64", "tid_port"), ("addr", "tid_addr"))
_ATTR32: Layout = (("u32", "mode"), ("u32", "uid"), ("u32", "gid"), ("u32", "fsid"),
                   ("u64", "nodeid"), ("u32", "dev"))
_UUID: Layout = (("u8", "num"), ("uuid", "uuid"), ("str16", "text"))


@dataclass(frozen=True)
class TokenType:
    """One token id: its names and the layout of its body."""

    id: int
    name: str  # our name, e.g. "subject32_ex"
    group: str  # the column family it lands in, e.g. "subject", "paths"
    layout: Layout


TOKEN_TYPES: tuple[TokenType, ...] = (
    TokenType(AUT_OTHER_FILE32, "file", "file",
              (("u32", "sec"), ("u32", "msec"), ("str16", "name"))),
    TokenType(AUT_TRAILER, "trailer", "trailer", (("u16", "magic"), ("u32", "length"))),
    TokenType(AUT_HEADER32, "header32", "header",
              (*_HEADER_COMMON, ("u32", "sec"), ("u32", "msec"))),
    TokenType(AUT_HEADER32_EX, "header32_ex", "header",
              (*_HEADER_COMMON, ("addr", "host"), ("u32", "sec"), ("u32", "msec"))),
    TokenType(AUT_HEADER64, "header64", "header",
              (*_HEADER_COMMON, ("u64", "sec"), ("u64", "msec"))),
    TokenType(AUT_HEADER64_EX, "header64_ex", "header",
              (*_HEADER_COMMON, ("addr", "host"), ("u64", "sec"), ("u64", "msec"))),
    TokenType(AUT_DATA, "data", "data",
              (("u8", "print_how"), ("u8", "unit"), ("u8", "count"), ("data", "raw"))),
    TokenType(AUT_IPC, "ipc", "ipcs", (("u8", "type"), ("u32", "id"))),
    TokenType(AUT_PATH, "path", "paths", (("str16", "path"),)),
    TokenType(AUT_SUBJECT32, "subject32", "subject", _SUBJ32),
    TokenType(AUT_PROCESS32, "process32", "processes", _SUBJ32),
    TokenType(AUT_RETURN32, "return32", "return", (("u8", "errno"), ("u32", "value"))),
    TokenType(AUT_TEXT, "text", "texts", (("str16", "text"),)),
    TokenType(AUT_OPAQUE, "opaque", "opaques", (("bytes16", "data"),)),
    TokenType(AUT_IN_ADDR, "in_addr", "in_addrs", (("ip4", "addr"),)),
    TokenType(AUT_IP, "ip", "ip_headers",
              (("u8", "version"), ("u8", "tos"), ("u16", "length"), ("u16", "id"),
               ("u16", "offset"), ("u8", "ttl"), ("u8", "protocol"), ("u16", "checksum"),
               ("ip4", "src"), ("ip4", "dst"))),
    TokenType(AUT_IPORT, "iport", "iports", (("u16", "port"),)),
    TokenType(AUT_ARG32, "arg32", "args",
              (("u8", "num"), ("u32", "value"), ("str16", "name"))),
    TokenType(AUT_SOCKET, "socket", "sockets",
              (("u16", "type"), ("u16", "local_port"), ("ip4", "local_addr"),
               ("u16", "remote_port"), ("ip4", "remote_addr"))),
    TokenType(AUT_SEQ, "seq", "seq", (("u32", "seq"),)),
    TokenType(AUT_ATTR, "attr", "attrs", _ATTR32),
    TokenType(AUT_IPC_PERM, "ipc_perm", "ipc_perms",
              (("u32", "uid"), ("u32", "gid"), ("u32", "puid"), ("u32", "pgid"),
               ("u32", "mode"), ("u32", "seq"), ("u32", "key"))),
    TokenType(AUT_PRIV, "priv", "privs", (("str16", "set"), ("str16", "privs"))),
    TokenType(AUT_UPRIV, "upriv", "privs", (("u8", "status"), ("str16", "privs"))),
    TokenType(AUT_NEWGROUPS, "newgroups", "groups", (("u32list", "groups"),)),
    TokenType(AUT_EXEC_ARGS, "exec_args", "argv", (("strings", "argv"),)),
    TokenType(AUT_EXEC_ENV, "exec_env", "envp", (("strings", "envp"),)),
    TokenType(AUT_ATTR32, "attr32", "attrs", _ATTR32),
    TokenType(AUT_EXIT, "exit", "exit", (("u32", "status"), ("u32", "return"))),
    TokenType(AUT_ZONENAME, "zonename", "zonename", (("str16", "zonename"),)),
    TokenType(AUT_ARG64, "arg64", "args",
              (("u8", "num"), ("u64", "value"), ("str16", "name"))),
    TokenType(AUT_RETURN64, "return64", "return", (("u8", "errno"), ("u64", "value"))),
    TokenType(AUT_ATTR64, "attr64", "attrs",
              (("u32", "mode"), ("u32", "uid"), ("u32", "gid"), ("u32", "fsid"),
               ("u64", "nodeid"), ("u64", "dev"))),
    TokenType(AUT_SUBJECT64, "subject64", "subject", _SUBJ64),
    TokenType(AUT_PROCESS64, "process64", "processes", _SUBJ64),
    TokenType(AUT_SUBJECT32_EX, "subject32_ex", "subject", _SUBJ32_EX),
    TokenType(AUT_PROCESS32_EX, "process32_ex", "processes", _SUBJ32_EX),
    TokenType(AUT_SUBJECT64_EX, "subject64_ex", "subject", _SUBJ64_EX),
    TokenType(AUT_PROCESS64_EX, "process64_ex", "processes", _SUBJ64_EX),
    TokenType(AUT_IN_ADDR_EX, "in_addr_ex", "in_addrs", (("addr", "addr"),)),
    TokenType(AUT_SOCKET_EX, "socket_ex", "sockets",
              (("u16", "domain"), ("u16", "type"), ("sockaddrs", "addrs"))),
    TokenType(AUT_SOCKINET32, "sock_inet32", "sockets",
              (("u16", "domain"), ("u16", "remote_port"), ("ip4", "remote_addr"))),
    TokenType(AUT_SOCKINET128, "sock_inet128", "sockets",
              (("u16", "domain"), ("u16", "remote_port"), ("ip6", "remote_addr"))),
    TokenType(AUT_SOCKUNIX, "sock_unix", "sockets", (("u16", "domain"), ("cstr", "path"))),
    TokenType(AUT_ARG_UUID, "arg_uuid", "uuids", _UUID),
    TokenType(AUT_RETURN_UUID, "return_uuid", "uuids", _UUID),
    TokenType(AUT_IDENTITY, "identity", "identity",
              (("u32", "signer_type"), ("str16", "signing_id"),
               ("u8", "signing_id_truncated"), ("str16", "team_id"),
               ("u8", "team_id_truncated"), ("bytes16", "cdhash"))),
)
# socket_ex's "sockaddrs" field is: u16 address type (4/16), u16 local port, local address
# (4 or 16 bytes), u16 remote port, remote address -- praudit's fetch_socketex32_tok.

TOKENS_BY_ID: dict[int, TokenType] = {t.id: t for t in TOKEN_TYPES}
TOKENS_BY_NAME: dict[str, TokenType] = {t.name: t for t in TOKEN_TYPES}

FIXED_FIELD_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "ip4": 4, "ip6": 16, "uuid": 16}


def token_name(token_id: int) -> str:
    """Our name for a token id, or ``unknown_0xNN``."""
    t = TOKENS_BY_ID.get(token_id)
    return t.name if t else f"unknown_0x{token_id:02x}"
