"""Benchmark a dataset that lives (figures, not a test).

    python benchmarks/living.py capture [--size 300MB] [--minutes 4] [--every 5]

(run through benchmarks/living.py, which also runs part (b): living_incremental.py)

(a) ``capture``: a generated trail (``python -m knox_analytics.workload --seed 1 --size
300MB``, kept in /tmp/cap/) is fed into ``knox capture`` through a FIFO in bursts (a
burst every two seconds, paced so that the whole trail takes ``--minutes``), while every
``--every`` seconds the dataset is asked ``knox commands --command 'ma*'`` and ``SELECT
count(*) FROM processes`` (each through a fresh Catalog, as a new ``knox`` process would).
Printed over time: the two latencies, part files per partition, records written into the
FIFO vs records in the dataset, and what the question found of the derived state
(segments read, parts it derived itself because the capture's upkeep had not yet, and
the seconds that took); at the end (the feeder closes the FIFO: at end of input
the capture converts, compacts and stops, as on SIGTERM): parts per partition after
compaction, records in == out, and the questions asked once more.

Target (issue 11): question latency flat and under 1 s while the capture runs; a stopped
capture leaves at most 2 parts in each partition it touched.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
KNOX = [sys.executable, "-c", "from knox_analytics.cli.main import run; run()"]
WORK = Path("/tmp/cap")  # big files under /tmp only
BURST_SECONDS = 2.0
TARGET_S = 1.0  # issue 11: every question while the capture runs, flat


def generated_trail(size: str) -> Path:
    """The workload trail of ``size`` in /tmp/cap (generated once)."""
    path = WORK / f"day-{size}.bsm"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "knox_analytics.workload", "--seed", "1",
                        "--size", size, "-o", str(tmp)], check=True)
        tmp.rename(path)
    return path


def record_ends(trail: Path) -> np.ndarray:
    """End offset of every record of ``trail`` (to count records written so far)."""
    from knox_analytics.bsm.reader import read_trail

    ends = [r.table["offset"].to_numpy() + r.table["length"].to_numpy()
            for r in read_trail(trail) if r.records]
    return np.sort(np.concatenate(ends))


class Feeder(threading.Thread):
    """Writes ``trail`` into ``fifo`` in bursts so that it lasts ``seconds``."""

    def __init__(self, trail: Path, fifo: Path, seconds: float) -> None:
        super().__init__(daemon=True)
        self.trail, self.fifo, self.seconds = trail, fifo, seconds
        self.written = 0

    def run(self) -> None:
        size = self.trail.stat().st_size
        burst = max(1, int(size * BURST_SECONDS / self.seconds))
        fd = os.open(self.fifo, os.O_WRONLY)
        try:
            with open(self.trail, "rb") as src:
                while data := src.read(burst):
                    started = time.monotonic()
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    self.written += len(data)
                    time.sleep(max(0.0, BURST_SECONDS - (time.monotonic() - started)))
        finally:
            os.close(fd)


def parts_per_partition(dataset: Path) -> Counter[str]:
    """Committed part files per ``host=…/date=…`` partition."""
    from knox_analytics.store import PART_GLOB

    return Counter(p.parent.relative_to(dataset).as_posix() for p in dataset.glob(PART_GLOB))


def ask_questions(dataset: Path, retries: list[int] | None = None
                  ) -> tuple[float, float, int]:
    """Seconds for ``commands --command 'ma*'`` and ``count(*) FROM processes``; records.

    A question reads the snapshot it started from (a compaction moves the parts it
    retires to ``_retired/``: docs/derived-state.md), so nothing is asked again;
    ``retries`` stays empty (kept for the report's column).
    """
    return _ask_once(dataset)


#: What the last question found: derived-state segments it read, parts it had to derive
#: itself (the upkeep had not yet), seconds it spent bringing the state up to date.
LAST: dict[str, float] = {}


def _ask_once(dataset: Path) -> tuple[float, float, int]:
    from knox_analytics.catalog import Catalog
    from knox_analytics.questions import Filters, ask

    started = time.perf_counter()
    with Catalog([dataset]) as cat:
        segments = cat.derived_state.update() if cat.derived_state is not None else None
        LAST["refresh_s"] = time.perf_counter() - started
        ask(cat, "commands", Filters(command="ma*"))
        commands_s = time.perf_counter() - started
        mid = time.perf_counter()
        cat.sql("SELECT count(*) FROM processes").fetchall()
        processes_s = time.perf_counter() - mid
        records = cat.sql("SELECT count(*) FROM records").fetchall()[0][0]
        LAST["segments"] = len(segments or [])
        LAST["derived_parts"] = sum(len(p) for p in cat.derived_parts)
    return commands_s, processes_s, int(records)


def _sample(feeder: Feeder, dataset: Path, ends: np.ndarray, every: float
            ) -> tuple[list[tuple], list[int]]:
    """Ask the questions every ``every`` seconds while the feeder runs; print a line each."""
    print(f"{'t s':>6} {'in':>9} {'out':>9} {'commands s':>10} {'processes s':>11} "
          f"{'parts max':>9} {'partitions':>10} {'segments':>8} {'derived':>7} "
          f"{'refresh s':>9}", flush=True)
    samples: list[tuple] = []
    retries: list[int] = []
    started = time.monotonic()
    while feeder.is_alive():
        time.sleep(every)
        if not list(dataset.glob("host=*")):
            continue
        records_in = int(np.searchsorted(ends, feeder.written, side="right"))
        commands_s, processes_s, records_out = ask_questions(dataset, retries)
        parts = parts_per_partition(dataset)
        sample = (time.monotonic() - started, records_in, records_out, commands_s,
                  processes_s, max(parts.values(), default=0), len(parts))
        samples.append(sample)
        print(f"{sample[0]:6.0f} {records_in:9d} {records_out:9d} {commands_s:10.2f} "
              f"{processes_s:11.2f} {sample[5]:9d} {sample[6]:10d} "
              f"{LAST['segments']:8.0f} {LAST['derived_parts']:7.0f} "
              f"{LAST['refresh_s']:9.2f}", flush=True)
    feeder.join()
    return samples, retries


def run_capture_bench(size: str = "300MB", minutes: float = 4.0, every: float = 5.0,
                      work: Path = WORK / "living") -> dict[str, object]:
    """Part (a): see the module docstring.  Returns the figures it printed."""
    import shutil

    trail = generated_trail(size)
    ends = record_ends(trail)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    fifo, out = work / "fifo", work / "out"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    log = open(work / "capture.log", "w+")  # noqa: SIM115 - read back at the end
    cap = subprocess.Popen([*KNOX, "capture", "--source", str(fifo), "--out", str(out)],
                           stderr=log, env=env)
    feeder = Feeder(trail, fifo, minutes * 60)
    feeder.start()
    dataset = out / "dataset"
    try:
        samples, retries = _sample(feeder, dataset, ends, every)
    except BaseException:
        cap.kill()  # the benchmark itself failed
        raise
    # the feeder closed the FIFO: at end of input the capture converts, compacts and
    # stops by itself (as on SIGTERM); the signal only if it does not
    try:
        cap.wait(timeout=600)
    except subprocess.TimeoutExpired:
        cap.send_signal(signal.SIGTERM)
        cap.wait(timeout=600)
    log.seek(0)
    err = log.read()
    log.close()
    commands_s, processes_s, records_out = ask_questions(dataset)
    parts = parts_per_partition(dataset)
    figures = {
        "records_in": len(ends), "records_out": records_out,
        "commands_s_median": statistics.median(s[3] for s in samples) if samples else None,
        "commands_s_max": max((s[3] for s in samples), default=None),
        "commands_s_p90": _quantile([s[3] for s in samples], 0.9),
        "processes_s_median": statistics.median(s[4] for s in samples) if samples else None,
        "processes_s_max": max((s[4] for s in samples), default=None),
        "parts_while_running_max": max((s[5] for s in samples), default=0),
        "parts_after_stop": dict(parts), "capture_exit": cap.returncode,
        "capture_summary": err.strip().splitlines()[-1:] if err else [],
        "after_stop_commands_s": commands_s, "after_stop_processes_s": processes_s,
        "questions_retried_after_compaction": len(retries), "samples": len(samples),
    }
    worst = max(figures["commands_s_max"] or 0, figures["processes_s_max"] or 0)
    figures["target_flat_under_1s"] = "met" if samples and worst < TARGET_S else "not met"
    print("\nafter stop:")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    return figures


def _quantile(values: list[float], q: float) -> float | None:
    return float(np.quantile(values, q)) if values else None
