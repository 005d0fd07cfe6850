"""What the benchmarks share: the cached workload trail they all measure, the hostile
one-record trail, and the bare-praudit reference figure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

#: Generated trails are cached here (``KNOX_BENCH_CACHE`` moves them, e.g. to /tmp).
CACHE = Path(os.environ.get("KNOX_BENCH_CACHE") or Path(__file__).resolve().parent / ".cache")
#: praudit -ln with its tables hidden ("bare decoding"), MB/s: issue 12's measurement on
#: this machine kind (OpenBSM's praudit, 300 MB trail written by libbsm).  Used for the
#: ratios when praudit itself is not installed.
BARE_PRAUDIT_MB_S = 25.0


def bare_praudit_mb_s(trail: Path) -> tuple[float, str]:
    """praudit -ln's MB/s on ``trail`` if praudit is installed, else issue 12's figure;
    and a label saying which.  (Measured here, praudit reads its tables as installed:
    hide /etc/security, e.g. in a private mount namespace, for its bare decoding.)"""
    praudit = shutil.which("praudit")
    if not praudit:
        return BARE_PRAUDIT_MB_S, "praudit not installed: issue 12's measured 25 MB/s"
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run([praudit, "-ln", str(trail)], stdout=sink, check=True)
    seconds = time.perf_counter() - started
    tables = "tables present" if Path("/etc/security/audit_event").exists() else "no tables"
    return (trail.stat().st_size / 1e6 / seconds,
            f"praudit -ln measured here ({praudit}, {tables})")


def hostile_trail(size: int) -> Path:
    """One record of ``size`` bytes made of 3-byte iport tokens (the smallest token):
    the adversarial case of issue 12.  A record's length field is a u32, so this is a
    legal record; the reader carries records up to 64 MiB."""
    from knox_analytics.bsm.encode import encode_record, encode_token

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"hostile-one-record-{size}B.bsm"
    if not path.exists():
        token = encode_token("iport", port=80)
        body = token * ((size - 25) // len(token))  # header32 (18) + trailer (7)
        path.write_bytes(encode_record([body], event=1, time_ms=1_700_000_000_000))
    return path


def parse_size(text: str) -> int:
    """'300MB' -> 300_000_000 (KB, MB, GB are powers of ten, as the generator reads them)."""
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9}
    for suffix, mult in units.items():
        if str(text).upper().endswith(suffix):
            return int(float(str(text)[: -len(suffix)]) * mult)
    return int(text)


def workload_trail(size: int | str) -> Path:
    """The deterministic benchmark trail of ``size`` (seed 1), generated once and cached in
    benchmarks/.cache/ (about 40 s for 300 MB)."""
    size = parse_size(size) if isinstance(size, str) else size
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"workload-seed1-{size // 10**6}MB.bsm"
    if not path.exists():
        print(f"generating {path.name} (once) ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        subprocess.run([sys.executable, "-m", "knox_analytics.workload", "--seed", "1",
                        "--size", str(size), "-o", str(tmp)], check=True)
        tmp.rename(path)
        print(f"  generated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def split_trail(path: Path, parts: int) -> Path:
    """``path`` cut at record boundaries into ``parts`` files, in a cached directory."""
    out = CACHE / f"{path.stem}-split{parts}"
    if out.exists():
        return out
    from knox_analytics.bsm.reader import read_trail

    size = path.stat().st_size
    cuts, goal = [0], size / parts
    for result in read_trail(path):
        ends = result.table["offset"].to_numpy() + result.table["length"].to_numpy()
        for end in ends:
            if end >= goal * len(cuts) and len(cuts) < parts:
                cuts.append(int(end))
    cuts.append(size)
    tmp = out.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with open(path, "rb") as src:
        for i in range(len(cuts) - 1):
            src.seek(cuts[i])
            (tmp / f"trail{i:03d}.bsm").write_bytes(src.read(cuts[i + 1] - cuts[i]))
    tmp.rename(out)
    return out

