"""The tokens the simulator writes, each encoded once by :mod:`knox_analytics.bsm.encode`
and reused by value, with what the truth sidecar says about it.  Example::

    >>> path_tok("/bin/ls").data == encode_token("path", path="/bin/ls")
    True
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.encode import encode_token
from knox_analytics.testing.host import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    BSM_DOMAIN,
    BSM_ERRNO,
    BSM_SOCK_TYPE,
    FSID,
)


class Tok(NamedTuple):
    """One encoded token and what the sidecar says about it."""

    name: str
    data: bytes
    key: str | None  # sidecar key it feeds: a list key (paths, ...) or a singleton key
    value: Any


#: Sidecar keys that hold a list (one element per token); the others hold one value.
LIST_KEYS = ("paths", "attrs", "args", "sockets", "texts")


@lru_cache(maxsize=1 << 16)
def path_tok(path: str) -> Tok:
    return Tok("path", encode_token("path", path=path), "paths", path)


@lru_cache(maxsize=1 << 14)
def attr_tok(kind: str, mode: int, uid: int, gid: int, nodeid: int, dev: int = 0) -> Tok:
    data = encode_token(kind, mode=mode, uid=uid, gid=gid, fsid=FSID, nodeid=nodeid, dev=dev)
    value = {"kind": kind, "mode": f"{mode:o}", "uid": uid, "gid": gid, "fsid": FSID,
             "nodeid": nodeid, "dev": dev}
    return Tok(kind, data, "attrs", value)


@lru_cache(maxsize=1 << 14)
def arg_tok(kind: str, num: int, name: str, value: int) -> Tok:
    data = encode_token(kind, num=num, value=value, name=name)
    return Tok(kind, data, "args", {"kind": kind, "n": num, "name": name, "value": value})


@lru_cache(maxsize=1 << 14)
def return_tok(kind: str, errno_name: str, value: int) -> Tok:
    """A return token; ``errno_name`` "" means success, otherwise the value is -1."""
    errno = BSM_ERRNO[errno_name] if errno_name else 0
    data = encode_token(kind, errno=errno, value=value)
    status = "failure" if errno else "success"
    if kind == "return64":
        truth = {"kind": kind, "status": status, "errno": errno, "errno_name": errno_name,
                 "value": value}
    else:
        truth = {"status": status, "errno": errno, "errno_name": errno_name, "value": value,
                 "value_u32": value & 0xFFFFFFFF}
    return Tok(kind, data, "return", truth)


@lru_cache(maxsize=1 << 12)
def text_tok(text: str) -> Tok:
    return Tok("text", encode_token("text", text=text), "texts", text)


@lru_cache(maxsize=1 << 12)
def exec_args_tok(argv: tuple[str, ...]) -> Tok:
    return Tok("exec_args", encode_token("exec_args", argv=list(argv)), "argv", list(argv))


@lru_cache(maxsize=64)
def exec_env_tok(env: tuple[str, ...]) -> Tok:
    return Tok("exec_env", encode_token("exec_env", envp=list(env)), "env", list(env))


@lru_cache(maxsize=256)
def exit_tok(status: int) -> Tok:
    data = encode_token("exit", status=status, **{"return": 0})
    return Tok("exit", data, "exit", {"status": status, "value": 0})


@lru_cache(maxsize=1 << 12)
def sock_inet_tok(addr: str, port: int) -> Tok:
    """sock_inet32 or sock_inet128 (a sockaddr argument), by the address's family."""
    kind, family = ("sock_inet128", AF_INET6) if ":" in addr else ("sock_inet32", AF_INET)
    data = encode_token(kind, domain=family, remote_port=port, remote_addr=addr)
    return Tok(kind, data, "sockets", {"kind": kind, "family": family, "addr": addr,
                                       "port": port})


@lru_cache(maxsize=64)
def sock_unix_tok(path: str) -> Tok:
    data = encode_token("sock_unix", domain=AF_UNIX, path=path)
    return Tok("sock_unix", data, "sockets", {"kind": "sock_unix", "family": AF_UNIX,
                                              "path": path})


def socket_ex_tok(laddr: str, lport: int, raddr: str, rport: int) -> Tok:
    """socket_ex: BSM domain/type, local and remote endpoint (ports vary: not cached)."""
    v6 = ":" in laddr
    domain = BSM_DOMAIN["PF_INET6" if v6 else "PF_INET"]
    stream = BSM_SOCK_TYPE["SOCK_STREAM"]
    data = encode_token("socket_ex", domain=domain, type=stream, local_addr=laddr,
                        local_port=lport, remote_addr=raddr, remote_port=rport)
    value = {"kind": "socket_ex", "domain_bsm": domain, "type_bsm": stream,
             "atype": T.AU_IPV6 if v6 else T.AU_IPV4, "laddr": laddr, "lport": lport,
             "raddr": raddr, "rport": rport}
    return Tok("socket_ex", data, "sockets", value)


@lru_cache(maxsize=1 << 12)
def subject_tok(kind: str, auid: int, euid: int, egid: int, ruid: int, rgid: int, pid: int,
                sid: int, tid_port: int, tid_addr: str) -> Tok:
    """A subject token (the process's credentials, as the sidecar states them too)."""
    fields = {"auid": auid, "euid": euid, "egid": egid, "ruid": ruid, "rgid": rgid,
              "pid": pid, "sid": sid, "tid_port": tid_port, "tid_addr": tid_addr}
    return Tok(kind, encode_token(kind, **fields), "subject", {"kind": kind, **fields})
