"""What the benchmarks share: the cached workload trail they all measure."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


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
    CACHE.mkdir(exist_ok=True)
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

