"""Every file knox creates, created one safe way, with the protection of its inputs.

Two rules, both because knox runs as root on other people's audit trails:

* **Nothing readable that the trail was not.**  A dataset has a :class:`Protection`: the
  most restrictive of its inputs' (owner read-write always; group read only when every
  input is group-readable by the same group; other read only when every input is
  world-readable; stdin and ``/dev/auditpipe`` count as 0600).  It is kept as the mode and
  group of the dataset's root directory, so a later, stricter input tightens the whole
  tree (:func:`tighten_tree`) and nothing ever loosens it.
* **No write through a planted link.**  Knox's own files are opened with
  ``O_CREAT|O_EXCL|O_NOFOLLOW`` (a temporary name, then renamed into place:
  :func:`write_atomic`, :func:`create_exclusive`), or ``O_NOFOLLOW`` for the lock files
  that persist (:func:`open_lock`).  Files that libraries write by path (pyarrow, DuckDB's
  COPY) go only inside a 0700 directory knox has just created itself
  (:func:`private_dir`, :func:`fresh_private_dir`), and are renamed into place from there.
  As root, a dataset or capture directory owned by another user is refused unless asked
  (:func:`check_owner`): its owner could swap a directory for a link at any time.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from knox_analytics.errors import InputError, OutputError, UsageError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


@dataclass(frozen=True)
class Protection:
    """The mode of a dataset's files (``0o600`` plus read bits) and, when group-readable,
    their group."""

    file_mode: int = 0o600
    gid: int | None = None

    def __post_init__(self) -> None:
        mode = 0o600 | (self.file_mode & 0o044)
        gid = self.gid if mode & 0o040 else None
        if gid is None:
            mode &= ~0o040
        object.__setattr__(self, "file_mode", mode)
        object.__setattr__(self, "gid", gid)

    @property
    def dir_mode(self) -> int:
        """Directories: the read bits of the files, and the search bits that go with them."""
        return 0o700 | (self.file_mode & 0o044) | ((self.file_mode & 0o044) >> 2)

    @classmethod
    def of_stat(cls, st: os.stat_result) -> Protection:
        """What a file (an input) or a dataset root directory allows."""
        return cls(st.st_mode & 0o044, st.st_gid)

    def __and__(self, other: Protection) -> Protection:
        """The stricter of both: a read bit only where both have it (the group: only
        the same group)."""
        mode = self.file_mode & other.file_mode & 0o004
        if self.gid is not None and self.gid == other.gid:
            mode |= 0o040
        return Protection(mode, self.gid if mode & 0o040 else None)

    def looser_than(self, other: Protection) -> bool:
        return (self & other) != self


#: stdin, a pipe, the audit pipe: what the owner alone may read.
PRIVATE = Protection()


def protection_of(inputs: Iterable[str | os.PathLike[str]]) -> Protection:
    """The most restrictive protection of the ``inputs`` (``-``, a character device or
    anything that cannot be looked at counts as 0600)."""
    result: Protection | None = None
    for name in inputs:
        one = PRIVATE
        if str(name) != "-":
            with contextlib.suppress(OSError):
                st = os.stat(name)
                if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
                    one = Protection.of_stat(st) & _reach(Path(name), st.st_gid)
                if stat.S_ISDIR(st.st_mode):  # a directory of trails: each of them
                    one = one & protection_of(p for p in Path(name).iterdir() if p.is_file())
        result = one if result is None else result & one
    return result or PRIVATE


def _reach(path: Path, gid: int) -> Protection:
    """Who can get through the directory holding ``path`` (a world-readable trail in a
    0700 directory is private)."""
    try:
        parent = os.stat(path.absolute().parent)
    except OSError:
        return PRIVATE
    if parent.st_mode & 0o001:
        return Protection(0o044, gid)
    if parent.st_mode & 0o010 and parent.st_gid == gid:
        return Protection(0o040, gid)
    return PRIVATE


def protection_of_dataset(root: Path) -> Protection:
    """The protection a dataset has (its root directory's read bits and group)."""
    return Protection.of_stat(os.stat(root))


def apply_fd(fd: int, protection: Protection, *, directory: bool = False) -> None:
    """Give an open file or directory the protection (group first, then the mode)."""
    mode = protection.dir_mode if directory else protection.file_mode
    if protection.gid is not None:
        try:
            os.fchown(fd, -1, protection.gid)
        except OSError:  # not a member of that group: then no group at all
            mode &= ~0o070
    os.fchmod(fd, mode)


def apply_path(path: Path, protection: Protection) -> None:
    """Protect a file or directory knox made, never following a link to elsewhere."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise InputError(f"{path}: is a symbolic link where knox keeps its own file; "
                         "refusing to change it")
    directory = stat.S_ISDIR(st.st_mode)
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | (_DIRECTORY if directory else 0))
    try:
        apply_fd(fd, protection, directory=directory)
    finally:
        os.close(fd)


def require_parent(path: Path) -> None:
    """One rule for every output knox is given (``convert -o``, ``capture --out``, a
    question's or plot's ``-o``): knox creates the last component only.  A missing
    parent is a typo more often than a wish (as root, ``mkdir -p`` would scatter
    directories from ``/`` on), so it is refused in one line."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: no such directory {parent} (knox creates only the "
                          "last component of an output path: make the directory first)")


def make_dir(path: Path, protection: Protection) -> None:
    """A directory of the dataset (``host=…/date=…``): made with the protection, or an
    existing real directory (never a link)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(f"{path}: exists and is not a directory (a link?); "
                             "knox does not write through it") from None
        return
    apply_path(path, protection)


def make_dirs(root: Path, relative: str, protection: Protection) -> Path:
    """``root/relative``, each missing level made by :func:`make_dir`."""
    path = root
    for part in Path(relative).parts:
        path = path / part
        make_dir(path, protection)
    return path


def private_dir(path: Path) -> Path:
    """A 0700 directory owned by this process (made if absent; refused if it is a link
    or someone else's)."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise InputError(f"{path}: is not a private directory of this user (a link, or "
                         "readable by others); knox does not write into it")
    return path


def fresh_private_dir(parent: Path, prefix: str) -> Path:
    """A new 0700 directory under ``parent`` that this process has just made (the only
    place a library may write a file by path)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path


def create_exclusive(path: Path, protection: Protection, *, flags: int = os.O_WRONLY) -> int:
    """A new file at ``path`` (fails if anything, a link included, is there)."""
    fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
    try:
        apply_fd(fd, protection)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_atomic(path: Path, data: bytes, protection: Protection) -> None:
    """Replace ``path`` by ``data``: a new file of a random name beside it, fsynced, then
    renamed over it (a link at ``path`` is replaced, never followed)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = create_exclusive(tmp, protection)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def open_lock(path: Path, protection: Protection) -> int:
    """Open (create) a lock file that persists between runs: never through a link, and
    only a regular file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InputError(f"{path}: is not a regular file; knox does not lock through it")
    if st.st_uid == os.geteuid():
        with contextlib.suppress(OSError):
            apply_fd(fd, protection)
    return fd


def open_append(path: Path, protection: Protection) -> int:
    """Open (create) a file knox writes on across runs (a capture's segment)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise InputError(f"{path}: is not a regular file of this user; knox does not "
                         "write into it")
    apply_fd(fd, protection)
    return fd


def tighten_tree(root: Path, protection: Protection) -> None:
    """Give every file and directory under ``root`` (and ``root``) the protection; links
    are not followed."""
    for top, dirs, files in os.walk(root, followlinks=False):
        for name in files:
            with contextlib.suppress(InputError, FileNotFoundError):
                apply_path(Path(top) / name, protection)
        for name in dirs:
            with contextlib.suppress(InputError, FileNotFoundError):
                apply_path(Path(top) / name, protection)
    apply_path(root, protection)


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_owner(path: Path, *, allow_foreign_owner: bool = False,
                option: str = "--allow-foreign-owner") -> None:
    """As root, refuse to write into a directory (or, if it does not exist yet, the
    directory it would be made in) that another user owns."""
    if allow_foreign_owner or os.geteuid() != 0:
        return
    probe = Path(path)
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    st = os.lstat(probe)
    if st.st_uid != 0:
        raise UsageError(f"{probe}: owned by {_owner_name(st.st_uid)}, not root: its owner "
                         "could make root write anywhere through a link; pass "
                         f"{option} to write there anyway")
