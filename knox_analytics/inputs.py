"""What the command line's inputs are: one discovery rule for every command.

``knox convert``, ``print``, ``summary``, ``plot`` and the question commands all take the
same inputs — trail files (compressed too), directories of trails (a copy of
``/var/audit``), knox datasets, Parquet files and ``-`` for stdin — and read them through
:func:`discover`, so a directory means the same thing to every command:

- its files, sorted by name; hidden files, sub-directories and auditd's configuration
  files are left out; ``current`` (a link to a trail also listed under its own name) is
  read once;
- a file *found* in a directory that is not a trail (a README, a checksum list) is skipped
  and listed (:attr:`Inputs.skipped`); a file *named* on the command line that is not a
  trail is an error;
- a directory in which no trail is found (``/etc``: no file in it, or none but empty files
  and non-trails) is an error too, as naming a file that is not a trail is: "no records"
  would hide that the wrong directory was named (:func:`check_trails_found`);
- a directory that cannot be read, or a missing path, is one :class:`InputError` line.

A command discovers its inputs once and hands the :class:`Inputs` value on: the catalog
(:class:`knox_analytics.catalog.Catalog`), :func:`knox_analytics.convert.convert` and the
readers of ``knox print`` accept it in place of paths and do not look at the paths again
(``discover`` of an ``Inputs`` returns it, sniffing only what was not sniffed yet).

    >>> found = discover(["/var/audit"], sniff=True)        # doctest: +SKIP
    >>> [i.path for i in found.trails], found.skipped
    >>> Catalog(found)                                      # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from knox_analytics.errors import InputError, NotBSMError
from knox_analytics.words import plural

STDIN = "-"
#: auditd's own files that live beside the trails in /var/audit.
NOT_TRAILS = frozenset({"audit_control", "audit_user", "audit_class", "audit_event",
                        "audit_warn"})
#: Bytes a found file is decoded from to tell a trail from a README (records are small;
#: a trail holds several in its first 256 KiB).
SNIFF_BYTES = 256 << 10
NOT_A_TRAIL = "not a BSM trail"
#: How auditd names its trails: ``START.END``, ``START.not_terminated``,
#: ``START.crash_recovery`` (timestamps of 14 digits), and the ``current`` link.
AUDITD_TRAIL_NAME = re.compile(r"\d{14}\.(\d{14}|not_terminated|crash_recovery)|current")

Kind = Literal["trail", "dataset", "parquet", "stdin"]


@dataclass(frozen=True)
class Input:
    """One input: its path (``-`` for stdin), what it is, and whether it was *found* in a
    directory (then a non-trail is skipped) rather than named."""

    path: str
    kind: Kind
    found: bool = False
    #: the directory named on the command line this file was found in
    directory: str | None = None
    #: a dataset: whether it holds a committed part (an empty trail converts to none)
    records: bool = True


@dataclass
class Inputs:
    """The result of :func:`discover`: inputs in command-line order, and what was skipped
    (``(path, reason)``).  ``sniffed``: the files found in directories were read and the
    non-trails among them skipped (see :func:`discover`)."""

    items: list[Input] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    sniffed: bool = False

    def of(self, *kinds: Kind) -> list[Input]:
        return [i for i in self.items if i.kind in kinds]

    @property
    def trails(self) -> list[Input]:
        return self.of("trail", "stdin")

    @property
    def datasets(self) -> list[Input]:
        return self.of("dataset")

    def sniff(self) -> Inputs:
        """These inputs with the files found in directories that are not trails moved to
        :attr:`skipped` (each read once; already sniffed: themselves)."""
        if self.sniffed:
            return self
        out = Inputs(skipped=list(self.skipped), sniffed=True)
        for item in self.items:
            if item.found and not is_trail(item.path):
                out.skipped.append((item.path, NOT_A_TRAIL))
            else:
                out.items.append(item)
        check_trails_found(self, out.skipped)
        return out

    def for_catalog(self) -> tuple[list[Path], list[Path]]:
        """What a catalog reads: the datasets that hold records, and the trails (``-``
        for stdin).  A single Parquet file is not a dataset: one line saying so."""
        if self.of("parquet"):
            raise InputError(f"{self.of('parquet')[0].path}: a single Parquet file; "
                             "questions read knox datasets (directories written by knox "
                             "convert)")
        return ([Path(i.path) for i in self.datasets if i.records],
                [Path(i.path) for i in self.trails])


#: What every reader of inputs accepts: paths as given, or inputs discovered already.
Given = Inputs | Iterable[str | os.PathLike[str]]


def discover(paths: Given, *, sniff: bool = False) -> Inputs:
    """Classify ``paths`` (see the module text).  ``sniff``: decode the start of each file
    found in a directory and skip those that are not trails now, for readers that
    cannot skip them later (the catalog); without it the caller skips a found file on
    :class:`NotBSMError` (see :func:`skip_or_raise`).  ``paths`` already discovered (an
    :class:`Inputs`) are returned as they are, sniffed if asked and not yet."""
    if isinstance(paths, Inputs):
        return paths.sniff() if sniff else paths
    out = Inputs()
    seen: set[str] = set()
    for given in paths:
        name = os.fspath(given)
        if name == STDIN:
            out.items.append(Input(STDIN, "stdin"))
            continue
        path = Path(name)
        _check_readable(path)
        if (root := dataset_root(path)) is not None:
            out.items.append(dataset(root))
        elif path.is_dir() and next(path.glob("*.parquet"), None) is not None:
            out.items.append(Input(name, "parquet"))  # Parquet files, not a knox dataset
        elif path.is_dir():
            _add_directory(path, out, seen)
            if not any(i.directory == str(path) for i in out.items):
                raise InputError(no_trails_message(name, 0, 0))
        elif path.suffix == ".parquet":
            out.items.append(Input(name, "parquet"))
        else:
            out.items.append(Input(name, "trail"))
    return out.sniff() if sniff else out


def dataset(root: str | Path) -> Input:
    """The input of a dataset directory (its root), knowing whether it holds records."""
    return Input(str(root), "dataset", records=has_records(root))


def is_dataset(path: str | Path) -> bool:
    """True when ``path`` holds a dataset: written by
    :class:`~knox_analytics.store.DatasetWriter` (it has a manifest), or by ``knox
    capture`` (hive part files, committed by rename)."""
    return dataset_root(Path(path)) is not None


def dataset_root(path: Path) -> Path | None:
    """The dataset directory for ``path``: itself, or a capture directory's
    ``dataset/``; None when it holds no dataset."""
    from knox_analytics.store import MANIFEST_NAME, PART_GLOB

    path = Path(path)
    if not path.is_dir():
        return None
    if (path / MANIFEST_NAME).is_file() or next(path.glob(PART_GLOB), None) is not None:
        return path
    inner = path / "dataset"  # knox capture --out OUT writes OUT/dataset/
    if inner.is_dir() and next(inner.glob(PART_GLOB), None) is not None:
        return inner
    return None


def _add_directory(directory: Path, out: Inputs, seen: set[str]) -> None:
    for child in _listing(directory):
        if child.name.startswith(".") or child.name in NOT_TRAILS or child.is_dir():
            continue
        real = os.path.realpath(child)
        if real in seen:
            continue
        seen.add(real)
        if not os.access(child, os.R_OK):
            raise InputError(f"{child}: permission denied (audit trails are usually "
                             "readable by root only: run with sudo, or copy the trail)")
        out.items.append(Input(str(child), "trail", found=True, directory=str(directory)))


def _listing(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except PermissionError:
        raise InputError(f"{directory}: permission denied (cannot list the directory; "
                         "/var/audit is usually readable by root only: run with sudo, "
                         "or copy it)") from None
    except OSError as exc:
        raise InputError(f"{directory}: cannot list ({exc.strerror or exc})") from None


def _check_readable(path: Path) -> None:
    """A missing path, or one inside a directory the user cannot enter, is one line."""
    try:
        path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or directory") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied (a directory on the way cannot be "
                         "entered: run with sudo, or copy the trail)") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied (audit trails are usually readable "
                         "by root only: run with sudo, or copy the trail)")


def is_trail(path: str | Path) -> bool:
    """Whether the start of ``path`` (decompressed) holds a BSM record: the decoder's own
    rule for "not a trail", applied to the first :data:`SNIFF_BYTES`."""
    from knox_analytics.bsm.decode import decode_bytes
    from knox_analytics.bsm.reader import open_trail

    trail = open_trail(path)
    try:
        head = trail.stream.read(SNIFF_BYTES)
    except OSError:
        return False  # a .gz that is not one: the reader will say so if it is named
    finally:
        trail.stream.close()
    try:
        decode_bytes(head, str(path), final=True)
    except NotBSMError:
        return False
    return True


def skip_or_raise(error: NotBSMError, item: Input, skipped: list[tuple[str, str]]) -> None:
    """A named input that is not a trail is an error; one found in a directory (a README
    beside the trails) is skipped and listed."""
    if not item.found:
        raise error
    skipped.append((item.path, NOT_A_TRAIL))


def check_trails_found(found: Inputs, skipped: Iterable[tuple[str, str]]) -> None:
    """Raise :class:`InputError` for the first directory of ``found`` none of whose files
    is a trail holding bytes: each was ``skipped`` (not a trail) or is an empty file not
    named as auditd names trails.  An empty ``current`` right after a rotation is an
    empty trail, but an empty file found beside non-trails (``/etc``) is no sign that
    the directory holds audit trails."""
    left_out = {path for path, _ in skipped}
    by_directory: dict[str, list[Input]] = {}
    for item in found.items:
        if item.directory is not None:
            by_directory.setdefault(item.directory, []).append(item)
    for directory, items in by_directory.items():
        kept = [i for i in items if i.path not in left_out]
        if not any(_shows_trails(i.path) for i in kept):
            raise InputError(no_trails_message(directory, len(items) - len(kept),
                                               len(kept)))


def _shows_trails(path: str) -> bool:
    """Whether a file kept as a trail shows that its directory holds audit trails: it has
    bytes, or is named as auditd names trails (an empty ``current`` just rotated)."""
    return bool(_size(path)) or AUDITD_TRAIL_NAME.fullmatch(os.path.basename(path)) is not None


def check_trails_found_early(found: Inputs) -> None:
    """:func:`check_trails_found` before anything is read or written, for readers that
    skip non-trails themselves (``knox convert``, ``knox reduce``): the files of each
    directory are sniffed as :meth:`Inputs.sniff` does, but only until one shows that the
    directory holds trails — the first file of a copy of ``/var/audit``, so one read of at
    most :data:`SNIFF_BYTES` per directory; a directory holding none (``/etc``) is sniffed
    whole and is the same one line."""
    if found.sniffed:
        return  # sniff() checked already
    skipped: list[tuple[str, str]] = []
    holding: set[str] = set()
    for item in found.items:
        if item.directory is None or item.directory in holding:
            continue
        if not is_trail(item.path):
            skipped.append((item.path, NOT_A_TRAIL))
        elif _shows_trails(item.path):
            holding.add(item.directory)
    check_trails_found(found, skipped)


def no_trails_message(directory: str, not_trails: int, empty: int) -> str:
    """The one line for a directory holding no trail, saying what it holds instead."""
    held = [f"{not_trails} " + plural(not_trails, "file is not a BSM audit trail",
                                      "files are not BSM audit trails") if not_trails else "",
            f"{empty} {plural(empty, 'file is', 'files are')} empty" if empty else ""]
    what = ", ".join(h for h in held if h) or "it holds no files"
    return f"{directory}: no audit trails found ({what})"


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 1  # let the reader say what is wrong with it


def has_records(dataset: str | Path) -> bool:
    """Whether a dataset holds any committed part (an empty trail converts to none)."""
    from knox_analytics.store import PART_GLOB

    return next(Path(dataset).glob(PART_GLOB), None) is not None


def expand(paths: Given) -> list[tuple[str, bool]]:
    """``(path, found)`` for every file to read, datasets left as they are: the converter's
    view (it decides itself what a found non-trail means).  A dataset or Parquet file is
    not a trail: one line saying so; so is a directory in which no trail is found
    (:func:`check_trails_found_early`)."""
    found = discover(paths)
    check_trails_found_early(found)  # /etc: one line before any output is made
    out = []
    for item in found.items:
        if item.kind in ("dataset", "parquet"):
            raise InputError(f"{item.path}: is a knox dataset / Parquet file, not a trail "
                             "(knox convert reads trails; query the dataset directly)")
        out.append((item.path, item.found))
    return out
