"""A dataset that lives: question latency while it grows (issue 11), against issue 12.

    python benchmarks/living.py incremental         # part (b), files under /tmp/dv (~2 GB)
    python benchmarks/living.py incremental --raw   # also `knox commands` on the raw trail

Part (b), ``run_incremental_bench()``: generate a 301 MB trail (``python -m
knox_analytics.workload --seed 1 --size 301MB``), cut it at the record boundary after
300 MB into ``day.bsm`` and a later-period ``later.bsm`` (the generator has no start-time
option, so the later trails are the day's last two MB), convert ``day.bsm``, then time:

* the first question after convert (it derives the process state once) and a warm one,
  for ``knox commands`` (every command, as Arrow) and ``SELECT * FROM processes``; then
  the same first question when ``DerivedState.of(root).update()`` ran at convert time;
* after converting ``later.bsm`` into the same dataset with ``--no-derive``: the next
  question (it derives the new records only) against a warm one -- target at most 2x;
  then ``later2.bsm`` as ``knox convert`` does by default (the dataset keeps derived
  state, so convert extends it by the new records);
* issue 12's targets: first after convert <= 2 s, later <= 0.5 s; raw trail <= 5 s.

Each question runs as its command runs it: a fresh Catalog over the dataset.  Figures are
one run on whatever else the machine is doing; ratios are taken within the run.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knox_analytics.catalog import Catalog
from knox_analytics.derived import DerivedState
from knox_analytics.questions import ask
from knox_analytics.store.cache import CACHE_DIR

WORK = Path("/tmp/dv")
TARGET_FIRST_S, TARGET_WARM_S, TARGET_RAW_S, TARGET_ADD_RATIO = 2.0, 0.5, 5.0, 2.0

#: name -> the question as its command asks it
QUESTIONS: dict[str, Callable[[Catalog], object]] = {
    "knox commands": lambda c: ask(c, "commands"),
    "SELECT * FROM processes": lambda c: c.query("SELECT * FROM processes"),
}


def trails(work: Path, size_mb: int = 300) -> tuple[Path, Path, Path]:
    """(day.bsm of ``size_mb`` MB, later.bsm and later2.bsm of about 1 MB each after it),
    cut from one generated trail at record boundaries, made once."""
    names = (work / "day.bsm", work / "later.bsm", work / "later2.bsm")
    if all(p.exists() for p in names):
        return names
    work.mkdir(parents=True, exist_ok=True)
    whole = work / f"day{size_mb + 2}.bsm"
    if not whole.exists():
        subprocess.run([sys.executable, "-m", "knox_analytics.workload", "--seed", "1",
                        "--size", f"{size_mb + 2}MB", "-o", str(whole)], check=True)
    cuts = [0, *_boundaries_after(whole, [size_mb * 10**6, (size_mb + 1) * 10**6]),
            whole.stat().st_size]
    with open(whole, "rb") as src:
        for path, (a, b) in zip(names, itertools.pairwise(cuts), strict=True):
            src.seek(a)
            path.write_bytes(src.read(b - a))
    return names


def _boundaries_after(path: Path, goals: list[int]) -> list[int]:
    from knox_analytics.bsm.reader import read_trail

    out: list[int] = []
    for result in read_trail(path):
        ends = result.table["offset"].to_numpy() + result.table["length"].to_numpy()
        while len(out) < len(goals) and len(past := ends[ends >= goals[len(out)]]):
            out.append(int(past[0]))
        if len(out) == len(goals):
            return out
    raise SystemExit(f"{path}: shorter than {goals[-1]} bytes")


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ask_fresh(root: Path, question: str) -> float:
    def run() -> None:
        with Catalog([root]) as cat:
            QUESTIONS[question](cat)
    return timed(run)


def verdict(seconds: float, target: float) -> str:
    return "ok" if seconds <= target else "MISSED"


def run_incremental_bench(work: Path = WORK, raw: bool = False) -> list[dict]:
    """Part (b): convert 300 MB, add 1 MB; question latency first/warm/after the add."""
    from knox_analytics.convert import convert

    day, later, later2 = trails(work)
    root = work / "ds"
    shutil.rmtree(root, ignore_errors=True)
    convert_s = timed(lambda: convert([day], root, host="bench"))
    print(f"converted {day.stat().st_size / 1e6:.0f} MB in {convert_s:.1f} s; "
          f"later trail {later.stat().st_size / 1e6:.2f} MB", flush=True)
    out: list[dict] = []

    def row(what: str, seconds: float, target: float | None = None, note: str = "") -> None:
        mark = f"  target {target:g} s: {verdict(seconds, target)}" if target else ""
        print(f"{what:58s} {seconds:7.3f} s{mark}{note}", flush=True)
        out.append({"what": what, "s": round(seconds, 3), "target_s": target})

    for question in QUESTIONS:
        shutil.rmtree(root / CACHE_DIR, ignore_errors=True)  # as just converted
        row(f"{question}: first after convert (derives in the question)",
            ask_fresh(root, question), TARGET_FIRST_S)
        row(f"{question}: warm", ask_fresh(root, question), TARGET_WARM_S)
    shutil.rmtree(root / CACHE_DIR, ignore_errors=True)
    hook_s = timed(lambda: DerivedState.of(root).update())
    print(f"DerivedState.of(root).update() at convert time: {hook_s:.1f} s "
          f"(convert + it: {convert_s + hook_s:.1f} s)", flush=True)
    for question in QUESTIONS:
        row(f"{question}: first after convert + DerivedState.update",
            ask_fresh(root, question), TARGET_FIRST_S)
    warm = {q: ask_fresh(root, q) for q in QUESTIONS}
    add_s = timed(lambda: convert([later], root, host="bench", derive=False))
    print(f"added {later.name} in {add_s:.1f} s (knox convert --no-derive)", flush=True)
    first_q = next(iter(QUESTIONS))
    after = ask_fresh(root, first_q)
    row(f"{first_q}: next after adding 1 MB (--no-derive)", after, None,
        f"  = {after / warm[first_q]:.2f}x warm ({warm[first_q]:.3f} s; target "
        f"<= {TARGET_ADD_RATIO:g}x: {verdict(after / warm[first_q], TARGET_ADD_RATIO)})")
    for question in QUESTIONS:
        row(f"{question}: warm after the add", ask_fresh(root, question), TARGET_WARM_S)
    warm_now = ask_fresh(root, first_q)
    # the default: the dataset keeps derived state, so convert extends it
    added = convert([later2], root, host="bench")
    print(f"added {later2.name} in {added.seconds:.2f} s, of which deriving "
          f"{added.derive_seconds:.2f} s (knox convert, default)", flush=True)
    after = ask_fresh(root, first_q)
    row(f"{first_q}: next after adding 1 MB (default)", after, None,
        f"  = {after / warm_now:.2f}x warm ({warm_now:.3f} s; target "
        f"<= {TARGET_ADD_RATIO:g}x: {verdict(after / warm_now, TARGET_ADD_RATIO)})")
    if raw:
        def on_trail() -> None:
            with Catalog([day]) as cat:
                QUESTIONS[first_q](cat)
        row(f"{first_q} on the raw trail (no convert)", timed(on_trail), TARGET_RAW_S)
    return out
