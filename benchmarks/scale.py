"""Bounded memory, linear time (issue 20): every command at 1, 2 and 4 GB of one host.

    KNOX_BENCH_CACHE=/work/bench-cache python benchmarks/scale.py --sizes 1000,2000
    python benchmarks/scale.py --sizes 1000,2000,4000 --work /tmp/knox-scale --cap 8

Per size (the generated trail ``workload-seed1-<S>MB.bsm`` of benchmarks/common.py, made
once and cached; a ``.tmp`` beside it means another process is writing it: this waits),
each step runs as its own ``python -m knox_analytics`` process, as a user runs it:

* ``convert`` the trail into a new dataset;
* the first question (``knox commands DS -n 5``: it derives the process state);
* a warm filtered question (``knox commands DS --user U --since T``: the busiest user,
  the last hour of the trail);
* ``knox summary DS`` (unfiltered: the parts' statistics);
* ``knox tree DS --pid P`` of the biggest session's leader, and of the parent of the
  most processes (the target's tree of 100 k descendants: in the generated trails, the
  biggest tree there is), both with the default ``--limit``;
* ``knox print -ln DS | head``: the process is measured until ``head`` has its lines;
* a raw-trail question, ``knox summary TRAIL``, cold (it converts into the raw-trail
  cache) and warm (the cache reused).

Measured per step: CPU seconds (user + sys of the process and the children it waited
for, from ``wait4``), peak RSS (``ru_maxrss``), the peak of the sum of PSS over the
process tree sampled every 0.2 s (``--jobs`` workers), and wall seconds (noisy on a
shared machine: the targets use CPU seconds).  A step whose process tree passes ``--cap``
GiB of RSS is killed (a run must not take a shared machine down) and reported so.
Then the growth ratio of each step from size to size, and each target of the issue as
met / not met.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE, workload_trail

GIB = 1 << 30
MIB = 1 << 20
#: Issue 20's targets.
RSS_TARGET = GIB
CONVERT_RSS_TARGET = 512 * MIB
GROWTH_TARGET = 2.2
WARM_FILTERED_S = 2.0
TREE_S = 2.0
SUMMARY_S = 3.0
FIRST_OVER_CONVERT = 1.6
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Step:
    """One measured process."""

    name: str
    cpu: float = 0.0
    wall: float = 0.0
    rss: int = 0  # bytes, peak of the main process
    pss_tree: int = 0  # bytes, peak sampled sum over the process tree
    killed: bool = False
    code: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.killed and self.code == 0


def _tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _kib(path: str, field: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run(name: str, args: list[str], cap: int, *, env: dict[str, str] | None = None,
        head: int | None = None) -> tuple[Step, str]:
    """Run ``python -m knox_analytics ARGS``; measure it; kill it past ``cap`` bytes of
    RSS over its tree.  ``head``: read that many lines of its output, then close the pipe
    (``| head``).  Returns the step and its stdout (as far as read)."""
    step = Step(name)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "knox_analytics", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            pids = _tree_pids(proc.pid)
            rss = sum(_kib(f"/proc/{p}/status", "VmRSS:") for p in pids)
            pss = sum(_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
            step.pss_tree = max(step.pss_tree, pss)
            if rss > cap and not step.killed:
                step.killed = True
                os.killpg(proc.pid, signal.SIGKILL)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    err_chunks: list[bytes] = []
    drain = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
    drain.start()
    if head is not None:
        lines = [proc.stdout.readline() for _ in range(head)]
        out = b"".join(lines)
        proc.stdout.close()
    else:
        out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    watcher.join()
    drain.join()
    step.wall = time.perf_counter() - started
    step.cpu = usage.ru_utime + usage.ru_stime
    step.rss = usage.ru_maxrss * 1024
    step.code = proc.returncode
    if head is not None and step.code in (-signal.SIGPIPE, 1, 141):
        step.code = 0  # stopped by the closed pipe, as under `| head`
    err = b"".join(err_chunks).decode(errors="replace").strip()
    if step.killed:
        step.note = f"killed past {cap / GIB:.0f} GiB RSS"
    elif step.code:
        step.note = f"exit {step.code}: {err.splitlines()[-1] if err else ''}"[:160]
    elif err and name.startswith("tree"):
        step.note = err.splitlines()[-1][:160]
    return step, out.decode(errors="replace")


def wait_for_trail(size_mb: int) -> Path:
    """The cached trail of ``size_mb`` MB; wait while another process writes it."""
    path = CACHE / f"workload-seed1-{size_mb}MB.bsm"
    tmp = path.with_suffix(".tmp")
    while not path.exists() and tmp.exists():
        print(f"  waiting for {tmp} (being generated) ...", file=sys.stderr, flush=True)
        time.sleep(30)
    return workload_trail(size_mb * 10**6)


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def measure(size_mb: int, work: Path, cap: int) -> dict[str, Step]:
    trail = wait_for_trail(size_mb)
    ds = work / f"ds-{size_mb}MB"
    shutil.rmtree(ds, ignore_errors=True)
    raw_cache = work / f"raw-cache-{size_mb}MB"
    shutil.rmtree(raw_cache, ignore_errors=True)
    steps: dict[str, Step] = {}

    def record(step: Step) -> None:
        steps[step.name] = step
        print(f"  {size_mb} MB  {step.name:<24} {step.cpu:8.1f} s CPU {step.wall:8.1f} s wall "
              f"{step.rss / MIB:7.0f} MiB RSS {step.pss_tree / MIB:7.0f} MiB PSS(tree)"
              f"{'  ' + step.note if step.note else ''}", flush=True)

    record(run("convert", ["convert", str(trail), "-o", str(ds)], cap)[0])
    record(run("first question", ["commands", str(ds), "-n", "5"], cap)[0])
    step, out = run("summary", ["summary", str(ds), "-f", "json"], cap)
    record(step)
    user, since = _busiest_user_and_last_hour(out)
    record(run("warm filtered question",
               ["commands", str(ds), "--user", user, "--since", since, "-f", "csv"], cap)[0])
    pid, pick = _biggest_session_leader(ds, cap)
    if pid is not None:
        step = run("tree", ["tree", str(ds), "--pid", str(pid)], cap)[0]
        step.note = f"--pid {pid}: {step.note}"
        record(step)
    else:  # say so: a missing tree line hid an out-of-memory failure once
        pick.note = f"no tree measured: {pick.note or 'no process with a session'}"
        record(pick)
    pid, pick = _busiest_parent(ds, cap)
    if pid is not None:  # the target is a tree of 100 k descendants: this one is the biggest
        step = run("tree (most children)", ["tree", str(ds), "--pid", str(pid)], cap)[0]
        step.note = f"--pid {pid}: {step.note}"
        record(step)
    else:
        pick.note = f"no big tree measured: {pick.note or 'no process with a parent'}"
        record(pick)
    record(run("print -ln | head", ["print", "-ln", str(ds)], cap, head=20)[0])
    env = {"KNOX_CACHE_DIR": str(raw_cache)}
    record(run("raw summary (cold)", ["summary", str(trail)], cap, env=env)[0])
    record(run("raw summary (warm)", ["summary", str(trail)], cap, env=env)[0])
    return steps


def _busiest_user_and_last_hour(summary_json: str) -> tuple[str, str]:
    import json
    from datetime import datetime, timedelta

    doc = json.loads(summary_json) if summary_json.strip() else {}
    users = doc.get("users") or [{"user": "root"}]
    last = doc.get("last") or "2026-03-02T18:00:00.000Z"
    since = datetime.fromisoformat(last.replace("Z", "+00:00")) - timedelta(hours=1)
    return str(users[0]["user"]), since.strftime("%Y-%m-%dT%H:%M:%S")


def _biggest_session_leader(ds: Path, cap: int) -> tuple[int | None, Step]:
    """The pid of the first process of the session with the most processes (not
    measured: it picks what `tree` is measured on)."""
    sql = ("WITH s AS (SELECT sid, count(*) AS n FROM processes WHERE sid IS NOT NULL "
           "GROUP BY 1 ORDER BY 2 DESC LIMIT 1) SELECT p.pid FROM processes AS p "
           "JOIN s USING (sid) ORDER BY p.start_time NULLS LAST LIMIT 1")
    step, out = run("(pick the tree's pid)", ["query", sql, str(ds), "-f", "csv"], cap)
    rows = _csv(out)
    return (int(rows[0]["pid"]) if step.ok and rows else None), step


def _busiest_parent(ds: Path, cap: int) -> tuple[int | None, Step]:
    """The pid that is the parent of the most processes (``launchd`` in the generated
    trails: every login, every daemon under it), for the tree of the issue's target."""
    sql = ("SELECT ppid FROM processes WHERE parent_instance IS NOT NULL GROUP BY ppid "
           "ORDER BY count(*) DESC, ppid LIMIT 1")
    step, out = run("(pick the big tree's pid)", ["query", sql, str(ds), "-f", "csv"], cap)
    rows = _csv(out)
    return (int(rows[0]["ppid"]) if step.ok and rows else None), step


def targets(results: dict[int, dict[str, Step]]) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, met?) for every target the runs can judge."""
    out: list[tuple[str, str, bool | None]] = []
    sizes = sorted(results)
    for size in sizes:
        steps = results[size]
        for step in steps.values():
            if step.name.startswith("("):
                continue
            bound = CONVERT_RSS_TARGET if step.name == "convert" else RSS_TARGET
            peak = max(step.rss, step.pss_tree)
            out.append((f"{size} MB {step.name}: peak memory <= {bound // MIB} MiB",
                        f"{peak / MIB:.0f} MiB" + (f" ({step.note})" if step.killed else ""),
                        not step.killed and peak <= bound))
        for name, bound in (("warm filtered question", WARM_FILTERED_S), ("tree", TREE_S),
                            ("tree (most children)", TREE_S), ("summary", SUMMARY_S)):
            step = steps.get(name)
            if step is not None:
                out.append((f"{size} MB {name} <= {bound:.0f} s (CPU; the issue's bound is at "
                            "4 GB)", f"{step.cpu:.2f} s CPU, {step.wall:.2f} s wall",
                            step.ok and step.cpu <= bound))
        conv, first = steps.get("convert"), steps.get("first question")
        if conv and first:
            ratio = (conv.cpu + first.cpu) / conv.cpu if conv.cpu else float("inf")
            out.append((f"{size} MB convert + first question <= {FIRST_OVER_CONVERT}x convert",
                        f"{ratio:.2f}x", first.ok and ratio <= FIRST_OVER_CONVERT))
    for small, big in itertools.pairwise(sizes):
        for name in ("convert", "first question", "summary"):
            a, b = results[small].get(name), results[big].get(name)
            if a and b and a.ok and b.ok and a.cpu:
                ratio = b.cpu / a.cpu
                out.append((f"{name} {small}->{big} MB: CPU growth <= {GROWTH_TARGET}x per "
                            f"{big / small:.0f}x data", f"{ratio:.2f}x",
                            ratio <= GROWTH_TARGET * big / small / 2))
            elif a and b:
                out.append((f"{name} {small}->{big} MB growth", "not measured (a run failed)",
                            None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,2000",
                        help="trail sizes in MB, comma-separated (1000,2000,4000)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/knox-scale"),
                        help="where the datasets are written (removed first)")
    parser.add_argument("--cap", type=float, default=8.0,
                        help="GiB of RSS over a step's process tree past which it is killed")
    opts = parser.parse_args()
    opts.work.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, Step]] = {}
    for size in (int(s) for s in re.split(r"[,\s]+", opts.sizes.strip()) if s):
        print(f"{size} MB:", flush=True)
        results[size] = measure(size, opts.work, int(opts.cap * GIB))
    sizes = sorted(results)
    print("\ngrowth (CPU seconds, size to size):")
    names = [n for n in results[sizes[0]] if not n.startswith("(")]
    for name in names:
        cells = []
        for small, big in itertools.pairwise(sizes):
            a, b = results[small].get(name), results[big].get(name)
            cells.append(f"{small}->{big}: {b.cpu / a.cpu:.2f}x" if a and b and a.cpu and
                         a.ok and b.ok else f"{small}->{big}: -")
        print(f"  {name:<24} {'   '.join(cells) or '(one size)'}")
    print("\ntargets:")
    for what, measured, met in targets(results):
        verdict = "met" if met else ("not measured" if met is None else "NOT MET")
        print(f"  [{verdict:>12}] {what}: {measured}")


if __name__ == "__main__":
    main()
