"""``python -m knox_analytics.workload``: the workload simulator's command, kept at the name
the README, the benchmarks and scripts use.  The simulator lives in
:mod:`knox_analytics.testing` (test and benchmark data, not part of the runtime).

Example: ``python -m knox_analytics.workload --seed 1 --size 300MB -o day.bsm``.
"""

from __future__ import annotations

from knox_analytics.testing.workload import (
    DEFAULT_START,
    WorkloadStats,
    generate,
    main,
    parse_size,
)

__all__ = ["DEFAULT_START", "WorkloadStats", "generate", "main", "parse_size"]

if __name__ == "__main__":
    raise SystemExit(main())
