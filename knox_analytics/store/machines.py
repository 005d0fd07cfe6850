"""Which hosts of a dataset are one machine: the scope of process ids.

A record's host (its hive key, :mod:`.partition`) is its header_ex address, else the
``--host`` label of its input, else ``unknown``.  One machine writes records under several
of them: a header32 record next to a header32_ex one, an IPv4 and an IPv6 address, a
label and the addresses its records carry.  Pids, process instances and parents are only
meaningful within one machine, so the process views join on the record's **machine**:

* the hosts one input's records name (with its label) belong to one machine, and inputs
  that share a host are one machine (the groups are merged: connected components);
* a machine is named by its smallest label, else its smallest address; the machine that
  holds ``unknown`` (records of unlabelled inputs without an address, which nothing tells
  apart) is named ``""``, as is every record of a dataset written before machines were
  kept and every record decoded from a trail, not read from a dataset.

The groups are kept in the manifest (``machines``), added to as inputs are written; they
grow with the number of hosts, never with records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.schema import FILE_TOKEN_ROW, file_tokens
from knox_analytics.store.partition import UNKNOWN_HOST

if TYPE_CHECKING:
    from knox_analytics.store.manifest import Manifest

#: The machine of records nothing tells apart (and of datasets without machines kept).
ANONYMOUS = ""


def host_key(host: str | None, label: str | None) -> str:
    """The hive key of a record's host column value (as :func:`.partition.partition_keys`
    writes it)."""
    if host is None:
        return label or UNKNOWN_HOST
    return host.replace("/", "_")


def hosts_of(table: pa.Table, label: str | None) -> set[str]:
    """The host keys of ``table``'s audit records (a few distinct values per chunk).
    A file token has no host: it says nothing of the machine (it would tie every
    unlabelled machine to ``unknown``)."""
    hosts = table.column("host")
    if file_tokens(table):
        hosts = hosts.filter(pc.not_equal(table.column("header_token"), FILE_TOKEN_ROW))
    return {host_key(h, label) for h in pc.unique(hosts).to_pylist()}


def add_input(groups: list[dict[str, list[str]]], hosts: Iterable[str],
              label: str | None) -> list[dict[str, list[str]]]:
    """``groups`` (the manifest's) with one input's hosts joined into one machine,
    merged with every group that shares a host; sorted, so the same inputs in any order
    give the same groups."""
    hosts = set(hosts)
    if not hosts:
        return groups
    labels = {label} if label else set()
    kept: list[dict[str, list[str]]] = []
    for group in groups:
        if hosts & set(group["hosts"]):
            hosts |= set(group["hosts"])
            labels |= set(group.get("labels", []))
        else:
            kept.append(group)
    kept.append({"hosts": sorted(hosts), "labels": sorted(labels)})
    return sorted(kept, key=lambda g: g["hosts"])


def machine_names(groups: Iterable[Mapping[str, list[str]]]) -> dict[str, str]:
    """host key -> machine name, for every host of ``groups``."""
    names: dict[str, str] = {}
    for group in groups:
        hosts = group["hosts"]
        name = ANONYMOUS if UNKNOWN_HOST in hosts else min(group.get("labels") or hosts)
        names.update(dict.fromkeys(hosts, name))
    return names


def names_of(manifests: Iterable[Manifest | None]) -> dict[str, str] | None:
    """The machine names of several datasets read together, from their manifests (None:
    none keeps machines, so every record is :data:`ANONYMOUS`)."""
    known = [machine_names(m.machines) for m in manifests
             if m is not None and m.machines is not None]
    if not known:
        return None
    out: dict[str, str] = {}
    for mapping in known:
        out.update(mapping)
    return out


def machine_sql(names: Mapping[str, str] | None, host: str = "host") -> str:
    """An SQL expression of the machine of a record whose hive host key is the column
    ``host``: hosts not in ``names`` are their own machine (``unknown`` is
    :data:`ANONYMOUS`); without ``names`` every record is :data:`ANONYMOUS`."""
    if names is None:
        return f"'{ANONYMOUS}'"
    branches = [(h, m) for h, m in sorted(names.items()) if h != m]
    default = f"CASE WHEN {host} = '{UNKNOWN_HOST}' THEN '{ANONYMOUS}' ELSE {host} END"
    if not branches:
        return default
    whens = " ".join(f"WHEN {_lit(h)} THEN {_lit(m)}" for h, m in branches)
    return f"CASE {host} {whens} ELSE {default} END"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
